# Stub of MicroPython's `machine` for the Unix port and CPython: scripted pin levels.
# See README.md beside this file. Only the hardware edge is stubbed; everything above is real.
import os
import sys

try:
    from time import ticks_diff, ticks_ms
except ImportError:
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000) & ((1 << 30) - 1)

    def ticks_diff(a, b):
        half = 1 << 29
        return ((a - b + half) & ((1 << 30) - 1)) - half


try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

_pins = {}
_script = None


def _env(name, default=None):
    try:
        return os.getenv(name) or default
    except AttributeError:  # old Unix ports
        import uos

        return uos.getenv(name) or default


class _Script:
    """Replays `T_MS PIN LEVEL` lines from OTK_PIN_SCRIPT, following the file as it grows."""

    POLL_MS = 2

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.queue = []
        self.start = ticks_ms()
        asyncio.create_task(self._run())

    def _read_new(self):
        try:
            with open(self.path) as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind("\n") + 1
        self.offset += len(data[:end].encode())
        now = ticks_diff(ticks_ms(), self.start)
        for line in data[:end].split("\n"):
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                # "+N": N ms after the line is read (tests press buttons while the device runs)
                t = now + int(parts[0][1:]) if parts[0][0] == "+" else int(parts[0])
                self.queue.append((t, int(parts[1]), int(parts[2])))
        self.queue.sort()

    async def _run(self):
        while True:
            self._read_new()
            now = ticks_diff(ticks_ms(), self.start)
            while self.queue and self.queue[0][0] <= now:
                _, pin_id, level = self.queue.pop(0)
                pin = _pins.get(pin_id)
                if pin is not None:
                    pin._set(level)
            await asyncio.sleep(self.POLL_MS / 1000)


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.mode = mode
        self._level = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self._level = value
        # OTK_PIN_HELD="4,2": buttons already held down when the board starts (a deep-sleep wake)
        if mode == Pin.IN and str(pin_id) in _env("OTK_PIN_HELD", "").split(","):
            self._level = 0
        self._handler = None
        self._trigger = 0
        _pins[pin_id] = self

    def value(self, level=None):
        if level is None:
            return self._level
        self._level = 1 if level else 0
        log = _env("OTK_PIN_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write("%d %s %d\n" % (ticks_ms(), self.id, self._level))
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, level=None):
        return self.value(level)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING):
        global _script
        self._handler = handler
        self._trigger = trigger
        path = _env("OTK_PIN_SCRIPT")
        if path and _script is None:
            _script = _Script(path)

    def _set(self, level):
        old, self._level = self._level, level
        if self._handler is None or old == level:
            return
        edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self._trigger & edge:
            self._handler(self)


class PWM:
    """machine.PWM as on the esp32 port: PWM(pin, freq=, duty_u16=); the duty is recorded."""

    def __init__(self, pin, freq=5000, duty_u16=0):
        self.pin = pin
        self._freq = freq
        self._duty = duty_u16

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value
        return None

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        self._duty = value
        return None

    def deinit(self):
        pass


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin.id if isinstance(pin, Pin) else pin
        self.atten = atten

    def read_u16(self):
        return int(_env("OTK_ADC_%s" % self.pin, "40000"))

    def read_uv(self):
        """The calibrated reading in microvolts (esp32 port): OTK_ADC_UV_<PIN>; needs the
        attenuation set (the port's default is the widest, but the firmware sets it)."""
        if self.atten is None:
            raise ValueError("attenuation not set")
        return int(_env("OTK_ADC_UV_%s" % self.pin, "2000000"))  # a healthy cell: 4.0 V


PWRON_RESET = 1
# wake reasons as on the esp32 port
PIN_WAKE = EXT0_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause():
    return int(_env("OTK_RESET_CAUSE", str(PWRON_RESET)))


def wake_reason():
    return int(_env("OTK_WAKE_REASON", "0"))


class _Mem32:
    """machine.mem32: a register reads OTK_MEM32_<ADDR in hex> (e.g. the S3's wake status)."""

    def __getitem__(self, addr):
        return int(_env("OTK_MEM32_%X" % addr, "0"))


mem32 = _Mem32()


def unique_id():
    return b"\x00\x00\x00\x00\x00\x01"


def freq():
    return 160000000


def reset():
    sys.exit(99)  # the test harness restarts the "device"


def deepsleep(ms=0):
    # OTK_SLEEP_LOG gets a line "MS PIN,PIN,..." (the timer and the armed wake pins); the test
    # harness "sleeps" and starts the device again as a deep-sleep wake
    esp32 = sys.modules.get("esp32")
    pins = esp32._armed() if esp32 is not None else ()  # ValueError for a pin a C3 cannot wake on
    log = _env("OTK_SLEEP_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write("%d %s\n" % (ms, ",".join(str(p) for p in pins) or "-"))
    sys.exit(98)


def lightsleep(ms=0):
    pass


class WDT:
    """The hardware watchdog: a thread that kills the process (SIGKILL, like a chip reset)
    when feed() was not called for ``timeout`` ms, after appending "wdt TIMEOUT" to the file
    named by OTK_WDT_LOG. The test harness (or the simulator) starts the device again with
    OTK_RESET_CAUSE=3 (WDT_RESET). Starve it by hanging the event loop."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self._fed = ticks_ms()
        import _thread

        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._fed = ticks_ms()

    def _watch(self):
        import time

        while ticks_diff(ticks_ms(), self._fed) <= self.timeout:
            time.sleep(0.05)
        log = _env("OTK_WDT_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write("wdt %d\n" % self.timeout)
        os.system("kill -9 $PPID")  # the shell's parent is this process



# --- SPI and I2C buses (_buses.py) --------------------------------------------------------------
# Loaded on first use (module __getattr__, which MicroPython and CPython both have): a console
# that uses no bus keeps the heap their emulation costs (~5 KB), as a board's built-in machine
# module costs it nothing.
_BUSES = ("SPI", "SoftSPI", "I2C", "SoftI2C", "attach_spi", "attach_i2c")


def __getattr__(name):
    if name in _BUSES:
        import _buses

        return getattr(_buses, name)
    raise AttributeError(name)
