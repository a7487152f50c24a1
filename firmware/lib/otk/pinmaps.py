# Pin maps of the supported boards: which GPIO each function of a console uses.
# Buttons are wired to ground with the internal pull-up (pressed = 0); LEDs through a
# resistor to the GPIO (on = 1). The battery divider (2 x 100 kOhm) halves the voltage on "vbat".
# Wiring diagrams: hardware/README.md.

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
    },
    # ESP32-S3 DevKitC-1: avoid 0, 3, 45, 46 (strapping) and 19/20 (USB); the button pins
    # are RTC GPIOs (ext1 wake).
    "esp32s3": {
        "buttons": (4, 5, 6, 7, 15),
        "leds": (16, 17, 18, 8, 9),
        "vbat": 1,  # ADC1_CH0
        # RTC_CNTL_EXT_WAKEUP1_STATUS: the ext1 pins that woke the chip (micropython#6981)
        "wake_status": 0x600080E4,
    },
    # Raspberry Pi Pico W: GP26-28 are the ADC pins (GP29 reads VSYS/3 but shares a line
    # with the Wi-Fi chip).
    "rp2-pico-w": {
        "buttons": (2, 3, 4, 5, 6),
        "leds": (10, 11, 12, 13, 14),
        "vbat": 28,
        "wake_status": None,  # no deep sleep with pin wake
    },
    # MicroPython Unix port and CPython: the stubs in firmware/stubs/ stand in for the pins.
    "unix": {
        "buttons": (1, 2, 3, 4, 5),
        "leds": (11, 12, 13, 14, 15),
        "vbat": 20,
        "wake_status": 0x600080E4,  # the machine stub emulates the S3's register
    },
}


def board_name():
    """The pin map for this machine: from sys.implementation._machine on boards."""
    import sys

    machine = getattr(sys.implementation, "_machine", "")
    if sys.platform == "rp2":
        return "rp2-pico-w"
    if sys.platform == "esp32":
        return "esp32s3" if "S3" in machine else "esp32c3"
    return "unix"
