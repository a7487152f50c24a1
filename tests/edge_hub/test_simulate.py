"""`edge-hub simulate`: consoles running the real firmware (MicroPython, or CPython) into the real hub."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from edge_hub.simulate import DAY_SHAPE, day_factor
from tests.helpers import DEVICES, db_rows, wait_until


def test_office_day_has_a_morning_peak_and_a_lunch_dip():
    assert sum(f for _, f in DAY_SHAPE) / len(DAY_SHAPE) == pytest.approx(1.0, abs=0.01)
    morning, lunch, evening = day_factor(0.25), day_factor(0.5), day_factor(0.95)
    assert morning > 1.5 and lunch < 0.5 and evening < 1


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_simulated_consoles_run_the_firmware_and_every_press_is_stored_once(
    hub, broker, tmp_path, interpreter
):
    creds = tmp_path / "creds.txt"
    creds.write_text("".join(f"{d}\t{broker.passwords[d]}\n" for d in DEVICES[:3]))
    result = subprocess.run(
        [sys.executable, "-m", "edge_hub.cli", "simulate", "--mqtt-url", broker.url, "--devices", "3",
         "--duration", "6", "--rate", "40", "--credentials", str(creds), "--workdir", str(tmp_path / "sim"),
         "--interpreter", interpreter],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    presses = int(re.search(r"(\d+) presses from 3 consoles", result.stdout).group(1))
    assert presses > 3
    db = hub.settings.db_path
    # the consoles were stopped after their last press: what they had sent is stored
    wait_until(lambda: db_rows(db, "SELECT count(*) FROM events")[0][0] >= presses - 3, 20, "the presses")
    stored = db_rows(db, "SELECT count(*), count(DISTINCT device || boot || '.' || seq) FROM events")[0]
    assert stored[0] == stored[1], "nothing stored twice"
    assert {d for (d,) in db_rows(db, "SELECT DISTINCT device FROM events")} <= set(DEVICES[:3])
    hw = {h for (h,) in db_rows(db, "SELECT hw FROM devices")}
    assert hw == {"unix"}
