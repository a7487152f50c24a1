"""Build the firmware's bitmap fonts (firmware/lib/otk/fonts/sans*.py) from DejaVu Sans.

Runs on the host (CPython + Pillow), never on a board:

    .venv/bin/python firmware/tools/build_fonts.py            # rewrite firmware/lib/otk/fonts/
    .venv/bin/python firmware/tools/build_fonts.py --out DIR  # write elsewhere (the drift test)

The output is byte for byte the same for the same DejaVuSans.ttf (Debian's fonts-dejavu-core
2.37) and the same FreeType (the one bundled in Pillow's wheel); both are recorded in each
module's header, and tests/firmware/test_text.py rebuilds and compares.

Glyphs are rendered by FreeType in monochrome with the font's hinting (Pillow draws "1" images
with FT_LOAD_TARGET_MONO), cropped to their ink, and packed MONO_HLSB (rows of whole bytes,
leftmost pixel in the high bit): what ``framebuf.blit`` takes. A glyph's ink never leaves
[0, advance) horizontally nor [0, HEIGHT) vertically, so a string's measured box holds all of
its pixels. Module layout (all little-endian):

    HEIGHT    line height in pixels (every glyph's cell)
    BASELINE  baseline from the top of the cell
    MISSING   glyph index drawn for a character the font does not have (U+FFFD)
    RANGES    bytes: sorted runs of code points, 6 bytes each: first, last, first glyph index
    INDEX     bytes: 7 bytes per glyph: bitmap offset (u16), advance, x, y, width, height
    BITMAPS   bytes: the glyphs' rows
"""

# mpy-cross compiles every .py under firmware/ (tests/firmware/test_compile.py): plain syntax here.

import argparse
import hashlib
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

import PIL

FIRMWARE = Path(__file__).resolve().parents[1]
OUT = FIRMWARE / "lib" / "otk" / "fonts"
TTF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

#: name -> pixel size (the em square, as CSS font-size). Line heights come out at 1.2 em or so.
SIZES = {
    "sans12": 12,  # the 128x64 OLED: 4 lines of ~20 characters
    "sans16": 16,  # the 320x240 kiosk: body text, answers
    "sans24": 24,  # the 320x240 kiosk: headings, the question
}


def _chars():
    cps = list(range(0x20, 0x7F))  # ASCII
    cps += [0xA0, 0xAB, 0xB0, 0xB7, 0xBB, 0xD7]  # nbsp « ° · » ×
    cps += [0x401] + list(range(0x410, 0x450)) + [0x451]  # Ё А–я ё
    cps += [0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x201E, 0x2022, 0x2026]  # – — ‘ ’ “ ” „ • …
    cps += [0x20BD, 0x2116]  # ₽ №
    cps += [0x2190, 0x2191, 0x2192, 0x2193, 0x2212]  # ← ↑ → ↓ −
    cps += [0x2605, 0x2606, 0x2639, 0x263A, 0x2665]  # ★ ☆ ☹ ☺ ♥
    cps += [0x2713, 0x2717]  # ✓ ✗
    cps += [0xFFFD]  # � the placeholder for anything else
    return sorted(set(cps))


CHARS = _chars()


def freetype_version():
    return features.version("freetype2")


def ttf_digest(path=TTF):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _render(font, ch, ascent, pad):
    """(advance, left, top, right, bottom, image) of one glyph; the box relative to the cell's
    top-left corner with the baseline at ``ascent``; right/bottom exclusive."""
    size = font.size * 3 + 2 * pad
    im = Image.new("1", (size, size), 0)
    ImageDraw.Draw(im).text((pad, pad + ascent), ch, font=font, fill=1, anchor="ls")
    advance = font.getlength(ch, mode="1")
    if advance != int(advance):
        raise ValueError("fractional advance %r for U+%04X" % (advance, ord(ch)))
    box = im.getbbox()
    if box is None:
        return int(advance), 0, 0, 0, 0, None
    left, top, right, bottom = box
    return int(advance), left - pad, top - pad, right - pad, bottom - pad, im.crop(box)


def build_font(name, px, ttf=TTF):
    """The source text of one font module."""
    font = ImageFont.truetype(str(ttf), px, layout_engine=ImageFont.Layout.BASIC)
    ascent, descent = font.getmetrics()
    pad = px * 2
    glyphs = [_render(font, chr(cp), ascent, pad) for cp in CHARS]
    # the cell: from the font's ascent/descent, grown to hold the highest and lowest ink (Ё, Й, ())
    top = min([0] + [g[2] for g in glyphs if g[5] is not None])
    bottom = max([ascent + descent] + [g[4] for g in glyphs if g[5] is not None])
    height = bottom - top
    baseline = ascent - top

    index = bytearray()
    bitmaps = bytearray()
    rows = []
    for cp, (advance, left, gtop, right, gbottom, im) in zip(CHARS, glyphs):
        if im is None:
            index += bytes((0, 0, advance, 0, 0, 0, 0))
            rows.append((cp, b""))
            continue
        # keep every pixel inside [0, advance): a glyph that hangs left or right widens its advance
        shift = -left if left < 0 else 0
        advance = max(advance + shift, right + shift)
        x, y, w, h = left + shift, gtop - top, right - left, gbottom - gtop
        if not (0 <= x and x + w <= advance and 0 <= y and y + h <= height and advance < 256):
            raise ValueError("glyph U+%04X does not fit its cell" % cp)
        data = im.tobytes()  # mode "1": MONO_HLSB rows, padded to whole bytes
        if len(data) != (w + 7) // 8 * h:
            raise ValueError("unexpected packing for U+%04X" % cp)
        off = len(bitmaps)
        if off + len(data) > 0xFFFF:
            raise ValueError("font %s too large for 16-bit offsets" % name)
        index += bytes((off & 0xFF, off >> 8, advance, x, y, w, h))
        bitmaps += data
        rows.append((cp, data))

    ranges = bytearray()
    start = 0
    for i in range(1, len(CHARS) + 1):
        if i == len(CHARS) or CHARS[i] != CHARS[i - 1] + 1:
            first, last = CHARS[start], CHARS[i - 1]
            ranges += bytes((first & 0xFF, first >> 8, last & 0xFF, last >> 8, start & 0xFF, start >> 8))
            start = i

    out = []
    out.append("# %s: DejaVu Sans %d px, %d glyphs, %d bytes of bitmaps + %d of index." % (
        name, px, len(CHARS), len(bitmaps), len(index) + len(ranges)))
    out.append("# Generated by firmware/tools/build_fonts.py: do not edit, rebuild.")
    out.append("# DejaVuSans.ttf sha256 %s" % ttf_digest(ttf))
    out.append("# FreeType %s (Pillow %s)" % (freetype_version(), PIL.__version__.split(".")[0] + ".x"))
    out.append("# DejaVu fonts: Bitstream Vera license + public domain changes (fonts-dejavu-core).")
    out.append("# Format and reader: otk/text.py.")
    out.append("")
    out.append("HEIGHT = %d" % height)
    out.append("BASELINE = %d" % baseline)
    out.append("MISSING = %d" % CHARS.index(0xFFFD))
    out.append("RANGES = %r" % bytes(ranges))
    out.append("INDEX = (")
    for i in range(0, len(index), 70):
        out.append("    %r" % bytes(index[i:i + 70]))
    out.append(")")
    out.append("BITMAPS = (")
    for cp, data in rows:
        if data:
            out.append("    %r  # U+%04X" % (data, cp))
    out.append(")")
    return "\n".join(out) + "\n"


INIT = '"""Bitmap fonts built by firmware/tools/build_fonts.py; read them with otk.text."""\n'


def build(out=OUT, ttf=TTF):
    """Write every font module (and the package's __init__) into ``out``; the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    init = out / "__init__.py"
    init.write_text(INIT, encoding="utf-8")
    written.append(init)
    for name, px in SIZES.items():
        path = out / (name + ".py")
        path.write_text(build_font(name, px, ttf), encoding="utf-8")
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write (default: %(default)s)")
    parser.add_argument("--ttf", type=Path, default=TTF, help="DejaVuSans.ttf (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.ttf.exists():
        sys.exit("%s not found: install Debian's fonts-dejavu-core" % args.ttf)
    for path in build(args.out, args.ttf):
        print("%6d  %s" % (path.stat().st_size, path))


if __name__ == "__main__":
    main()
