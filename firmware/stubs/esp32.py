# Stub of MicroPython's `esp32` module (deep-sleep wake sources) for the Unix port and CPython.
# machine.deepsleep() in the machine stub writes the armed pins to OTK_SLEEP_LOG.
WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True

_ext1_pins = ()
_ext1_level = None


def wake_on_ext1(pins=None, level=WAKEUP_ALL_LOW):
    global _ext1_pins, _ext1_level
    _ext1_pins = tuple(p.id if hasattr(p, "id") else p for p in (pins or ()))
    _ext1_level = level
