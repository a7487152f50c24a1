# The touch kiosk's redraw on the MicroPython Unix port (bench/firmware.py, kiosk phase).
#
#     micropython -X heapsize=160k -m kiosk_frame MODE CONFIG.json ROUNDS
#
# Compiled to .mpy by the bench (as screens.py and lib/otk), so its own compilation takes no heap.
# One process holds what a kiosk holds for its screen: the 4-bit framebuf (38,400 B), the three
# fonts, screens, the survey engine with the config, the ILI9341 driver on an SPI that sends
# nothing (it counts the bytes). The survey is walked for each language: welcome, the questions
# (the lowest value answered, so the main question is negative: the help offer, declined, and
# the show_if question come up), thanks.
#
# MODE heap: draws and shows every screen of both languages twice, prints {"ok": ...}; the bench
#            bisects -X heapsize on this.
# MODE time: for each screen, ROUNDS times each: screens.draw(), ILI9341.show(), the floor
#            (fb.fill(), and the bare expansion: the same framebuf blitted through the palette
#            into a 4-row RGB565 strip, 60 strips, no bus); one JSON line per screen, µs medians.
import gc
import json
import sys
import time

import framebuf
import screens
from otk.display.ili9341 import ILI9341
from otk.survey import Survey, values_of

mode, config_path, rounds = sys.argv[-3], sys.argv[-2], int(sys.argv[-1])


class NullSPI:
    """machine.SPI.write that sends nothing: the bytes and the writes are counted."""

    def __init__(self, baudrate):
        self.baudrate = baudrate
        self.bytes_out = 0
        self.transfers = 0

    def write(self, buf):
        self.bytes_out += len(buf)
        self.transfers += 1


class NullPin:
    def __init__(self, v=0):
        self.v = v

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


gc.collect()
free0 = gc.mem_free()
fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
for name in ("sans12", "sans16", "sans24"):
    screens.font(name)
with open(config_path) as f:
    config = json.load(f)
survey = Survey(config, lambda body: None, clock=lambda: 0, session=lambda: "s")
spi = NullSPI(40000000)
tft = ILI9341(spi, cs=NullPin(1), dc=NullPin(), rotation=90)
palette = screens.palette565()
gc.collect()
loaded = free0 - gc.mem_free()


def walk(lang, visit):
    """visit(name) at every screen of the survey in ``lang``, in the order a visitor sees them."""
    s = survey
    s.state = "welcome"
    s.default_lang = lang  # the welcome screen of a kiosk started in this language
    visit("welcome")
    s.begin(lang)
    while s.state in ("question", "help"):
        if s.state == "help":
            visit("help")
            s.help(False)
            continue
        q = s.questions[s.index]
        visit("question-" + q["id"])
        s.answer(values_of(q)[0])
    visit(s.state)


def median(xs):
    xs.sort()
    return xs[len(xs) // 2]


if mode == "heap":
    count = [0]

    def visit(name):
        screens.draw(fb, survey)
        tft.show(fb, palette)
        count[0] += 1

    for _ in range(2):
        for lang in survey.langs:
            walk(lang, visit)
    gc.collect()
    print(json.dumps({"ok": count[0], "free": gc.mem_free()}))
else:
    ticks_us, ticks_diff = time.ticks_us, time.ticks_diff
    line_buf = bytearray(320 * 4 * 2)
    line = framebuf.FrameBuffer(line_buf, 320, 4, framebuf.RGB565)
    pal = framebuf.FrameBuffer(bytearray(32), 16, 1, framebuf.RGB565)
    for i in range(16):
        c = palette[i]
        pal.pixel(i, 0, (c & 0xFF) << 8 | c >> 8)

    def expand():
        for y in range(0, 240, 4):
            line.blit(fb, 0, -y, -1, pal)

    def visit(name):
        draw, show, blit, fill = [], [], [], []
        screens.draw(fb, survey)  # warm-up: the fonts' glyph caches
        for _ in range(rounds):
            t0 = ticks_us()
            screens.draw(fb, survey)
            draw.append(ticks_diff(ticks_us(), t0))
        b0, w0 = spi.bytes_out, spi.transfers
        tft.show(fb, palette)
        frame, writes = spi.bytes_out - b0, spi.transfers - w0
        for _ in range(rounds):
            t0 = ticks_us()
            tft.show(fb, palette)
            show.append(ticks_diff(ticks_us(), t0))
        for _ in range(rounds):
            t0 = ticks_us()
            expand()
            blit.append(ticks_diff(ticks_us(), t0))
        for _ in range(rounds):  # last: it wipes the screen
            t0 = ticks_us()
            fb.fill(screens.BG)
            fill.append(ticks_diff(ticks_us(), t0))
        print(json.dumps({"lang": survey.lang if name != "welcome" else survey.default_lang,
                          "screen": name, "draw_us": median(draw), "show_us": median(show),
                          "fill_us": median(fill), "blit_us": median(blit), "bus_bytes": frame,
                          "bus_writes": writes}))  # fmt: skip

    for lang in survey.langs:
        walk(lang, visit)
    gc.collect()
    print(json.dumps({"loaded": loaded, "free": gc.mem_free(), "baudrate": spi.baudrate}))
