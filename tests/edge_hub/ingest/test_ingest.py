"""Ingest through a real Mosquitto into real SQLite: stored once, acked end to end, bad input quarantined."""

from __future__ import annotations

import sqlite3
import time

import orjson
import pytest

import mqtt_schemas
from edge_hub.db.store import Store
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.ingestor import Ingestor
from edge_hub.transport.mqtt import BrokerAddress, Incoming
from tests.helpers import SITE, DeviceClient, db_rows, event_count, press, topic, wait_until


def test_press_is_stored_and_acked_end_to_end(hub, broker):
    device = DeviceClient(broker, "btn-01")
    for seq in range(1, 6):
        device.send(press("btn-01", boot=7, seq=seq, value=seq))
    device.wait_acked({(7, s) for s in range(1, 6)})
    rows = db_rows(
        hub.settings.db_path, "SELECT device, boot, seq, value, time_source FROM events ORDER BY seq"
    )
    assert rows == [("btn-01", 7, s, s, "device") for s in range(1, 6)]
    for ack in device.ack_messages:
        assert Contract(site=SITE).parse(topic("btn-01", "ack"), orjson.dumps(ack)).kind == "ack"
    device.close()


def test_same_event_twice_is_stored_once_and_acked_both_times(hub, broker):
    device = DeviceClient(broker, "btn-02")
    body = press("btn-02", boot=3, seq=42)
    device.send(body)
    device.wait_acked({(3, 42)})
    device.acked.clear()
    device.send(body)  # e.g. the ack was lost and the outbox resends
    device.wait_acked({(3, 42)})
    assert db_rows(hub.settings.db_path, "SELECT count(*) FROM events")[0][0] == 1
    assert hub.ingestor.stats.duplicates == 1
    device.close()


def test_unsynced_clock_recovers_press_time_from_uptime(hub, broker):
    device = DeviceClient(broker, "btn-03")
    # pressed at uptime 10 s, sent at uptime 70 s: the press was 60 s before the hub got it
    device.send(press("btn-03", seq=1, ts=None, up=10_000, sent_up=70_000))
    device.wait_acked({(1, 1)})
    ((ts, received, source),) = db_rows(
        hub.settings.db_path, "SELECT ts, received_at, time_source FROM events"
    )
    assert source == "uptime"
    assert received - ts == 60_000
    device.close()


def test_batch_commits_on_size_without_waiting_for_the_timer(make_hub, broker):
    hub = make_hub(batch_size=5, batch_ms=600_000)
    device = DeviceClient(broker, "btn-04")
    for seq in range(1, 5):
        device.send(press("btn-04", seq=seq))
    device.wait_published()
    time.sleep(1.0)
    assert event_count(hub.settings.db_path) == 0, "committed before the batch was full or the timer ran"
    device.send(press("btn-04", seq=5))
    wait_until(lambda: event_count(hub.settings.db_path) == 5, 10, "the full batch of 5")
    device.close()


def test_batch_commits_on_timer_when_traffic_is_light(make_hub, broker):
    hub = make_hub(batch_size=1000, batch_ms=100)
    device = DeviceClient(broker, "btn-05")
    device.send(press("btn-05", seq=1))
    wait_until(
        lambda: event_count(hub.settings.db_path) == 1, 10, "the lone event to be committed by the timer"
    )
    device.close()


def test_device_cannot_write_another_devices_topics(hub, broker):
    intruder = DeviceClient(broker, "btn-06")
    intruder.publish_raw(topic("btn-07", "event"), orjson.dumps(press("btn-07", seq=1)))
    intruder.send(press("btn-06", seq=1))
    intruder.wait_acked({(1, 1)})  # its own topic works, and the hub has processed up to here
    assert db_rows(hub.settings.db_path, "SELECT DISTINCT device FROM events") == [("btn-06",)]
    intruder.close()


def test_status_feeds_the_device_registry_and_the_will_marks_offline(hub, broker):
    will = orjson.dumps({"v": 1, "device": "btn-08", "state": "offline"})
    device = DeviceClient(broker, "btn-08", will=will)
    status = {
        "v": 1, "device": "btn-08", "state": "online", "kind": "button", "fw": "0.1.0", "hw": "esp32c3",
        "boot": 4, "up": 5000, "battery_mv": 2950, "rssi": -61, "heap_free": 81000,
        "reset_cause": "power_on", "outbox": 2, "drops": 0,
    }  # fmt: skip
    device.publish_raw(topic("btn-08", "status"), orjson.dumps(status), retain=True)
    db = hub.settings.db_path
    wait_until(
        lambda: db_rows(db, "SELECT state FROM devices WHERE device='btn-08'") == [("online",)], 10, "online"
    )
    device.drop()  # power cut: the broker publishes the will
    wait_until(
        lambda: db_rows(db, "SELECT state FROM devices WHERE device='btn-08'") == [("offline",)],
        60,
        "offline",
    )
    ((fw, battery, rssi, first, last),) = db_rows(
        db, "SELECT fw, battery_mv, rssi, first_seen, last_seen FROM devices WHERE device='btn-08'"
    )
    assert (fw, battery, rssi) == ("0.1.0", 2950, -61), "the will must not erase the last heartbeat"
    assert first <= last


def _invalid_examples():
    return [mqtt_schemas.load_example(p) for p in mqtt_schemas.examples("invalid")]


def test_every_invalid_example_is_quarantined_with_its_reason(tmp_path):
    """All invalid examples through the ingest batch code with a real store (no broker needed)."""
    store = Store.open(tmp_path / "q.db")
    ingestor = Ingestor(
        store, Contract(site=SITE), BrokerAddress("127.0.0.1", 1), site=SITE, client_id="t", batch_size=1000
    )
    examples = _invalid_examples()
    batch = [Incoming(t, raw, i + 1, 1, False, 1795000000000) for i, (t, raw, _) in enumerate(examples)]
    batch.append(Incoming(topic("btn-01", "event"), orjson.dumps(press()), 999, 1, False, 1795000000000))
    acks = ingestor.process(batch)
    assert acks == {("btn-01", 0, 1): [1]}  # (device, inc, boot): a press without inc is inc 0
    got = db_rows(tmp_path / "q.db", "SELECT topic, reason FROM quarantine ORDER BY id")
    assert got == [(t[:512], doc["expect"]) for t, _, doc in examples]
    assert event_count(tmp_path / "q.db") == 1
    (kept,) = db_rows(tmp_path / "q.db", "SELECT max(length(payload)) FROM quarantine")
    assert kept[0] <= 1024


@pytest.mark.parametrize("kind", ["event", "status"])
def test_invalid_messages_through_the_broker_do_not_stop_valid_traffic(hub, broker, kind):
    """Interleave every invalid example on a topic the hub subscribes to with valid events."""
    examples = [
        (t, raw, doc) for t, raw, doc in _invalid_examples()
        if t.startswith(f"otk/v1/{SITE}/") and t.endswith(f"/{kind}") and t.count("/") == 4
    ]  # fmt: skip
    assert len(examples) >= 5
    injector = DeviceClient(broker, "btn-09", user="_hub")
    device = DeviceClient(broker, "btn-10")
    for seq, (t, raw, _) in enumerate(examples, start=1):
        injector.publish_raw(t, raw)
        device.send(press("btn-10", seq=seq))
    device.wait_acked({(1, s) for s in range(1, len(examples) + 1)})
    db = hub.settings.db_path
    wait_until(lambda: len(db_rows(db, "SELECT id FROM quarantine")) == len(examples), 10, "all quarantined")
    assert sorted(r for (r,) in db_rows(db, "SELECT reason FROM quarantine")) == sorted(
        doc["expect"] for _, _, doc in examples
    )
    assert event_count(db) == len(examples)
    injector.close()
    device.close()


@pytest.mark.allow_logged_exceptions
def test_a_message_that_breaks_storage_is_quarantined_and_the_rest_stored(hub, broker):
    """A real SQLite trigger rejects seq 13, as a storage bug would: the batch is retried singly."""
    db = hub.settings.db_path
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.seq = 13 "
        "BEGIN SELECT RAISE(ABORT, 'poison'); END"
    )
    conn.commit()
    conn.close()
    device = DeviceClient(broker, "btn-11")
    for seq in range(1, 21):
        device.send(press("btn-11", seq=seq))
    device.wait_acked({(1, s) for s in range(1, 21) if s != 13})
    assert sorted(s for (s,) in db_rows(db, "SELECT seq FROM events")) == [s for s in range(1, 21) if s != 13]
    ((reason, detail),) = db_rows(db, "SELECT reason, detail FROM quarantine")
    assert reason == "internal" and "poison" in detail
    device.close()


@pytest.mark.allow_logged_exceptions
def test_a_locked_database_loses_nothing(make_hub, broker):
    """The database stays locked past the busy timeout: the batch is redelivered and stored later."""
    hub = make_hub()
    db = hub.settings.db_path
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    device = DeviceClient(broker, "btn-12")
    for seq in range(1, 11):
        device.send(press("btn-12", seq=seq))
    wait_until(lambda: hub.ingestor.stats.commit_errors >= 1, 20, "the commit to fail on the lock")
    locker.execute("ROLLBACK")
    locker.close()
    device.wait_acked({(1, s) for s in range(1, 11)}, timeout=30)
    assert sorted(s for (s,) in db_rows(db, "SELECT seq FROM events")) == list(range(1, 11))
    device.close()
