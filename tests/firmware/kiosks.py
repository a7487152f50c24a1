"""Harness for the real feedback-terminal firmware (firmware/kiosk/main.py) on the MicroPython Unix
port: the touch kiosk (the CYD's ILI9341 and XPT2046 emulated from their datasheets, a scripted
finger on the panel) and the button-survey terminal (scripted button pins, the SSD1306 emulated).
Only the chips, the pins and the finger are stand-ins (firmware/stubs/); the survey engine, the
screens, the runtime, the MQTT client and the hub are the real thing.

Each terminal logs the screen it shows as ``screen {json}`` (kind, question id, language, touch
targets or what each button does): a test reads it to know where to tap, as a visitor looks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.firmware.consoles import Console
from tests.firmware.upy import FIRMWARE
from tests.helpers import wait_until

APP = FIRMWARE / "kiosk"
TERMINAL_HEAP = "224k"  # the same, for the button-survey terminal
KIOSK_HEAP = "320k"  # the 64-bit Unix port: objects about twice a board's; see firmware/kiosk/README.md


class Terminal(Console):
    """A touch kiosk (display="ili9341") or a button-survey terminal (display="ssd1306")."""

    def __init__(
        self, directory: Path, broker, device: str = "kiosk-01", display: str = "ili9341", **provisioned
    ):
        super().__init__(directory, broker, device=device, display=display, **provisioned)
        self.display = display
        self.touches = directory / "touch.txt"
        self.touches.write_text("")
        self.shots = directory / "shots"
        self.shots.mkdir()

    def start(self, env: dict[str, str] | None = None, **kwargs):
        self.touches.write_text("")
        chips = {
            "OTK_CHIPS": "cyd" if self.display == "ili9341" else "oled",
            "OTK_TOUCH_SCRIPT": str(self.touches),
            "OTK_SHOTS": str(self.shots),
        }
        kwargs.setdefault("heapsize", KIOSK_HEAP if self.display == "ili9341" else TERMINAL_HEAP)
        # as on a board: main.py as source, every other module compiled (upy.micropython_path);
        # run from the firmware's folder, its sources would come first and compile on the heap
        app = self.directory / "app"
        app.mkdir(exist_ok=True)
        (app / "main.py").write_bytes((APP / "main.py").read_bytes())
        return super().start({**chips, **(env or {})}, app=app, **kwargs)

    # --- what the visitor sees ---------------------------------------------------------

    def screens(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("screen {"):
                out.append(json.loads(line[len("screen ") :]))
        return out

    def screen(self) -> dict | None:
        shown = self.screens()
        return shown[-1] if shown else None

    def wait_screen(self, kind: str, qid: str | None = None, timeout: float = 15, after: int = 0) -> dict:
        """The first screen of ``kind`` (and question ``qid``) logged after the ``after``-th one."""

        def found():
            for s in self.screens()[after:]:
                if s["kind"] == kind and (qid is None or s["id"] == qid):
                    return s
            return None

        wait_until(found, timeout, f"screen {kind} {qid or ''}; device log:\n{self.log()[-3000:]}")
        return found()

    # --- what the visitor does ---------------------------------------------------------

    def tap_at(self, x: int, y: int, hold_ms: int = 150, ohms: int = 300) -> None:
        with open(self.touches, "a") as fh:
            fh.write(f"+0 {x} {y} {hold_ms} {ohms}\n")
        time.sleep((hold_ms + 150) / 1000)

    def tap(self, action: str, value=None, timeout: float = 15) -> None:
        """Tap the target of the screen on show that does (action, value); waits for the screen
        to change."""
        count = len(self.screens())
        shown = self.screen()
        assert shown is not None, f"no screen yet; device log:\n{self.log()}"
        for x, y, w, h, act, val in shown["targets"]:
            if act == action and (value is None or val == value):
                self.tap_at(x + w // 2, y + h // 2)
                wait_until(
                    lambda: len(self.screens()) > count, timeout, f"a new screen after {action} {value}"
                )
                return
        raise AssertionError(f"no target {action} {value} on {shown}")

    def push(self, action: str, value=None, timeout: float = 15) -> None:
        """The button-survey terminal: press the button that does (action, value)."""
        count = len(self.screens())
        shown = self.screen()
        assert shown is not None, f"no screen yet; device log:\n{self.log()}"
        for i, act in enumerate(shown["buttons"], 1):
            if act is not None and act[0] == action and (value is None or act[1] == value):
                self.press(i)
                wait_until(
                    lambda: len(self.screens()) > count, timeout, f"a new screen after {action} {value}"
                )
                return
        raise AssertionError(f"no button {action} {value} on {shown}")

    def answer(self, value) -> None:
        """Answer the question on screen with ``value`` (the OLED's two steps taken as needed)."""
        if self.display == "ili9341":
            self.tap("answer", value)
            return
        for _ in range(4):
            shown = self.screen()
            buttons = shown["buttons"]
            if any(a is not None and a[0] == "answer" and a[1] == value for a in buttons):
                return self.push("answer", value)
            index = shown["values"].index(value)
            for act in buttons:
                if (
                    act is not None
                    and act[0] == "view"
                    and (isinstance(act[1], int) or act[1][0] <= index < act[1][1])
                ):  # a step narrower, or the next page of a choice
                    self.push("view", act[1])
                    break
            else:
                raise AssertionError(f"no way to answer {value} on {shown}")
        raise AssertionError(f"{value} not reached in four steps")

    def shot(self, name: str, timeout: float = 15) -> Path:
        """The screen as the panel shows it now (the emulated chip's memory)."""
        with open(self.touches, "a") as fh:
            fh.write(f"+0 shot {name}\n")
        path = self.shots / f"{name}.ppm"
        wait_until(path.exists, timeout, f"the screenshot {name}")
        time.sleep(0.3)  # written in one go; give it the time to close
        return path
