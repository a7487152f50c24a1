# Otklik device library: shared by the button console, the kiosk and the sensors.
# MicroPython first; every module also runs under CPython for tests and simulation.
