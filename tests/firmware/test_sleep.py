"""Battery builds: deep sleep between presses, against the real Mosquitto and hub.

The firmware is real; the stubs stand in for the chip's sleep (machine.deepsleep() logs the
timer and the armed wake pins, then exits 98) and its wake sources (reset cause, wake reason,
the S3's latched wake-status register, a button still held at boot). The harness plays the
sleeping board: it starts the process again as a wake.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.firmware.consoles import SLEEP_EXIT, events, fake_ntptime
from tests.helpers import db_rows, wait_until

ALL_BUTTONS = "1,2,3,4,5"


def _status(db) -> tuple[str, dict]:
    rows = db_rows(db, "SELECT state, status FROM devices")
    if not rows or rows[0][1] is None:
        return ("", {})
    return rows[0][0], json.loads(rows[0][1])


def _asleep_after(device, timeout=30) -> None:
    code = device.proc.wait(timeout)
    assert code == SLEEP_EXIT, f"the console went to deep sleep (exit {code}); log:\n{device.log()}"


def test_a_battery_console_sleeps_once_idle_and_acked_and_never_inside_the_lockout(hub, console):
    device = console(sleep_after_s=1, lockout_ms=2500).start()
    db = hub.settings.db_path
    wait_until(lambda: _status(db)[0] == "online", 20, f"the console online; log:\n{device.log()}")
    pressed = time.monotonic()
    device.press(2)
    wait_until(lambda: len(events(db)) == 1, 20, "the press in SQLite")
    _asleep_after(device)
    assert time.monotonic() - pressed >= 2.5, "awake at least the lockout after the last press"
    assert device.sleeps() == [(21600 * 1000, ALL_BUTTONS)], "timer = sleep_wake_s; every button wakes it"
    wait_until(lambda: _status(db)[0] == "asleep", 10, "the asleep status")
    time.sleep(1.5)
    state, status = _status(db)
    assert state == "asleep", "a clean disconnect: the broker did not publish the offline will"
    assert status["wake_in_s"] == 21600 and status["outbox"] == 0 and status["missed_wakes"] == 0


def test_each_kind_of_wake_records_the_press_that_woke_it_once_or_counts_it_missed(hub, console):
    device = console(sleep_after_s=1, lockout_ms=0).start()
    db = hub.settings.db_path
    _asleep_after(device)
    boots = [1]

    def woke(**how) -> float:
        started = time.time() * 1000
        device.wake(**how)
        _asleep_after(device)
        boots.append(boots[-1] + 1)
        wait_until(lambda: _status(db) == ("asleep", {**_status(db)[1], "boot": boots[-1]}), 10, "asleep")
        return started

    # 1. the S3: the chip latched the pin, though the 100 ms press was over before boot
    started = woke(button=3, latched=True)
    rows = events(db)
    assert [(boot, seq, button) for boot, seq, button, *_ in rows] == [(2, 1, 3)]
    assert abs(rows[0][5] - started) < 1500, "the press time is the wake, from the clock that ran in sleep"
    # 2. no latch (the C3): the button still held at boot tells; held 400 ms, counted once
    woke(button=4, latched=False, held_ms=400)
    assert [button for _, _, button, *_ in events(db)] == [3, 4]
    # 3. no latch and released too soon: no press can be made up; it is counted and reported
    woke(button=5, latched=False)
    assert len(events(db)) == 2
    assert _status(db)[1]["missed_wakes"] == 1
    # 4. the timer: a status, no press
    woke(timer=True)
    state, status = _status(db)
    assert len(events(db)) == 2 and state == "asleep" and status["missed_wakes"] == 1
    assert status["reset_cause"] == "deepsleep"
    assert [ms for ms, _ in device.sleeps()] == [21600 * 1000] * 5


def test_with_the_broker_out_of_reach_the_press_waits_in_flash_for_a_later_wake(hub, broker, console):
    device = console(sleep_after_s=1, lockout_ms=0, awake_max_s=3, sleep_retry_s=120).start()
    db = hub.settings.db_path
    _asleep_after(device)
    broker.stop()
    device.wake(button=1)
    _asleep_after(device, 20)
    assert device.sleeps()[-1] == (120 * 1000, ALL_BUTTONS), "gave up after awake_max_s; retries sooner"
    assert events(db) == []
    broker.start()
    device.wake(timer=True)
    wait_until(lambda: len(events(db)) == 1, 30, f"the press from flash; log:\n{device.log()}")
    _asleep_after(device)
    assert device.sleeps()[-1][0] == 21600 * 1000, "everything delivered: back to the long sleep"
    assert [(boot, button) for boot, _, button, *_ in events(db)] == [(2, 1)]


def test_a_mains_console_never_sleeps(hub, console):
    device = console(lockout_ms=0).start()  # sleep_after_s 0, the default
    device.press(1)
    wait_until(lambda: len(events(hub.settings.db_path)) == 1, 20, "the press")
    time.sleep(3.5)
    assert device.proc.poll() is None and device.sleeps() == []


def test_the_clock_is_set_by_ntp_from_the_provisioned_host(hub, console, tmp_path):
    fake, calls = fake_ntptime(tmp_path)  # ntptime is not on the Unix port: a stand-in
    device = console(ntp_host="10.0.0.1").start(extra_path=(fake,))
    wait_until(calls.exists, 20, f"an NTP sync; log:\n{device.log()}")
    assert Path(calls).read_text().split() == ["10.0.0.1"]
