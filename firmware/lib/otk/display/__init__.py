# Display and touch drivers of the survey kiosk and the button-survey terminal:
#   ili9341.py  the CYD's 320x240 TFT (SPI), drawn from a 4-bit palette framebuf
#   ssd1306.py  the terminal's 128x64 OLED (I2C), drawn from a MONO_VLSB framebuf
#   xpt2046.py  the CYD's resistive touch controller (SPI), with a calibration in flash
#   cyd.py      the ESP32-2432S028R ("Cheap Yellow Display") pins and bus set-up
# Each module's header says what the Unix-port tests verified (against the chip emulators in
# firmware/stubs/chips/) and what still needs a board.
