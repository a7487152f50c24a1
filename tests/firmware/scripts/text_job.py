# Runs on the MicroPython Unix port (tests/firmware/test_text.py, firmware/tools/render_text.py):
#   micropython text_job.py JOB.json OUTDIR
# JOB is a list of operations; for each, OUTDIR/<i>.bin gets the framebuffer and the results
# (one JSON object per operation) go to OUTDIR/results.json.
#   {"op": "box", "font": "sans16", "fb": [w, h, "GS4_HMSB"], "box": [x, y, w, h], "text": "...",
#    "color": 15, "fill": 0}
#   {"op": "draw", "font": ..., "fb": [...], "x": 0, "y": 0, "text": "...", "color": 1}
#   {"op": "mem", "fonts": ["sans12", ...]}   heap taken by importing the fonts and a Font each
import gc
import json
import sys

import framebuf
from otk import text

FORMATS = {
    "MONO_VLSB": (framebuf.MONO_VLSB, 1),
    "MONO_HLSB": (framebuf.MONO_HLSB, 1),
    "GS4_HMSB": (framebuf.GS4_HMSB, 4),
    "GS8": (framebuf.GS8, 8),
}
_fonts = {}


def font(name):
    if name not in _fonts:
        mod = __import__("otk.fonts." + name, None, None, [name])
        _fonts[name] = text.Font(mod)
    return _fonts[name]


def make_fb(spec):
    w, h, fmt = spec
    kind, bits = FORMATS[fmt]
    size = w * ((h + 7) // 8) if fmt == "MONO_VLSB" else (w * bits + 7) // 8 * h
    buf = bytearray(size)
    return buf, framebuf.FrameBuffer(buf, w, h, kind)


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    out = sys.argv[2]
    results = []
    for i, op in enumerate(job):
        kind = op["op"]
        if kind == "mem":
            gc.collect()
            before = gc.mem_free()
            for name in op["fonts"]:
                font(name)
            gc.collect()
            results.append({"bytes": before - gc.mem_free()})
            continue
        f = font(op["font"])
        buf, fb = make_fb(op["fb"])
        fb.fill(op.get("fill", 0))
        gc.collect()
        free = gc.mem_free()
        if kind == "box":
            x, y, w, h = op["box"]
            lines, height = text.box(fb, f, op["text"], x, y, w, h, op.get("color", 1),
                                     op.get("align", text.CENTER), op.get("valign", text.CENTER))
            res = {"lines": lines, "height": height, "widths": [f.width(s) for s in lines],
                   "font_height": f.height, "baseline": f.baseline}
        else:
            end = f.draw(fb, op["text"], op["x"], op["y"], op.get("color", 1))
            res = {"end": end, "width": f.width(op["text"]), "font_height": f.height, "baseline": f.baseline}
        res["heap_used"] = free - gc.mem_free()  # garbage included: what the call allocated
        results.append(res)
        with open(out + "/" + str(i) + ".bin", "wb") as g:
            g.write(buf)
    with open(out + "/results.json", "w") as g:
        json.dump(results, g)


main()
