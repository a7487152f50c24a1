# SSD1306 OLED controller (128x64 or 128x32, I2C) of the button-survey terminal.
#
# The app draws into a framebuf.MONO_VLSB buffer (128x64 -> 1,024 bytes): one byte is 8
# vertical pixels, LSB on top, which is exactly the controller's GDDRAM page layout in
# horizontal addressing mode. show() sets the column and page range and sends the buffer as one
# data stream: the control byte 40h and the buffer go out through I2C.writevto(), so the frame
# is never copied.
#
#     from machine import I2C, Pin
#     i2c = I2C(0, scl=Pin(11), sda=Pin(10), freq=400000)
#     oled = SSD1306(i2c)                     # address 3Ch (3Dh when the module's DC pin is high)
#     fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)
#     fb.text("Oцените", 0, 0, 1); oled.show(fb)
#
# I2C framing (datasheet 8.1.5.2): after the address, a control byte: Co (bit 7) = 0 means
# only data bytes follow, D/C# (bit 6) = 0 commands, 1 display data. Commands (datasheet
# section 9/10): AEh/AFh off/on, D5h clock, A8h multiplex, D3h offset, 40h start line, 8Dh
# charge pump (Application Note), 20h addressing mode, 21h/22h column/page range, A1h segment
# remap, C8h COM scan direction, DAh COM pins, 81h contrast, D9h pre-charge, DBh VCOMH, A4h RAM
# display, A6h/A7h normal/inverse, 2Eh scrolling off.
#
# Verified on the MicroPython Unix port (tests/firmware/test_display.py, against the SSD1306
# emulator in firmware/stubs/chips/): the control bytes, the addressing mode and ranges, the
# GDDRAM equal to the framebuf byte for byte, the orientation the remap settings give,
# contrast. Needs a board: the module's address and orientation (some modules are mounted the
# other way up: flip()), 128x32 modules, the charge pump on modules with an external VCC, I2C at
# 400 kHz with the module's own pull-ups.

ADDR = 0x3C


class SSD1306:
    def __init__(self, i2c, addr=ADDR, width=128, height=64, external_vcc=False):
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.pages = height // 8
        self.external_vcc = external_vcc
        # control byte 00h (a command stream), then a command and 0, 1 or 2 parameters
        self._c1 = bytearray(2)
        self._c2 = bytearray(3)
        self._c3 = bytearray(4)
        self._data = b"\x40"  # control byte: a display data stream follows
        self._vec = None
        self._fb = None
        self.init()

    def command(self, cmd, a=-1, b=-1):
        """Send a command and up to two parameters as one command stream (control byte 00h),
        from preallocated buffers: show() allocates nothing."""
        if a < 0:
            buf = self._c1
        elif b < 0:
            buf = self._c2
            buf[2] = a
        else:
            buf = self._c3
            buf[2] = a
            buf[3] = b
        buf[1] = cmd
        self.i2c.writeto(self.addr, buf)

    def init(self):
        ext = self.external_vcc
        self.command(0xAE)  # display off while setting up
        self.command(0xD5, 0x80)  # clock divide 1, oscillator frequency default
        self.command(0xA8, self.height - 1)  # multiplex ratio
        self.command(0xD3, 0x00)  # display offset 0
        self.command(0x40)  # start line 0
        self.command(0x8D, 0x10 if ext else 0x14)  # charge pump on (internal VCC)
        self.command(0x20, 0x00)  # horizontal addressing
        self.command(0xA1)  # column 127 -> SEG0: with C8h, upright on the usual modules
        self.command(0xC8)  # COM scan from COM[N-1] to COM0
        self.command(0xDA, 0x12 if self.height == 64 else 0x02)  # COM pins: alternative / sequential
        self.command(0x81, 0x9F if ext else 0xCF)  # contrast
        self.command(0xD9, 0x22 if ext else 0xF1)  # pre-charge periods
        self.command(0xDB, 0x30)  # VCOMH ~0.83 x VCC
        self.command(0xA4)  # show the GDDRAM
        self.command(0xA6)  # not inverted
        self.command(0x2E)  # no scrolling
        self.command(0xAF)  # display on

    def contrast(self, level):
        """0-255 (the segment current)."""
        self.command(0x81, level & 0xFF)

    def power(self, on):
        self.command(0xAF if on else 0xAE)

    def invert(self, on):
        self.command(0xA7 if on else 0xA6)

    def flip(self, on):
        """Turn the picture 180 degrees (a module mounted the other way up)."""
        self.command(0xA0 if on else 0xA1)
        self.command(0xC0 if on else 0xC8)

    def show(self, fb):
        """Send a MONO_VLSB framebuf (or its buffer) of width x height."""
        if fb is not self._fb:  # one memoryview per framebuf, not per frame
            self._fb = fb
            self._vec = (self._data, memoryview(fb)[: self.width * self.pages])
        self.command(0x21, 0, self.width - 1)
        self.command(0x22, 0, self.pages - 1)
        self.i2c.writevto(self.addr, self._vec)
