"""The real button-console firmware on the MicroPython Unix port, against the real Mosquitto and hub.

Only the pins are stubbed (scripted levels, firmware/stubs/); everything from the debouncer to the
flash outbox, the MQTT client and the hub's SQLite is the real thing.
"""

from __future__ import annotations

import json
import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_hub.ingest.contract import Contract
from tests.firmware.consoles import HARD_RESET, RESET_EXIT, WDT_RESET, Console, Tap, events
from tests.helpers import SITE, db_rows, topic, wait_until


def test_presses_reach_sqlite_exactly_once_and_every_payload_matches_the_contract(hub, broker, console):
    tap = Tap(broker)
    device = console(lockout_ms=0).start()
    db = hub.settings.db_path
    for button in (1, 2, 3, 4, 5):
        device.press(button)
    wait_until(lambda: len(events(db)) == 5, 20, f"5 presses in SQLite; device log:\n{device.log()}")
    time.sleep(1.5)  # a resend or duplicate would land now
    rows = events(db)
    assert [(b, s, btn, v, r) for b, s, btn, v, r, _ in rows] == [(1, i, i, i, 0) for i in range(1, 6)]
    assert hub.ingestor.stats.duplicates == 0
    contract = Contract(site=SITE)
    sent = [(t, p) for t, p in tap.messages if t.startswith(topic("btn-01", "")) and t.rsplit("/", 1)[1] in
            ("event", "status")]  # fmt: skip
    kinds = {contract.parse(t, p).kind for t, p in sent}  # raises if any payload breaks the contract
    assert kinds == {"event", "status"}
    tap.close()


def test_contact_bounce_yields_one_press_and_repeats_inside_the_lockout_are_flagged(hub, console):
    device = console(lockout_ms=2000).start()
    device.press(2, bounce=True)
    device.press(4)  # ~250 ms later: inside the 2 s lockout
    time.sleep(2.2)
    device.press(5)  # outside it
    db = hub.settings.db_path
    wait_until(lambda: len(events(db)) == 3, 20, f"3 presses; device log:\n{device.log()}")
    assert [(btn, r) for _, _, btn, _, r, _ in events(db)] == [(2, 0), (4, 1), (5, 0)]
    assert db_rows(db, "SELECT count(*) FROM quarantine") == [(0,)]


def test_presses_during_a_broker_outage_arrive_afterwards_in_order_with_their_press_times(
    hub, broker, console
):
    device = console(lockout_ms=0).start()
    db = hub.settings.db_path
    device.press(1)
    wait_until(lambda: len(events(db)) == 1, 20, "the first press")
    broker.stop()
    pressed_at = []
    for button in (2, 3, 4):
        pressed_at.append(time.time() * 1000)
        device.press(button)
        time.sleep(0.5)
    time.sleep(2)
    broker.start()
    wait_until(lambda: len(events(db)) == 4, 60, f"the queued presses; device log:\n{device.log()}")
    rows = events(db)
    assert [btn for _, _, btn, _, _, _ in rows] == [1, 2, 3, 4]
    for (_, _, _, _, _, ts), when in zip(rows[1:], pressed_at, strict=True):
        assert abs(ts - when) < 700, "the stored time is the press time, not the arrival time"
    received = db_rows(db, "SELECT received_at - ts FROM events ORDER BY seq")
    assert received[1][0] > 2000, "they did wait out the outage"


def test_power_cut_with_unacked_events_loses_nothing_and_counts_nothing_twice(make_hub, console):
    device = console(lockout_ms=0).start()
    for button in (1, 2, 3):  # no hub yet: nobody acks, the events stay in the outbox
        device.press(button)
    time.sleep(1)
    device.kill()
    hub = make_hub()
    db = hub.settings.db_path
    assert events(db) == []
    device.start()  # boots with a new boot counter and resends the outbox
    wait_until(
        lambda: len(events(db)) == 3, 30, f"the events from before the power cut; log:\n{device.log()}"
    )
    device.press(4)
    wait_until(lambda: len(events(db)) == 4, 20, "a press after the reboot")
    time.sleep(1.5)
    assert [(b, s, btn) for b, s, btn, _, _, _ in events(db)] == [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 4)]


def test_a_malformed_retained_config_is_rejected_and_the_last_good_one_kept(hub, broker, console):
    device = console(lockout_ms=0).start()
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="cfg", protocol=paho.MQTTv311)
    publisher.username_pw_set(*broker.hub_creds)
    publisher.connect("127.0.0.1", broker.hub_port)
    publisher.loop_start()
    good = {"v": 1, "device": "btn-01", "rev": 1, "buttons": [10, 9, 8, 7, 6], "lockout_ms": 0}
    publisher.publish(topic("btn-01", "config"), orjson.dumps(good), qos=1, retain=True).wait_for_publish(5)
    db = hub.settings.db_path
    wait_until(lambda: db_rows(db, "SELECT config_rev FROM devices") == [(1,)], 20, "config rev 1 applied")
    device.press(1)
    bad = {"v": 1, "device": "btn-01", "rev": 2, "buttons": [1, 2]}  # fewer than 3 buttons
    publisher.publish(topic("btn-01", "config"), orjson.dumps(bad), qos=1, retain=True).wait_for_publish(5)
    time.sleep(1)
    device.press(1)
    device.kill()  # after a reboot the bad retained config comes again, and is rejected again
    device.start()
    device.press(1)
    wait_until(lambda: len(events(db)) == 3, 30, f"3 presses; device log:\n{device.log()}")
    assert [v for _, _, _, v, _, _ in events(db)] == [10, 10, 10]
    assert "config rejected" in device.log()
    publisher.loop_stop()
    publisher.disconnect()


def _led_lines(console: Console) -> list[tuple[int, int]]:
    log = console.directory / "leds.txt"
    return (
        [(int(p), int(v)) for _, p, v in (line.split() for line in log.read_text().splitlines())]
        if log.exists()
        else []
    )


def _start_logging_leds(device: Console) -> Console:
    return device.start({"OTK_PIN_LOG": str(device.directory / "leds.txt")})


def test_identify_blinks_every_led_and_is_reported_as_last_cmd(hub, broker, console):
    device = _start_logging_leds(console(lockout_ms=0))
    db = hub.settings.db_path
    wait_until(lambda: db_rows(db, "SELECT state FROM devices") == [("online",)], 20, "the console online")
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="cmd", protocol=paho.MQTTv311)
    publisher.username_pw_set(*broker.hub_creds)
    publisher.connect("127.0.0.1", broker.hub_port)
    publisher.loop_start()
    cmd = {"v": 1, "id": "blink-1", "cmd": "identify", "args": {"seconds": 1}}
    publisher.publish(topic("btn-01", "cmd"), orjson.dumps(cmd), qos=1).wait_for_publish(5)
    wait_until(lambda: "blink-1" in (db_rows(db, "SELECT status FROM devices")[0][0] or ""), 20, "last_cmd")
    time.sleep(1.5)
    lit = {pin for pin, level in _led_lines(device) if level == 1}
    assert lit == {11, 12, 13, 14, 15}, "every LED (unix pin map 11-15) blinked"
    assert _led_lines(device)[-1][1] == 0
    publisher.loop_stop()
    publisher.disconnect()
    device.stop()


def test_a_press_lights_its_own_led_as_thanks(hub, console):
    device = _start_logging_leds(console(lockout_ms=0))
    device.press(3)
    wait_until(lambda: len(events(hub.settings.db_path)) == 1, 20, "the press")
    time.sleep(1)
    assert {pin for pin, level in _led_lines(device) if level == 1} == {13}
    device.stop()


def test_maintenance_gesture_shows_the_status_on_the_leds(hub, console):
    device = _start_logging_leds(console(lockout_ms=0))
    db = hub.settings.db_path
    wait_until(lambda: db_rows(db, "SELECT state FROM devices") == [("online",)], 20, "the console online")
    with open(device.pins, "a") as fh:  # hold the leftmost and rightmost buttons for 3.5 s
        fh.write("+0 1 0\n+0 5 0\n+3500 1 1\n+3500 5 1\n")
    time.sleep(4.5)
    # LED 3 (pin 13) lights only for the status display: outbox empty; with LED 2 (broker) and 1 (Wi-Fi)
    lit = {pin for pin, level in _led_lines(device) if level == 1}
    assert {11, 12, 13} <= lit
    device.stop()


def test_repeated_crash_boots_enter_safe_mode_and_a_new_config_brings_it_back(hub, broker, console):
    device = console(lockout_ms=0, safe_mode_after=3)
    db = hub.settings.db_path
    device.start()
    wait_until(lambda: db_rows(db, "SELECT boot FROM devices") == [(1,)], 20, "boot 1 up")
    for boot in (2, 3, 4):  # three boots after a watchdog reset: three crashes in a row
        device.kill()
        device.restart(WDT_RESET)
        wait_until(lambda b=boot: db_rows(db, "SELECT boot FROM devices") == [(b,)], 20, f"boot {boot} up")

    def in_safe_mode():
        rows = db_rows(db, "SELECT status FROM devices")
        return bool(rows and rows[0][0] and json.loads(rows[0][0]).get("safe_mode"))

    wait_until(in_safe_mode, 20, f"a status saying safe mode; log:\n{device.log()}")
    device.press(1)
    wait_until(lambda: len(events(db)) == 1, 20, "in safe mode presses are still recorded and sent")
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="cfg2", protocol=paho.MQTTv311)
    publisher.username_pw_set(*broker.hub_creds)
    publisher.connect("127.0.0.1", broker.hub_port)
    publisher.loop_start()
    config = {"v": 1, "device": "btn-01", "rev": 5, "lockout_ms": 0}
    publisher.publish(topic("btn-01", "config"), orjson.dumps(config), qos=1, retain=True).wait_for_publish(5)
    assert device.proc.wait(20) == RESET_EXIT, (
        "a new config resets the device (the stub's machine.reset exits 99)"
    )
    device.restart(HARD_RESET)  # a planned reset: not a crash
    wait_until(lambda: not in_safe_mode() and db_rows(db, "SELECT boot FROM devices") == [(5,)], 20, "boot 5")
    device.press(2)
    wait_until(lambda: len(events(db)) == 2, 20, f"a press after leaving safe mode; log:\n{device.log()}")
    publisher.loop_stop()
    publisher.disconnect()
