# Small differences between MicroPython and CPython, in one place.
# MicroPython: time.ticks_ms() wraps at 2**30; ticks_diff/ticks_add handle the wrap.
# CPython: the same functions built on time.monotonic(), with the same wrap, so code that is
# correct here is correct on a board.
import time

try:
    from time import ticks_add, ticks_diff, ticks_ms  # MicroPython

    MICROPYTHON = True
except ImportError:  # CPython
    MICROPYTHON = False
    _PERIOD = 1 << 30
    _HALF = _PERIOD >> 1

    def ticks_ms():
        return int(time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_add(ticks, delta):
        return (ticks + delta) & (_PERIOD - 1)

    def ticks_diff(end, start):
        return ((end - start + _HALF) & (_PERIOD - 1)) - _HALF


try:
    import asyncio
except ImportError:  # very old MicroPython
    import uasyncio as asyncio  # noqa: F401


async def sleep_ms(ms):
    await asyncio.sleep(ms / 1000)


def epoch_ms():
    """Milliseconds since 1970-01-01 UTC, or None while the clock was never set.

    On boards time.time() counts from 2000-01-01 (MicroPython's epoch) until NTP sets it;
    a year before 2024 means "not set".
    """
    t = time.time()
    if time.gmtime(0)[0] == 2000:
        t += 946684800
    if t < 1704067200:  # 2024-01-01
        return None
    return int(t * 1000)
