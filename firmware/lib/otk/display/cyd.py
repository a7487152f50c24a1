# The ESP32-2432S028R ("Cheap Yellow Display", CYD): pins and buses of its display and touch
# (hardware/kiosk-cyd.md). Two SPI buses: the ILI9341 on HSPI's own IO_MUX pins (so the clock
# may go above the GPIO matrix's ~26 MHz), the XPT2046 on VSPI routed to its pins through the
# GPIO matrix at 1 MHz (its DCLK is at most 2.5 MHz). The ILI9341's reset is the board's EN.
from machine import SPI, Pin

from otk.display.ili9341 import ILI9341
from otk.display.xpt2046 import XPT2046, Calibration

TFT = {"sck": 14, "mosi": 13, "miso": 12, "cs": 15, "dc": 2, "bl": 21}
TOUCH = {"sck": 25, "mosi": 32, "miso": 39, "cs": 33, "irq": 36}
TFT_BAUD = 40000000
TOUCH_BAUD = 1000000
CALIBRATION = "touch.json"
# The CYD's resistive panel in landscape as boards usually come: the raw X at the screen's left
# and right edges, the raw Y at its top and bottom. Until the technician calibrates (the
# kiosk's technician menu saves touch.json), touches map through these; each panel differs by
# a few per cent, which is why the menu exists. (Typical values; to check on each board.)
DEFAULT_RAW = (3870, 270, 240, 3800)


def default_calibration(width=320, height=240):
    x0, x1, y0, y1 = DEFAULT_RAW
    a = width / (x1 - x0)
    e = height / (y1 - y0)
    return Calibration((a, 0, -a * x0, 0, e, -e * y0), width, height)


def display(rotation=90, baudrate=TFT_BAUD):
    p = TFT
    spi = SPI(1, baudrate=baudrate, polarity=0, phase=0,
              sck=Pin(p["sck"]), mosi=Pin(p["mosi"]), miso=Pin(p["miso"]))  # fmt: skip
    return ILI9341(spi, cs=Pin(p["cs"], Pin.OUT, value=1), dc=Pin(p["dc"], Pin.OUT, value=0),
                   bl=Pin(p["bl"], Pin.OUT, value=0), rotation=rotation)  # fmt: skip


def touch(path=CALIBRATION, width=320, height=240):
    p = TOUCH
    spi = SPI(2, baudrate=TOUCH_BAUD, polarity=0, phase=0,
              sck=Pin(p["sck"]), mosi=Pin(p["mosi"]), miso=Pin(p["miso"]))  # fmt: skip
    return XPT2046(spi, cs=Pin(p["cs"], Pin.OUT, value=1), irq=Pin(p["irq"], Pin.IN),
                   cal=Calibration.load(path, width, height) or default_calibration(width, height))  # fmt: skip
