# The touch kiosk's screens (ESP32-2432S028R, ILI9341 320x240 landscape): what otk.survey's
# screen() describes, drawn into the app's one framebuf.GS4_HMSB 320x240 buffer (38,400 bytes,
# allocated once by the app) with the fixed 16-colour PALETTE below.
#
#     fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
#     targets = screens.draw(fb, survey)
#     tft.show(fb, screens.palette565())
#     ...  # a touch at (x, y):
#     action = screens.hit(targets, x, y)   # ("begin", lang) / ("answer", v) / ("help", bool) / None
#
# Every touch target is at least 48x48 px (about 9 mm on the 2.8" panel). Layouts:
#   welcome   the welcome text; one button per language when the survey offers more than one,
#             else the whole screen starts the survey in its language
#   question  the question at the top (sans24, sans16 when it does not fit, … when even that
#             does not), "1/3" top right; csat5: 5 coloured buttons red..green; nps11/agree11:
#             0-5 and 6-10 in two rows; ces7: 1-4 and 5-7; yesno: two buttons (No left, Yes
#             right: the lower value on the left, as on every scale); choice: up to 6 labelled
#             buttons in two columns, in reading order
#   help      "Call an administrator?" No / Yes
#   thanks    a check mark and the thanks text; no targets
# Text/background pairs used are listed in PAIRS; each has a WCAG contrast >= 4.5:1
# (tests/firmware/test_screens.py computes it).
#
# Allocation per draw: the targets list and its tuples, the wrapped lines (a one-line label is
# drawn without wrapping), a memoryview per glyph in otk.text; never a buffer. 1-10.5 KB of
# garbage a screen on the 64-bit Unix port (edge-hub kiosk screens prints it).
from otk import text

W = 320
H = 240
M = 6  # side margin
GAP = 6  # between buttons

# colour indices of the palette
BG = 0  # white: the screen
INK = 1  # near-black: text on light
MUTED = 2  # grey: secondary text on white
BTN = 3  # light grey-blue: neutral buttons (INK text)
EDGE = 4  # the outline of neutral buttons
BLUE = 5  # primary buttons (white text)
RED = 6
ORANGE = 7
AMBER = 8
LIME = 9
GREEN = 10

# RGB888; the panel gets them as RGB565 (palette565())
PALETTE = (
    (255, 255, 255),  # 0 BG
    (24, 28, 36),  # 1 INK
    (88, 95, 108),  # 2 MUTED
    (226, 231, 240),  # 3 BTN
    (120, 130, 148),  # 4 EDGE
    (23, 78, 166),  # 5 BLUE
    (190, 30, 45),  # 6 RED
    (180, 76, 0),  # 7 ORANGE
    (247, 190, 40),  # 8 AMBER
    (150, 205, 90),  # 9 LIME
    (22, 122, 60),  # 10 GREEN
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
)

# (text colour, background colour) of every text drawn
PAIRS = (
    (INK, BG),
    (MUTED, BG),
    (INK, BTN),
    (BG, BLUE),
    (BG, RED),
    (BG, ORANGE),
    (INK, AMBER),
    (INK, LIME),
    (BG, GREEN),
)

# csat5's buttons, value 1..5: (fill, text)
CSAT = ((RED, BG), (ORANGE, BG), (AMBER, INK), (LIME, INK), (GREEN, BG))

STRINGS = {
    "ru": {
        "yes": "Да",
        "no": "Нет",
        "help": "Позвать администратора?",
        "help2": "Администратор подойдёт к вам",
        "start": "Коснитесь экрана, чтобы начать",
        "welcome": "Нам важно ваше мнение",
        "thanks": "Спасибо!",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "help": "Call an administrator?",
        "help2": "An administrator will come to you",
        "start": "Touch the screen to start",
        "welcome": "Your opinion matters to us",
        "thanks": "Thank you!",
    },
}
LANG_NAMES = {"ru": "Русский", "en": "English"}

_fonts = {}


def font(name):
    """The otk.fonts module ``name`` as a text.Font, loaded once."""
    f = _fonts.get(name)
    if f is None:
        f = _fonts[name] = text.Font(__import__("otk.fonts." + name, None, None, [name]))
    return f


def s(lang, key):
    return (STRINGS.get(lang) or STRINGS["ru"])[key]


def palette565():
    """The palette as RGB565 values for ILI9341.show()."""
    return tuple((r & 0xF8) << 8 | (g & 0xFC) << 3 | b >> 3 for r, g, b in PALETTE)


def hit(targets, x, y):
    """The action of the target under the touch point, or None."""
    for tx, ty, tw, th, action in targets:
        if tx <= x < tx + tw and ty <= y < ty + th:
            return action
    return None


def draw(fb, survey):
    """Draw the survey's current screen; returns its touch targets [(x, y, w, h, action)]."""
    kind, details = survey.screen()
    return draw_screen(fb, kind, details, survey.default_lang if kind == "welcome" else survey.lang)


def draw_screen(fb, kind, d, lang="ru"):
    fb.fill(BG)
    if kind == "welcome":
        return _welcome(fb, d, lang)
    if kind == "question":
        return _question(fb, d, lang)
    if kind == "help":
        return _help(fb, lang)
    _thanks(fb, d.get("text") or s(lang, "thanks"))
    return []


# --- drawing helpers ---------------------------------------------------------------------


def button(fb, x, y, w, h, label, fill, ink, fnt, edge=None, smaller=None):
    """A button with 2-px rounded corners and its label wrapped and centred inside (in the
    ``smaller`` font when it does not fit whole in ``fnt``)."""
    fb.fill_rect(x, y, w, h, fill)
    if edge is not None:
        fb.rect(x, y, w, h, edge)
    fb.pixel(x, y, BG)
    fb.pixel(x + w - 1, y, BG)
    fb.pixel(x, y + h - 1, BG)
    fb.pixel(x + w - 1, y + h - 1, BG)
    lw = fnt.width(label)
    if lw <= w - 8:  # one line (numbers, Да/Нет): no wrapping, no lists
        fnt.draw(fb, label, x + (w - lw) // 2, y + (h - fnt.height) // 2, ink)
        return
    if smaller is not None and text.block_height(fnt, len(text.wrap(fnt, label, w - 8))) > h - 4:
        fnt = smaller
    text.box(fb, fnt, label, x + 4, y + 2, w - 8, h - 4, ink)


def _title(fb, s_, y, h):
    """A title in the box (M, y, W - 2M, h): sans24 when it fits whole, else sans16 (cut with …)."""
    f = font("sans24")
    lines = text.wrap(f, s_, W - 2 * M)
    if text.block_height(f, len(lines), 2) > h:
        f = font("sans16")
        lines = text.fit(f, text.wrap(f, s_, W - 2 * M), W - 2 * M, (h + 2) // (f.height + 2))
    text.draw_lines(fb, f, lines, M, y, W - 2 * M, h, INK, text.CENTER, text.CENTER, 2)


def _row(n, bw, xs, gap=GAP):
    """x of each of n buttons of width bw, ``gap`` apart, centred on the screen, into xs."""
    x = (W - n * bw - (n - 1) * gap) // 2
    for _ in range(n):
        xs.append(x)
        x += bw + gap


# --- screens -----------------------------------------------------------------------------


def _welcome(fb, d, lang):
    langs = d.get("langs") or [lang]
    if lang not in langs:
        lang = langs[0]
    if len(langs) > 1:
        _title(fb, d.get("text") or s(lang, "welcome"), 16, 136)
        targets = []
        bw = (W - 2 * M - GAP) // 2
        xs = []
        _row(len(langs[:2]), bw, xs)
        for i, code in enumerate(langs[:2]):
            button(fb, xs[i], 168, bw, 60, LANG_NAMES.get(code, code), BLUE, BG, font("sans24"))
            targets.append((xs[i], 168, bw, 60, ("begin", code)))
        return targets
    _title(fb, d.get("text") or s(lang, "welcome"), 16, 160)
    text.box(fb, font("sans16"), s(lang, "start"), M, 190, W - 2 * M, 40, MUTED)
    return [(0, 0, W, H, ("begin", lang))]


def _question(fb, d, lang):
    scale = d["scale"]
    values = d["values"]
    n = len(values)
    small = font("sans12")
    progress = "%d/%d" % (d.get("number") or 1, d.get("total") or 1)
    small.draw(fb, progress, W - M - small.width(progress), 2, MUTED)
    targets = []
    top = 20  # the question's box starts below the progress line
    if scale == "choice":
        labels = d.get("labels") or ()
        rows = (n + 1) // 2
        bh = 50 if rows > 2 else 60
        y0 = H - 6 - rows * bh - (rows - 1) * GAP
        _title(fb, d["text"], top, y0 - top - 6)
        bw = (W - 2 * M - GAP) // 2
        f = font("sans16")
        for i in range(n):
            x = M + (i % 2) * (bw + GAP)
            y = y0 + (i // 2) * (bh + GAP)
            button(fb, x, y, bw, bh, labels[i] if i < len(labels) else str(values[i]), BTN, INK, f, EDGE,
                   font("sans12"))  # fmt: skip
            targets.append((x, y, bw, bh, ("answer", values[i])))
        return targets
    if scale == "yesno":
        return _yes_no(fb, d["text"], lang, "answer", 0, 1, top)
    big = font("sans24")
    if n <= 5:  # csat5: one row of coloured buttons
        bh = 72
        bw = min(72, (W - 2 * M - (n - 1) * GAP) // n)
        rows = (values,)
        gap = GAP
    else:  # nps11, agree11, ces7: two rows, the first one the longer
        gap = 4  # 6 buttons of 48 px in 308
        bh = 52
        k = (n + 1) // 2
        bw = min(72, (W - 2 * M - (k - 1) * gap) // k)
        rows = (values[:k], values[k:])
    y = H - 6 - len(rows) * bh - (len(rows) - 1) * gap
    _title(fb, d["text"], top, y - top - 6)
    for row in rows:
        xs = []
        _row(len(row), bw, xs, gap)
        for i, v in enumerate(row):
            if scale == "csat5":
                fill, ink = CSAT[v - 1]
                edge = None
            else:
                fill, ink, edge = BTN, INK, EDGE
            button(fb, xs[i], y, bw, bh, str(v), fill, ink, big, edge)
            targets.append((xs[i], y, bw, bh, ("answer", v)))
        y += bh + gap
    return targets


def _yes_no(fb, title, lang, action, no, yes, top, sub=None):
    bh = 72
    y = H - 6 - bh
    if sub:
        _title(fb, title, top, y - top - 40)
        text.box(fb, font("sans16"), sub, M, y - 40, W - 2 * M, 30, MUTED)
    else:
        _title(fb, title, top, y - top - 6)
    bw = (W - 2 * M - GAP) // 2
    big = font("sans24")
    primary = action == "help"
    button(fb, M, y, bw, bh, s(lang, "no"), BTN, INK, big, EDGE)
    if primary:
        button(fb, M + bw + GAP, y, bw, bh, s(lang, "yes"), BLUE, BG, big)
    else:
        button(fb, M + bw + GAP, y, bw, bh, s(lang, "yes"), BTN, INK, big, EDGE)
    return [(M, y, bw, bh, (action, no)), (M + bw + GAP, y, bw, bh, (action, yes))]


def _help(fb, lang):
    return _yes_no(fb, s(lang, "help"), lang, "help", False, True, 16, s(lang, "help2"))


def _thanks(fb, thanks):
    cx, cy, r = W // 2, 64, 34
    fb.ellipse(cx, cy, r, r, GREEN, True)
    for t in range(-3, 4):  # a check mark 7 px thick
        fb.line(cx - 16, cy + t, cx - 5, cy + 11 + t, BG)
        fb.line(cx - 5, cy + 11 + t, cx + 17, cy - 11 + t, BG)
    _title(fb, thanks, 110, 120)
