# machine.SPI, machine.I2C (and their Soft variants) for the stubbed machine module, with the
# chip emulators of stubs/chips/ on them; machine.py loads this on first use.
from machine import Pin, _pins


# --- SPI and I2C buses with emulated chips (stubs/chips/) -------------------------------------
# A chip is attached to a chip-select pin (SPI) or to an address (I2C); the bus delivers the
# bytes to it as the wires would: an SPI transfer reaches every chip whose CS pin is low at that
# moment (and whose bus matches, when the chip was attached with sck=), an I2C transaction
# reaches the chip at its address or fails with ENODEV like a NACK. Without a chip the bytes
# are only counted (bus.bytes_out), so a test can measure a driver alone.

_spi_chips = []  # (cs pin id, sck pin id or None, chip)
_i2c_chips = {}  # (bus key, address) -> chip


def _pin_id(pin):
    return pin.id if isinstance(pin, Pin) else pin


def attach_spi(chip, cs, sck=None):
    """Put an emulated chip on the SPI bus whose clock is pin ``sck`` (any bus when None),
    selected by pin ``cs`` going low."""
    _spi_chips.append((_pin_id(cs), _pin_id(sck), chip))
    return chip


def attach_i2c(chip, addr, scl=None):
    """Put an emulated chip at ``addr`` on the I2C bus clocked by pin ``scl`` (any bus when None)."""
    _i2c_chips[(_pin_id(scl), addr)] = chip
    return chip


class SPI:
    """machine.SPI as on the esp32 port: SPI(id, baudrate=, polarity=, phase=, bits=, firstbit=,
    sck=, mosi=, miso=); id 1 is HSPI, 2 is VSPI."""

    MSB = 0
    LSB = 1

    def __init__(self, id=1, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):  # fmt: skip
        self.id = id
        self.sck = self.mosi = self.miso = None
        self.bytes_out = 0
        self.transfers = 0
        self.init(baudrate, polarity, phase, bits, firstbit, sck, mosi, miso)

    def init(self, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
             sck=None, mosi=None, miso=None):  # fmt: skip
        if bits != 8 or firstbit != SPI.MSB:
            raise ValueError("the stub moves 8-bit MSB-first words only")
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase
        if sck is not None:
            self.sck = _pin_id(sck)
        if mosi is not None:
            self.mosi = _pin_id(mosi)
        if miso is not None:
            self.miso = _pin_id(miso)

    def deinit(self):
        pass

    def _transfer(self, tx, rx):
        # no allocation here: a test measures a driver's heap through this stub
        self.bytes_out += len(tx)
        self.transfers += 1
        for cs, sck, chip in _spi_chips:
            pin = _pins.get(cs)
            if pin is not None and pin._level == 0 and (sck is None or sck == self.sck):
                chip.spi(tx, rx)

    def write(self, buf):
        self._transfer(buf, None)

    def write_readinto(self, wbuf, rbuf):
        for i in range(len(rbuf)):
            rbuf[i] = 0xFF  # an undriven MISO line reads high
        self._transfer(wbuf, rbuf)

    def readinto(self, buf, write=0):
        self.write_readinto(bytes([write]) * len(buf), buf)

    def read(self, nbytes, write=0):
        buf = bytearray(nbytes)
        self.readinto(buf, write)
        return bytes(buf)


class SoftSPI(SPI):
    """machine.SoftSPI(baudrate=, polarity=, phase=, bits=, firstbit=, sck=, mosi=, miso=)."""

    def __init__(self, baudrate=500000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):  # fmt: skip
        SPI.__init__(self, -1, baudrate, polarity, phase, bits, firstbit, sck, mosi, miso)


class I2C:
    """machine.I2C as on the esp32 port: I2C(id, scl=, sda=, freq=)."""

    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.scl = _pin_id(scl)
        self.sda = _pin_id(sda)
        self.freq = freq
        self.bytes_out = 0

    def _chip(self, addr):
        chip = _i2c_chips.get((self.scl, addr)) or _i2c_chips.get((None, addr))
        if chip is None:
            raise OSError(19)  # ENODEV: nobody acked the address
        return chip

    def scan(self):
        return sorted(a for (scl, a) in _i2c_chips if scl is None or scl == self.scl)

    def writeto(self, addr, buf, stop=True):
        self.writevto(addr, (buf,), stop)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        chip = self._chip(addr)
        n = 0
        for buf in vector:
            n += len(buf)
        self.bytes_out += n
        chip.i2c_write(vector)
        return n

    def readfrom_into(self, addr, buf, stop=True):
        self._chip(addr).i2c_read(buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self.writevto(addr, (bytes([memaddr]), buf))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self.writeto(addr, bytes([memaddr]), False)
        self.readfrom_into(addr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize)
        return bytes(buf)


class SoftI2C(I2C):
    """machine.SoftI2C(scl, sda, freq=400000, timeout=50000)."""

    def __init__(self, scl, sda, freq=400000, timeout=50000):
        I2C.__init__(self, -1, scl, sda, freq, timeout)


# a feedback terminal's board (stubs/chips/board.py): its chips on these buses, from OTK_CHIPS
def _board():
    from machine import _env

    spec = _env("OTK_CHIPS")
    if spec:
        from chips import board

        board.attach(spec, attach_spi, attach_i2c)


_board()
