# Pin maps of the supported boards: which GPIO each function of a console uses.
# Buttons are wired to ground with the internal pull-up (pressed = 0); LEDs through a
# resistor to the GPIO (on = 1). The battery divider (2 x 100 kOhm) halves the voltage on "vbat".
# Wiring diagrams: hardware/README.md.

PINMAPS = {
    # ESP32-C3 SuperMini / DevKitM-1: GPIO 0-10, 20, 21 usable; 2, 8, 9 are strapping pins.
    "esp32c3": {
        "buttons": (3, 4, 5, 6, 7),
        "leds": (10, 20, 21, 1, 0),
        "vbat": 2,  # ADC1_CH2
        "status_led": 8,
    },
    # ESP32-S3 DevKitC-1: plenty of pins; avoid 0, 3, 45, 46 (strapping) and 19/20 (USB).
    "esp32s3": {
        "buttons": (4, 5, 6, 7, 15),
        "leds": (16, 17, 18, 8, 9),
        "vbat": 1,  # ADC1_CH0
        "status_led": 48,
    },
    # Raspberry Pi Pico W: GP26-28 are the ADC pins; the on-board LED is "LED" (via the CYW43).
    "rp2-pico-w": {
        "buttons": (2, 3, 4, 5, 6),
        "leds": (10, 11, 12, 13, 14),
        "vbat": 28,  # ADC2; VSYS/3 is on ADC3 (GP29) if powered through VSYS
        "status_led": "LED",
    },
    # MicroPython Unix port and CPython: the stubs in firmware/stubs/ stand in for the pins.
    "unix": {
        "buttons": (1, 2, 3, 4, 5),
        "leds": (11, 12, 13, 14, 15),
        "vbat": 20,
        "status_led": 21,
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
