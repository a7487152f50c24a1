# The device runtime shared by every console: identity, flash outbox, MQTT, config from the
# hub, heartbeat, commands and safe mode. An app (the button console, the kiosk) calls
# record() for each event and runs its own task; everything about delivery lives here.
#
# Delivery: record() writes the event to the flash outbox before anything is sent. The sender
# publishes pending events oldest first (QoS 1) and resends what the hub has not acked within
# resend_ms; an event leaves the outbox only when the hub's end-to-end ack names it, with the
# incarnation id the event was sent with. Each copy carries sent_up (uptime at this
# transmission) so the hub recovers the press time of a device whose clock was never set.
#
# Crashes and the watchdog: every task runs under a guard; a task that dies is reported in a
# status (dead_tasks), recorded in flash and the device resets. A supervisor loop feeds
# machine.WDT once a second, so a loop that hangs is reset by the chip. Crashes (watchdog,
# a recorded exception, an unplanned reset; never a power cut, see otk/crash.py) count towards
# safe mode: the app does not start, a minimal press recorder (otk/safe.py) keeps recording
# presses, the status says safe_mode, and the device leaves safe mode after safe_mode_s or on
# a new config.
import gc
import json
import sys

import machine

from otk import clock, crash, wake
from otk.compat import asyncio, epoch_ms, sleep_ms, ticks_diff, ticks_ms
from otk.config import Config
from otk.identity import Identity
from otk.mqtt import MQTTClient
from otk.outbox import Outbox
from otk.pinmaps import board_name
from otk.wifi import Wifi

FW_VERSION = "0.2.0"
RAM_EVENTS_MAX = 50  # events kept in RAM while the flash refuses writes


class Device:
    send_window = 20  # events sent ahead of the hub's acks
    resend_ms = 10000  # resend an event the hub has not acked after this long
    keepalive = 30
    supervise_ms = 1000  # the supervisor's period: it feeds the watchdog

    def __init__(self, kind, data_dir=".", battery_adc=None, woke=None):
        """woke: otk.wake.reason() read first thing at boot (None: not a deep-sleep wake)."""
        self.kind = kind
        self.data_dir = data_dir
        self.config = Config(data_dir + "/device.json", data_dir + "/config.json")
        cfg = self.config
        self.id = cfg["device"]
        self.topic = "otk/v1/%s/%s/" % (cfg["site"], self.id)
        self.reset_cause = crash.reset_cause()
        # did the previous boot crash? (never for a power cut: see otk/crash.py)
        self.last_crash = crash.of_previous_boot(self.reset_cause, crash.take_last_exit(data_dir))
        # the identity first: the crash streak is on flash before anything else can fail
        self.identity = Identity(data_dir + "/identity", self.id, crashed=bool(self.last_crash))
        self.outbox = Outbox(data_dir + "/outbox.log", max_events=cfg["outbox_max"])
        # the outbox's newest boot is a floor for the boot counter, should its files be lost
        self.identity.raise_floor(self.outbox.newest_boot())
        self.crash_boots = self.identity.crash_boots
        self.safe_mode = self.crash_boots >= cfg["safe_mode_after"]
        self.battery_adc = battery_adc
        self.wifi = Wifi(cfg["wifi_ssid"], cfg["wifi_password"])
        offline = json.dumps({"v": 1, "device": self.id, "state": "offline"})
        ssl = None
        if cfg["broker_ca"]:
            from otk.mqtt import tls_context

            ssl = tls_context(cfg["broker_ca"])
        self.mqtt = MQTTClient(
            "otk-" + self.id,
            cfg["broker_host"],
            cfg["broker_port"],
            cfg["broker_user"] or self.id,
            cfg["broker_password"] or None,
            keepalive=self.keepalive,
            clean_session=False,
            will=(self.topic + "status", offline, 1, True),
            **({"ssl": ssl, "server_hostname": cfg["broker_host"]} if ssl else {})
        )
        self.mqtt.on_message = self._on_message
        self.mqtt.on_connect = self._on_connect
        self._kick = asyncio.Event()
        # (boot, seq) -> [ticks_ms of the last transmission or None, the inc it was sent with]
        self._sent_at = {}
        self._ram = []  # [(boot, seq, payload)] recorded while the flash refused writes
        self.flash_errors = self.identity.flash_errors
        self.dead_tasks = []
        self._died = None  # what killed a task (the supervisor resets)
        self._tasks_changed = asyncio.Event()
        self.last_cmd = None
        self.last_cmd_error = None
        self.config_errors = 0
        self.no_sleep = None  # why a battery build cannot sleep on this board
        self._clock_pending = True  # the first NTP attempt has not finished
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
        """Give an event its identity and time, persist it in the outbox, wake the sender.

        Never raises for a flash problem: an event the flash refuses is kept in RAM (up to
        RAM_EVENTS_MAX) and sent like the others; flash_errors in the status says so.
        """
        if "up" not in body:  # an app that does not time its events (a survey answer): now
            body["up"] = clock.uptime_ms()
        seq = self.identity.next_seq()
        boot = self.identity.boot
        body["v"] = 1
        body["device"] = self.id
        body["inc"] = self.identity.inc
        body["boot"] = boot
        body["seq"] = seq
        ts = epoch_ms()
        if ts is not None:
            # the clock now, less the time since the press
            body["ts"] = ts - (clock.uptime_ms() - body["up"])
        payload = json.dumps(body).encode()
        try:
            self._flush_ram()
            self.outbox.add(boot, seq, payload)
        except OSError as e:  # a full or failing flash
            self.flash_errors += 1
            print("outbox write failed:", e)
            if len(self._ram) >= RAM_EVENTS_MAX:
                self._ram.pop(0)
                self.outbox.drops += 1
            self._ram.append((boot, seq, payload))
        self._active = ticks_ms()
        self._kick.set()
        return seq

    def _flush_ram(self):
        """Move the events kept in RAM to the flash outbox (raises OSError while it refuses)."""
        while self._ram:
            boot, seq, payload = self._ram[0]
            self.outbox.add(boot, seq, payload)
            self._ram.pop(0)

    def _before_reset(self):
        """A planned reset or a crash: the events kept in RAM go to flash if it takes them."""
        try:
            self._flush_ram()
        except OSError:
            pass

    def _stamp(self, payload):
        if isinstance(payload, (bytes, bytearray)):
            payload = payload.decode()
        return payload[:-1] + ',"sent_up":%d}' % clock.uptime_ms()

    def pending(self):
        """The events waiting for the hub (flash and RAM), oldest first, at most send_window."""
        out = self.outbox.pending(limit=self.send_window)
        if self._ram and len(out) < self.send_window:
            out.extend(self._ram[: self.send_window - len(out)])
        return out

    @property
    def depth(self):
        return self.outbox.depth + len(self._ram)

    async def _sender(self):
        while True:
            await self.mqtt.wait_connected()
            self._kick.clear()  # a press recorded while publishing kicks the next round
            now = ticks_ms()
            pending = self.pending()
            if len(self._sent_at) > 2 * self.send_window:  # forget events that left otherwise
                keep = {(b, s) for b, s, _ in pending}
                for key in [k for k in self._sent_at if k not in keep]:
                    del self._sent_at[key]
            for boot, seq, payload in pending:
                sent = self._sent_at.get((boot, seq))
                if sent is None or sent[0] is None or ticks_diff(now, sent[0]) >= self.resend_ms:
                    self._sent_at[(boot, seq)] = [ticks_ms(), _inc_of(payload)]
                    await self.mqtt.publish(self.topic + "event", self._stamp(payload), 1)
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
                self._ack(msg.get("boot"), msg.get("inc", 0), msg["seqs"])
        elif kind == "config":
            ok, reason = self.config.apply_remote(payload)
            if ok:
                if self.config.save_errors:
                    self.flash_errors += self.config.save_errors
                    self.config.save_errors = 0
                if self.safe_mode:  # a new config is a way out of safe mode
                    self._before_reset()
                    crash.planned_reset(self.data_dir, "config")
                if self.on_config is not None:
                    self.on_config()
                asyncio.create_task(self.publish_status())
            elif reason != "rev not newer":
                self.config_errors += 1
                print("config rejected:", reason)
        elif kind == "cmd":
            if type(msg) is dict and msg.get("cmd") in ("identify", "reboot", "update"):
                cmd_id = msg.get("id")
                self.last_cmd = cmd_id if type(cmd_id) is str else None
                self.last_cmd_error = None
                if msg["cmd"] == "reboot":
                    asyncio.create_task(self._reboot())
                    return
                if msg["cmd"] == "update":
                    # no over-the-air update in this firmware: refuse it, never claim it done
                    self.last_cmd_error = "update: unsupported by firmware " + FW_VERSION
                elif self.on_command is not None:
                    self.on_command(msg)
                asyncio.create_task(self.publish_status())

    def _ack(self, boot, inc, seqs):
        """The hub stored these events: each leaves the outbox if it was sent with this inc.

        An ack for another incarnation (one queued by the broker for the device's id before
        its flash was wiped) names events that are not ours: it is ignored.
        """
        mine = []
        for seq in seqs:
            sent = self._sent_at.get((boot, seq))
            if sent is not None and sent[1] == inc:
                mine.append(seq)
                del self._sent_at[(boot, seq)]
        if not mine:
            return
        try:
            self.outbox.ack(boot, mine)
        except OSError as e:  # a full flash: they stay pending, are sent and acked again later
            self.flash_errors += 1
            print("outbox ack not saved:", e)
        if self._ram:
            self._ram = [e for e in self._ram if e[0] != boot or e[1] not in mine]
        self._kick.set()

    async def _reboot(self):
        try:  # says which command it carried out, then goes
            await asyncio.wait_for(self.publish_status(), 5)
        except asyncio.TimeoutError:
            pass
        self._before_reset()
        crash.planned_reset(self.data_dir, "reboot command")

    def _on_connect(self):
        for sent in self._sent_at.values():  # resend everything pending on a new connection
            sent[0] = None
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
            "inc": self.identity.inc,
            "boot": self.identity.boot,
            "up": clock.uptime_ms(),
            "ts": epoch_ms(),
            "battery_mv": self._battery_mv(),
            "rssi": self.wifi.rssi(),
            "heap_free": gc.mem_free() if hasattr(gc, "mem_free") else 0,
            "reset_cause": self.reset_cause,
            "outbox": self.depth,
            "drops": self.outbox.drops,
            "safe_mode": self.safe_mode,
            "crash_boots": self.crash_boots,
            "flash_errors": self.flash_errors,
            "config_rev": self.config["rev"],
            "missed_wakes": self.missed_wakes,
        }
        for key, value in (
            ("last_cmd", self.last_cmd),
            ("last_cmd_error", self.last_cmd_error),
            ("last_crash", self.last_crash),
            ("dead_tasks", self.dead_tasks[:8]),
            ("no_sleep", self.no_sleep),
        ):
            if value:
                status[key] = value
        return status

    def _battery_mv(self):
        adc = self.battery_adc
        if adc is None:
            return None
        # a 1:2 divider in front of the ADC. read_uv() is the calibrated reading (esp32 port,
        # with the attenuation set explicitly in main.py); read_u16() assumes 3.3 V full scale
        try:
            if hasattr(adc, "read_uv"):
                return adc.read_uv() * 2 // 1000
            return adc.read_u16() * 3300 * 2 // 65535
        except (OSError, ValueError):
            return None

    async def publish_status(self):
        await self.mqtt.publish(self.topic + "status", json.dumps(self.status()), 1, True)

    async def _heartbeat(self):
        while True:
            await sleep_ms(self.config["heartbeat_s"] * 1000)
            if self.mqtt.connected:
                await self.publish_status()

    # --- clock ---------------------------------------------------------------------------

    async def _sync_clock(self):
        """Set the clock by NTP as soon as Wi-Fi is up, then every ntp_resync_s.

        ntptime ships with the esp32 and rp2 ports. Its own name lookup would block the loop
        (getaddrinfo) with no DNS: the host is resolved by otk.dns (cached, with a timeout)
        and ntptime gets the address.
        """
        try:
            import ntptime
        except ImportError:
            self._clock_pending = False
            return  # the Unix port and CPython: the host keeps the clock
        if self.woke is not None and self.woke[0] == "button" and epoch_ms() is not None:
            # a battery console woken by a press: the RTC kept time in deep sleep; timer
            # wakes (every sleep_wake_s) resync
            self._clock_pending = False
            return
        while True:
            while not self.wifi.connected():
                await sleep_ms(250)
            ok = False
            host = await _resolve(self.config["ntp_host"])
            if host:
                ntptime.host = host
                try:
                    ntptime.settime()  # blocks up to its socket timeout (1 s)
                    ok = True
                except (OSError, OverflowError, IndexError, ValueError) as e:
                    print("ntp:", e)
            self._clock_pending = False
            await sleep_ms((self.config["ntp_resync_s"] if ok else 60) * 1000)

    # --- deep sleep (battery builds) --------------------------------------------------------

    def _may_sleep(self):
        """Idle long enough since the last press (never sooner than the lockout: a press after a
        wake is a new visitor), nothing held down or blinking, no event only in RAM."""
        cfg = self.config
        idle_ms = max(cfg["sleep_after_s"] * 1000, cfg["lockout_ms"])
        if ticks_diff(ticks_ms(), self._active) < idle_ms or (self.busy is not None and self.busy()):
            return False
        return not self._ram  # RAM does not survive deep sleep: stay awake until flash takes them

    async def _sleeper(self):
        """Deep sleep once idle with everything acked, or once the hub stays out of reach."""
        cfg = self.config
        started = ticks_ms()
        while True:
            await sleep_ms(200)
            if not self._may_sleep():
                continue
            awake_too_long = ticks_diff(ticks_ms(), started) >= cfg["awake_max_s"] * 1000
            if self._clock_pending and not awake_too_long and (epoch_ms() is None or self.reset_cause != "deepsleep"):
                continue  # after a power-on (or with a clock never set) NTP gets its first try first
            if self.depth == 0 and self.mqtt.connected:
                seconds = cfg["sleep_wake_s"]
            elif awake_too_long:
                seconds = cfg["sleep_retry_s"] if self.depth else cfg["sleep_wake_s"]
            else:
                continue
            why = await self.deep_sleep(seconds)
            if why:
                # this board cannot wake on its buttons: stay awake like a mains console, and
                # say why in the status
                self.no_sleep = why
                print(why)
                asyncio.create_task(self.publish_status())
                return

    async def deep_sleep(self, seconds):
        """Say so on the status topic, leave the broker cleanly (no will), sleep.

        Returns only when it did not sleep: None when a press came during the hand-off (the
        device goes on, connected again), else why this board cannot sleep.
        """
        why = wake.arm(self.wake_pins)
        if why:
            return why
        depth = self.depth
        disconnected = False
        if self.mqtt.connected:
            status = self.status()
            status["state"] = "asleep"
            status["wake_in_s"] = seconds
            try:
                await asyncio.wait_for(self.mqtt.publish(self.topic + "status", json.dumps(status), 1, True), 5)
            except asyncio.TimeoutError:
                pass
            try:  # DISCONNECT, drained and the socket closed: the broker drops the will
                await asyncio.wait_for(self.mqtt.disconnect(), 3)
            except asyncio.TimeoutError:
                pass
            disconnected = True
            await sleep_ms(100)  # let the radio send the last segments before it powers down
        if self._may_sleep() and self.depth == depth:
            why = wake.sleep(seconds * 1000)  # returns only when the port refused to sleep
        else:
            why = None  # a press during the hand-off: stay awake, send it
        if disconnected:
            await self._reconnect()
        return why

    async def _reconnect(self):
        """Start the MQTT client again after disconnect() (a sleep that did not happen)."""
        m = self.mqtt
        old = m._task
        for _ in range(50):  # the old supervisor ends once disconnect() has closed the link
            if old is None or old.done():
                break
            await sleep_ms(100)
        m._stop = False
        m._task = self._start("mqtt", m.run())

    # --- running -----------------------------------------------------------------------------

    def _start(self, name, coro):
        """Run a task under a guard: an exception kills the device (reported, recorded, reset)."""

        async def guard():
            try:
                await coro
            except Exception as e:  # CancelledError and SystemExit (a stub reset) pass
                if name not in self.dead_tasks:
                    self.dead_tasks.append(name)
                if self._died is None:
                    self._died = crash.describe(e, "task " + name)
                print("task", name, "died:", repr(e))
                self._tasks_changed.set()

        return asyncio.create_task(guard())

    async def run(self, app=None, safe_app=None):
        """Run forever. In safe mode ``safe_app`` (a minimal press recorder) runs instead of the app."""
        cfg = self.config
        self._start("wifi", self.wifi.keep_connected())
        self.mqtt._task = self._start("mqtt", self.mqtt.run())
        self._start("subscribe", self._subscribe())
        self._start("sender", self._sender())
        self._start("heartbeat", self._heartbeat())
        self._start("clock", self._sync_clock())
        if cfg["sleep_after_s"] and not self.safe_mode:
            self._start("sleeper", self._sleeper())
        if self.safe_mode:
            print("safe mode after %d crash-boots (last: %s)" % (self.crash_boots, self.last_crash))
            if safe_app is not None:
                self._start("safe", safe_app())
        elif app is not None:
            self._start("app", app())
        await self._supervise()

    def _watchdog(self):
        seconds = self.config["wdt_s"]
        if not seconds or not hasattr(machine, "WDT"):
            return None
        ms = seconds * 1000
        if sys.platform == "rp2":
            ms = min(ms, 8388)  # the RP2040 watchdog's longest timeout
        try:
            return machine.WDT(timeout=ms)
        except (ValueError, OSError) as e:
            print("no watchdog:", e)
            return None

    async def _supervise(self):
        """Feed the watchdog while every task lives; end the crash streak after boot_ok_s up;
        leave safe mode after safe_mode_s; reset when a task died."""
        cfg = self.config
        wdt = self._watchdog()
        started = ticks_ms()
        while True:
            if self._died is not None:
                await self._die()
            if wdt is not None:
                wdt.feed()
            clock.uptime_ms()  # keeps the non-wrapping uptime current
            up = ticks_diff(ticks_ms(), started)
            if self.safe_mode:
                if up >= cfg["safe_mode_s"] * 1000:
                    print("leaving safe mode after %d s" % cfg["safe_mode_s"])
                    self.identity.mark_boot_ok()
                    self._before_reset()
                    crash.planned_reset(self.data_dir, "safe mode over")
            elif self.crash_boots and up >= cfg["boot_ok_s"] * 1000:
                self.identity.mark_boot_ok()  # up long enough: the crash streak is over
                self.crash_boots = 0
            self._tasks_changed.clear()
            try:
                await asyncio.wait_for(self._tasks_changed.wait(), self.supervise_ms / 1000)
            except asyncio.TimeoutError:
                pass

    async def _die(self):
        """A task died: say so in a status (best effort), record it, reset."""
        if self.mqtt.connected:
            try:
                await asyncio.wait_for(self.publish_status(), 5)
            except Exception:  # a broken runtime must still reach the reset
                pass
        self._before_reset()
        crash.write_last_exit(self.data_dir, "crash: " + self._died)
        machine.reset()

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
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        print("not saved:", path, e)


def _inc_of(payload):
    """The incarnation id an outbox payload was recorded with (0: before inc existed)."""
    i = payload.find(b'"inc": ')
    if i < 0:
        return 0
    i += 7
    j = i
    while j < len(payload) and 48 <= payload[j] <= 57:
        j += 1
    return int(payload[i:j]) if j > i else 0


async def _resolve(host):
    try:
        from otk import dns
    except ImportError:
        return host
    return await dns.resolve(host)


def data_dir_from_argv(default="."):
    """The Unix port takes the device's flash folder as its first argument."""
    return sys.argv[1] if len(sys.argv) > 1 else default
