"""Debounced buttons and the lockout rule, on the real MicroPython with scripted (stubbed) pins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.firmware.upy import FIRMWARE, run_micropython

SCRIPT = """
import asyncio, json, machine
from otk.buttons import Buttons
presses = []
async def main():
    pins = [machine.Pin(i, machine.Pin.IN, machine.Pin.PULL_UP) for i in (1, 2, 3)]
    b = Buttons(pins, lambda i, up, rep: presses.append((i, up, rep)), lockout_ms=LOCKOUT)
    asyncio.create_task(b.run())
    await asyncio.sleep(SECONDS)
    print(json.dumps(presses))
asyncio.run(main())
"""


def run(tmp_path, levels: str, *, lockout: int = 500, seconds: float = 1.0, interpreter: str = "micropython"):
    script = tmp_path / "pins.txt"
    script.write_text(levels)
    code = SCRIPT.replace("LOCKOUT", str(lockout)).replace("SECONDS", str(seconds))
    env = {"OTK_PIN_SCRIPT": str(script)}
    if interpreter == "micropython":
        result = run_micropython(code, env=env)
    else:
        path = ":".join(str(FIRMWARE / d) for d in ("stubs", "lib", "button"))
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PYTHONPATH": path, **env},
        )
    assert result.returncode == 0, result.stderr
    return [tuple(p) for p in json.loads(result.stdout)]


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_contact_bounce_yields_one_press(tmp_path, interpreter):
    # press with 4 ms of bounce, release with bounce: one press of button 1
    levels = "100 1 0\n101 1 1\n102 1 0\n103 1 1\n104 1 0\n300 1 1\n302 1 0\n303 1 1\n"
    presses = run(tmp_path, levels, interpreter=interpreter)
    assert [(i, rep) for i, _, rep in presses] == [(1, False)]
    assert 90 <= presses[0][1] <= 200, "the press time is the first edge, not the end of the debounce"


def test_a_held_button_presses_once(tmp_path):
    presses = run(tmp_path, "100 2 0\n900 2 1\n", seconds=1.2)
    assert [(i, rep) for i, _, rep in presses] == [(2, False)]


def test_presses_inside_the_lockout_are_flagged_as_repeats(tmp_path):
    # presses last 150 ms, as a person's do (well above the 50 ms debounce)
    levels = "100 1 0\n250 1 1\n400 2 0\n550 2 1\n800 2 0\n950 2 1\n1700 3 0\n1850 3 1\n"
    presses = run(tmp_path, levels, lockout=500, seconds=2.2)
    # 400 is 300 ms after 100: repeat; 800 is 400 ms after 400: repeat; 1700 is 900 ms later: not
    assert [(i, rep) for i, _, rep in presses] == [(1, False), (2, True), (2, True), (3, False)]


def test_a_glitch_shorter_than_the_debounce_is_not_a_press(tmp_path):
    assert run(tmp_path, "100 3 0\n110 3 1\n") == []


LATE = """
import asyncio, json, machine, time
from otk.buttons import Buttons
presses = []
async def main():
    pins = [machine.Pin(i, machine.Pin.IN, machine.Pin.PULL_UP) for i in (1, 2)]
    b = Buttons(pins, lambda i, up, rep: presses.append((i, up, rep)), lockout_ms=0)
    asyncio.create_task(b.run())
    await asyncio.sleep(0.2)
    # the loop is blocked (a flash compaction, an NTP request) while a visitor presses and
    # releases: on a board the pin interrupts still run, here they are delivered in the block
    time.sleep_ms(20)
    pins[0]._set(0)
    time.sleep_ms(HELD)
    pins[0]._set(1)
    time.sleep_ms(300)  # the loop comes back long after the release
    await asyncio.sleep(0.3)
    print(json.dumps(presses))
asyncio.run(main())
"""


@pytest.mark.parametrize(("held", "pressed"), [(120, True), (10, False)])
def test_a_press_released_while_the_loop_was_blocked_is_not_lost(held, pressed):
    result = run_micropython(LATE.replace("HELD", str(held)))
    assert result.returncode == 0, result.stderr
    presses = json.loads(result.stdout)
    if pressed:
        assert [(i, rep) for i, _, rep in presses] == [(1, False)], "low for 120 ms: a press"
        assert 200 <= presses[0][1] <= 400, "timed at its first edge"
    else:
        assert presses == [], "low for 10 ms: a bounce, even seen late"
