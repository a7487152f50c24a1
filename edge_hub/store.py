"""SQLite storage: the only module that touches the database (through sqlite-utils).

One writer (the ingest thread) commits batches; readers (the API) open their own
read-only connections, which WAL mode lets run beside the writer.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database

from edge_hub import aggregates

_LOGGER = logging.getLogger(__name__)

QUARANTINE_KEEP_BYTES = 1024
BUSY_TIMEOUT_MS = 5000

EVENT_COLUMNS = (
    "device", "boot", "seq", "type", "question", "value", "repeat",
    "ts", "time_source", "device_ts", "up", "received_at", "payload",
)  # fmt: skip
STATUS_COLUMNS = (
    "state", "kind", "fw", "hw", "boot", "up", "battery_mv", "rssi", "heap_free",
    "reset_cause", "outbox", "drops", "safe_mode", "config_rev",
)  # fmt: skip

_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
_INSERT_QUARANTINE = (
    "INSERT INTO quarantine (received_at, topic, reason, detail, payload, size) VALUES (?, ?, ?, ?, ?, ?)"
)
_SEEN = (
    "INSERT INTO devices (device, first_seen, last_seen) VALUES (?, ?, ?) "
    "ON CONFLICT(device) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)"
)
# An offline will carries no heartbeat fields: keep the last known ones.
_STATUS = (
    f"INSERT INTO devices (device, {', '.join(STATUS_COLUMNS)}, status, first_seen, last_seen, "
    f"last_status_at, state_since) VALUES (?, {', '.join('?' * len(STATUS_COLUMNS))}, ?, ?, ?, ?, ?) "
    "ON CONFLICT(device) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {c})" for c in STATUS_COLUMNS)
    + ", status = CASE WHEN excluded.state = 'offline' THEN status ELSE excluded.status END"
    ", last_seen = max(last_seen, excluded.last_seen), last_status_at = excluded.last_status_at"
    ", state_since = CASE WHEN state IS excluded.state THEN state_since ELSE excluded.state_since END"
)
_STATUS_REPLAYED = _STATUS.split(" ON CONFLICT")[0].replace("INSERT INTO", "INSERT OR IGNORE INTO")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing and the cursor of the next one (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class Store:
    """The hub database. Build with :meth:`open` (writer) or :meth:`reader`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) the database for writing, in WAL mode."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Built on one thread, then used only by the ingest thread: the single writer.
        store = cls(Database(sqlite3.connect(path, check_same_thread=False)))
        store.db.enable_wal()
        store.conn.execute("PRAGMA synchronous = NORMAL")
        store._migrate()
        return store

    @classmethod
    def writer(cls, path: str | Path) -> Store:
        """A read-write connection to an existing database (API edits beside the ingest writer)."""
        conn = sqlite3.connect(f"file:{Path(path)}?mode=rw", uri=True, check_same_thread=False)
        return cls(Database(conn))

    @classmethod
    def reader(cls, path: str | Path) -> Store:
        """A read-only connection for queries beside the writer."""
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False)
        return cls(Database(conn))

    def close(self) -> None:
        self.conn.close()

    def _migrate(self) -> None:
        db = self.db
        db["events"].create(
            {
                "id": int, "device": str, "boot": int, "seq": int, "type": str, "question": str,
                "value": int, "repeat": int, "ts": int, "time_source": str, "device_ts": int,
                "up": int, "received_at": int, "payload": str,
            },
            pk="id",
            not_null=["device", "boot", "seq", "type", "ts", "received_at", "payload"],
            if_not_exists=True,
        )  # fmt: skip
        db["events"].create_index(["device", "boot", "seq"], unique=True, if_not_exists=True)
        db["events"].create_index(["ts"], if_not_exists=True)
        db["quarantine"].create(
            {"id": int, "received_at": int, "topic": str, "reason": str, "detail": str,
             "payload": bytes, "size": int},
            pk="id",
            not_null=["received_at", "topic", "reason"],
            if_not_exists=True,
        )  # fmt: skip
        db["devices"].create(
            {
                "device": str, "state": str, "kind": str, "fw": str, "hw": str, "boot": int,
                "up": int, "battery_mv": int, "rssi": int, "heap_free": int, "reset_cause": str,
                "outbox": int, "drops": int, "safe_mode": int, "config_rev": int, "status": str,
                "first_seen": int, "last_seen": int, "last_status_at": int, "state_since": int,
            },
            pk="device",
            if_not_exists=True,
        )  # fmt: skip
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        self._migrate_office()
        from edge_hub import alerts, sync  # their own tables
        from hub_ui import auth as ui_auth  # the office page's accounts, sessions and audit log

        sync.migrate(db)
        alerts.migrate(db)
        ui_auth.migrate(db)
        self.conn.commit()

    def _migrate_office(self) -> None:
        """The office's scopes, attribution and aggregates (the metrics engine)."""
        db = self.db
        # events: the window and the operator on shift at the press, and a trust flag (NULL = trusted)
        for table, columns in (("events", ("window", "operator", "flag")), ("devices", ("window",))):
            existing = db[table].columns_dict
            for column in columns:
                if column not in existing:
                    db[table].add_column(column, str)
        db["events"].create_index(["device", "ts"], if_not_exists=True)
        db["office_settings"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        db["departments"].create({"id": str, "name": str}, pk="id", if_not_exists=True)
        db["windows"].create({"id": str, "department": str, "name": str}, pk="id", if_not_exists=True)
        db["operators"].create({"id": str, "name": str}, pk="id", if_not_exists=True)
        db["shifts"].create(
            {"id": int, "operator": str, "window": str, "start_ms": int, "end_ms": int},
            pk="id", not_null=["operator", "window", "start_ms", "end_ms"], if_not_exists=True,
        )  # fmt: skip
        db["shifts"].create_index(["window", "start_ms"], if_not_exists=True)
        # served clients per local day, for the whole office (window "") or one window
        db["served"].create(
            {"day": str, "window": str, "count": int, "source": str},
            pk=("day", "window"), not_null=["count"], if_not_exists=True,
        )  # fmt: skip
        # hourly mergeable histograms: see edge_hub/aggregates.py
        db["aggregates"].create(
            {
                "key": str, "hour": int, "device": str, "question": str, "window": str, "operator": str,
                "kind": str, "counts": str, "flagged": str, "n": int, "revision": int, "seq": int,
            },
            pk="key", not_null=["hour", "device", "kind", "counts", "n", "revision", "seq"],
            if_not_exists=True,
        )  # fmt: skip
        db["aggregates"].create_index(["seq"], unique=True, if_not_exists=True)
        db["aggregates"].create_index(["hour"], if_not_exists=True)
        if db["meta"].count_where("key = 'hub_id'") == 0:
            db["meta"].insert({"key": "hub_id", "value": str(uuid.uuid4())})

    # --- the writer -------------------------------------------------------------------------

    def commit_batch(
        self,
        events: Sequence[tuple],
        quarantine: Sequence[tuple] = (),
        statuses: Sequence[tuple] = (),
        seen: Iterable[tuple[str, int, int]] = (),
        replayed: Sequence[tuple] = (),
    ) -> int:
        """Store one ingest batch in one transaction; return how many events were new.

        ``events`` rows follow :data:`EVENT_COLUMNS`; an event already stored (same device,
        boot and seq) is ignored, so a redelivered message is harmless. ``quarantine`` rows
        are (received_at, topic, reason, detail, raw payload, size); ``statuses`` rows come
        from :func:`status_row`; ``seen`` rows are (device, first_seen, last_seen);
        ``replayed`` status rows (retained copies) only add devices not known yet.
        """
        conn = self.conn
        before = conn.total_changes
        with conn:
            if events:
                (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
                conn.executemany(_INSERT_EVENT, events)
            inserted = conn.total_changes - before
            if inserted:
                # the new events' window, operator, trust flag and hourly buckets, in the same commit
                aggregates.apply(conn, last_id)
            if quarantine:
                conn.executemany(_INSERT_QUARANTINE, quarantine)
            if statuses:
                conn.executemany(_STATUS, statuses)
            if replayed:
                conn.executemany(_STATUS_REPLAYED, replayed)
            conn.executemany(_SEEN, seen)
        return inserted

    # --- readers ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine),"
            " (SELECT count(*) FROM devices)"
        ).fetchone()
        return {"events": row[0], "quarantine": row[1], "devices": row[2]}

    def events(
        self,
        *,
        device: str | None = None,
        type_: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        cursor: int | None = None,
        limit: int = 100,
        flagged: bool | None = None,
    ) -> Page:
        """Events newest first (by arrival), filtered by device, type, event time [since, until)
        and trust (flagged True: only flagged presses, False: only trusted events)."""
        where: list[str] = [] if flagged is None else ["flag IS NOT NULL" if flagged else "flag IS NULL"]
        args: list[Any] = []
        for clause, value in (
            ("device = ?", device),
            ("type = ?", type_),
            ("ts >= ?", since_ms),
            ("ts < ?", until_ms),
            ("id < ?", cursor),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        rows = list(self.db.query(f"{sql} ORDER BY id DESC LIMIT ?", [*args, limit + 1]))
        for row in rows:
            row["repeat"] = bool(row["repeat"])
            row["payload"] = orjson.loads(row["payload"])
        return _page(rows, limit)

    def quarantine(self, *, reason: str | None = None, cursor: int | None = None, limit: int = 100) -> Page:
        where, args = [], []
        if reason is not None:
            where.append("reason = ?")
            args.append(reason)
        if cursor is not None:
            where.append("id < ?")
            args.append(cursor)
        sql = "SELECT * FROM quarantine" + (" WHERE " + " AND ".join(where) if where else "")
        rows = list(self.db.query(f"{sql} ORDER BY id DESC LIMIT ?", [*args, limit + 1]))
        for row in rows:
            raw = row.pop("payload") or b""
            row["payload_text"] = raw.decode("utf-8", errors="replace")
            row["payload_hex"] = raw.hex() if not _is_utf8(raw) else None
            row["truncated"] = row["size"] > len(raw)
        return _page(rows, limit)

    def devices(self) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT * FROM devices ORDER BY device"))
        for row in rows:
            row["status"] = orjson.loads(row["status"]) if row["status"] else None
            row["safe_mode"] = None if row["safe_mode"] is None else bool(row["safe_mode"])
        return rows


def writable_error(path: str | Path, timeout_s: float = 2.0) -> str | None:
    """None if a write transaction on the database can be opened now, else why not."""
    try:
        conn = sqlite3.connect(f"file:{Path(path)}?mode=rw", uri=True, timeout=timeout_s)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None


def status_row(device: str, body: dict[str, Any], raw: str, received_at: int) -> tuple:
    """The ``statuses`` row of :meth:`Store.commit_batch` for one status message."""
    values = [body.get(c) for c in STATUS_COLUMNS]
    return (device, *values, raw, received_at, received_at, received_at, received_at)


def quarantine_row(received_at: int, topic: str, reason: str, detail: str, payload: bytes) -> tuple:
    return (received_at, topic[:512], reason, detail, payload[:QUARANTINE_KEEP_BYTES], len(payload))


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _page(rows: list[dict[str, Any]], limit: int) -> Page:
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, str(rows[-1]["id"]))
    return Page(rows, None)
