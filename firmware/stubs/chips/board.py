# A feedback terminal's board on the Unix port: the chips of firmware/stubs/chips/ put on the
# buses where the real board has them, and a scripted finger on the touch panel. _buses.py calls
# attach() when it loads, if OTK_CHIPS is set:
#
#   OTK_CHIPS=cyd    the CYD (otk/display/cyd.py): the XPT2046 on VSPI (CS 33, PENIRQ 36) and,
#                    with OTK_TFT=1, the ILI9341 on HSPI (CS 15, D/C 2). The panel's emulator
#                    holds the chip's 153,600-byte frame memory in the process's heap: without
#                    OTK_TFT the pixels are only counted by the bus (a test that measures heap).
#   OTK_CHIPS=oled   the button-survey terminal: an SSD1306 at 3Ch.
#
# OTK_TOUCH_SCRIPT names a file of lines, read as it grows (like OTK_PIN_SCRIPT):
#   T_MS X Y [HOLD_MS [OHMS]]   a finger on the screen point (X, Y) at T_MS for HOLD_MS (150)
#                               with a touch resistance of OHMS (300; a brush: 5000)
#   T_MS shot NAME              the screen as it looks then, saved as OTK_SHOTS/NAME.ppm
# T_MS is ms after the script started; "+N" is N ms after the line is read.
#
# The finger's screen point becomes the controller's raw reading through the panel's geometry,
# OTK_TOUCH_PANEL = "RX0,RX1,RY0,RY1,SWAP": the raw X at the screen's left and right edges,
# the raw Y at its top and bottom, SWAP=1 when the panel's X plate runs along the screen's
# height. The default is the CYD's typical panel in landscape, which otk/display/cyd.py's
# uncalibrated default undoes; another geometry is a panel that needs the technician's
# calibration.
import os

import machine
from chips.ili9341 import ILI9341
from chips.ssd1306 import SSD1306
from chips.xpt2046 import XPT2046

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

PANEL = (3870, 270, 240, 3800, 0)  # the CYD's panel, as otk/display/cyd.py DEFAULT_RAW
W = 320
H = 240
chips = {}


def _env(name, default=None):
    return os.getenv(name) or default


def raw_of(x, y, panel=PANEL):
    """The raw (X, Y) the controller reads for a finger at screen point (x, y)."""
    rx0, rx1, ry0, ry1, swap = panel
    if swap:
        return rx0 + (rx1 - rx0) * y // H, ry0 + (ry1 - ry0) * x // W
    return rx0 + (rx1 - rx0) * x // W, ry0 + (ry1 - ry0) * y // H


def attach(spec, attach_spi, attach_i2c):
    if spec == "cyd":
        chips["touch"] = attach_spi(XPT2046(irq=36), 33, sck=25)
        if _env("OTK_TFT"):
            chips["tft"] = attach_spi(ILI9341(dc=2), 15, sck=14)
            chips["tft"].log_max = 0  # the command log is for the driver's tests: not the heap's
        script = _env("OTK_TOUCH_SCRIPT")
        if script:
            asyncio.create_task(_replay(script))
    elif spec == "oled":
        chips["oled"] = attach_i2c(SSD1306(), 0x3C)
        chips["oled"].log_max = 0  # the command log (~35 KB at its cap) is for the driver's tests
        script = _env("OTK_TOUCH_SCRIPT")  # only "shot" lines make sense here
        if script:
            asyncio.create_task(_replay(script))
    else:
        raise ValueError("OTK_CHIPS: cyd or oled, not " + spec)


def _shot(name):
    folder = _env("OTK_SHOTS", ".")
    if "tft" in chips:
        chips["tft"].save_ppm(folder + "/" + name + ".ppm")
    if "oled" in chips:
        chips["oled"].save(folder + "/" + name + ".ppm", 1)


async def _replay(path):
    panel = PANEL
    spec = _env("OTK_TOUCH_PANEL")
    if spec:
        panel = tuple(int(v) for v in spec.split(","))
    start = machine.ticks_ms()
    offset = 0
    queue = []  # (t, what, args)
    lift_at = None
    while True:
        try:
            with open(path) as fh:
                fh.seek(offset)
                data = fh.read()
        except OSError:
            data = ""
        end = data.rfind("\n") + 1
        offset += len(data[:end].encode())
        now = machine.ticks_diff(machine.ticks_ms(), start)
        for line in data[:end].split("\n"):
            parts = line.split()
            if len(parts) < 3 or line.startswith("#"):
                continue
            t = now + int(parts[0][1:]) if parts[0][0] == "+" else int(parts[0])
            queue.append((t, parts[1:]))
        queue.sort(key=lambda e: e[0])
        while queue and queue[0][0] <= now:
            t, args = queue.pop(0)
            if args[0] == "shot":
                _shot(args[1])
                continue
            hold = int(args[2]) if len(args) > 2 else 150
            ohms = int(args[3]) if len(args) > 3 else 300
            rx, ry = raw_of(int(args[0]), int(args[1]), panel)
            chips["touch"].touch(rx, ry, ohms)
            lift_at = t + hold
        if lift_at is not None and now >= lift_at:
            chips["touch"].lift()
            lift_at = None
        await asyncio.sleep_ms(5) if hasattr(asyncio, "sleep_ms") else await asyncio.sleep(0.005)
