"""The hardware stubs (the only stubbed layer): scripted pin levels fire IRQs on the real MicroPython."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.firmware.upy import FIRMWARE, run_micropython

SCRIPT = """
import asyncio, json, machine
events = []
async def main():
    button = machine.Pin(3, machine.Pin.IN, machine.Pin.PULL_UP)
    button.irq(lambda p: events.append((p.id, p.value())), machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
    led = machine.Pin(11, machine.Pin.OUT)
    led.on()
    led.off()
    await asyncio.sleep(0.4)
    print(json.dumps({"events": events, "adc": machine.ADC(20).read_u16()}))
asyncio.run(main())
"""


def _levels(tmp_path):
    script = tmp_path / "pins.txt"
    script.write_text("# bouncing press then release\n10 3 0\n11 3 1\n12 3 0\n150 3 1\n")
    return script


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_scripted_levels_fire_irqs_and_outputs_are_logged(tmp_path, interpreter):
    env = {
        "OTK_PIN_SCRIPT": str(_levels(tmp_path)),
        "OTK_PIN_LOG": str(tmp_path / "out.txt"),
        "OTK_ADC_20": "1234",
    }
    if interpreter == "micropython":
        result = run_micropython(SCRIPT, env=env)
    else:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30,
            env={"PYTHONPATH": f"{FIRMWARE / 'stubs'}:{FIRMWARE / 'lib'}", **env},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["events"] == [[3, 0], [3, 1], [3, 0], [3, 1]]
    assert out["adc"] == 1234
    assert [line.split()[1:] for line in (tmp_path / "out.txt").read_text().splitlines()] == [
        ["11", "1"],
        ["11", "0"],
    ]


def test_lines_appended_while_running_are_picked_up(tmp_path):
    script = tmp_path / "pins.txt"
    script.write_text("")
    code = SCRIPT.replace(
        "await asyncio.sleep(0.4)",
        f"await asyncio.sleep(0.2)\n    open({str(script)!r}, 'a').write('250 3 0\\n')\n"
        "    await asyncio.sleep(0.3)",
    )
    result = run_micropython(code, env={"OTK_PIN_SCRIPT": str(script)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events"] == [[3, 0]]
