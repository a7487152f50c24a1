# Heap taken by ILI9341.show() of a full GS4 frame, on a plain ESP32's heap (run with
# -X heapsize=100k): no chip on the bus, so only the driver (and the stub's counter) run.
# Prints one JSON line: the bytes allocated during show() (gc disabled), the driver's own
# buffers, the frame's bytes on the bus and the free heap left.
import gc
import json

import framebuf
from machine import SPI, Pin
from otk.display.ili9341 import ILI9341

gc.collect()
free0 = gc.mem_free()
spi = SPI(1, baudrate=40000000, polarity=0, phase=0, sck=Pin(14), mosi=Pin(13), miso=Pin(12))
tft = ILI9341(spi, cs=Pin(15, Pin.OUT, value=1), dc=Pin(2, Pin.OUT, value=0), rotation=90)
gc.collect()
driver = free0 - gc.mem_free()
fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
fb.fill(3)
fb.fill_rect(10, 10, 100, 100, 7)
palette = tuple(range(0, 0x10000, 0x1000))
tft.show(fb, palette)  # warm-up: first-call caches (method lookups) are not the frame's cost
spi.bytes_out = 0
results = []
for _ in range(3):
    gc.collect()
    gc.disable()
    before = gc.mem_free()
    tft.show(fb, palette)
    results.append(before - gc.mem_free())
    gc.enable()
gc.collect()
print(json.dumps({"show_alloc": results, "driver_bytes": driver, "frame_bytes": spi.bytes_out // 3,
                  "free_after": gc.mem_free(), "baudrate": spi.baudrate}))  # fmt: skip
