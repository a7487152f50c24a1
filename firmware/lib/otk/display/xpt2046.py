# XPT2046 (ADS7843-compatible) resistive touch controller on SPI, and its calibration.
#
# A conversion (datasheet "Digital Interface"): the controller reads a control byte
#   S (bit 7, start) | A2-A0 (bits 6-4, channel) | MODE (bit 3, 0 = 12 bits)
#   | SER/DFR (bit 2, 0 = differential: ratiometric, for the touch channels) | PD1-PD0 (bits 1-0)
# and, after one busy clock, shifts the result out MSB first: of the two bytes clocked after
# the control byte, the 12 bits are (b1 << 8 | b2) >> 3. Channels: X = 101 (D0h), Y = 001 (90h),
# Z1 = 011 (B0h), Z2 = 100 (C0h). PD = 00 powers down between conversions and keeps PENIRQ
# enabled, so the IRQ pin (active low) tells a touch without a conversion.
#
# Pressure: the touch resistance R = Rx-plate * X / 4096 * (Z2 / Z1 - 1) (datasheet, "Measuring
# Touch Pressure"); a finger pressing harder has a lower R. A touch counts when R <= max_ohms
# (a light brush, or no touch at all, gives a high R or Z1 = 0). A reading is a burst of
# `samples` X and Y conversions (the first one, taken while the plate settles, discarded) and
# their median, so a single wild sample does not move the point. A touch goes down (and up)
# only after `debounce` polls in a row agree, so a one-poll spike is never a tap.
#
# Raw -> screen: an affine map sx = a*rx + b*ry + c, sy = d*rx + e*ry + f (it covers swapped and
# mirrored axes, any rotation) solved by least squares from 3 or more touched targets
# (solve(), calibrate()), kept as JSON in flash (Calibration.save/load: touch.json, ~100 B),
# applied in 16.16 fixed point (no float per poll; floats are heap objects on the esp32 port).
#
#     spi = SPI(2, baudrate=1000000, sck=Pin(25), mosi=Pin(32), miso=Pin(39))
#     touch = XPT2046(spi, cs=Pin(33, Pin.OUT, value=1), irq=Pin(36, Pin.IN),
#                     cal=Calibration.load("touch.json"))
#     point = touch.read()        # every ~20 ms: (x, y) on the screen while touched, else None
#
# Verified on the MicroPython Unix port (tests/firmware/test_display.py, against the XPT2046
# emulator in firmware/stubs/chips/, which answers conversions from a finger's raw position
# and touch resistance in the datasheet's circuit model): the control bytes and the 24-clock
# framing, the pressure threshold (a light touch ignored), the median (a wild sample ignored),
# the debounce (a one-poll touch ignored), calibration from 3 and 4 targets with a rotated and
# mirrored panel, the JSON round trip, calibrate() driven by touches. Needs a board: the
# CYD panel's raw range and noise, the plate resistance (x_plate) and a max_ohms that tells a
# finger from a brush, the settling time at the SPI clock, PENIRQ on GPIO36 (input-only, no
# pull-up inside the ESP32: the XPT2046 has its own), float32 precision of solve() (the Unix port
# computes in doubles; the inputs are centred and scaled to keep float32 accurate).
import json

X = 0xD0
Y = 0x90
Z1 = 0xB0
Z2 = 0xC0

try:
    from time import sleep_ms, ticks_diff, ticks_ms
except ImportError:  # CPython
    from time import sleep as _sleep

    from otk.compat import ticks_diff, ticks_ms

    def sleep_ms(ms):
        _sleep(ms / 1000)


def _median(vals, n):
    """Median of vals[0:n], sorting them in place (insertion sort: no allocation)."""
    for i in range(1, n):
        v = vals[i]
        j = i - 1
        while j >= 0 and vals[j] > v:
            vals[j + 1] = vals[j]
            j -= 1
        vals[j + 1] = v
    return vals[n // 2]


class Calibration:
    """sx = a*rx + b*ry + c, sy = d*rx + e*ry + f, clamped to width x height."""

    def __init__(self, coeffs, width=320, height=240):
        self.coeffs = tuple(float(v) for v in coeffs)
        self.width = width
        self.height = height
        a, b, c, d, e, f = self.coeffs
        # 16.16 fixed point: per-poll mapping in small ints
        self._fix = tuple(int(v * 65536) for v in (a, b, c + 0.5, d, e, f + 0.5))

    @classmethod
    def default(cls, width=320, height=240):
        """The whole raw range on the whole screen, axes as they come: until calibrated."""
        return cls((width / 4096, 0, 0, 0, height / 4096, 0), width, height)

    def map(self, rx, ry):
        a, b, c, d, e, f = self._fix
        x = (a * rx + b * ry + c) >> 16
        y = (d * rx + e * ry + f) >> 16
        return (min(max(x, 0), self.width - 1), min(max(y, 0), self.height - 1))

    def save(self, path):
        doc = {"v": 1, "affine": list(self.coeffs), "width": self.width, "height": self.height}
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(json.dumps(doc))
        import os

        os.rename(tmp, path)  # atomic on littlefs: a power cut keeps the old calibration

    @classmethod
    def load(cls, path, width=320, height=240):
        """The saved calibration, or None when there is none (or it is unreadable)."""
        try:
            with open(path) as fh:
                doc = json.loads(fh.read())
            coeffs = doc["affine"]
            if len(coeffs) != 6:
                return None
            return cls(coeffs, doc.get("width", width), doc.get("height", height))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def solve(points, width=320, height=240):
    """A Calibration from 3 or more (rx, ry, sx, sy): exact for 3 points not on a line, least
    squares for more. The raw values are centred and scaled first, so float32 boards keep
    their precision."""
    n = len(points)
    if n < 3:
        raise ValueError("3 points at least")
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    suu = suv = svv = sux = svx = suy = svy = 0.0
    cx = sum(p[2] for p in points) / n
    cy = sum(p[3] for p in points) / n
    for rx, ry, sx, sy in points:
        u = (rx - mx) / 4096
        v = (ry - my) / 4096
        suu += u * u
        suv += u * v
        svv += v * v
        sux += u * (sx - cx)
        svx += v * (sx - cx)
        suy += u * (sy - cy)
        svy += v * (sy - cy)
    det = suu * svv - suv * suv
    if abs(det) < 1e-9:
        raise ValueError("targets on a line")
    a = (sux * svv - svx * suv) / det / 4096
    b = (svx * suu - sux * suv) / det / 4096
    d = (suy * svv - svy * suv) / det / 4096
    e = (svy * suu - suy * suv) / det / 4096
    return Calibration((a, b, cx - a * mx - b * my, d, e, cy - d * mx - e * my), width, height)


class XPT2046:
    def __init__(self, spi, cs, irq=None, cal=None, samples=5, debounce=2, max_ohms=1000,
                 x_plate=300):  # fmt: skip
        """spi: a machine.SPI at <= 2 MHz (mode 0); cs: an output Pin; irq: PENIRQ as an input
        Pin (optional: without it every poll converts); cal: a Calibration (default: the raw
        range on 320x240)."""
        self.spi = spi
        self.cs = cs
        self.irq = irq
        self.cal = cal or Calibration.default()
        self.samples = samples
        self.debounce = debounce
        self.max_ohms = max_ohms
        self.x_plate = x_plate
        self._tx = bytearray(3)
        self._rx = bytearray(3)
        self._xs = [0] * (samples + 1)
        self._ys = [0] * (samples + 1)
        self.raw_x = self.raw_y = 0
        self.ohms = None  # touch resistance of the last burst (None: no touch)
        self.down = False
        self._on = self._off = 0
        self._point = None
        cs.value(1)

    def _conv(self, ctrl):
        tx = self._tx
        rx = self._rx
        tx[0] = ctrl
        self.spi.write_readinto(tx, rx)
        return (rx[1] << 8 | rx[2]) >> 3

    def sample(self):
        """One burst: True with raw_x/raw_y (medians) and ohms set when pressed hard enough."""
        if self.irq is not None and self.irq.value():
            self.ohms = None
            return False
        self.cs.value(0)
        try:
            z1 = self._conv(Z1)
            z2 = self._conv(Z2)
            n = self.samples
            xs = self._xs
            ys = self._ys
            for i in range(n + 1):  # the first pair is taken while the plates settle
                xs[i] = self._conv(X)
                ys[i] = self._conv(Y)
            xs[0] = xs[n]
            ys[0] = ys[n]
            x = _median(xs, n)
            y = _median(ys, n)
            z1b = self._conv(Z1)  # the pressure again after the burst: a finger lifting
            z2b = self._conv(Z2)
        finally:
            self.cs.value(1)
        ohms = self._ohms(x, z1, z2)
        ohms_b = self._ohms(x, z1b, z2b)
        if ohms is None or ohms_b is None:
            self.ohms = None
            return False
        self.ohms = max(ohms, ohms_b)
        self.raw_x = x
        self.raw_y = y
        return self.ohms <= self.max_ohms

    def _ohms(self, x, z1, z2):
        if z1 < 16 or z2 <= z1 or x == 0:  # no contact (Z1 ~ 0) or a reading that makes no sense
            return None
        # R = Rx * x/4096 * (z2/z1 - 1), in small ints (< 2**30 on a 32-bit port)
        return (self.x_plate * x >> 6) * (z2 - z1) // (z1 << 6)

    def read(self):
        """Poll (every 10-30 ms): the screen point (x, y) while a debounced touch is down, else
        None. A touch is down after `debounce` pressed bursts in a row, up after as many
        released ones; the point is the last pressed burst's."""
        if self.sample():
            self._on += 1
            self._off = 0
            if self._on >= self.debounce:
                self.down = True
                self._point = self.cal.map(self.raw_x, self.raw_y)
        else:
            self._off += 1
            self._on = 0
            if self._off >= self.debounce:
                self.down = False
                self._point = None
        return self._point if self.down else None

    def wait_raw(self, timeout_ms=30000, poll_ms=20):
        """Block until a debounced touch is down and released again: the median raw position
        (rx, ry) over the pressed bursts, or None on timeout. For calibration."""
        t0 = ticks_ms()
        xs = []
        ys = []
        while ticks_diff(ticks_ms(), t0) < timeout_ms:
            self.read()
            if self.down and self.ohms is not None and self.ohms <= self.max_ohms:
                xs.append(self.raw_x)
                ys.append(self.raw_y)
            elif not self.down and xs:
                return (_median(xs, len(xs)), _median(ys, len(ys)))
            sleep_ms(poll_ms)
        return None


def calibrate(touch, targets, draw=None, timeout_ms=30000):
    """Ask for a touch on each target (x, y) on the screen, 3 or more (4 near the corners is
    best); draw(x, y) shows the target. A Calibration (set on touch), or None when a target
    was not touched in time. Save it with .save("touch.json")."""
    points = []
    for sx, sy in targets:
        if draw is not None:
            draw(sx, sy)
        raw = touch.wait_raw(timeout_ms)
        if raw is None:
            return None
        points.append((raw[0], raw[1], sx, sy))
    cal = solve(points, touch.cal.width, touch.cal.height)
    touch.cal = cal
    return cal
