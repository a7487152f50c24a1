# The device runtime shared by every console: identity, flash outbox, MQTT, config from the
# hub, heartbeat, commands and safe mode. An app (the button console, the kiosk) calls
# record() for each event and runs its own task; everything about delivery lives here.
#
# Delivery: record() writes the event to the flash outbox before anything is sent. The sender
# publishes pending events oldest first (QoS 1) and resends what the hub has not acked within
# resend_ms; an event leaves the outbox only when the hub's end-to-end ack names it. Each copy
# carries sent_up (uptime at this transmission) so the hub recovers the press time of a device
# whose clock was never set.
import gc
import json
import sys

import machine

from otk import clock, wake
from otk.compat import asyncio, epoch_ms, sleep_ms, ticks_diff, ticks_ms
from otk.config import Config
from otk.identity import Identity
from otk.mqtt import MQTTClient
from otk.outbox import Outbox
from otk.pinmaps import board_name
from otk.wifi import Wifi

FW_VERSION = "0.1.0"

_RESET_CAUSES = {
    getattr(machine, "PWRON_RESET", -1): "power_on",
    getattr(machine, "HARD_RESET", -2): "hard",
    getattr(machine, "WDT_RESET", -3): "wdt",
    getattr(machine, "DEEPSLEEP_RESET", -4): "deepsleep",
    getattr(machine, "SOFT_RESET", -5): "soft",
}


def reset_cause():
    try:
        return _RESET_CAUSES.get(machine.reset_cause(), "unknown")
    except (AttributeError, OSError):
        return "unknown"


class Device:
    send_window = 20  # events sent ahead of the hub's acks
    resend_ms = 10000  # resend an event the hub has not acked after this long
    boot_ok_ms = 30000  # connected this long after boot: the boot did not crash
    keepalive = 30

    def __init__(self, kind, data_dir=".", battery_adc=None, woke=None):
        """woke: otk.wake.reason() read first thing at boot (None: not a deep-sleep wake)."""
        self.kind = kind
        self.data_dir = data_dir
        self.config = Config(data_dir + "/device.json", data_dir + "/config.json")
        cfg = self.config
        self.id = cfg["device"]
        self.topic = "otk/v1/%s/%s/" % (cfg["site"], self.id)
        self.identity = Identity(data_dir + "/identity", self.id)
        # this boot counts as a crash until it has stayed up and connected for boot_ok_ms
        self.crash_boots = self.identity.mark_boot_started()
        self.safe_mode = self.crash_boots >= cfg["safe_mode_after"]
        self.outbox = Outbox(data_dir + "/outbox.log", max_events=cfg["outbox_max"])
        self.reset_cause = reset_cause()
        self.battery_adc = battery_adc
        self.wifi = Wifi(cfg["wifi_ssid"], cfg["wifi_password"])
        offline = json.dumps({"v": 1, "device": self.id, "state": "offline"})
        self.mqtt = MQTTClient(
            "otk-" + self.id,
            cfg["broker_host"],
            cfg["broker_port"],
            cfg["broker_user"] or self.id,
            cfg["broker_password"] or None,
            keepalive=self.keepalive,
            clean_session=False,
            will=(self.topic + "status", offline, 1, True),
        )
        self.mqtt.on_message = self._on_message
        self.mqtt.on_connect = self._on_connect
        self._kick = asyncio.Event()
        self._sent_at = {}  # (boot, seq) -> ticks_ms of the last transmission
        self.last_cmd = None
        self.config_errors = 0
        self.on_command = None  # app hook: on_command(cmd_dict)
        self.on_config = None  # app hook: on_config() after a new config is applied
        # deep sleep (battery builds)
        self.woke = woke
        self.wake_pins = ()  # set by the app: the pins that wake the board
        self.busy = None  # app hook: busy() is True while the device must stay awake
        self._active = ticks_ms()  # the last press (or the boot)
        self._missed_path = data_dir + "/missed_wakes"
        self.missed_wakes = _read_int(self._missed_path)
        if woke == ("button", None):
            # woken by a button that was released before the board could tell which
            self.missed_wakes += 1
            _write_int(self._missed_path, self.missed_wakes)

    # --- events --------------------------------------------------------------------------

    def record(self, body):
        """Give an event its identity and time, persist it in the outbox, wake the sender."""
        seq = self.identity.next_seq()
        body["v"] = 1
        body["device"] = self.id
        body["boot"] = self.identity.boot
        body["seq"] = seq
        ts = epoch_ms()
        if ts is not None:
            # the clock now, less the time since the press
            body["ts"] = ts - (clock.uptime_ms() - body["up"])
        self.outbox.add(self.identity.boot, seq, json.dumps(body).encode())
        self._active = ticks_ms()
        self._kick.set()
        return seq

    def _stamp(self, payload):
        if isinstance(payload, (bytes, bytearray)):
            payload = payload.decode()
        return payload[:-1] + ',"sent_up":%d}' % clock.uptime_ms()

    async def _sender(self):
        while True:
            await self.mqtt.wait_connected()
            now = ticks_ms()
            for boot, seq, payload in self.outbox.pending(limit=self.send_window):
                sent = self._sent_at.get((boot, seq))
                if sent is None or ticks_diff(now, sent) >= self.resend_ms:
                    self._sent_at[(boot, seq)] = ticks_ms()
                    await self.mqtt.publish(self.topic + "event", self._stamp(payload), 1)
            self._kick.clear()
            try:
                await asyncio.wait_for(self._kick.wait(), self.resend_ms / 1000)
            except asyncio.TimeoutError:
                pass

    # --- messages from the hub -------------------------------------------------------------

    async def _on_message(self, topic, payload, retained):
        # Runs inside the MQTT reader: never await a QoS 1 publish here (its PUBACK could not
        # be read until this returns); publish from a task instead.
        kind = topic[topic.rfind("/") + 1 :]
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = None
        if kind == "ack":
            if type(msg) is dict and msg.get("device") == self.id and type(msg.get("seqs")) is list:
                boot = msg.get("boot")
                self.outbox.ack(boot, msg["seqs"])
                for seq in msg["seqs"]:
                    self._sent_at.pop((boot, seq), None)
                self._kick.set()
        elif kind == "config":
            ok, reason = self.config.apply_remote(payload)
            if ok:
                if self.safe_mode:  # a new config is the way out of safe mode
                    self.identity.mark_boot_ok()
                    machine.reset()
                if self.on_config is not None:
                    self.on_config()
                asyncio.create_task(self.publish_status())
            elif reason != "rev not newer":
                self.config_errors += 1
                print("config rejected:", reason)
        elif kind == "cmd":
            if type(msg) is dict and msg.get("cmd") in ("identify", "reboot", "update"):
                self.last_cmd = msg.get("id")
                if msg["cmd"] == "reboot":
                    asyncio.create_task(self._reboot())
                    return
                if self.on_command is not None:
                    self.on_command(msg)
                asyncio.create_task(self.publish_status())

    async def _reboot(self):
        await self.publish_status()  # says which command it carried out, then goes
        self.identity.mark_boot_ok()
        machine.reset()

    def _on_connect(self):
        self._sent_at = {}  # resend everything pending on a new connection
        self._kick.set()
        asyncio.create_task(self.publish_status())

    # --- status ----------------------------------------------------------------------------

    def status(self):
        gc.collect()
        status = {
            "v": 1,
            "device": self.id,
            "state": "online",
            "kind": self.kind,
            "fw": FW_VERSION,
            "hw": board_name(),
            "boot": self.identity.boot,
            "up": clock.uptime_ms(),
            "ts": epoch_ms(),
            "battery_mv": self._battery_mv(),
            "rssi": self.wifi.rssi(),
            "heap_free": gc.mem_free() if hasattr(gc, "mem_free") else 0,
            "reset_cause": self.reset_cause,
            "outbox": self.outbox.depth,
            "drops": self.outbox.drops,
            "safe_mode": self.safe_mode,
            "config_rev": self.config["rev"],
            "missed_wakes": self.missed_wakes,
        }
        if self.last_cmd:
            status["last_cmd"] = self.last_cmd
        return status

    def _battery_mv(self):
        if self.battery_adc is None:
            return None
        # a 1:2 divider in front of a 3.3 V ADC
        return int(self.battery_adc.read_u16() * 3300 * 2 / 65535)

    async def publish_status(self):
        await self.mqtt.publish(self.topic + "status", json.dumps(self.status()), 1, True)

    async def _heartbeat(self):
        while True:
            await sleep_ms(self.config["heartbeat_s"] * 1000)
            if self.mqtt.connected:
                await self.publish_status()

    async def _watch_boot(self):
        await self.mqtt.wait_connected()
        await sleep_ms(self.boot_ok_ms)
        if not self.safe_mode:
            self.identity.mark_boot_ok()

    # --- clock ---------------------------------------------------------------------------

    async def _sync_clock(self):
        """Set the clock by NTP when reachable (ntptime ships with the esp32 and rp2 ports)."""
        try:
            import ntptime
        except ImportError:
            return  # the Unix port and CPython: the host keeps the clock
        ntptime.host = self.config["ntp_host"]
        if self.woke is not None and self.woke[0] == "button" and epoch_ms() is not None:
            # a battery console woken by a press: the RTC kept time in deep sleep; timer
            # wakes (every sleep_wake_s) resync
            return
        while True:
            ok = False
            if self.wifi.connected():
                try:
                    ntptime.settime()  # blocks up to its socket timeout (1 s)
                    ok = True
                except (OSError, OverflowError, IndexError) as e:
                    print("ntp:", e)
            await sleep_ms((self.config["ntp_resync_s"] if ok else 60) * 1000)

    # --- deep sleep (battery builds) --------------------------------------------------------

    async def _sleeper(self):
        """Deep sleep once idle with everything acked, or once the hub stays out of reach."""
        cfg = self.config
        started = ticks_ms()
        while True:
            await sleep_ms(200)
            now = ticks_ms()
            # never sooner than the lockout after a press: a press after a wake is a new visitor
            idle_ms = max(cfg["sleep_after_s"] * 1000, cfg["lockout_ms"])
            if ticks_diff(now, self._active) < idle_ms or (self.busy is not None and self.busy()):
                continue
            if self.outbox.depth == 0 and self.mqtt.connected:
                seconds = cfg["sleep_wake_s"]
            elif ticks_diff(now, started) >= cfg["awake_max_s"] * 1000:
                seconds = cfg["sleep_retry_s"] if self.outbox.depth else cfg["sleep_wake_s"]
            else:
                continue
            if not await self.deep_sleep(seconds):
                return  # this board cannot wake on its buttons: stay awake like a mains console

    async def deep_sleep(self, seconds):
        """Say so on the status topic, leave the broker cleanly (no will), sleep. False if no wake."""
        if not wake.arm(self.wake_pins):
            return False
        if self.mqtt.connected:
            status = self.status()
            status["state"] = "asleep"
            status["wake_in_s"] = seconds
            try:
                await asyncio.wait_for(self.mqtt.publish(self.topic + "status", json.dumps(status), 1, True), 5)
            except asyncio.TimeoutError:
                pass
            await self.mqtt.disconnect()
        self.identity.mark_boot_ok()  # a planned sleep is not a crash
        wake.sleep(seconds * 1000)
        return True

    # --- running -----------------------------------------------------------------------------

    async def run(self, app=None):
        """Run forever. In safe mode the app is not started: the device stays reachable."""
        asyncio.create_task(self.wifi.keep_connected())
        self.mqtt.start()
        asyncio.create_task(self._subscribe())
        asyncio.create_task(self._sender())
        asyncio.create_task(self._heartbeat())
        asyncio.create_task(self._watch_boot())
        asyncio.create_task(self._sync_clock())
        if self.config["sleep_after_s"] and not self.safe_mode:
            asyncio.create_task(self._sleeper())
        if self.safe_mode:
            print("safe mode after %d crash-boots" % self.crash_boots)
        elif app is not None:
            asyncio.create_task(app())
        while True:
            await sleep_ms(60000)
            clock.uptime_ms()  # keeps the non-wrapping uptime current

    async def _subscribe(self):
        await self.mqtt.wait_connected()
        for kind in ("ack", "config", "cmd"):
            await self.mqtt.subscribe(self.topic + kind, 1)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _write_int(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def data_dir_from_argv(default="."):
    """The Unix port takes the device's flash folder as its first argument."""
    return sys.argv[1] if len(sys.argv) > 1 else default
