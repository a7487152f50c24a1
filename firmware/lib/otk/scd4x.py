# Sensirion SCD4x (SCD40 / SCD41) CO2, temperature and humidity over I2C, after its datasheet
# (Sensirion, "SCD4x", version 1.4): 16-bit commands sent MSB first; every 16-bit word sent or
# read is followed by its CRC-8 (polynomial 0x31, initialisation 0xFF, no reflection, no final
# XOR: the datasheet's example CRC(0xBEEF) = 0x92); each command has an execution time before
# the sensor answers or takes the next one (sleep_ms below).
#
#   start_periodic_measurement       0x21B1   a new measurement every 5 s
#   read_measurement                 0xEC05   1 ms, 3 words: CO2 ppm, T raw, RH raw
#   stop_periodic_measurement        0x3F86   500 ms (the sensor takes no command meanwhile)
#   get_data_ready_status            0xE4B8   1 ms, 1 word: ready when its low 11 bits are not 0
#   set_automatic_self_calibration   0x2416   1 ms, 1 word argument (0 off, 1 on), idle only
#   get_automatic_self_calibration   0x2313   1 ms, 1 word
#   perform_forced_recalibration     0x362F   400 ms, 1 word argument (reference ppm), idle only;
#                                             1 word: 0xFFFF failed, else correction + 0x8000
#   get_serial_number                0x3682   1 ms, 3 words
#
# T = -45 + 175 * raw / 65535 (degrees C); RH = 100 * raw / 65535 (%). While measuring
# periodically the sensor answers only read_measurement, get_data_ready_status and
# stop_periodic_measurement: anything else is not acknowledged (OSError on the bus). Reading a
# measurement before one is ready is not acknowledged either. A word whose CRC does not match
# raises SCD4xError: a reading that fails its check is never returned as a value.
#
# Self-calibration (ASC) is switched off by default here (the sensor ships with it on): ASC
# assumes the sensor sees fresh outdoor air (400 ppm) at least once a week, which a busy hall
# does not, so it would drift low. A technician calibrates instead, in fresh air, from the
# technician menu (forced_recalibration(ppm), after 3 minutes or more of periodic measurement).
from time import sleep_ms

ADDR = 0x62
START_PERIODIC = 0x21B1
READ_MEASUREMENT = 0xEC05
STOP_PERIODIC = 0x3F86
DATA_READY = 0xE4B8
SET_ASC = 0x2416
GET_ASC = 0x2313
FORCED_RECAL = 0x362F
SERIAL = 0x3682
INTERVAL_MS = 5000
FRC_FAILED = 0xFFFF


class SCD4xError(Exception):
    pass


def crc8(data, start=0, n=2):
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= data[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SCD4x:
    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self.measuring = False
        self._out = bytearray(5)  # a command and one argument word with its CRC
        self._in = bytearray(9)  # up to three words with their CRCs

    def _command(self, cmd, arg=None, wait_ms=1, words=0):
        out = self._out
        out[0] = cmd >> 8
        out[1] = cmd & 0xFF
        n = 2
        if arg is not None:
            out[2] = (arg >> 8) & 0xFF
            out[3] = arg & 0xFF
            out[4] = crc8(out, 2)
            n = 5
        self.i2c.writeto(self.addr, out[:n] if n < 5 else out)
        if wait_ms:
            sleep_ms(wait_ms)
        if not words:
            return None
        buf = self._in
        view = memoryview(buf)[: 3 * words]
        self.i2c.readfrom_into(self.addr, view)
        found = []
        for w in range(words):
            i = 3 * w
            if crc8(buf, i) != buf[i + 2]:
                raise SCD4xError("CRC mismatch in word %d of 0x%04x" % (w, cmd))
            found.append((buf[i] << 8) | buf[i + 1])
        return found

    def start(self):
        self._command(START_PERIODIC, wait_ms=0)
        self.measuring = True

    def stop(self):
        self._command(STOP_PERIODIC, wait_ms=500)
        self.measuring = False

    def data_ready(self):
        return bool(self._command(DATA_READY, words=1)[0] & 0x07FF)

    def read(self):
        """(CO2 ppm, temperature C, relative humidity %) of the latest measurement."""
        co2, t, rh = self._command(READ_MEASUREMENT, words=3)
        return co2, -45 + 175 * t / 65535, 100 * rh / 65535

    def set_self_calibration(self, on):
        self._command(SET_ASC, 1 if on else 0)

    def self_calibration(self):
        return bool(self._command(GET_ASC, words=1)[0])

    def forced_recalibration(self, ppm):
        """Calibrate to a reference CO2 level (fresh outdoor air: about 420 ppm), after at least
        3 minutes of periodic measurement in it; the correction applied, in ppm. The sensor is
        stopped first and left stopped (start() again)."""
        if self.measuring:
            self.stop()
        (word,) = self._command(FORCED_RECAL, ppm, wait_ms=400, words=1)
        if word == FRC_FAILED:
            raise SCD4xError("forced recalibration failed: measure 3 min in fresh air first")
        return word - 0x8000

    def serial(self):
        a, b, c = self._command(SERIAL, words=3)
        return (a << 32) | (b << 16) | c
