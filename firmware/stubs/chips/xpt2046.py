# XPT2046 emulator: answers conversions for a "finger" at a raw position with a touch
# resistance, in the datasheet's circuit: with Y+ driven and X- grounded (the Z measurements)
# the current runs through the Y plate to the contact, the finger's resistance Rt and the X
# plate to X-; Z1 reads the X plate at the contact, Z2 the Y plate there. So
#   Rt = Rx * X/4096 * (Z2/Z1 - 1)   holds for the readings, as the datasheet says.
# No finger: Z1 = 0, Z2 = 4095, X and Y read 0, PENIRQ (if its pin exists) high.
#
# Bus framing: a byte with bit 7 set is a control byte (start bit); the result is shifted out
# over the next 16 clocks: one busy clock, 12 bits MSB first, 3 zeros. A control byte sent
# during those clocks (the 16-clock-per-conversion mode) starts the next conversion at once.
# 8-bit mode (MODE = 1) returns the top 8 bits; single-ended readings are not emulated (the
# touch channels are differential) and are logged as errors.
import machine

CHANNELS = {5: "x", 1: "y", 3: "z1", 4: "z2"}


class XPT2046:
    def __init__(self, irq=None, x_plate=300, y_plate=500):
        self.irq = irq
        self.x_plate = x_plate
        self.y_plate = y_plate
        self.finger = None  # (raw x, raw y, ohms)
        self.lift_after = None  # Z1 conversions left before the finger lifts by itself
        self.glitches = []  # [channel name, value, how many conversions, conversions to skip]
        self.conversions = {"x": 0, "y": 0, "z1": 0, "z2": 0}
        self.errors = []
        self._out = []

    def touch(self, x, y, ohms=300, lift_after=None):
        """A finger at raw (x, y) pressing with a touch resistance of `ohms`; it lifts by
        itself after `lift_after` pressure readings (Z1 conversions) when given."""
        self.finger = (x, y, ohms)
        self.lift_after = lift_after
        self._penirq()

    def lift(self):
        self.finger = None
        self._penirq()

    def glitch(self, channel, value, count=1, after=0):
        """`count` conversions of channel ("x", "y", "z1", "z2"), `after` conversions from
        now, read `value`."""
        self.glitches.append([channel, value, count, after])

    def _penirq(self):
        pin = machine._pins.get(self.irq) if self.irq is not None else None
        if pin is not None:
            pin._set(0 if self.finger else 1)

    def _convert(self, ch):
        self.conversions[ch] += 1
        for g in self.glitches:
            if g[0] == ch and g[2] > 0:
                if g[3] > 0:
                    g[3] -= 1
                    continue
                g[2] -= 1
                return g[1]
        if ch == "z1" and self.lift_after is not None and self.finger is not None:
            if self.lift_after <= 0:
                self.lift()
            else:
                self.lift_after -= 1
        if self.finger is None:
            return 4095 if ch == "z2" else 0
        x, y, rt = self.finger
        if ch == "x":
            return x
        if ch == "y":
            return y
        rx = self.x_plate * x / 4096  # X plate from the contact to X-
        ry = self.y_plate * (4096 - y) / 4096  # Y plate from Y+ to the contact
        total = ry + rt + rx
        v = rx if ch == "z1" else rx + rt
        return max(0, min(4095, int(4096 * v / total + 0.5)))

    def spi(self, tx, rx):
        for i in range(len(tx)):
            out = self._out.pop(0) if self._out else 0
            if rx is not None:
                rx[i] = out
            b = tx[i]
            if b & 0x80:
                ch = CHANNELS.get(b >> 4 & 7)
                if ch is None or b & 0x04:
                    self.errors.append("control byte 0x%02x" % b)
                    self._out = [0, 0]
                    continue
                v = self._convert(ch)
                if b & 0x08:  # 8-bit mode
                    v >>= 4
                    self._out = [v >> 1, (v & 1) << 7]
                else:
                    self._out = [v >> 5, (v & 0x1F) << 3]
