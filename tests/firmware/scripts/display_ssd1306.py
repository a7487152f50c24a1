# The SSD1306 driver (otk/display/ssd1306.py) against the SSD1306 emulator on the machine
# stub's I2C bus. Draws a terminal screen into a MONO_VLSB framebuf, shows it, dumps the
# framebuf (fb.bin), the emulator's GDDRAM (ram.bin) and the panel's view (oled.ppm); then sets
# the contrast. Prints one JSON line: the chip's state.
import gc
import json

import framebuf
import machine
from chips.ssd1306 import SSD1306 as Chip
from otk.display.ssd1306 import SSD1306

chip = machine.attach_i2c(Chip(), 0x3C, scl=11)
i2c = machine.I2C(0, scl=machine.Pin(11), sda=machine.Pin(10), freq=400000)
oled = SSD1306(i2c)
buf = bytearray(128 * 64 // 8)
fb = framebuf.FrameBuffer(buf, 128, 64, framebuf.MONO_VLSB)
fb.rect(0, 0, 128, 64, 1)
fb.text("How was it?", 20, 4, 1)
for i in range(5):  # five buttons under the screen
    fb.rect(6 + i * 24, 30, 20, 20, 1)
    fb.text(str(i + 1), 12 + i * 24, 36, 1)
fb.fill_rect(6 + 3 * 24, 30, 20, 20, 1)  # the one just pressed
fb.text("4", 12 + 3 * 24, 36, 0)
fb.pixel(1, 1, 1)  # a mark top left
fb.hline(2, 60, 30, 1)  # a bar bottom left
oled.show(fb)


class Null:  # a second module that only acks: the driver's own allocations, not the emulator's
    def i2c_write(self, vector):
        pass


machine.attach_i2c(Null(), 0x3D, scl=11)
quiet = SSD1306(i2c, addr=0x3D)
quiet.show(fb)
gc.collect()
gc.disable()
before = gc.mem_free()
quiet.show(fb)
alloc = before - gc.mem_free()
gc.enable()
with open("fb.bin", "wb") as f:
    f.write(buf)
with open("ram.bin", "wb") as f:
    f.write(chip.ram)
chip.save("oled.ppm")
corner = [chip.lit(1, 1), chip.lit(126, 1), chip.lit(1, 62), chip.lit(126, 62)]
oled.contrast(0x40)
print(json.dumps({
    "on": chip.on, "charge_pump": chip.charge_pump, "mode": chip.mode, "contrast": chip.contrast,
    "errors": chip.errors, "mark_top_left": corner, "show_alloc": alloc, "bytes": i2c.bytes_out,
    "seg_remap": chip.seg_remap, "com_remap": chip.com_remap,
}))  # fmt: skip
