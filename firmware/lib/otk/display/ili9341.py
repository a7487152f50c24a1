# ILI9341 TFT controller (240x320, SPI, 4-line serial interface: CS, DC, SCK, MOSI) driven
# from a 4-bit palette framebuf.
#
# A full RGB565 frame is 153,600 bytes, more than a plain ESP32 leaves to MicroPython. The app
# draws into a framebuf.GS4_HMSB buffer instead (320x240 -> 38,400 bytes, 16 colours) and show()
# expands it to RGB565 a few rows at a time while sending: framebuf's own blit() with a
# 16-entry palette framebuf does the lookup in C, into a preallocated line buffer of `lines`
# rows (4 rows: 2,560 bytes), so nothing is allocated per row or per frame. The palette entries
# are stored byte-swapped: a RGB565 framebuf keeps pixels little-endian, the ILI9341 wants the
# high byte first on the wire.
#
#     from machine import Pin, SPI
#     spi = SPI(1, baudrate=40000000, sck=Pin(14), mosi=Pin(13), miso=Pin(12))
#     tft = ILI9341(spi, cs=Pin(15, Pin.OUT, value=1), dc=Pin(2, Pin.OUT, value=0),
#                   bl=Pin(21, Pin.OUT, value=0))
#     fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
#     tft.show(fb, (0x0000, color565(200, 30, 30), ...))    # up to 16 RGB565 colours
#
# Commands used (ILI9341 datasheet v1.11, section 8): SWRESET 01h, SLPOUT 11h, DISPON 29h,
# CASET 2Ah, PASET 2Bh, RAMWR 2Ch, MADCTL 36h, COLMOD 3Ah (55h: 16 bits per pixel), FRMCTR1 B1h,
# GAMSET 26h, PWCTR1 C0h, PWCTR2 C1h, VMCTR1 C5h, VMCTR2 C7h, INVON/INVOFF 21h/20h.
#
# Verified on the MicroPython Unix port (tests/firmware/test_display.py, against the ILI9341
# emulator in firmware/stubs/chips/): the command/data framing, the window, MADCTL rotation
# (a framebuf comes out upright and in the right colours in landscape, every pixel compared),
# partial updates of a band of rows, the heap taken by show() (see the test), the bytes on the
# bus per frame. Needs a board: the panel's real orientation and colour order on the CYD
# (rotation 90 or 270, BGR; some CYD batches carry an ST7789 or need INVON), the power and
# VCOM values (panel-dependent), the SPI clock the panel takes (the datasheet's serial write
# cycle is 100 ns = 10 MHz; these panels usually run at 40 MHz), the time of a frame, PWM
# backlight flicker.
import framebuf

try:
    from time import sleep_ms
except ImportError:  # CPython
    from time import sleep as _sleep

    def sleep_ms(ms):
        _sleep(ms / 1000)


# MADCTL bits (datasheet 8.2.29)
MY = 0x80  # row address order
MX = 0x40  # column address order
MV = 0x20  # row/column exchange
ML = 0x10  # vertical refresh order
BGR = 0x08  # the panel's colour filter is B-G-R: let the chip swap R and B
# rotation (degrees) -> MADCTL without BGR; 90 and 270 are the two landscape mountings
ROTATIONS = {0: MX, 90: MV, 180: MY, 270: MX | MY | MV}

# (command, parameters, delay ms after it) in order: software reset, power and VCOM,
# pixel format, frame rate, gamma, sleep out, display on. MADCTL goes in between (rotation).
_INIT = (
    (0x01, b"", 120),  # SWRESET; 5 ms before a command, 120 ms before SLPOUT
    (0xC0, b"\x23", 0),  # PWCTR1: GVDD 4.60 V (datasheet default 21h = 4.50 V)
    (0xC1, b"\x10", 0),  # PWCTR2: step-up factor
    (0xC5, b"\x3e\x28", 0),  # VMCTR1: VCOMH 4.25 V, VCOML -1.5 V
    (0xC7, b"\x86", 0),  # VMCTR2: VCOM offset
    (0x3A, b"\x55", 0),  # COLMOD: 16 bits per pixel (RGB565) on the MCU interface
    (0xB1, b"\x00\x1b", 0),  # FRMCTR1: fosc/1, 70 Hz (the default)
    (0x26, b"\x01", 0),  # GAMSET: gamma curve 1
    (0x11, b"", 120),  # SLPOUT: 120 ms for the supply and the clock to settle
    (0x29, b"", 0),  # DISPON
)


def color565(r, g, b):
    """An RGB565 colour from 8-bit red, green, blue."""
    return (r & 0xF8) << 8 | (g & 0xFC) << 3 | b >> 3


class ILI9341:
    def __init__(self, spi, cs, dc, rst=None, bl=None, rotation=90, bgr=True, invert=False,
                 lines=4):  # fmt: skip
        """spi: a machine.SPI (mode 0, MSB first); cs, dc, rst, bl: output Pins (rst and bl
        optional); rotation: 0, 90, 180 or 270; lines: rows expanded per SPI write."""
        if rotation not in ROTATIONS:
            raise ValueError("rotation")
        self.spi = spi
        self.cs = cs
        self.dc = dc
        self.rst = rst
        self.madctl = ROTATIONS[rotation] | (BGR if bgr else 0)
        self.width, self.height = (320, 240) if rotation in (90, 270) else (240, 320)
        self.invert = invert
        self.lines = lines
        self._cmd_buf = bytearray(1)
        self._arg4 = bytearray(4)
        self._line_buf = bytearray(self.width * lines * 2)
        self._line_mv = memoryview(self._line_buf)
        self._line = framebuf.FrameBuffer(self._line_buf, self.width, lines, framebuf.RGB565)
        self._pal = framebuf.FrameBuffer(bytearray(32), 16, 1, framebuf.RGB565)
        self._bl_pin = bl
        self._pwm = None
        cs.value(1)
        self.init()

    # --- the bus ---------------------------------------------------------------------------

    def _command(self, cmd, data=None):
        self._cmd_buf[0] = cmd
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(self._cmd_buf)
        if data:
            self.dc.value(1)
            self.spi.write(data)
        self.cs.value(1)

    def _window(self, x0, y0, x1, y1):
        """Set the column and page range (inclusive), then RAMWR; CS stays low, DC high: the
        caller sends the pixels and raises CS."""
        a = self._arg4
        a[0] = x0 >> 8
        a[1] = x0 & 0xFF
        a[2] = x1 >> 8
        a[3] = x1 & 0xFF
        self._command(0x2A, a)  # CASET
        a[0] = y0 >> 8
        a[1] = y0 & 0xFF
        a[2] = y1 >> 8
        a[3] = y1 & 0xFF
        self._command(0x2B, a)  # PASET
        self._cmd_buf[0] = 0x2C  # RAMWR
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(self._cmd_buf)
        self.dc.value(1)

    # --- set-up ----------------------------------------------------------------------------

    def init(self):
        if self.rst is not None:  # a reset pulse of at least 10 us, then 120 ms (datasheet 15.4)
            self.rst.value(1)
            sleep_ms(1)
            self.rst.value(0)
            sleep_ms(1)
            self.rst.value(1)
            sleep_ms(120)
        for cmd, data, delay in _INIT:
            if cmd == 0x3A:
                self._command(0x36, bytes((self.madctl,)))  # MADCTL before the pixel format
            self._command(cmd, data)
            if delay:
                sleep_ms(delay)
        self._command(0x21 if self.invert else 0x20)

    def backlight(self, percent):
        """0-100; PWM where the port has it (esp32: machine.PWM), else on/off."""
        pin = self._bl_pin
        if pin is None:
            return
        if self._pwm is None and 0 < percent < 100:
            try:
                from machine import PWM

                self._pwm = PWM(pin, freq=5000, duty_u16=0)
            except ImportError:  # the Unix stub has no PWM: on/off
                pass
        if self._pwm is not None:
            self._pwm.duty_u16(percent * 65535 // 100)
        else:
            pin.value(1 if percent > 0 else 0)

    def sleep(self, on):
        """Sleep in (display off, ~tens of uA) or out (120 ms until the next command)."""
        self._command(0x28 if on else 0x11)
        sleep_ms(5 if on else 120)
        self._command(0x10 if on else 0x29)

    # --- pixels ----------------------------------------------------------------------------

    def fill(self, color):
        """The whole screen in one RGB565 colour."""
        self._line.fill((color & 0xFF) << 8 | color >> 8)
        self._window(0, 0, self.width - 1, self.height - 1)
        for _ in range(0, self.height, self.lines):
            self.spi.write(self._line_buf)
        self.cs.value(1)

    def show(self, fb, palette, y0=0, y1=None):
        """Send rows y0..y1-1 of a GS4_HMSB framebuf of the screen's size (width x height),
        colour i of each pixel coming from palette[i] (RGB565; up to 16 of them)."""
        if y1 is None:
            y1 = self.height
        pal = self._pal
        for i in range(len(palette)):
            c = palette[i]
            pal.pixel(i, 0, (c & 0xFF) << 8 | c >> 8)  # high byte first on the wire
        w = self.width
        n = self.lines
        line = self._line
        self._window(0, y0, w - 1, y1 - 1)
        y = y0
        while y < y1:
            line.blit(fb, 0, -y, -1, pal)  # rows y..y+n-1 of fb -> rows 0..n-1, through pal
            if y1 - y >= n:
                self.spi.write(self._line_buf)
            else:
                self.spi.write(self._line_mv[: (y1 - y) * w * 2])
            y += n
        self.cs.value(1)

    def frame_bytes(self, rows=None):
        """Bytes of pixel data for `rows` rows (all by default): for transfer-time estimates."""
        return self.width * (self.height if rows is None else rows) * 2
