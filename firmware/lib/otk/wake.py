# Deep sleep between presses for battery builds: the hardware side (which button woke the
# board, arming the wake pins, going to sleep). The policy (when to sleep) is in device.py.
#
# Every wake from deep sleep is a new boot: RAM is gone, main.py runs from the top. The press
# that woke the board must be found before anything slow runs, in one of two ways:
#   1. the chip's wake-status register, which latches the pin that woke it (ESP32-S3:
#      RTC_CNTL_EXT_WAKEUP1_STATUS, read through machine.mem32; the pin map names the
#      address). It still knows after the button was released;
#   2. otherwise the button levels read at the top of main.py: only a press still held
#      when MicroPython starts (a few hundred ms after the wake) is seen.
# A wake by a button that neither finds is a missed press: it is counted and reported in the
# heartbeat (missed_wakes), never guessed.
import machine

DEEPSLEEP = getattr(machine, "DEEPSLEEP_RESET", 4)
TIMER_WAKE = getattr(machine, "TIMER_WAKE", 4)


def woke_from_deepsleep():
    try:
        return machine.reset_cause() == DEEPSLEEP
    except (AttributeError, OSError):
        return False


def _wake_mask(status_reg):
    if status_reg is None or not hasattr(machine, "mem32"):
        return None
    return machine.mem32[status_reg] & 0x3FFFFF  # RTC GPIO0-21


def reason(pin_ids, pins, status_reg=None):
    """Why this boot happened, read first thing after a reset.

    None: not a wake from deep sleep. ("timer", None): the timer. ("button", i): button i
    (from 1). ("button", None): a button, but which one is unknown (released too soon).
    """
    if not woke_from_deepsleep():
        return None
    reason = machine.wake_reason() if hasattr(machine, "wake_reason") else None
    if reason == TIMER_WAKE:
        return ("timer", None)
    held = [i + 1 for i, p in enumerate(pins) if p.value() == 0]
    mask = _wake_mask(status_reg)
    if mask:
        woke = [i + 1 for i, gpio in enumerate(pin_ids) if mask & (1 << gpio)]
        if len(woke) == 1:
            return ("button", woke[0])
    if len(held) == 1:
        return ("button", held[0])
    return ("button", None)


def arm(pins):
    """Wake on any button going low (pressed). None when armed, else why this port cannot.

    ESP32-S3 (and S2, ESP32): ext1 on RTC GPIOs. ESP32-C3: no ext0/ext1; GPIO wake with
    esp32.wake_on_gpio(), which MicroPython has since 1.27 (micropython PR #17518), on
    GPIO0-5 only (checked by machine.deepsleep()). Elsewhere (the Pico W, an older C3 build)
    there is no button wake: the caller stays awake and says why in its status.
    """
    try:
        import esp32
    except ImportError:
        return "no button wake: this port has no esp32 module (deep sleep needs an ESP32)"
    try:
        if hasattr(esp32, "wake_on_ext1"):
            # on the S2/S3 level 0 (WAKEUP_ALL_LOW) means "any pin low"
            esp32.wake_on_ext1(pins=pins, level=esp32.WAKEUP_ALL_LOW)
        elif hasattr(esp32, "wake_on_gpio"):
            esp32.wake_on_gpio(pins=pins, level=esp32.WAKEUP_ALL_LOW)
        else:
            return "no button wake: esp32.wake_on_gpio missing (an ESP32-C3 needs MicroPython 1.27 or newer)"
    except (AttributeError, ValueError, TypeError, OSError) as e:
        return "no button wake: " + repr(e)[:150]
    return None


def sleep(ms):
    """Deep sleep until a button or the timer; a wake is a new boot, so this returns only when
    the port refused (e.g. a C3 button pin outside GPIO0-5): then it says why."""
    try:
        machine.deepsleep(ms)
    except (ValueError, OSError) as e:
        return "no deep sleep: " + repr(e)[:150]
    return "no deep sleep"
