# SCD41 emulator on I2C, after Sensirion's SCD4x datasheet (version 1.4), so the driver's
# framing, CRC checks, timing and conversions run unchanged on the Unix port:
# - a command is 2 bytes MSB first, an argument word 2 bytes and its CRC-8 (0x31, init 0xFF);
#   a bad argument CRC, an unknown command, a command the current mode does not take, or a
#   command sent during another's execution time is not acknowledged (OSError EIO on the bus);
# - a read before the command's execution time has passed, a read with no answer pending, or a
#   read_measurement with no new measurement is not acknowledged either;
# - periodic mode makes a measurement every 5 s (the first 5 s after the start); while in it only
#   read_measurement, get_data_ready_status and stop_periodic_measurement are taken, and stop
#   needs 500 ms before the next command;
# - forced recalibration needs idle mode and at least 3 minutes of periodic measurement before
#   (else it answers 0xFFFF); it answers the correction + 0x8000 and moves the CO2 readings;
# - faults a test may set: ``corrupt`` (the next answer's first CRC flipped), ``absent`` (the
#   address not acknowledged: a sensor unplugged).
# The values measured are ``co2`` (ppm), ``t`` (C) and ``rh`` (%), which a test sets.
from time import ticks_add, ticks_diff, ticks_ms

EIO = 5
ENODEV = 19
INTERVAL_MS = 5000
FRC_AFTER_MS = 180_000
# command -> (execution time ms, argument words, answer words, taken while measuring)
COMMANDS = {
    0x21B1: (0, 0, 0, False),  # start_periodic_measurement
    0xEC05: (1, 0, 3, True),  # read_measurement
    0x3F86: (500, 0, 0, True),  # stop_periodic_measurement
    0xE4B8: (1, 0, 1, True),  # get_data_ready_status
    0x2416: (1, 1, 0, False),  # set_automatic_self_calibration_enabled
    0x2313: (1, 0, 1, False),  # get_automatic_self_calibration_enabled
    0x362F: (400, 1, 1, False),  # perform_forced_recalibration
    0x3682: (1, 0, 3, False),  # get_serial_number
}


def crc8(data, start=0, n=2):
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= data[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SCD41:
    def __init__(self, co2=600, t=22.5, rh=40.0, serial=0x1234_5678_9ABC):
        self.co2, self.t, self.rh = co2, t, rh
        self.serial = serial
        self.asc = True  # the sensor ships with self-calibration on
        self.offset = 0  # ppm added by a forced recalibration
        self.measuring = False
        self.started = 0
        self.measured_ms = 0  # periodic measurement time before the last stop
        self.taken = 0  # measurements read (each one once)
        self.busy_until = None  # ticks until which the last command executes
        self.answer = None  # words waiting for a read
        self.errors = []  # why a transaction was not acknowledged
        self.log = []  # the commands taken
        self.corrupt = False
        self.absent = False

    def _nack(self, why):
        self.errors.append(why)
        raise OSError(EIO)

    def _made(self, now):
        """Measurements made since the start (one every 5 s)."""
        return ticks_diff(now, self.started) // INTERVAL_MS if self.measuring else 0

    # the bus
    def i2c_write(self, vector):
        if self.absent:
            raise OSError(ENODEV)
        data = b"".join(bytes(b) for b in vector)
        now = ticks_ms()
        if self.busy_until is not None and ticks_diff(self.busy_until, now) > 0:
            self._nack("command during another's execution time")
        if len(data) < 2:
            self._nack("a command is 2 bytes")
        cmd = (data[0] << 8) | data[1]
        spec = COMMANDS.get(cmd)
        if spec is None:
            self._nack("unknown command 0x%04x" % cmd)
        wait, nargs, nwords, in_periodic = spec
        if len(data) != 2 + 3 * nargs:
            self._nack("0x%04x takes %d argument word(s)" % (cmd, nargs))
        for i in range(nargs):
            if crc8(data, 2 + 3 * i) != data[4 + 3 * i]:
                self._nack("argument CRC mismatch for 0x%04x" % cmd)
        if self.measuring and not in_periodic:
            self._nack("0x%04x is not taken during periodic measurement" % cmd)
        arg = (data[2] << 8) | data[3] if nargs else None
        self.log.append(cmd)
        self.answer = None
        self.busy_until = ticks_add(now, wait) if wait else None
        words = self._run(cmd, arg, now)
        if nwords:
            self.answer = words

    def _run(self, cmd, arg, now):
        if cmd == 0x21B1:
            self.measuring, self.started, self.taken = True, now, 0
        elif cmd == 0x3F86:
            self.measured_ms += ticks_diff(now, self.started)
            self.measuring = False
        elif cmd == 0xE4B8:
            return [0x8006 if self._made(now) > self.taken else 0x8000]
        elif cmd == 0xEC05:
            if self._made(now) <= self.taken:
                return None  # no new measurement: the read is not acknowledged
            self.taken = self._made(now)
            co2 = max(0, min(40000, int(self.co2 + self.offset)))
            t = int(round((self.t + 45) * 65535 / 175))
            rh = int(round(self.rh * 65535 / 100))
            return [co2, max(0, min(65535, t)), max(0, min(65535, rh))]
        elif cmd == 0x2416:
            self.asc = bool(arg)
        elif cmd == 0x2313:
            return [1 if self.asc else 0]
        elif cmd == 0x362F:
            if self.measured_ms < FRC_AFTER_MS:
                return [0xFFFF]
            correction = int(arg - (self.co2 + self.offset))
            self.offset += correction
            return [(correction + 0x8000) & 0xFFFF]
        elif cmd == 0x3682:
            s = self.serial
            return [(s >> 32) & 0xFFFF, (s >> 16) & 0xFFFF, s & 0xFFFF]
        return None

    def i2c_read(self, buf):
        if self.absent:
            raise OSError(ENODEV)
        now = ticks_ms()
        if self.busy_until is not None and ticks_diff(self.busy_until, now) > 0:
            self._nack("read during the command's execution time")
        if self.answer is None:
            self._nack("no answer pending")
        out = bytearray()
        for w in self.answer:
            word = bytes(((w >> 8) & 0xFF, w & 0xFF))
            out += word + bytes((crc8(word),))
        if self.corrupt:
            out[2] ^= 0xFF
            self.corrupt = False
        n = min(len(buf), len(out))
        buf[:n] = out[:n]
        self.answer = None
