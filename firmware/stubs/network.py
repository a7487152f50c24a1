# Stub of MicroPython's `network` for the Unix port and CPython: a Wi-Fi that is always up
# (the host's own network); RSSI from OTK_RSSI. See README.md beside this file.
import os

STA_IF = 0
AP_IF = 1
STAT_GOT_IP = 3


class WLAN:
    def __init__(self, interface=STA_IF):
        self._active = False

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        return None

    def connect(self, ssid=None, key=None):
        self._active = True

    def disconnect(self):
        pass

    def isconnected(self):
        return self._active

    def status(self, param=None):
        if param == "rssi":
            return int(os.getenv("OTK_RSSI") or "-55")
        return STAT_GOT_IP if self._active else 0

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, key=None, **kwargs):
        if key == "mac":
            return b"\x02\x00\x00\x00\x00\x01"
        return None
