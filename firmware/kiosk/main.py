# The feedback terminal: entry point on the board (and under the Unix port:
# `micropython main.py DATA_DIR`, DATA_DIR holding device.json). One survey engine
# (otk/survey.py), two builds chosen by the board:
#   - the touch kiosk on the plain ESP32's CYD board (ILI9341 + XPT2046): kiosk.py, status kind
#     "kiosk";
#   - the button-survey terminal on a console board (C3, S3, Pico W) with an SSD1306 OLED:
#     terminal.py, status kind "survey".
# On the Unix port device.json's "display" ("ili9341" or "ssd1306") says which (the stubs put the
# matching emulated chips on the buses: firmware/stubs/chips/board.py).


def build():
    from otk.pinmaps import PINMAPS, board_name

    name = board_name()
    pins = PINMAPS[name]
    display = pins.get("display")
    if name == "unix":
        import json

        from otk.device import data_dir_from_argv

        try:
            with open(data_dir_from_argv() + "/device.json") as fh:
                display = json.load(fh).get("display")
        except (OSError, ValueError):
            display = None
    return pins, display or "ssd1306"


def main():
    pins, display = build()
    from otk.compat import asyncio
    from otk.device import Device, data_dir_from_argv

    data_dir = data_dir_from_argv()

    async def start():
        # everything is built inside the event loop: pin interrupts and the stubs' chips start tasks
        if display == "ili9341":
            import framebuf

            # the frame first, while the heap is whole: 38,400 bytes in one piece
            fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
            device = Device("kiosk", data_dir)
            from kiosk import TouchKiosk

            app = TouchKiosk(device, fb, pins)
        else:
            import framebuf

            fb = framebuf.FrameBuffer(bytearray(128 * 64 // 8), 128, 64, framebuf.MONO_VLSB)
            device = Device("survey", data_dir)
            from terminal import Terminal

            app = Terminal(device, fb, pins)
        if device.safe_mode:  # the app may be what crashes: the runtime's minimal recorder
            await device.run(safe_app=app.safe)
            return
        await device.run(app.run)

    asyncio.run(start())


try:
    main()
except Exception as e:  # anything the runtime did not catch: record it, reset (a crash)
    import sys

    from otk import crash

    crash.fatal(e, sys.argv[1] if len(sys.argv) > 1 else ".")
