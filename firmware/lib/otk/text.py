"""Text in a framebuf: the bitmap fonts of otk/fonts (Latin, Cyrillic, survey symbols), measuring,
word wrap in a box, centring.

    import framebuf
    from otk import text
    from otk.fonts import sans16
    f = text.Font(sans16)
    fb = framebuf.FrameBuffer(buf, 320, 240, framebuf.GS4_HMSB)
    lines, h = text.box(fb, f, "Оцените, пожалуйста, …", 10, 10, 300, 200, 15)

A font module holds bytes literals only (firmware/tools/build_fonts.py describes the format):
compiled to .mpy and frozen into the firmware they stay in flash; a plain .mpy on the file system
is read into the heap once (3-8 KB a font). Drawing a glyph copies its few bytes into a small
scratch buffer of the Font and blits it through a 2-colour palette, so any framebuf format
(MONO_*, GS2/4/8, RGB565) gets any colour; the transient objects per glyph are a memoryview
slice and a FrameBuffer header, never the glyph's data.

Every glyph's pixels lie inside [0, advance) x [0, font.height), so width() is exactly the box a
string draws into, and wrap() never produces a line wider than asked (a word longer than the
line is broken between characters). A character the font lacks draws as the font's U+FFFD.
"""

import framebuf

LEFT = 0
CENTER = 1
RIGHT = 2
TOP = 0
BOTTOM = 2

_ELLIPSIS = "\u2026"


class Font:
    def __init__(self, module):
        self.height = module.HEIGHT
        self.baseline = module.BASELINE
        self._missing = module.MISSING
        self._ranges = module.RANGES
        self._index = module.INDEX
        self._bitmaps = memoryview(module.BITMAPS)
        idx = self._index
        widest = 1
        for i in range(0, len(idx), 7):
            if idx[i + 5] > widest:
                widest = idx[i + 5]
        self._scratch = bytearray((widest + 7) // 8 * self.height)
        self._fbs = [None] * (widest + 1)  # a scratch FrameBuffer per glyph width, made on first use
        # a 2x1 palette: pixel 0 = the transparent key, pixel 1 = the colour (RGB565 holds any colour)
        self._pal = framebuf.FrameBuffer(bytearray(4), 2, 1, framebuf.RGB565)

    def glyph(self, cp):
        """Index of the glyph for code point ``cp`` (the placeholder's for a missing one)."""
        if 0x20 <= cp <= 0x7E:  # ASCII is the first run in every font
            return cp - 0x20
        r = self._ranges
        for j in range(0, len(r), 6):
            first = r[j] | (r[j + 1] << 8)
            if cp < first:
                break
            if cp <= (r[j + 2] | (r[j + 3] << 8)):
                return (r[j + 4] | (r[j + 5] << 8)) + cp - first
        return self._missing

    def advance(self, cp):
        return self._index[self.glyph(cp) * 7 + 2]

    def width(self, s):
        """Width in pixels of ``s`` (str or UTF-8 bytes) drawn on one line."""
        b = s.encode() if isinstance(s, str) else s
        idx = self._index
        w = 0
        i = 0
        n = len(b)
        while i < n:
            c = b[i]
            i += 1
            if c >= 0x80:
                j = i
                i += _more(c)
                c = _cp(b, j, c)
            w += idx[self.glyph(c) * 7 + 2]
        return w

    def draw(self, fb, s, x, y, color=1, limit=None):
        """Draw ``s`` with the top of its cell at ``y``; stop before a glyph that would pass x =
        ``limit``. Returns the x after the last glyph drawn."""
        b = s.encode() if isinstance(s, str) else s
        idx = self._index
        bm = self._bitmaps
        buf = self._scratch
        fbs = self._fbs
        pal = self._pal
        key = 0 if color else 1
        pal.pixel(0, 0, key)
        pal.pixel(1, 0, color)
        i = 0
        n = len(b)
        while i < n:
            c = b[i]
            i += 1
            if c >= 0x80:
                j = i
                i += _more(c)
                c = _cp(b, j, c)
            k = self.glyph(c) * 7
            adv = idx[k + 2]
            if limit is not None and x + adv > limit:
                break
            w = idx[k + 5]
            if w:
                # the glyph's rows go into a cell-high scratch framebuffer of its width (one per
                # width, made once): the only allocation per glyph is the memoryview slice
                g = fbs[w]
                if g is None:
                    g = fbs[w] = framebuf.FrameBuffer(buf, w, self.height, framebuf.MONO_HLSB)
                g.fill(0)
                stride = (w + 7) >> 3
                top = idx[k + 4] * stride
                size = stride * idx[k + 6]
                off = idx[k] | (idx[k + 1] << 8)
                buf[top:top + size] = bm[off:off + size]
                fb.blit(g, x + idx[k + 3], y, key, pal)
            x += adv
        return x


def _more(c):
    """How many continuation bytes follow the UTF-8 lead byte ``c`` (>= 0x80)."""
    if c >= 0xF0:
        return 3
    if c >= 0xE0:
        return 2
    if c >= 0xC0:
        return 1
    return 0  # a stray continuation byte: one placeholder


def _cp(b, i, c):
    """The code point of the UTF-8 sequence with lead byte ``c``; its next byte is b[i]."""
    m = _more(c)
    if m == 0 or i + m > len(b):
        return 0xFFFD
    if m == 1:
        return ((c & 31) << 6) | (b[i] & 63)
    if m == 2:
        return ((c & 15) << 12) | ((b[i] & 63) << 6) | (b[i + 1] & 63)
    return ((c & 7) << 18) | ((b[i] & 63) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63)


def width(font, s):
    return font.width(s)


def draw(fb, font, s, x, y, color=1):
    return font.draw(fb, s, x, y, color)


def _breakable(cp):
    # a line may end after these (the character stays on the line): - / – —
    return cp == 0x2D or cp == 0x2F or cp == 0x2014 or cp == 0x2013


def wrap(font, s, width):
    """Split ``s`` into lines no wider than ``width`` pixels: at spaces (dropped at line ends),
    after - / – —, at newlines; a word longer than a line is cut between characters. A glyph
    wider than ``width`` gets a line of its own (draw() with a limit then leaves it out)."""
    b = s.encode() if isinstance(s, str) else s
    lines = []
    p = 0
    n = len(b)
    while True:
        q = b.find(b"\n", p)
        if q < 0:
            q = n
        _wrap_para(font, b, p, q, width, lines)
        if q >= n:
            return lines
        p = q + 1


def _wrap_para(font, b, start, n, width, lines):
    """Wrap the UTF-8 bytes b[start:n] (no newline) into ``lines`` (str)."""
    idx = font._index
    first = True
    while True:
        while start < n and b[start] == 0x20:
            start += 1
        if start >= n:
            if first:
                lines.append("")
            return
        first = False
        w = 0
        brk = -1  # end of the line at the last break opportunity (exclusive byte offset)
        i = start
        while i < n:
            c = b[i]
            j = i + 1
            if c >= 0x80:
                j += _more(c)
                c = _cp(b, i + 1, c)
            if c == 0x20:
                brk = i
            a = idx[font.glyph(c) * 7 + 2]
            if w + a > width and c != 0x20:
                break
            w += a
            if _breakable(c):
                brk = j
            i = j
        if i >= n:
            end = n
        elif brk > start:
            end = brk
        elif i > start:
            end = i  # no break opportunity: cut the word between characters
        else:  # a single glyph wider than the line: a line of its own
            end = i + 1
            if b[i] >= 0x80:
                end += _more(b[i])
        e = end
        while e > start and b[e - 1] == 0x20:
            e -= 1
        lines.append(b[start:e].decode())
        if end >= n:
            return
        start = end


def fit(font, lines, width, max_lines):
    """At most ``max_lines`` of ``lines``; when some are dropped the last kept line ends in …"""
    if max_lines <= 0:
        return []
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    room = width - font.width(_ELLIPSIS)
    while last and font.width(last) > room:
        last = last[:-1]
    kept[-1] = last.rstrip(" ") + _ELLIPSIS
    return kept


def layout(font, s, width, height=None, spacing=0):
    """(lines, block height) of ``s`` wrapped to ``width``; with ``height``, cut to the lines that
    fit (the last one ending in …)."""
    lines = wrap(font, s, width)
    if height is not None:
        lines = fit(font, lines, width, (height + spacing) // (font.height + spacing))
    return lines, block_height(font, len(lines), spacing)


def block_height(font, nlines, spacing=0):
    return nlines * font.height + (nlines - 1) * spacing if nlines else 0


def box(fb, font, s, x, y, w, h, color=1, align=CENTER, valign=CENTER, spacing=0):
    """Wrap ``s`` into the box (x, y, w, h) and draw it aligned (LEFT/CENTER/RIGHT, TOP/CENTER/
    BOTTOM); lines that do not fit are dropped and the last shown ends in …. Nothing is drawn
    outside the box. Returns (lines, block height)."""
    lines, bh = layout(font, s, w, h, spacing)
    draw_lines(fb, font, lines, x, y, w, h, color, align, valign, spacing)
    return lines, bh


def draw_lines(fb, font, lines, x, y, w, h, color=1, align=CENTER, valign=CENTER, spacing=0):
    """Draw already wrapped ``lines`` aligned in the box (x, y, w, h)."""
    bh = block_height(font, len(lines), spacing)
    if valign == CENTER:
        ty = y + (h - bh) // 2
    elif valign == BOTTOM:
        ty = y + h - bh
    else:
        ty = y
    if ty < y:
        ty = y
    for line in lines:
        if ty + font.height > y + h:
            break
        lw = font.width(line)
        if align == CENTER:
            tx = x + (w - lw) // 2
        elif align == RIGHT:
            tx = x + w - lw
        else:
            tx = x
        if tx < x:
            tx = x
        font.draw(fb, line, tx, ty, color, x + w)
        ty += font.height + spacing
