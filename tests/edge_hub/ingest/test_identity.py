"""Incarnation ids: a reflashed device never loses presses, and an identity that repeats, goes
backwards or is reused is noticed (alerts identity_reset, identity_backwards, identity_conflict).
Also the safe_mode alert and the migration of a database made before incarnation ids.

Through a real Mosquitto where the ack matters, else through the real ingest path into a real
SQLite (FedHub), with :func:`alerts.evaluate` at an explicit time.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import orjson
import pytest

from edge_hub.alerts import lifecycle as alerts
from edge_hub.alerts import rules as alert_rules
from edge_hub.db.schema import EVENT_KEY
from edge_hub.db.store import Store
from edge_hub.ingest.contract import Contract
from edge_hub.transport.mqtt import Incoming
from tests import helpers
from tests.helpers import SITE, DeviceClient, FedHub, db_rows, topic, wait_until

MIN = 60_000
H = 60 * MIN
NOW = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)  # Monday 10:00 Moscow
INC = 2731590417  # a reflashed console's incarnation
OTHER_INC = 90210


def press(device: str = "btn-01", **fields) -> dict:
    """A press pressed at NOW unless told (an old press would make its device silent)."""
    return helpers.press(device, **{"ts": NOW, **fields})


class Hub(FedHub):
    def batch(self, *bodies: dict, at: int = NOW, retain: bool = False) -> dict:
        """Messages (events or statuses, by their fields) in one ingest batch; the acks owed."""
        items = []
        for body in bodies:
            kind = "event" if "type" in body else "status"
            raw = orjson.dumps(body)
            items.append(Incoming(topic(body["device"], kind), raw, next(self.mids), 1, retain, at))
        return self.ingestor.process(items)

    def heartbeat(self, device: str = "btn-01", at: int = NOW, retain: bool = False, **fields) -> None:
        body = {"v": 1, "device": device, "state": "online", "kind": "button", "up": 5000, **fields}
        self.batch(body, at=at, retain=retain)

    def alerts(self, kind: str | None = None, state: str | None = None) -> list[dict]:
        return alerts.list_alerts(self.conn, kind=kind, state=state)

    def quarantine(self) -> list[tuple]:
        return self.conn.execute("SELECT reason, topic, payload FROM quarantine ORDER BY id").fetchall()


@pytest.fixture
def hub_db(tmp_path) -> Hub:
    h = Hub(tmp_path / "hub.db")
    yield h
    h.close()


# --- the key and the ack, through a real broker -----------------------------------------------


def test_a_reflashed_device_repeating_boot_and_seq_is_stored_and_acked_per_incarnation(hub, broker):
    device = DeviceClient(broker, "btn-01")
    old = press("btn-01", boot=1, seq=1, value=1)  # firmware before incarnation ids: no inc
    device.send(old)
    device.wait_acked_ids({(0, 1, 1)})
    # the flash was wiped: the counter starts again at 1, under a new incarnation
    new = press("btn-01", boot=1, seq=1, value=5, inc=INC)
    device.send(new)
    device.wait_acked_ids({(INC, 1, 1)})
    rows = db_rows(hub.settings.db_path, "SELECT inc, boot, seq, value FROM events ORDER BY id")
    assert rows == [(0, 1, 1, 1), (INC, 1, 1, 5)], "both presses are stored"
    assert [(a["inc"], a["boot"], a["seqs"]) for a in device.ack_messages] == [(0, 1, [1]), (INC, 1, [1])]
    contract = Contract(site=SITE)
    for ack in device.ack_messages:
        assert contract.parse(topic("btn-01", "ack"), orjson.dumps(ack)).kind == "ack"
    assert hub.ingestor.stats.duplicates == 0
    assert db_rows(hub.settings.db_path, "SELECT count(*) FROM quarantine") == [(0,)]
    device.close()


def test_a_copy_with_the_same_content_is_still_a_duplicate_and_acked_with_its_inc(hub, broker):
    device = DeviceClient(broker, "btn-02")
    body = press("btn-02", boot=3, seq=7, inc=INC, sent_up=2000)
    device.send(body)
    device.wait_acked_ids({(INC, 3, 7)})
    device.acked_ids.clear()
    device.send({**body, "sent_up": 9000})  # the outbox resends later: only sent_up differs
    device.wait_acked_ids({(INC, 3, 7)})
    assert db_rows(hub.settings.db_path, "SELECT count(*) FROM events") == [(1,)]
    assert db_rows(hub.settings.db_path, "SELECT count(*) FROM quarantine") == [(0,)]
    wait_until(lambda: hub.ingestor.stats.duplicates == 1, 5, "the copy counted as a duplicate")
    assert hub.ingestor.stats.identity_conflicts == 0
    device.close()


# --- duplicates and conflicts -----------------------------------------------------------------


def test_a_legacy_event_is_inc_0_and_stating_inc_0_is_the_same_identity(hub_db):
    acks = hub_db.batch(press(boot=4, seq=1))
    assert acks == {("btn-01", 0, 4): [1]}
    acks = hub_db.batch(press(boot=4, seq=1, inc=0))  # the same event, inc now spelled out
    assert acks == {("btn-01", 0, 4): [1]}
    assert hub_db.conn.execute("SELECT inc, boot, seq FROM events").fetchall() == [(0, 4, 1)]
    assert hub_db.ingestor.stats.duplicates == 1 and hub_db.quarantine() == []


def test_a_stored_key_with_other_content_is_quarantined_as_an_identity_conflict_and_alerted(hub_db):
    first = press(boot=2, seq=5, value=5, ts=NOW - H)
    hub_db.batch(first)
    # a cloned flash image: the same identity, another press
    clone = press(boot=2, seq=5, value=1, ts=NOW)
    acks = hub_db.batch(clone, press(boot=2, seq=6, ts=NOW))
    assert acks == {("btn-01", 0, 2): [5, 6]}, "the conflict is acked too: it is kept, not lost"
    assert [orjson.loads(p)["value"] for (p,) in hub_db.conn.execute("SELECT payload FROM events")] == [5, 5]
    ((reason, where, payload),) = hub_db.quarantine()
    assert (reason, where) == ("identity_conflict", topic("btn-01", "event"))
    assert orjson.loads(payload) == clone
    (detail,) = hub_db.conn.execute("SELECT detail FROM quarantine").fetchone()
    assert "(btn-01, 0, 2, 5)" in detail and "ts" in detail and "value" in detail
    stats = hub_db.ingestor.stats
    assert (stats.duplicates, stats.identity_conflicts, stats.quarantined) == (0, 1, 1)

    (new,) = alert_rules.evaluate(hub_db.conn, NOW + MIN)
    (alert,) = hub_db.alerts(kind="identity_conflict")
    assert alert["id"] == new and alert["key"] == "identity_conflict:btn-01" and alert["device"] == "btn-01"
    assert (alert["detail"]["boot"], alert["detail"]["seq"]) == (2, 5)
    assert alert["detail"]["fields"] == ["ts", "value"]
    assert "seq 5" in alert["title_en"] and "quarantine" in alert["title_en"]
    assert "карантине" in alert["title_ru"]
    hub_db.batch({**clone, "value": 2})  # another one: the open alert covers it
    assert alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN) == []
    assert len(hub_db.quarantine()) == 2
    assert hub_db.alerts(kind="identity_conflict")[0]["state"] == "open", "it waits for a person"


def test_two_contents_for_one_key_in_one_batch(hub_db):
    acks = hub_db.batch(press(boot=1, seq=1, value=5), press(boot=1, seq=1, value=2))
    assert acks == {("btn-01", 0, 1): [1, 1]}
    assert hub_db.conn.execute("SELECT value FROM events").fetchall() == [(5,)]
    assert [r for r, _, _ in hub_db.quarantine()] == ["identity_conflict"]


def test_an_identical_copy_in_a_batch_with_new_events_is_a_duplicate(hub_db):
    hub_db.batch(press(boot=1, seq=1))
    hub_db.batch(press(boot=1, seq=1), press(boot=1, seq=2), press(boot=1, seq=2))
    assert hub_db.conn.execute("SELECT seq FROM events ORDER BY seq").fetchall() == [(1,), (2,)]
    assert hub_db.quarantine() == []
    assert (hub_db.ingestor.stats.duplicates, hub_db.ingestor.stats.identity_conflicts) == (2, 0)


# --- reset and backwards ----------------------------------------------------------------------


def _inc_of(hub_db: Hub, device: str = "btn-01"):
    return hub_db.conn.execute("SELECT inc FROM devices WHERE device = ?", (device,)).fetchone()[0]


def test_a_new_incarnation_raises_identity_reset_once_and_it_closes_after_a_day(hub_db):
    hub_db.heartbeat(boot=40)  # older firmware: inc 0, recorded silently
    hub_db.batch(press(boot=40, seq=1))
    assert _inc_of(hub_db) == 0 and alert_rules.evaluate(hub_db.conn, NOW) == []
    hub_db.heartbeat(boot=1, inc=INC, at=NOW + MIN)  # reflashed: a new identity
    assert _inc_of(hub_db) == INC
    (new,) = alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN)
    (alert,) = hub_db.alerts(kind="identity_reset")
    assert alert["id"] == new and alert["key"] == "identity_reset:btn-01"
    assert (alert["detail"]["prev_inc"], alert["detail"]["inc"], alert["detail"]["via"]) == (0, INC, "status")
    assert alert["title_en"].startswith("btn-01 was reflashed or replaced: a new identity")
    assert "its presses are stored under the new one" in alert["title_en"]
    assert alert["title_ru"].startswith("Устройство btn-01 перепрошито или заменено")
    # its presses go on under the new identity, and the old one's late events change nothing
    hub_db.batch(press(boot=1, seq=1, inc=INC), press(boot=40, seq=2), at=NOW + 3 * MIN)
    hub_db.heartbeat(boot=1, inc=INC, at=NOW + 4 * MIN)
    assert alert_rules.evaluate(hub_db.conn, NOW + 5 * MIN) == []
    assert len(hub_db.alerts()) == 1 and hub_db.conn.execute("SELECT count(*) FROM events").fetchone() == (3,)
    alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN + alert_rules.IDENTITY_RESET_KEEP_MS - 1)  # silent now
    assert hub_db.alerts(kind="identity_reset")[0]["state"] == "open"
    alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN + alert_rules.IDENTITY_RESET_KEEP_MS)
    (alert,) = hub_db.alerts(kind="identity_reset")
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "system")


def test_a_new_incarnation_seen_first_in_an_event_raises_identity_reset(hub_db):
    hub_db.batch(press(boot=7, seq=1, inc=OTHER_INC))
    hub_db.batch(press(boot=1, seq=1, inc=INC), at=NOW + MIN)  # a new board given the same id
    alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN)
    (alert,) = hub_db.alerts(kind="identity_reset")
    assert (alert["detail"]["prev_inc"], alert["detail"]["inc"], alert["detail"]["via"]) == (
        OTHER_INC, INC, "event",
    )  # fmt: skip
    assert _inc_of(hub_db) == INC


def test_a_first_device_and_a_will_raise_nothing(hub_db):
    hub_db.heartbeat(boot=1, inc=INC)
    hub_db.batch({"v": 1, "device": "btn-01", "state": "offline"}, at=NOW + MIN)  # its last will: no inc
    hub_db.heartbeat(device="btn-02", boot=9)
    assert alert_rules.evaluate(hub_db.conn, NOW + 2 * MIN) == []
    assert _inc_of(hub_db) == INC and _inc_of(hub_db, "btn-02") == 0


def test_a_lower_boot_under_the_same_incarnation_raises_identity_backwards(hub_db):
    hub_db.heartbeat(boot=7, inc=INC)
    hub_db.heartbeat(boot=8, inc=INC, at=NOW + MIN)  # a normal reboot
    hub_db.batch(press(boot=5, seq=3, inc=INC), at=NOW + MIN)  # an old boot's event from the outbox
    hub_db.heartbeat(boot=9, inc=INC, at=NOW + 2 * MIN, retain=True)  # a retained replay: old news
    assert alert_rules.evaluate(hub_db.conn, NOW + 3 * MIN) == []
    hub_db.heartbeat(boot=3, inc=INC, at=NOW + 4 * MIN)  # a restored identity file
    (new,) = alert_rules.evaluate(hub_db.conn, NOW + 5 * MIN)
    (alert,) = hub_db.alerts()
    assert alert["id"] == new and alert["kind"] == "identity_backwards"
    assert alert["key"] == "identity_backwards:btn-01"
    assert (alert["detail"]["prev_boot"], alert["detail"]["boot"], alert["detail"]["inc"]) == (8, 3, INC)
    assert "8 → 3" in alert["title_en"] and "8 → 3" in alert["title_ru"]
    hub_db.heartbeat(boot=3, inc=INC, at=NOW + 6 * MIN)  # the same boot again: nothing new
    hub_db.heartbeat(boot=4, inc=INC, at=NOW + 7 * MIN)
    assert alert_rules.evaluate(hub_db.conn, NOW + 8 * MIN) == []
    assert hub_db.alerts()[0]["state"] == "open", "a restored identity waits for a person"


# --- safe mode --------------------------------------------------------------------------------


def test_safe_mode_opens_with_the_crash_facts_and_resolves_when_the_device_leaves_it(hub_db):
    hub_db.heartbeat(boot=19, safe_mode=True, crash_boots=3, last_crash="task button: ValueError('pin')")
    hub_db.heartbeat(device="btn-02", boot=4, safe_mode=False, crash_boots=1, last_crash="wdt")
    (new,) = alert_rules.evaluate(hub_db.conn, NOW + MIN)
    (alert,) = hub_db.alerts()
    assert alert["id"] == new and (alert["kind"], alert["key"]) == ("safe_mode", "safe_mode:btn-01")
    assert alert["detail"] == {"crash_boots": 3, "last_crash": "task button: ValueError('pin')", "boot": 19}
    assert "3 crashed boots" in alert["title_en"] and "ValueError('pin')" in alert["title_en"]
    assert "3 сбоев подряд" in alert["title_ru"]
    hub_db.batch({"v": 1, "device": "btn-01", "state": "offline"}, at=NOW + 2 * MIN)  # the will keeps it
    assert alert_rules.evaluate(hub_db.conn, NOW + 3 * MIN) == [] and hub_db.alerts()[0]["state"] == "open"
    hub_db.heartbeat(boot=20, safe_mode=False, crash_boots=0, at=NOW + 4 * MIN)
    alert_rules.evaluate(hub_db.conn, NOW + 5 * MIN)
    (alert,) = hub_db.alerts()
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "system")


def test_safe_mode_without_crash_facts(hub_db):
    hub_db.heartbeat(boot=2, safe_mode=True)  # firmware that does not send crash_boots
    alert_rules.evaluate(hub_db.conn, NOW)
    (alert,) = hub_db.alerts()
    assert "repeated crashes" in alert["title_en"] and "повторных сбоев" in alert["title_ru"]


# --- the migration ----------------------------------------------------------------------------

#: the events table and its key as a hub made them before incarnation ids (sqlite-utils' DDL)
OLD_SCHEMA = """
CREATE TABLE "events" (
   "id" INTEGER PRIMARY KEY, "device" TEXT NOT NULL, "boot" INTEGER NOT NULL, "seq" INTEGER NOT NULL,
   "type" TEXT NOT NULL, "question" TEXT, "value" INTEGER, "repeat" INTEGER, "ts" INTEGER NOT NULL,
   "time_source" TEXT, "device_ts" INTEGER, "up" INTEGER, "received_at" INTEGER NOT NULL,
   "payload" TEXT NOT NULL, "window" TEXT, "operator" TEXT, "flag" TEXT);
CREATE UNIQUE INDEX "idx_events_device_boot_seq" ON "events" ("device", "boot", "seq");
CREATE INDEX "idx_events_ts" ON "events" ("ts");
CREATE INDEX "idx_events_device_ts" ON "events" ("device", "ts");
CREATE TABLE "devices" (
   "device" TEXT PRIMARY KEY, "state" TEXT, "kind" TEXT, "fw" TEXT, "hw" TEXT, "boot" INTEGER,
   "up" INTEGER, "battery_mv" INTEGER, "rssi" INTEGER, "heap_free" INTEGER, "reset_cause" TEXT,
   "outbox" INTEGER, "drops" INTEGER, "safe_mode" INTEGER, "config_rev" INTEGER, "status" TEXT,
   "first_seen" INTEGER, "last_seen" INTEGER, "last_status_at" INTEGER, "state_since" INTEGER,
   "window" TEXT);
"""


def _unique_keys(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    keys = []
    for _, name, unique, *_ in conn.execute("PRAGMA index_list(events)").fetchall():
        if unique:
            keys.append(tuple(c for (_, _, c) in conn.execute(f"PRAGMA index_info([{name}])").fetchall()))
    return keys


def test_a_database_from_before_incarnation_ids_is_migrated_and_keeps_its_events(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    for seq in (1, 2):
        body = press(boot=3, seq=seq, ts=NOW - H + seq)
        old.execute(
            "INSERT INTO events (device, boot, seq, type, question, value, repeat, ts, time_source, "
            "device_ts, up, received_at, payload) "
            "VALUES (?, 3, ?, 'press', 'csat', 5, 0, ?, 'device', ?, ?, ?, ?)",
            ("btn-01", seq, body["ts"], body["ts"], body["up"], body["ts"], orjson.dumps(body).decode()),
        )
    old.execute("INSERT INTO devices (device, boot, first_seen, last_seen) VALUES ('btn-01', 3, 1, 1)")
    old.commit()
    assert _unique_keys(old) == [("device", "boot", "seq")]
    old.close()

    hub_db = Hub(path)  # Store.open migrates
    try:
        assert _unique_keys(hub_db.conn) == [EVENT_KEY]
        assert hub_db.conn.execute("SELECT inc, boot, seq FROM events ORDER BY seq").fetchall() == [
            (0, 3, 1), (0, 3, 2),
        ]  # fmt: skip
        # the old events are inc 0: their redelivery is still a duplicate ...
        assert hub_db.batch(press(boot=3, seq=2, ts=NOW - H + 2)) == {("btn-01", 0, 3): [2]}
        assert hub_db.ingestor.stats.duplicates == 1
        # ... and a reflashed console's (boot 3, seq 2) under a new inc is stored
        hub_db.batch(press(boot=3, seq=2, inc=INC))
        pair = hub_db.conn.execute("SELECT inc FROM events WHERE boot = 3 AND seq = 2 ORDER BY id").fetchall()
        assert pair == [(0,), (INC,)]
        assert hub_db.quarantine() == []
    finally:
        hub_db.close()
    Store.open(path).close()  # migrating again is harmless
    conn = sqlite3.connect(path)
    assert _unique_keys(conn) == [EVENT_KEY]
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)
    conn.close()
