"""Personal data the hub holds, and when it forgets it: a survey visitor's callback phone number.

A terminal sends a phone number only after the visitor accepted its consent screen, and only to
the hub (the central server gets aggregates, never an event). The number is kept in the stored
event so the office can call back (the critic alert's card shows it), and deleted from it
``OfficeSettings.phone_keep_days`` after it arrived (30 by default); a quarantined message that
carried one loses its raw payload at the same age. See edge_hub/PRIVACY.md.

:func:`forget_phones` runs on the hub's housekeeping round (edge_hub/app.py). It never scans the
whole events table: each round looks only at rows that arrived since the last round (a cursor in
``meta``) and remembers the ones holding a number in ``phone_holders``, so the deletion later
touches exactly those rows.
"""

from __future__ import annotations

import sqlite3

from edge_hub.db.tx import immediate as _write

DAY_MS = 86_400_000
_EVENTS_CURSOR = "privacy.events_after_id"
_QUARANTINE_CURSOR = "privacy.quarantine_after_id"


def _cursor(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


def _set(conn: sqlite3.Connection, key: str, value: int) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, str(value)),
    )


def forget_phones(conn: sqlite3.Connection, now_ms: int, keep_days: int) -> int:
    """Remember the rows that arrived since the last round holding a phone number, and delete
    the numbers older than ``keep_days``; returns how many rows lost one."""
    cutoff = now_ms - keep_days * DAY_MS
    with _write(conn):
        after = _cursor(conn, _EVENTS_CURSOR)
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        conn.execute(
            "INSERT OR IGNORE INTO phone_holders (tbl, row_id, received_at) SELECT 'events', id, received_at "
            "FROM events WHERE id > ? AND id <= ? AND type = 'press' "
            "AND json_extract(payload, '$.phone') IS NOT NULL",
            (after, top),
        )
        _set(conn, _EVENTS_CURSOR, top)
        after = _cursor(conn, _QUARANTINE_CURSOR)
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM quarantine").fetchone()
        conn.execute(
            "INSERT OR IGNORE INTO phone_holders (tbl, row_id, received_at) SELECT 'quarantine', id, "
            "received_at FROM quarantine WHERE id > ? AND id <= ? "
            "AND instr(payload, CAST('\"phone\"' AS BLOB)) > 0",
            (after, top),
        )
        _set(conn, _QUARANTINE_CURSOR, top)
        due = conn.execute(
            "SELECT tbl, row_id FROM phone_holders WHERE received_at < ?", (cutoff,)
        ).fetchall()
        for tbl, row_id in due:
            if tbl == "events":
                conn.execute(
                    "UPDATE events SET payload = json_remove(payload, '$.phone') WHERE id = ?", (row_id,)
                )
            else:
                conn.execute(
                    "UPDATE quarantine SET payload = NULL, detail = detail || ' (payload deleted: it held a "
                    "phone number)' WHERE id = ?",
                    (row_id,),
                )
        conn.execute("DELETE FROM phone_holders WHERE received_at < ?", (cutoff,))
    return len(due)


def phone_of(conn: sqlite3.Connection, event_id: int) -> str | None:
    """The callback number an event still holds (None once forgotten, or never given)."""
    sql = "SELECT json_extract(payload, '$.phone') FROM events WHERE id = ?"
    row = conn.execute(sql, (event_id,)).fetchone()
    return row[0] if row and isinstance(row[0], str) else None
