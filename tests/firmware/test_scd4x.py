"""The SCD4x driver (firmware/lib/otk/scd4x.py) on the real MicroPython Unix port against the
SCD41 emulator (firmware/stubs/chips/scd41.py, written from Sensirion's datasheet): the bus is
the only stand-in, so the driver's framing, CRC checks, execution times and conversions run as
on a board (issue 16, the comfort sensor's first part)."""

from __future__ import annotations

import json

from tests.firmware.upy import run_micropython

SCRIPT = r"""
import json, machine
from time import sleep_ms
from chips.scd41 import SCD41
from otk.scd4x import SCD4x, SCD4xError, crc8

out = {}
out["crc_beef"] = crc8(b"\xbe\xef")  # the datasheet's example: 0x92
chip = machine.attach_i2c(SCD41(co2=812, t=23.4, rh=41.5), 0x62)
i2c = machine.I2C(0, scl=machine.Pin(9), sda=machine.Pin(8), freq=100000)
s = SCD4x(i2c)
out["serial"] = s.serial()
out["asc_default"] = s.self_calibration()
s.set_self_calibration(False)
out["asc_off"] = s.self_calibration()
s.start()
out["ready_at_once"] = s.data_ready()
try:
    s.read()
    out["early_read"] = "returned"
except OSError:
    out["early_read"] = "nack"
try:
    s.set_self_calibration(True)  # not taken while measuring
    out["asc_while_measuring"] = "taken"
except OSError:
    out["asc_while_measuring"] = "nack"
waited = 0
while not s.data_ready():
    sleep_ms(100)
    waited += 100
out["waited_ms"] = waited
out["reading"] = s.read()
out["ready_after_read"] = s.data_ready()
chip.corrupt = True
sleep_ms(5100)
try:
    s.read()
    out["corrupt"] = "returned"
except SCD4xError as e:
    out["corrupt"] = str(e)
try:
    s.forced_recalibration(420)  # stops first; only 10 s of measuring: the sensor refuses
    out["frc_early"] = "done"
except SCD4xError as e:
    out["frc_early"] = str(e)
chip.measured_ms = 200000  # as if it had measured in fresh air for more than 3 minutes
out["frc"] = s.forced_recalibration(420)
s.start()
sleep_ms(5100)
out["after_frc"] = s.read()[0]
s.stop()
chip.absent = True
try:
    s.data_ready()
    out["absent"] = "answered"
except OSError as e:
    out["absent"] = e.args[0]
out["errors"] = chip.errors
print("RESULT " + json.dumps(out))
"""


def test_the_driver_reads_the_emulated_scd41_as_its_datasheet_says(tmp_path):
    done = run_micropython(SCRIPT, timeout=60, cwd=tmp_path)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stdout + done.stderr
    out = json.loads(line[7:])
    assert out["crc_beef"] == 0x92
    assert out["serial"] == 0x1234_5678_9ABC
    assert out["asc_default"] is True and out["asc_off"] is False, "self-calibration off by default here"
    assert out["ready_at_once"] is False and out["early_read"] == "nack"
    assert out["asc_while_measuring"] == "nack"
    assert 4500 <= out["waited_ms"] <= 5600, "a measurement every 5 s"
    co2, t, rh = out["reading"]
    assert co2 == 812 and abs(t - 23.4) < 0.01 and abs(rh - 41.5) < 0.01
    assert out["ready_after_read"] is False, "each measurement is read once"
    assert "CRC mismatch" in out["corrupt"], "a reading that fails its CRC is never a value"
    assert "forced recalibration failed" in out["frc_early"]
    assert out["frc"] == 420 - 812, "the correction the sensor applied"
    assert out["after_frc"] == 420
    assert out["absent"] == 19, "an unplugged sensor is an error, never a zero"
    # the emulator refused only what the test provoked: the driver's own framing and timing were right
    assert out["errors"] == [
        "no answer pending",  # the early read: no measurement yet
        "0x2416 is not taken during periodic measurement",
    ], out["errors"]
