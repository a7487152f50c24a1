# Chip emulators for the display tests: each parses the bytes a driver puts on the bus the way
# the chip does and keeps the chip's memory. Attach one to the machine stub's bus:
#   machine.attach_spi(ILI9341(dc=2), cs=15, sck=14)    # seen while Pin 15 is low
#   machine.attach_i2c(SSD1306(), 0x3C)
#   machine.attach_spi(XPT2046(irq=36), cs=33, sck=25)
# Never copied to a board (stubs/ is for the Unix port and CPython only).


def write_ppm(path, width, height, rgb888):
    """A binary PPM (P6): Pillow, and most image viewers, open it (tests turn it into PNG)."""
    with open(path, "wb") as fh:
        fh.write(b"P6\n%d %d\n255\n" % (width, height))
        fh.write(rgb888)
