# Wi-Fi station management: connect, reconnect with backoff, report RSSI and status.
# Never blocks the event loop; under the Unix port the stubbed WLAN is always connected.
import network

from otk.compat import sleep_ms


class Wifi:
    check_ms = 2000  # how often the link is checked
    backoff_max_ms = 60000

    def __init__(self, ssid, password):
        self.ssid = ssid
        self.password = password
        self.wlan = network.WLAN(network.STA_IF)
        self.reconnects = 0

    def connected(self):
        return self.wlan.isconnected()

    def rssi(self):
        if not self.connected():
            return None
        try:
            value = self.wlan.status("rssi")
        except (OSError, ValueError, TypeError):
            return None
        return value if type(value) is int and -127 <= value <= 0 else None

    async def keep_connected(self):
        backoff = 1000
        while True:
            if not self.wlan.isconnected():
                self.wlan.active(True)
                try:
                    self.wlan.connect(self.ssid, self.password)
                except OSError:
                    pass
                self.reconnects += 1
                waited = 0
                while not self.wlan.isconnected() and waited < backoff:
                    await sleep_ms(200)
                    waited += 200
                backoff = min(backoff * 2, self.backoff_max_ms)
            else:
                backoff = 1000
            await sleep_ms(self.check_ms)
