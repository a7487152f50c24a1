# Pin maps of the supported boards: which GPIO each function of a console uses.
# Buttons are wired to ground with the internal pull-up (pressed = 0); LEDs through a
# resistor to the GPIO (on = 1). The battery divider (2 x 100 kOhm) halves the voltage on "vbat".
# Wiring diagrams: hardware/README.md. A button-survey terminal (firmware/kiosk/) is a console
# with an SSD1306 OLED on the board's "i2c" pins (hardware/survey-terminal.md); the touch kiosk
# is the plain ESP32's CYD board ("esp32": its buses are in otk/display/cyd.py).

PINMAPS = {
    # ESP32-C3 SuperMini / DevKitM-1. Only GPIO0-5 can wake a C3 from deep sleep, and GPIO2,
    # 8 and 9 are strapping pins, so the buttons take 0, 1, 3, 4, 5. That uses every free
    # ADC1 pin (GPIO0-4): a C3 console has no battery measurement (vbat None).
    # LEDs 4 and 5 sit on UART0 (GPIO20/21) and flicker while the boot ROM prints.
    "esp32c3": {
        "buttons": (0, 1, 3, 4, 5),
        "leds": (6, 7, 10, 20, 21),
        "vbat": None,
        "wake_status": None,  # no latched wake pin readable from MicroPython: held buttons only
        # strapping pins, high at reset through the OLED module's pull-ups; GPIO9 is also BOOT
        "i2c": {"id": 0, "sda": 8, "scl": 9},
    },
    # ESP32-S3 DevKitC-1: avoid 0, 3, 45, 46 (strapping) and 19/20 (USB); the button pins
    # are RTC GPIOs (ext1 wake).
    "esp32s3": {
        "buttons": (4, 5, 6, 7, 15),
        "leds": (16, 17, 18, 8, 9),
        "vbat": 1,  # ADC1_CH0
        # RTC_CNTL_EXT_WAKEUP1_STATUS: the ext1 pins that woke the chip (micropython#6981)
        "wake_status": 0x600080E4,
        "i2c": {"id": 0, "sda": 10, "scl": 11},
    },
    # Raspberry Pi Pico W: GP26-28 are the ADC pins (GP29 reads VSYS/3 but shares a line
    # with the Wi-Fi chip).
    "rp2-pico-w": {
        "buttons": (2, 3, 4, 5, 6),
        "leds": (10, 11, 12, 13, 14),
        "vbat": 28,
        "wake_status": None,  # no deep sleep with pin wake
        "i2c": {"id": 0, "sda": 16, "scl": 17},
    },
    # ESP32-2432S028R "Cheap Yellow Display" (ESP32-WROOM-32): the touch kiosk. Display and
    # touch buses in otk/display/cyd.py; the RGB LED is active low; no buttons.
    "esp32": {
        "buttons": (),
        "leds": (),
        "rgb": (4, 16, 17),
        "vbat": None,
        "wake_status": None,
        "display": "ili9341",
    },
    # MicroPython Unix port and CPython: the stubs in firmware/stubs/ stand in for the pins.
    "unix": {
        "buttons": (1, 2, 3, 4, 5),
        "leds": (11, 12, 13, 14, 15),
        "vbat": 20,
        "wake_status": 0x600080E4,  # the machine stub emulates the S3's register
        "i2c": {"id": 0, "sda": 21, "scl": 22},
        "rgb": (4, 16, 17),
    },
}


def board_name():
    """The pin map for this machine: from sys.implementation._machine on boards."""
    import sys

    machine = getattr(sys.implementation, "_machine", "")
    if sys.platform == "rp2":
        return "rp2-pico-w"
    if sys.platform == "esp32":  # e.g. "ESP32S3 module with ESP32S3", "Generic ESP32 module with ESP32"
        if "S3" in machine:
            return "esp32s3"
        return "esp32c3" if "C3" in machine else "esp32"
    return "unix"
