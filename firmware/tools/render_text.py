"""Render a text with otk.text on the MicroPython Unix port and save the framebuffer as a PNG.

    .venv/bin/python firmware/tools/render_text.py --font sans16 --fb 320x240 GS4_HMSB \\
        --out /tmp/q16.png "Оцените, пожалуйста, общее впечатление"
    .venv/bin/python firmware/tools/render_text.py --font sans12 --fb 128x64 MONO_VLSB --out /tmp/oled.png "…"

The text is wrapped and centred in the framebuffer minus --margin by text.box(), exactly as a
board draws it (same .mpy, same framebuf); the PNG is scaled by --scale to be looked at. The host
side needs Pillow and the micropython binary of the dev extra.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edge_hub.tools.firmware_build import compiled_lib

_SNIPPET = """
import sys, framebuf
from otk import text
w, h, fmt, name, margin, path, out = sys.argv[1:8]
w = int(w); h = int(h); margin = int(margin)
kind = getattr(framebuf, fmt)
size = w * ((h + 7) // 8) if fmt == "MONO_VLSB" else ((w * {"GS4_HMSB": 4, "GS8": 8}.get(fmt, 1) + 7) // 8) * h
buf = bytearray(size)
fb = framebuf.FrameBuffer(buf, w, h, kind)
font = text.Font(__import__("otk.fonts." + name, None, None, [name]))
with open(path) as f:
    s = f.read()
color = 1 if fmt.startswith("MONO") else (15 if fmt == "GS4_HMSB" else 255)
lines, bh = text.box(fb, font, s, margin, margin, w - 2 * margin, h - 2 * margin, color)
fb.rect(margin - 1, margin - 1, w - 2 * margin + 2, h - 2 * margin + 2, color // 3 or 1) if margin else None
with open(out, "wb") as f:
    f.write(buf)
print(len(lines), bh)
"""


def micropython():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise SystemExit("micropython not found: install the dev extra (pip install -e '.[dev]')")
    return found


def decode(buf, w, h, fmt):
    """A framebuf's bytes as a Pillow "L" image (0..255)."""
    from PIL import Image

    if fmt == "MONO_HLSB":
        return Image.frombytes("1", (w, h), bytes(buf)).convert("L")
    px = bytearray(w * h)
    if fmt == "MONO_VLSB":
        for y in range(h):
            row = (y >> 3) * w
            bit = 1 << (y & 7)
            for x in range(w):
                if buf[row + x] & bit:
                    px[y * w + x] = 255
    elif fmt == "GS4_HMSB":
        stride = (w + 1) // 2
        for y in range(h):
            for x in range(w):
                b = buf[y * stride + (x >> 1)]
                px[y * w + x] = ((b >> 4) if x % 2 == 0 else (b & 15)) * 17
    elif fmt == "GS8":
        px[:] = buf[: w * h]
    else:
        raise ValueError(fmt)
    return Image.frombytes("L", (w, h), bytes(px))


def render(s, font, w, h, fmt, margin=0, heapsize="100k"):
    """(image, stdout) of ``s`` boxed into a w x h ``fmt`` framebuffer on the Unix port."""
    lib = compiled_lib()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "text.txt"
        src.write_text(s, encoding="utf-8")
        raw = Path(tmp) / "fb.bin"
        result = subprocess.run(
            [micropython(), "-X", "heapsize=" + heapsize, "-c", _SNIPPET,
             str(w), str(h), fmt, font, str(margin), str(src), str(raw)],
            capture_output=True, text=True, check=False,
            env=dict(os.environ, MICROPYPATH=str(lib)),
        )
        if result.returncode:
            raise RuntimeError(result.stdout + result.stderr)
        return decode(raw.read_bytes(), w, h, fmt), result.stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text")
    parser.add_argument("--font", default="sans16")
    parser.add_argument("--fb", nargs=2, default=["320x240", "GS4_HMSB"], metavar=("WxH", "FORMAT"))
    parser.add_argument("--margin", type=int, default=4)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.fb[0].split("x"))
    image, info = render(args.text, args.font, w, h, args.fb[1], args.margin)
    if args.scale > 1:
        image = image.resize((w * args.scale, h * args.scale), 0)  # nearest: see the pixels
    image.save(args.out)
    nlines, height = info.split()
    print("%s: %s lines, block %s px high" % (args.out, nlines, height))


if __name__ == "__main__":
    main()
