# The ILI9341 driver (otk/display/ili9341.py, through otk/display/cyd.py) against the ILI9341
# emulator on the machine stub's SPI bus. params.json in the working folder: {"rotation": 90}.
# Draws a test picture into a GS4_HMSB framebuf, shows it, dumps the framebuf (fb.bin), the
# palette and the panel as the viewer sees it (tft.raw, RGB565, + tft.raw.ppm); then changes
# rows inside and outside a band, updates the band only and dumps again (band.raw, fb2.bin).
# Prints one JSON line: the chip's state and the bus counters.
import json

import framebuf
import machine
from chips.ili9341 import ILI9341 as Chip
from otk.display import cyd
from otk.display.ili9341 import color565

with open("params.json") as f:
    params = json.load(f)
rot = params.get("rotation", 90)
chip = machine.attach_spi(Chip(dc=cyd.TFT["dc"]), cs=cyd.TFT["cs"], sck=cyd.TFT["sck"])
tft = cyd.display(rotation=rot)
tft.backlight(100)
W, H = tft.width, tft.height
buf = bytearray(W * H // 2)
fb = framebuf.FrameBuffer(buf, W, H, framebuf.GS4_HMSB)
PALETTE = (
    color565(0, 0, 0), color565(255, 0, 0), color565(0, 255, 0), color565(0, 0, 255),
    color565(255, 255, 255), color565(255, 200, 0), color565(0, 200, 200), color565(200, 0, 200),
    color565(128, 128, 128), color565(40, 40, 90), color565(250, 120, 30), color565(90, 160, 60),
    color565(230, 50, 60), color565(250, 210, 70), color565(120, 200, 90), color565(30, 140, 60),
)  # fmt: skip
fb.fill(9)
fb.fill_rect(20, 30, 100, 50, 1)  # red block, upper left
fb.rect(140, 30, 60, 50, 4)  # white frame
fb.fill_rect(220, 30, 80, 50, 3)  # blue block, upper right
fb.line(0, 0, W - 1, H - 1, 5)
fb.text("Otklik kiosk", 100, 100, 4)
for i in range(5):  # the five rating faces of a csat5 survey, as coloured squares
    fb.fill_rect(16 + i * 60, 160, 48, 48, (12, 10, 13, 14, 15)[i])
fb.pixel(0, 0, 2)  # corners: green, blue, white, orange
fb.pixel(W - 1, 0, 3)
fb.pixel(0, H - 1, 4)
fb.pixel(W - 1, H - 1, 10)
for i in range(16):  # every palette entry in a strip along the bottom
    fb.fill_rect(i * (W // 16), H - 12, W // 16, 10, i)
spi = tft.spi
spi.bytes_out = 0
tft.show(fb, PALETTE)
frame_bytes = spi.bytes_out
with open("fb.bin", "wb") as f:
    f.write(buf)
chip.save("tft.raw", rot)
# a partial update: rows 100-119 only
fb.fill_rect(0, 10, W, 4, 2)  # outside the band: must not reach the panel
fb.fill_rect(0, 100, W, 20, 7)  # inside the band
tft.show(fb, PALETTE, 100, 120)
with open("fb2.bin", "wb") as f:
    f.write(buf)
chip.save("band.raw", rot)
print(json.dumps({
    "width": W, "height": H, "palette": PALETTE, "madctl": chip.madctl, "colmod": chip.colmod,
    "asleep": chip.asleep, "on": chip.on, "inverted": chip.inverted, "errors": chip.errors,
    "commands": [c for c, _ in chip.log], "frame_bytes": frame_bytes, "baudrate": spi.baudrate,
    "spi_id": spi.id, "pins": [spi.sck, spi.mosi, spi.miso],
}))  # fmt: skip
