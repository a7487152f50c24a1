# Stub of MicroPython's `esp32` module (deep-sleep wake sources) for the Unix port and CPython.
# machine.deepsleep() in the machine stub writes the armed pins to OTK_SLEEP_LOG.
# OTK_ESP32_WAKE picks which port it behaves like:
#   "ext1" (default): an ESP32-S3 (esp32.wake_on_ext1);
#   "gpio": an ESP32-C3 on MicroPython >= 1.27 (no ext1, esp32.wake_on_gpio, GPIO0-5 only,
#           checked by machine.deepsleep() as the port does);
#   "none": an ESP32-C3 on an older MicroPython (neither call exists).
import os

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_ext1_pins = ()
_ext1_level = None
_gpio_pins = ()
_KIND = os.getenv("OTK_ESP32_WAKE") or "ext1"
#: GPIOs a C3 can wake from deep sleep with (the RTC GPIOs); OTK_ESP32_WAKE_GPIOS="0,1,2"
#: narrows them, to try a pin map the chip refuses
C3_WAKE_GPIOS = tuple(int(x) for x in (os.getenv("OTK_ESP32_WAKE_GPIOS") or "0,1,2,3,4,5").split(","))


def _ids(pins):
    return tuple(p.id if hasattr(p, "id") else p for p in (pins or ()))


if _KIND == "ext1":

    def wake_on_ext1(pins=None, level=WAKEUP_ALL_LOW):
        global _ext1_pins, _ext1_level
        _ext1_pins = _ids(pins)
        _ext1_level = level


if _KIND == "gpio":

    def wake_on_gpio(pins=None, level=WAKEUP_ALL_LOW):
        global _gpio_pins
        _gpio_pins = _ids(pins)


def _armed():
    """The pins armed for a deep-sleep wake; raises ValueError like the C3 port for a bad pin."""
    for p in _gpio_pins:
        if p not in C3_WAKE_GPIOS:
            raise ValueError("wake-up pin not supported")
    return _ext1_pins + _gpio_pins
