# ILI9341 emulator: the 4-line serial interface as the chip parses it. A byte clocked while
# D/C is low is a command, while D/C is high a parameter or pixel data. Frame memory: 240
# columns x 320 pages of RGB565 (kept as received, high byte first). Handled: SWRESET, SLPIN,
# SLPOUT, DISPOFF, DISPON, INVOFF, INVON, CASET, PASET, RAMWR, RAMWRC (3Ch), MADCTL, COLMOD
# (16 and 18 bits per pixel); other commands are logged with their parameters.
#
# Address counter (datasheet 8.2.29, "Memory Data Access Control"): pixels fill the window
# column by column from SC to EC, then the next page from SP to EP. With MV the logical
# column runs along the physical pages and the logical page along the physical columns; MX
# then mirrors the physical columns, MY the physical pages.
#
# The panel as a viewer sees it: in portrait, physical column 0 is on the right (the source
# driver's side; which is why "portrait upright" is MADCTL MX). view(90) is the panel turned so
# that the portrait's right edge is on top, view(270) the other landscape. The colour filter
# is B-G-R: a pixel shows as sent only with MADCTL's BGR bit set, else red and blue swap.
import machine

W = 240  # physical columns (sources)
H = 320  # physical pages (gates)
_PARAMS = {0x2A: 4, 0x2B: 4, 0x36: 1, 0x3A: 1}


class ILI9341:
    def __init__(self, dc):
        self.dc = dc  # the D/C pin's id
        self.mem = bytearray(W * H * 2)
        self.log_max = 500  # a running terminal (chips/board.py) keeps none: heap
        self.log = []  # (command, parameters) of every command but the pixel data, capped
        self.pixels = 0
        self.errors = []
        self._reset()

    def _reset(self):
        self.madctl = 0
        self.colmod = 0x66  # 18 bits per pixel after a reset
        self.asleep = True
        self.on = False
        self.inverted = False
        self.sc, self.ec, self.sp, self.ep = 0, W - 1, 0, H - 1
        self._cmd = None
        self._params = bytearray()
        self._pix = bytearray()
        self._c = self._p = 0

    # the bus
    def spi(self, tx, rx):
        if machine._pins[self.dc]._level == 0:
            for b in tx:
                self._command(b)
        elif self._cmd in (0x2C, 0x3C):
            self._pixels(tx)
        else:
            for b in tx:
                self._param(b)

    def _command(self, b):
        self._cmd = b
        self._params = bytearray()
        if len(self.log) < self.log_max:
            self.log.append((b, b""))
        if b == 0x01:
            self._reset()
            self._cmd = 0x01
        elif b == 0x11:
            self.asleep = False
        elif b == 0x10:
            self.asleep = True
        elif b == 0x28:
            self.on = False
        elif b == 0x29:
            self.on = True
        elif b == 0x20:
            self.inverted = False
        elif b == 0x21:
            self.inverted = True
        elif b == 0x2C:  # RAMWR: the counter back to the window's start
            self._c, self._p = self.sc, self.sp
            self._pix = bytearray()
        elif b == 0x3C:  # RAMWRC: continue where the last write stopped
            self._pix = bytearray()

    def _param(self, b):
        if self._cmd is None:
            self.errors.append("data 0x%02x without a command" % b)
            return
        self._params.append(b)
        if self.log and self.log[-1][0] == self._cmd:
            self.log[-1] = (self._cmd, bytes(self._params))
        want = _PARAMS.get(self._cmd)
        if want is None or len(self._params) != want:
            return
        p = self._params
        if self._cmd == 0x2A:
            self.sc, self.ec = p[0] << 8 | p[1], p[2] << 8 | p[3]
        elif self._cmd == 0x2B:
            self.sp, self.ep = p[0] << 8 | p[1], p[2] << 8 | p[3]
        elif self._cmd == 0x36:
            self.madctl = p[0]
        elif self._cmd == 0x3A:
            self.colmod = p[0]

    def _pixels(self, data):
        per = 2 if self.colmod & 0x07 == 0x05 else 3
        buf = self._pix
        buf.extend(data)
        n = len(buf) // per
        mem = self.mem
        mv = self.madctl & 0x20
        mx = self.madctl & 0x40
        my = self.madctl & 0x80
        c, p = self._c, self._p
        sc, ec, sp, ep = self.sc, self.ec, self.sp, self.ep
        if (ec - sc + 1) * (ep - sp + 1) <= 0 or (ec >= (H if mv else W)) or (ep >= (W if mv else H)):
            self.errors.append("window out of range: %d-%d x %d-%d" % (sc, ec, sp, ep))
            self._pix = bytearray()
            return
        for i in range(n):
            if mv:
                col, page = p, c
            else:
                col, page = c, p
            if mx:
                col = W - 1 - col
            if my:
                page = H - 1 - page
            k = (page * W + col) * 2
            j = i * per
            if per == 2:
                mem[k] = buf[j]
                mem[k + 1] = buf[j + 1]
            else:  # 18 bits: 6 bits per colour in the top of each byte
                r, g, bl = buf[j] >> 3, buf[j + 1] >> 2, buf[j + 2] >> 3
                mem[k] = r << 3 | g >> 3
                mem[k + 1] = (g & 7) << 5 | bl
            c += 1
            if c > ec:
                c = sc
                p += 1
                if p > ep:
                    p = sp
        self._c, self._p = c, p
        self.pixels += n
        self._pix = buf[n * per :]

    # what the panel shows
    def _physical(self, x, y, rotation):
        """Viewer (x, y) -> physical (column, page) for the panel held at `rotation`."""
        if rotation == 0:
            vx, vy = x, y
        elif rotation == 90:
            vx, vy = W - 1 - y, x
        elif rotation == 180:
            vx, vy = W - 1 - x, H - 1 - y
        else:
            vx, vy = y, H - 1 - x
        return W - 1 - vx, vy

    def pixel(self, x, y, rotation=90):
        """The RGB565 value the panel shows at viewer (x, y): colour order and inversion
        applied, 0 (black) while asleep or off."""
        if self.asleep or not self.on:
            return 0
        col, page = self._physical(x, y, rotation)
        k = (page * W + col) * 2
        v = self.mem[k] << 8 | self.mem[k + 1]
        if not self.madctl & 0x08:  # BGR panel fed RGB: red and blue swap
            v = (v & 0x1F) << 11 | (v & 0x07E0) | v >> 11
        if self.inverted:
            v ^= 0xFFFF
        return v

    def view565(self, rotation=90):
        """The screen as the viewer sees it, row by row, RGB565 high byte first."""
        w, h = (H, W) if rotation in (90, 270) else (W, H)
        out = bytearray(w * h * 2)
        k = 0
        for y in range(h):
            for x in range(w):
                v = self.pixel(x, y, rotation)
                out[k] = v >> 8
                out[k + 1] = v & 0xFF
                k += 2
        return w, h, out

    def save_ppm(self, path, rotation=90):
        """The view as a PPM, written a row at a time (a few hundred bytes of heap, not a copy
        of the frame: the simulated kiosk's screenshots)."""
        w, h = (H, W) if rotation in (90, 270) else (W, H)
        row = bytearray(w * 3)
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(b"P6\n%d %d\n255\n" % (w, h))
            for y in range(h):
                for x in range(w):
                    c = self.pixel(x, y, rotation)
                    r, g, b = c >> 11, c >> 5 & 0x3F, c & 0x1F
                    row[3 * x] = r << 3 | r >> 2
                    row[3 * x + 1] = g << 2 | g >> 4
                    row[3 * x + 2] = b << 3 | b >> 2
                fh.write(row)
        import os

        os.rename(tmp, path)  # whole, or not there

    def save(self, path, rotation=90):
        """The view as raw RGB565 (path) plus a PPM beside it (path + '.ppm')."""
        from chips import write_ppm

        w, h, v = self.view565(rotation)
        with open(path, "wb") as fh:
            fh.write(v)
        rgb = bytearray(w * h * 3)
        for i in range(w * h):
            c = v[2 * i] << 8 | v[2 * i + 1]
            r, g, b = c >> 11, c >> 5 & 0x3F, c & 0x1F
            rgb[3 * i] = r << 3 | r >> 2
            rgb[3 * i + 1] = g << 2 | g >> 4
            rgb[3 * i + 2] = b << 3 | b >> 2
        write_ppm(path + ".ppm", w, h, rgb)
