"""What offices do to consoles, on the real firmware (MicroPython Unix port), the real Mosquitto
and the real hub: power flickers, a wiped flash, a crashing or hanging app, a late Wi-Fi, boards
without a button wake. Only the hardware edge is stubbed (pins, resets, the watchdog's reset,
the ADC, the Wi-Fi link: firmware/stubs/); app bugs are injected into a copy of console.py.
"""

from __future__ import annotations

import json
import time

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.firmware.consoles import (
    HARD_RESET,
    RESET_EXIT,
    WDT_RESET,
    Tap,
    events,
    fake_ntptime,
    faulty_console,
    latest_status,
)
from tests.helpers import db_rows, topic, wait_until


def _online(db, boot=None):
    def check():
        status = latest_status(db)
        return status.get("state") == "online" and (boot is None or status.get("boot") == boot)

    return check


def test_power_cuts_and_flickers_never_put_a_console_into_safe_mode(hub, console):
    device = console(lockout_ms=0, safe_mode_after=3)
    db = hub.settings.db_path
    for boot in range(1, 6):  # five power cuts within seconds of the start (a flickering supply)
        device.start()
        wait_until(_online(db, boot), 20, f"boot {boot} online; log:\n{device.log()}")
        device.kill()
    device.start()
    wait_until(_online(db, 6), 20, "the sixth boot online")
    status = latest_status(db)
    assert status["safe_mode"] is False and status["crash_boots"] == 0
    assert status["reset_cause"] == "power_on" and "last_crash" not in status
    device.press(2)
    wait_until(lambda: len(events(db)) == 1, 20, f"the press after five power cuts; log:\n{device.log()}")


def test_a_wiped_flash_under_the_same_id_loses_no_press(hub, console):
    device = console(lockout_ms=0)
    db = hub.settings.db_path
    device.start()
    for button in (1, 2, 3):
        device.press(button)
    wait_until(lambda: len(events(db)) == 3, 20, "three presses of the first incarnation")
    time.sleep(1)  # their acks reach the console
    device.kill()
    for path in device.flash.iterdir():  # esptool erase_flash, then the same device.json again
        if path.name != "device.json":
            path.unlink()
    device.start()  # boot 1 again, seq 1 again: only the incarnation differs
    for button in (4, 5, 1):
        device.press(button)
    wait_until(lambda: len(events(db)) == 6, 20, f"every press of the new incarnation; log:\n{device.log()}")
    rows = db_rows(db, "SELECT inc, boot, seq, json_extract(payload, '$.button') FROM events ORDER BY id")
    first, second = {r[0] for r in rows[:3]}, {r[0] for r in rows[3:]}
    assert len(first) == len(second) == 1 and first != second
    assert [(b, s, btn) for _, b, s, btn in rows] == [
        (1, 1, 1),
        (1, 2, 2),
        (1, 3, 3),
        (1, 1, 4),
        (1, 2, 5),
        (1, 3, 1),
    ]
    time.sleep(1.5)
    assert latest_status(db)["outbox"] == 0, "the hub's acks reached the new incarnation"


def test_an_ack_for_another_incarnation_never_empties_the_outbox(make_hub, broker, console):
    device = console(lockout_ms=0)
    device.start()  # no hub yet: the presses wait in the outbox
    device.press(1)
    device.press(2)
    time.sleep(1)
    # an ack queued for this device id before its flash was wiped names boot 1, seqs 1-2
    stale = paho.Client(CallbackAPIVersion.VERSION2, client_id="stale-ack", protocol=paho.MQTTv311)
    stale.username_pw_set(*broker.hub_creds)
    stale.connect("127.0.0.1", broker.hub_port)
    stale.loop_start()
    body = {"v": 1, "device": "btn-01", "inc": 12345, "boot": 1, "seqs": [1, 2]}
    stale.publish(topic("btn-01", "ack"), orjson.dumps(body), qos=1).wait_for_publish(5)
    legacy = {"v": 1, "device": "btn-01", "boot": 1, "seqs": [1, 2]}  # an ack from a hub before inc
    stale.publish(topic("btn-01", "ack"), orjson.dumps(legacy), qos=1).wait_for_publish(5)
    time.sleep(1)
    stale.loop_stop()
    stale.disconnect()
    db = make_hub().settings.db_path
    wait_until(lambda: len(events(db)) == 2, 30, f"both presses, still in the outbox; log:\n{device.log()}")


def test_a_task_that_dies_is_reported_recorded_and_resets_the_console(hub, broker, console, tmp_path):
    tap = Tap(broker)
    app = faulty_console(tmp_path / "bug", "        if index == 4:\n            raise ValueError('bug on 4')")
    device = console(lockout_ms=0)
    db = hub.settings.db_path
    device.start(app=app)
    device.press(1)
    device.press(4)
    assert device.proc.wait(20) == RESET_EXIT, f"the console resets itself; log:\n{device.log()}"
    statuses = [json.loads(p) for t, p in tap.messages if t == topic("btn-01", "status")]
    assert any(s.get("dead_tasks") == ["app"] for s in statuses), "a status said which task died"
    device.restart(HARD_RESET, app=app)  # machine.reset() on the esp32 port
    wait_until(_online(db, 2), 20, "the next boot")
    status = latest_status(db)
    assert (
        status["crash_boots"] == 1 and "ValueError" in status["last_crash"] and "app" in status["last_crash"]
    )
    wait_until(lambda: len(events(db)) == 2, 20, "both presses, the fatal one too: it was recorded first")
    tap.close()


def test_three_crashes_enter_safe_mode_which_records_presses_and_ends_by_itself(hub, console, tmp_path):
    app = faulty_console(tmp_path / "bug", "        if index == 4:\n            raise ValueError('bug on 4')")
    device = console(lockout_ms=0, safe_mode_after=3, safe_mode_s=6)
    db = hub.settings.db_path
    device.start(app=app)
    for _ in range(3):
        device.press(4)
        assert device.proc.wait(20) == RESET_EXIT, device.log()
        device.restart(HARD_RESET, app=app)
    wait_until(lambda: latest_status(db).get("safe_mode") is True, 20, f"safe mode; log:\n{device.log()}")
    status = latest_status(db)
    assert status["crash_boots"] == 3 and "bug on 4" in status["last_crash"]
    for button in (4, 2):  # the app is not running, but presses are still recorded
        device.press(button)
    wait_until(lambda: len(events(db)) == 5, 20, f"the presses made in safe mode; log:\n{device.log()}")
    assert [btn for _, _, btn, _, _, _ in events(db)][-2:] == [4, 2]
    assert device.proc.wait(20) == RESET_EXIT, "safe mode ends by itself after safe_mode_s"
    device.restart(HARD_RESET)  # a planned reset: not a crash (the fixed app this time)
    wait_until(lambda: latest_status(db).get("boot") == 5, 20, "the boot after safe mode")
    assert latest_status(db)["safe_mode"] is False and latest_status(db)["crash_boots"] == 0
    device.press(4)
    wait_until(lambda: len(events(db)) == 6, 20, "a press in normal mode again")


def test_a_hung_loop_is_reset_by_the_watchdog(hub, console, tmp_path):
    app = faulty_console(
        tmp_path / "hang", "        if index == 3:\n            while True:\n                pass"
    )
    device = console(lockout_ms=0, wdt_s=2)
    db = hub.settings.db_path
    device.start(app=app)
    wait_until(_online(db, 1), 20, "online")
    device.press(3)
    wait_until(lambda: device.proc.poll() is not None, 15, f"the watchdog's reset; log:\n{device.log()}")
    assert device.wdt_log.read_text().startswith("wdt 2000")
    device.restart(WDT_RESET)
    wait_until(_online(db, 2), 20, "the boot after the watchdog")
    status = latest_status(db)
    assert status["reset_cause"] == "wdt" and status["last_crash"] == "wdt" and status["crash_boots"] == 1
    wait_until(lambda: len(events(db)) == 1, 20, "the press recorded before the hang")


def test_a_broken_build_is_recorded_by_the_top_level_handler(hub, console, tmp_path):
    broken = faulty_console(tmp_path / "broken", "")
    (broken / "console.py").write_text("raise ImportError('broken build')\n")
    device = console(lockout_ms=0)
    device.start(app=broken)
    assert device.proc.wait(20) == RESET_EXIT, device.log()
    assert "broken build" in (device.flash / "last_exit").read_text()
    device.restart(HARD_RESET)
    db = hub.settings.db_path
    wait_until(_online(db), 20, "the next boot")
    assert "broken build" in latest_status(db)["last_crash"]


def _command(broker, name, cmd):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv311)
    client.username_pw_set(*broker.hub_creds)
    client.connect("127.0.0.1", broker.hub_port)
    client.loop_start()
    client.publish(topic("btn-01", "cmd"), orjson.dumps(cmd), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_update_is_refused_as_unsupported_and_a_bad_identify_does_not_stick(hub, broker, console):
    device = console(lockout_ms=0).start()
    db = hub.settings.db_path
    wait_until(_online(db), 20, "online")
    update = {
        "v": 1,
        "id": "upd-1",
        "cmd": "update",
        "args": {"url": "http://hub/fw.bin", "sha256": "0" * 64},
    }
    _command(broker, "cmd-u", update)
    wait_until(lambda: latest_status(db).get("last_cmd") == "upd-1", 20, "the update command reported")
    assert "unsupported" in latest_status(db)["last_cmd_error"]
    # a hub bug sends a fraction of a second: the LEDs blink and stop (before: ticks_ms() + 1500.0
    # compared with ticks_diff never ended on a board, and a float broke the blink loop)
    _command(broker, "cmd-i", {"v": 1, "id": "blink-2", "cmd": "identify", "args": {"seconds": 1.5}})
    wait_until(lambda: latest_status(db).get("last_cmd") == "blink-2", 20, "identify reported")
    assert "last_cmd_error" not in latest_status(db)
    device.press(1)
    wait_until(lambda: len(events(db)) == 1, 20, "the console still works")


def test_the_battery_voltage_is_the_calibrated_reading(hub, console):
    # read_u16 would say 10000/65535 * 3.3 V * 2 = 1.0 V; read_uv (calibrated) says 1.9 V * 2
    device = console(lockout_ms=0).start({"OTK_ADC_20": "10000", "OTK_ADC_UV_20": "1900000"})
    db = hub.settings.db_path
    wait_until(_online(db), 20, f"online; log:\n{device.log()}")
    assert latest_status(db)["battery_mv"] == 3800


def test_an_esp32_c3_sleeps_on_gpio_wake(hub, console):
    device = console(lockout_ms=0, sleep_after_s=1).start({"OTK_ESP32_WAKE": "gpio"})
    device.press(2)
    wait_until(lambda: device.sleeps(), 20, f"deep sleep; log:\n{device.log()}")
    assert device.sleeps()[0][1] == "1,2,3,4,5", "every button armed through esp32.wake_on_gpio"
    assert len(events(hub.settings.db_path)) == 1


def test_a_deep_sleep_the_chip_refuses_leaves_the_console_connected_and_pressing(hub, console):
    # the C3 checks its wake pins only in machine.deepsleep(), after the console has said
    # "asleep" and left the broker: it must come back, say why, and go on sending presses
    device = console(lockout_ms=0, sleep_after_s=1)
    device.start({"OTK_ESP32_WAKE": "gpio", "OTK_ESP32_WAKE_GPIOS": "0,1,2"})
    db = hub.settings.db_path
    device.press(1)
    try:  # the press, the idle second, "asleep", the refused sleep and the new status: 40 s under load
        wait_until(lambda: "no_sleep" in latest_status(db), 40, "the refusal in the status")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; log:\n{device.log()}") from None
    assert "wake-up pin not supported" in latest_status(db)["no_sleep"]
    assert latest_status(db)["state"] == "online" and device.proc.poll() is None
    device.press(4)
    wait_until(lambda: len(events(db)) == 2, 20, f"a press after the refused sleep; log:\n{device.log()}")


def test_a_board_without_a_button_wake_stays_awake_and_says_why(hub, console):
    device = console(lockout_ms=0, sleep_after_s=1).start({"OTK_ESP32_WAKE": "none"})
    db = hub.settings.db_path
    wait_until(lambda: "no_sleep" in latest_status(db), 20, f"the reason in the status; log:\n{device.log()}")
    assert "wake_on_gpio" in latest_status(db)["no_sleep"]
    assert device.proc.poll() is None and device.sleeps() == []
    device.press(3)
    wait_until(lambda: len(events(db)) == 1, 20, "it works like a mains console")


def test_the_clock_is_set_as_soon_as_a_late_wifi_comes_up(hub, console, tmp_path):
    fake, calls = fake_ntptime(tmp_path)
    # the router is still starting after the power cut: Wi-Fi only after 2.5 s (before: the
    # first try found no Wi-Fi and the next came 60 s later)
    device = console(ntp_host="10.0.0.1").start({"OTK_WIFI_UP_MS": "2500"}, extra_path=(fake,))
    wait_until(calls.exists, 15, f"an NTP sync; log:\n{device.log()}")
    assert calls.read_text().split() == ["10.0.0.1"]


def test_a_battery_console_tries_ntp_before_its_first_sleep(hub, console, tmp_path):
    fake, calls = fake_ntptime(tmp_path)
    device = console(ntp_host="10.0.0.1", sleep_after_s=1, lockout_ms=0)
    device.start({"OTK_WIFI_UP_MS": "2500"}, extra_path=(fake,))
    wait_until(lambda: device.sleeps(), 30, f"deep sleep; log:\n{device.log()}")
    assert calls.exists(), "the clock was never set: NTP was tried before sleeping"


def test_a_full_flash_never_loses_a_press_or_ends_the_console(hub, console, tmp_path):
    import subprocess

    import pytest

    device = console(lockout_ms=0, heartbeat_s=2)
    keep = tmp_path / "device.json"
    keep.write_bytes((device.flash / "device.json").read_bytes())
    # a real file system that fills: a 64 KiB tmpfs as the console's flash (needs root, as CI has)
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(device.flash)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        (device.flash / "device.json").write_bytes(keep.read_bytes())
        device.start()
        db = hub.settings.db_path
        wait_until(_online(db, 1), 20, f"online; log:\n{device.log()}")
        filler = device.flash / "filler"
        try:  # take every free block
            with open(filler, "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        except OSError:
            pass
        for button in (1, 2, 3, 4, 5, 1, 2, 3):
            device.press(button)
        wait_until(lambda: len(events(db)) == 8, 30, f"every press, flash full or not; log:\n{device.log()}")
        wait_until(lambda: latest_status(db).get("flash_errors", 0) > 0, 15, "flash_errors in a heartbeat")
        assert device.proc.poll() is None, "the console runs on"
    finally:
        device.stop()
        subprocess.run(["umount", "-l", str(device.flash)], check=False)


def test_a_console_over_tls_to_a_hub_whose_broker_has_the_tls_listener(tmp_path):
    """The whole console with broker_ca in its device.json, against Mosquitto with the TLS
    listener of `edge-hub mosquitto-config --tls` and the hub behind it."""
    from edge_hub.app import Hub
    from edge_hub.config import load_settings
    from tests.firmware.consoles import Console
    from tests.firmware.test_tls_dns import TlsBroker
    from tests.helpers import SITE, free_port

    broker = TlsBroker(tmp_path / "broker", hosts=("127.0.0.1",)).start()
    user, password = broker.hub_creds
    hub = Hub(load_settings(
        site=SITE, mqtt_url=f"mqtt://127.0.0.1:{broker.port}", mqtt_username=user, mqtt_password=password,
        data_dir=tmp_path / "hub", listen=f"127.0.0.1:{free_port()}", batch_ms=20,
    ))  # fmt: skip
    hub.start()
    device = Console(
        tmp_path / "console",
        broker,
        lockout_ms=0,
        broker_port=broker.tls_port,
        broker_ca=str(broker.files.ca_der),
    )
    try:
        device.start()
        device.press(3)
        wait_until(
            lambda: len(events(hub.settings.db_path)) == 1, 30, f"the press over TLS; log:\n{device.log()}"
        )
        # its device.json names only the TLS port: nothing but TLS could have carried it
    finally:
        device.stop()
        hub.stop()
        broker.stop()
