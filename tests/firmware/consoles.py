"""Harness for the real console firmware (firmware/button/main.py) on the MicroPython Unix port.

A Console is one device: its flash folder, its pin script and its MicroPython process. Only the
pins, resets and sleep are stubbed (firmware/stubs/); everything else is the real firmware.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.firmware.upy import FIRMWARE, start_micropython
from tests.helpers import SITE, db_rows

#: machine.deepsleep() in the stub exits with this status, machine.reset() with RESET_EXIT
SLEEP_EXIT = 98
RESET_EXIT = 99
#: machine.reset_cause() values of the stub (as on the esp32 port)
POWER_ON, HARD_RESET, WDT_RESET = 1, 2, 3
#: the ESP32-S3's latched ext1 wake-status register, which the stub's machine.mem32 emulates
WAKE_STATUS_ENV = "OTK_MEM32_600080E4"


class Console:
    """One console: its flash folder, its pin script, and its MicroPython process."""

    def __init__(self, directory, broker, device="btn-01", **provisioned):
        self.directory = directory
        self.flash = directory / "flash"
        self.flash.mkdir(parents=True)
        self.pins = directory / "pins.txt"
        self.pins.write_text("")
        self.device = device
        settings = {
            "device": device, "site": SITE, "broker_host": "127.0.0.1", "broker_port": broker.port,
            "broker_user": device, "broker_password": broker.passwords[device], **provisioned,
        }  # fmt: skip
        (self.flash / "device.json").write_text(json.dumps(settings))
        self.sleep_log = directory / "sleeps.txt"
        self.wdt_log = directory / "wdt.txt"
        self.proc = None
        self.starts = 0

    def start(
        self, env: dict[str, str] | None = None, extra_path: tuple[Path, ...] = (), script: str = "",
        app: Path | None = None, heapsize: str | None = None,
    ):  # fmt: skip
        """Power the device on; ``script``: pin lines replayed from its first irq() (ms, pin, level);
        ``app``: a folder with another copy of firmware/button (its main.py runs, and its folder
        comes first on the path, as on a board)."""
        self.starts += 1
        self.pins.write_text(script)  # a new process replays the script from the top: start it clean
        self.proc = start_micropython(
            (app or FIRMWARE / "button") / "main.py", str(self.flash), extra_path=extra_path,
            env={
                "OTK_PIN_SCRIPT": str(self.pins), "OTK_SLEEP_LOG": str(self.sleep_log),
                "OTK_WDT_LOG": str(self.wdt_log), **(env or {}),
            },
            log=self.directory / f"device-{self.starts}.log", **({"heapsize": heapsize} if heapsize else {}),
        )  # fmt: skip
        time.sleep(0.5)  # the stub reads the pin script from its first irq() on
        return self

    def wake(self, *, button: int | None = None, latched: bool = True, held_ms: int = 0, timer: bool = False):
        """Start the device again as a wake from deep sleep.

        button: the button that woke it; latched: the chip's wake-status register names it (the
        S3), else only a button still held at boot (held_ms) can tell; timer: a timer wake.
        """
        env = {"OTK_RESET_CAUSE": "4", "OTK_WAKE_REASON": "4" if timer else "3"}
        script = ""
        if button is not None and latched:
            env[WAKE_STATUS_ENV] = str(1 << button)  # the unix pin map: button N is GPIO N
        if button is not None and held_ms:
            env["OTK_PIN_HELD"] = str(button)
            script = f"{held_ms} {button} 1\n"
        return self.start(env, script=script)

    def sleeps(self) -> list[tuple[int, str]]:
        """(timer ms, armed wake pins) of every deep sleep so far."""
        if not self.sleep_log.exists():
            return []
        return [
            (int(ms), pins) for ms, pins in (line.split() for line in self.sleep_log.read_text().splitlines())
        ]

    def press(self, button: int, hold_ms: int = 150, bounce: bool = False):
        lines = ["+0 {b} 0", "+2 {b} 1", "+4 {b} 0"] if bounce else ["+0 {b} 0"]
        lines.append(f"+{hold_ms} {{b}} 1")
        with open(self.pins, "a") as fh:
            fh.write("".join(line.format(b=button) + "\n" for line in lines))
        time.sleep((hold_ms + 100) / 1000)

    def kill(self):
        """A power cut: SIGKILL, nothing flushed beyond what the firmware already wrote."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def restart(self, cause: int = POWER_ON, **kwargs):
        """Start again after the process ended, with the reset cause the board would report."""
        return self.start({"OTK_RESET_CAUSE": str(cause), **kwargs.pop("env", {})}, **kwargs)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("device-*.log")))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


class Tap:
    """A paho subscriber (hub credentials) that records everything under the site."""

    def __init__(self, broker):
        self.messages = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="tap", protocol=paho.MQTTv311)
        self.client.username_pw_set(*broker.hub_creds)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"otk/v1/{SITE}/#", 1)
        self.client.connect("127.0.0.1", broker.hub_port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def faulty_console(
    directory: Path, fault: str, before: str = "asyncio.create_task(self.thank_you(index))"
) -> Path:
    """A copy of firmware/button whose console.py has ``fault`` (Python lines, indented for
    Console._on_press) inserted before ``before``: a bug in the app, for the runtime to survive.
    Give the folder as ``app`` to Console.start."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in (FIRMWARE / "button").glob("*.py"):
        (directory / path.name).write_bytes(path.read_bytes())
    source = (FIRMWARE / "button" / "console.py").read_text()
    before = "        " + before
    assert before in source
    (directory / "console.py").write_text(source.replace(before, fault + "\n" + before, 1))
    return directory


def fake_ntptime(directory: Path) -> tuple[Path, Path]:
    """ntptime ships with the esp32 and rp2 ports, not the Unix port: a stand-in (a folder for
    ``extra_path``) that records each settime() call's host in the returned file."""
    fake = directory / "ntp"
    fake.mkdir()
    calls = directory / "ntp-calls.txt"
    (fake / "ntptime.py").write_text(
        "host = 'unset'\n"
        "def settime():\n"
        f"    with open({str(calls)!r}, 'a') as f:\n"
        "        f.write(host + '\\n')\n"
    )
    return fake, calls


def latest_status(db) -> dict:
    rows = db_rows(db, "SELECT status FROM devices")
    return json.loads(rows[0][0]) if rows and rows[0][0] else {}


def events(db):
    return db_rows(
        db,
        "SELECT boot, seq, json_extract(payload, '$.button'), value, repeat, ts FROM events "
        "ORDER BY boot, seq",
    )
