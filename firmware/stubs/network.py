# Stub of MicroPython's `network` for the Unix port and CPython: a Wi-Fi that is always up
# (the host's own network); RSSI from OTK_RSSI; OTK_WIFI_UP_MS: the access point answers only
# this long after the first connect() (a router still starting after a power cut).
# See README.md beside this file.
import os

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000) & ((1 << 30) - 1)

    def ticks_diff(a, b):
        half = 1 << 29
        return ((a - b + half) & ((1 << 30) - 1)) - half

STA_IF = 0
AP_IF = 1
STAT_GOT_IP = 3


class WLAN:
    def __init__(self, interface=STA_IF):
        self._active = False
        self._connect_at = None

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        return None

    def connect(self, ssid=None, key=None):
        self._active = True
        if self._connect_at is None:
            self._connect_at = ticks_ms()

    def disconnect(self):
        pass

    def isconnected(self):
        if not self._active:
            return False
        delay = int(os.getenv("OTK_WIFI_UP_MS") or "0")
        return not delay or ticks_diff(ticks_ms(), self._connect_at or ticks_ms()) >= delay

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
