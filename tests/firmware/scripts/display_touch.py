# The XPT2046 driver (otk/display/xpt2046.py, through otk/display/cyd.py) against the XPT2046
# emulator on the machine stub's second SPI bus. The emulated panel is mounted like the CYD's
# (axes swapped and one mirrored): raw x follows the screen's y, raw y the screen's x backwards.
# Steps: calibrate() from 4 targets touched by the emulated finger, saved to touch.json and
# loaded again; taps at known points; a light touch; a one-poll touch; a wild sample in a burst;
# a 3-point calibration. Prints one JSON line of results.
import json

import machine
from chips.xpt2046 import XPT2046 as Chip
from otk.display import cyd
from otk.display import xpt2046 as xpt

chip = machine.attach_spi(Chip(irq=cyd.TOUCH["irq"]), cs=cyd.TOUCH["cs"], sck=cyd.TOUCH["sck"])


def raw_of(sx, sy):
    """The panel's truth: where the finger at screen (sx, sy) lands in raw units."""
    return (int(310 + sy * 3480 / 240), int(3790 - sx * 3500 / 320))


def polls(touch, n):
    return [touch.read() for _ in range(n)]


out = {}
touch = cyd.touch(path="none.json")  # no calibration yet: the default
chip.lift()  # PENIRQ high: the stub's input pin starts low
out["uncalibrated"] = touch.cal.coeffs


def draw(sx, sy):  # the kiosk would draw a target; the emulated visitor touches it
    rx, ry = raw_of(sx, sy)
    chip.touch(rx, ry, ohms=400, lift_after=8)


targets = ((30, 30), (290, 30), (290, 210), (30, 210))
cal = xpt.calibrate(touch, targets, draw, timeout_ms=5000)
cal.save("touch.json")
touch = cyd.touch()  # loads touch.json
chip.lift()
out["calibration"] = touch.cal.coeffs
taps = {}
for sx, sy in ((160, 120), (10, 230), (300, 15), (200, 60)):
    chip.touch(*raw_of(sx, sy), ohms=350)
    p = polls(touch, 4)
    chip.lift()
    p += polls(touch, 3)
    taps[f"{sx},{sy}"] = p
out["taps"] = taps
# a light touch: 4 kOhm, above max_ohms (1 kOhm)
chip.touch(*raw_of(100, 100), ohms=4000)
out["light"] = polls(touch, 6)
out["light_ohms"] = touch.ohms
chip.lift()
polls(touch, 3)
# a one-poll touch: pressed for a single burst only
chip.touch(*raw_of(100, 100), ohms=300)
first = polls(touch, 1)
chip.lift()
out["one_poll"] = first + polls(touch, 4)
# a wild X (and Y) sample inside a burst: the median keeps the point (the third conversion:
# the first of a burst is the settling one the driver throws away)
chip.touch(*raw_of(250, 180), ohms=300)
out["glitch"] = polls(touch, 1)  # down from the next poll on: its burst gets the glitch
chip.glitch("x", 4000, after=2)
chip.glitch("y", 5, after=3)
out["glitch"] += polls(touch, 2)
out["glitches_left"] = [g[2] for g in chip.glitches]
chip.lift()
polls(touch, 3)
# three points are enough, exactly
pts = []
for x, y in ((20, 20), (300, 40), (160, 220)):
    rx, ry = raw_of(x, y)
    pts.append((rx, ry, x, y))
c3 = xpt.solve(pts)
out["three_point"] = [c3.map(*raw_of(x, y)) for x, y in ((20, 20), (160, 120), (310, 230))]
out["conversions"] = chip.conversions
out["errors"] = chip.errors
out["loaded_none"] = xpt.Calibration.load("missing.json") is None
print(json.dumps(out))
