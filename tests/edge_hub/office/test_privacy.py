"""A survey visitor's callback phone number (edge_hub/office/privacy.py), through the real ingest
path into real SQLite: kept in the stored event while the office may call back, deleted from it
after ``phone_keep_days``; a quarantined message that held one loses its raw payload at the same
age; only rows that arrived since the last round are looked at."""

from __future__ import annotations

import orjson

from edge_hub.office import privacy
from tests.helpers import FedHub, topic

DAY = 86_400_000
T0 = 1_795_000_000_000
CALL_ME = {"session": "a1b2", "callback": True, "consent": True, "phone": "+79161234567"}


def _payload(hub: FedHub, event_id: int) -> dict:
    (raw,) = hub.conn.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
    return orjson.loads(raw)


def test_a_phone_number_is_kept_for_the_call_back_then_forgotten(tmp_path):
    hub = FedHub(tmp_path / "hub.db")
    try:
        hub.press(T0, 1, device="kiosk-01", **CALL_ME)
        later = {**CALL_ME, "session": "c3d4", "phone": "88005553535"}
        hub.press(T0 + 10 * DAY, 2, device="kiosk-01", **later)
        # a phone without consent breaks the contract: quarantined, its raw payload kept for now
        bad = {"v": 1, "type": "press", "device": "kiosk-01", "boot": 1, "seq": 99, "up": 5, "value": 1,
               "session": "e5f6", "callback": True, "phone": "+79990000000"}  # fmt: skip
        hub.send(topic("kiosk-01", "event"), bad, T0 + DAY)
        first, second = (r[0] for r in hub.conn.execute("SELECT id FROM events ORDER BY id"))
        assert privacy.phone_of(hub.conn, first) == "+79161234567"
        (detail,) = hub.conn.execute("SELECT detail FROM quarantine").fetchone()
        assert "79990000000" not in detail  # never repeated in the reason

        assert privacy.forget_phones(hub.conn, T0 + 29 * DAY, 30) == 0  # not yet
        assert privacy.forget_phones(hub.conn, T0 + 31 * DAY + 1, 30) == 2  # the first and the quarantined
        assert privacy.phone_of(hub.conn, first) is None
        kept = _payload(hub, first)
        assert "phone" not in kept and kept["callback"] is True and kept["value"] == 1  # the rest stays
        assert privacy.phone_of(hub.conn, second) == "88005553535"  # 10 days younger
        (payload, detail) = hub.conn.execute("SELECT payload, detail FROM quarantine").fetchone()
        assert payload is None and "phone number" in detail
        assert privacy.forget_phones(hub.conn, T0 + 41 * DAY, 30) == 1
        assert privacy.phone_of(hub.conn, second) is None
        assert hub.conn.execute("SELECT count(*) FROM phone_holders").fetchone() == (0,)
        stored = "".join(r[0] for r in hub.conn.execute("SELECT payload FROM events"))
        assert "7916" not in stored and "8800" not in stored
    finally:
        hub.close()


def test_each_round_looks_only_at_new_rows(tmp_path):
    hub = FedHub(tmp_path / "hub.db")
    try:
        hub.press(T0, 5, device="btn-01")
        privacy.forget_phones(hub.conn, T0, 30)
        sql = "SELECT value FROM meta WHERE key = 'privacy.events_after_id'"
        (cursor,) = hub.conn.execute(sql).fetchone()
        assert int(cursor) == 1
        hub.press(T0 + 1, 1, device="kiosk-01", **CALL_ME)
        privacy.forget_phones(hub.conn, T0 + 2, 30)
        assert hub.conn.execute("SELECT tbl, row_id FROM phone_holders").fetchall() == [("events", 2)]
    finally:
        hub.close()
