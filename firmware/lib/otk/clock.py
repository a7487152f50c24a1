# Uptime that does not wrap: time.ticks_ms() wraps every 2**30 ms (12.4 days) on MicroPython,
# and a console runs for months. Call uptime_ms() at least once a week (the heartbeat does).
from otk.compat import ticks_diff, ticks_ms

_last = ticks_ms()
_total = 0


def uptime_ms():
    """Milliseconds since boot, monotonic, never wrapping."""
    global _last, _total
    now = ticks_ms()
    _total += ticks_diff(now, _last)
    _last = now
    return _total


def uptime_at(ticks):
    """The uptime of an earlier ticks_ms() reading (e.g. taken in an interrupt handler)."""
    return uptime_ms() - ticks_diff(ticks_ms(), ticks)
