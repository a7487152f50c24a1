# SSD1306 emulator on I2C: control bytes (Co, D/C#), the three addressing modes, the column and
# page ranges, and the settings that decide what the panel shows. GDDRAM: 8 pages x 128
# columns, one byte = 8 rows of a column, LSB on top (the same layout as framebuf.MONO_VLSB).
#
# The panel as a viewer sees it, for the usual 128x64 module: SEG0 is at the right edge and
# COM0 at the bottom, so the picture is upright with segment remap (A1h) and COM scan
# remapped (C8h), the settings every driver for these modules sends; view() applies them.
W = 128
PAGES = 8
_ARGS = {0x81: 1, 0x20: 1, 0x21: 2, 0x22: 2, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1,
         0xDB: 1, 0x8D: 1, 0xA3: 2, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5}  # fmt: skip


class SSD1306:
    def __init__(self):
        self.ram = bytearray(W * PAGES)
        self.log_max = 500  # a running terminal (chips/board.py) keeps none: heap
        self.log = []  # every complete command with its parameters, capped
        self.errors = []
        self.transactions = 0
        self.mode = 2  # page addressing after a reset
        self.col_start, self.col_end = 0, W - 1
        self.page_start, self.page_end = 0, PAGES - 1
        self.col = self.page = 0
        self.contrast = 0x7F
        self.on = False
        self.inverted = False
        self.seg_remap = False
        self.com_remap = False
        self.charge_pump = False
        self.mux = 63
        self.start_line = 0
        self.offset = 0
        self._pending = None  # a command waiting for its parameters

    # the bus
    def i2c_write(self, vector):
        self.transactions += 1
        state = "control"  # control -> command/data stream (Co = 0) or one byte (Co = 1)
        for buf in vector:
            for b in buf:
                if state == "control":
                    co, dc = b & 0x80, b & 0x40
                    if b & 0x3F:
                        self.errors.append("control byte 0x%02x" % b)
                    state = ("data1" if dc else "cmd1") if co else ("data" if dc else "cmd")
                elif state in ("cmd", "cmd1"):
                    self._command_byte(b)
                    if state == "cmd1":
                        state = "control"
                else:
                    self._data(b)
                    if state == "data1":
                        state = "control"

    def i2c_read(self, buf):
        for i in range(len(buf)):  # status byte: D6 = display off
            buf[i] = 0 if self.on else 0x40

    def _command_byte(self, b):
        if self._pending is not None:
            cmd, args = self._pending
            args.append(b)
            if len(args) == _ARGS[cmd]:
                self._pending = None
                self._apply(cmd, args)
            return
        if b in _ARGS:
            self._pending = (b, bytearray())
            return
        self._apply(b, b"")

    def _apply(self, cmd, args):
        if len(self.log) < self.log_max:
            self.log.append((cmd, bytes(args)))
        if cmd == 0x81:
            self.contrast = args[0]
        elif cmd == 0x20:
            self.mode = args[0] & 3
        elif cmd == 0x21:
            self.col_start, self.col_end = args[0] & 0x7F, args[1] & 0x7F
            self.col = self.col_start
        elif cmd == 0x22:
            self.page_start, self.page_end = args[0] & 7, args[1] & 7
            self.page = self.page_start
        elif cmd == 0x8D:
            self.charge_pump = bool(args[0] & 0x04)
        elif cmd == 0xA8:
            self.mux = args[0] & 0x3F
        elif cmd == 0xD3:
            self.offset = args[0] & 0x3F
        elif 0x40 <= cmd <= 0x7F:
            self.start_line = cmd & 0x3F
        elif cmd in (0xA0, 0xA1):
            self.seg_remap = cmd == 0xA1
        elif cmd in (0xC0, 0xC8):
            self.com_remap = cmd == 0xC8
        elif cmd in (0xA6, 0xA7):
            self.inverted = cmd == 0xA7
        elif cmd in (0xAE, 0xAF):
            self.on = cmd == 0xAF
        elif self.mode == 2 and 0xB0 <= cmd <= 0xB7:
            self.page = cmd & 7
        elif self.mode == 2 and cmd <= 0x0F:
            self.col = (self.col & 0xF0) | cmd
        elif self.mode == 2 and 0x10 <= cmd <= 0x1F:
            self.col = (self.col & 0x0F) | (cmd & 0x0F) << 4

    def _data(self, b):
        self.ram[self.page * W + self.col] = b
        if self.mode == 0:  # horizontal: column, then the next page, wrapping in the ranges
            if self.col == self.col_end:
                self.col = self.col_start
                self.page = self.page_start if self.page == self.page_end else self.page + 1
            else:
                self.col += 1
        elif self.mode == 1:  # vertical: page, then the next column
            if self.page == self.page_end:
                self.page = self.page_start
                self.col = self.col_start if self.col == self.col_end else self.col + 1
            else:
                self.page += 1
        else:  # page mode: the column moves on, and stops at the end of the page
            if self.col < W - 1:
                self.col += 1

    # what the panel shows
    def lit(self, x, y):
        """Whether the viewer sees pixel (x, y) lit (x 0-127 from the left, y from the top)."""
        if not self.on or not self.charge_pump:
            return False
        seg = W - 1 - x  # SEG0 at the right edge
        col = W - 1 - seg if self.seg_remap else seg
        com = 63 - y  # COM0 at the bottom
        row = (self.mux - com if self.com_remap else com) - self.offset
        row = (row + self.start_line) & 63
        bit = self.ram[(row >> 3) * W + col] >> (row & 7) & 1
        return bool(bit) != self.inverted

    def save(self, path, scale=4):
        """The view as a PPM, each pixel a scale x scale block (white on a dark blue-grey),
        written a row at a time (a running firmware's heap holds one row, not the picture)."""
        w = W * scale
        row = bytearray(w * 3)
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(b"P6\n%d %d\n255\n" % (w, 64 * scale))
            for y in range(64):
                for x in range(W):
                    c = (230, 240, 255) if self.lit(x, y) else (10, 14, 24)
                    for dx in range(scale):
                        k = (x * scale + dx) * 3
                        row[k] = c[0]
                        row[k + 1] = c[1]
                        row[k + 2] = c[2]
                for _ in range(scale):
                    fh.write(row)
        import os

        os.rename(tmp, path)  # whole, or not there
