"""SQLite storage: the only module that touches the database (through sqlite-utils).

One writer (the ingest thread) commits batches; readers (the API) open their own
read-only connections, which WAL mode lets run beside the writer.

The quarantine is bounded: every ingest commit that quarantines something also deletes the
oldest rows beyond :data:`QUARANTINE_MAX_ROWS` or older than :data:`QUARANTINE_MAX_AGE_DAYS`
days, at most :data:`QUARANTINE_PRUNE_BATCH` more than it added (by primary key, no scan), in
the same transaction; the table only grows on those commits, so it never passes the bound for
long, and no commit does more than a small, bounded delete.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database

from edge_hub.ingest import identity
from edge_hub.metrics import aggregates

_LOGGER = logging.getLogger(__name__)

QUARANTINE_KEEP_BYTES = 1024
#: the quarantine keeps at most the newest this many rows ...
QUARANTINE_MAX_ROWS = 100_000
#: ... and none older than this many days (by ``received_at``)
QUARANTINE_MAX_AGE_DAYS = 90
#: rows pruned at most per ingest commit beyond the ones it adds, so a backlog (an old hub's
#: table) goes away over many commits instead of blocking one
QUARANTINE_PRUNE_BATCH = 1000
BUSY_TIMEOUT_MS = 5000

#: An events row of :meth:`Store.commit`. ``inc`` comes last so that rows built without it (13
#: columns, e.g. bench/metrics.py) still load, as inc 0.
EVENT_COLUMNS = (
    "device", "boot", "seq", "type", "question", "value", "repeat",
    "ts", "time_source", "device_ts", "up", "received_at", "payload", "inc",
)  # fmt: skip
#: the unique key of an event: a copy with the same key is ignored (or, with other content,
#: quarantined as an identity conflict)
EVENT_KEY = ("device", "inc", "boot", "seq")
_KEY_BEFORE_INC = ("device", "boot", "seq")
STATUS_COLUMNS = (
    "state", "kind", "fw", "hw", "boot", "up", "battery_mv", "rssi", "heap_free",
    "reset_cause", "outbox", "drops", "safe_mode", "config_rev",
)  # fmt: skip

_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
_INSERT_EVENT_NO_INC = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS[:-1])}) "
    f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) - 1))})"
)
_STORED_EVENT = "SELECT id, payload FROM events WHERE device = ? AND inc = ? AND boot = ? AND seq = ?"
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
class Committed:
    """What one :meth:`Store.commit` did with its events."""

    inserted: int  # new events stored
    conflicts: int = 0  # copies of a stored key with other content, quarantined as identity_conflict

    def duplicates(self, events: int) -> int:
        """Of ``events`` sent, how many were true copies of stored ones (ignored)."""
        return events - self.inserted - self.conflicts


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
                "id": int, "device": str, "inc": int, "boot": int, "seq": int, "type": str, "question": str,
                "value": int, "repeat": int, "ts": int, "time_source": str, "device_ts": int,
                "up": int, "received_at": int, "payload": str,
            },
            pk="id",
            not_null=["device", "inc", "boot", "seq", "type", "ts", "received_at", "payload"],
            defaults={"inc": 0},
            if_not_exists=True,
        )  # fmt: skip
        self._migrate_event_key()
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
        identity.migrate(db)
        self._migrate_office()
        from edge_hub.alerts import engine as alerts
        from edge_hub.sync import page as sync  # their own tables
        from hub_ui import auth as ui_auth  # the office page's accounts, sessions and audit log

        sync.migrate(db)
        alerts.migrate(db)
        ui_auth.migrate(db)
        self.conn.commit()

    def _migrate_event_key(self) -> None:
        """The key (device, inc, boot, seq). A database made before incarnation ids gets the
        ``inc`` column (0 for every stored event: their devices had no inc) and the new unique
        index before the old (device, boot, seq) one goes, so a key is guarded at every step
        and each step can be repeated after a crash."""
        events = self.db["events"]
        if "inc" not in events.columns_dict:
            events.add_column("inc", int, not_null_default=0)
        events.create_index(list(EVENT_KEY), unique=True, if_not_exists=True)
        for index in events.indexes:
            if index.unique and tuple(index.columns) == _KEY_BEFORE_INC:
                self.conn.execute(f"DROP INDEX [{index.name}]")

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
        # hourly mergeable histograms: see edge_hub/metrics/aggregates.py
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
        """:meth:`commit` for callers that only need how many events were new."""
        return self.commit(events, quarantine, statuses, seen, replayed).inserted

    def commit(
        self,
        events: Sequence[tuple],
        quarantine: Sequence[tuple] = (),
        statuses: Sequence[tuple] = (),
        seen: Iterable[tuple[str, int, int]] = (),
        replayed: Sequence[tuple] = (),
        *,
        topics: Sequence[str] | None = None,
        sightings: Sequence[tuple[str, int, int | None, str, int]] = (),
    ) -> Committed:
        """Store one ingest batch in one transaction.

        ``events`` rows follow :data:`EVENT_COLUMNS`; an event whose key (device, inc, boot,
        seq) is stored already is ignored when it is a copy (only ``sent_up`` may differ), so a
        redelivered message is harmless. A row with the key of a stored event but other content
        is an identity reused (a cloned flash image, a restored identity file): it goes to the
        quarantine as ``identity_conflict`` (its topic from ``topics``, aligned with
        ``events``) and to the identity log. The content is compared only in a batch that had
        ignored rows, so the common path pays nothing.

        ``quarantine`` rows are (received_at, topic, reason, detail, raw payload, size);
        ``statuses`` rows come from :func:`status_row`; ``seen`` rows are (device, first_seen,
        last_seen); ``replayed`` status rows (retained copies) only add devices not known yet;
        ``sightings`` are the batch's incarnations for :func:`edge_hub.ingest.identity.track`.
        """
        conn = self.conn
        before = conn.total_changes
        conflicts = 0
        with conn:
            if events:
                (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
                with_inc = len(events[0]) == len(EVENT_COLUMNS)
                conn.executemany(_INSERT_EVENT if with_inc else _INSERT_EVENT_NO_INC, events)
            inserted = conn.total_changes - before
            if inserted < len(events):
                conflicts = self._quarantine_conflicts(events, topics)
            if inserted:
                # the new events' window, operator, trust flag and hourly buckets, in the same commit
                aggregates.apply(conn, last_id)
            if quarantine:
                conn.executemany(_INSERT_QUARANTINE, quarantine)
            if quarantine or inserted < len(events):
                self._prune_quarantine(len(quarantine) + QUARANTINE_PRUNE_BATCH)
            if statuses:
                conn.executemany(_STATUS, statuses)
            if replayed:
                conn.executemany(_STATUS_REPLAYED, replayed)
            conn.executemany(_SEEN, seen)
            if sightings:
                identity.track(conn, sightings)
        return Committed(inserted, conflicts)

    def _prune_quarantine(self, at_most: int, now_ms: int | None = None) -> int:
        """Delete up to ``at_most`` of the oldest quarantine rows beyond :data:`QUARANTINE_MAX_ROWS`
        or older than :data:`QUARANTINE_MAX_AGE_DAYS`; returns how many went (inside the caller's
        transaction)."""
        conn = self.conn
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - QUARANTINE_MAX_AGE_DAYS * 86_400_000
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM quarantine").fetchone()
        gone = conn.execute(
            "DELETE FROM quarantine WHERE id IN "
            "(SELECT id FROM quarantine WHERE id <= ? ORDER BY id LIMIT ?)",
            (top - QUARANTINE_MAX_ROWS, at_most),
        ).rowcount
        if gone < at_most:  # the oldest ones left, while they are too old (ids grow with time)
            old = conn.execute(
                "SELECT id FROM quarantine ORDER BY id LIMIT ?", (at_most - gone,)
            ).fetchall()  # fmt: skip
            ids = [i for (i,) in old]
            if ids:
                (last,) = conn.execute(
                    "SELECT coalesce(max(id), 0) FROM quarantine WHERE id <= ? AND received_at < ?",
                    (ids[-1], cutoff),
                ).fetchone()
                gone += conn.execute(
                    "DELETE FROM quarantine WHERE id <= ? AND received_at < ?", (last, cutoff)
                ).rowcount
        if gone:
            _LOGGER.info("quarantine: %d old row(s) pruned", gone)
        return gone

    def _quarantine_conflicts(self, events: Sequence[tuple], topics: Sequence[str] | None) -> int:
        """Quarantine the rows whose key is stored with other content; return how many.

        Every row is looked up by its key: a row that was just inserted finds itself, a true
        copy finds an equal payload, and only a different payload is a conflict.
        """
        conn = self.conn
        conflicts = 0
        for i, row in enumerate(events):
            device, boot, seq, payload, received_at = row[0], row[1], row[2], row[12], row[11]
            inc = row[13] if len(row) == len(EVENT_COLUMNS) else 0
            stored = conn.execute(_STORED_EVENT, (device, inc, boot, seq)).fetchone()
            topic = topics[i] if topics is not None else f"otk/v1/-/{device}/event"
            raw = payload.encode()
            if stored is None:  # ignored for another reason than its key (a bug): keep it, say why
                detail = "the events table refused the row (not a duplicate key)"
                conn.execute(_INSERT_QUARANTINE, quarantine_row(received_at, topic, "internal", detail, raw))
                continue
            same, differ = identity.same_event(stored[1], payload)
            if same:
                continue
            conflicts += 1
            detail = (
                f"(device, inc, boot, seq) = ({device}, {inc}, {boot}, {seq}) is stored as event "
                f"{stored[0]} with other content ({', '.join(differ)}): an identity reused"
            )
            cursor = conn.execute(_INSERT_QUARANTINE, quarantine_row(received_at, topic, "identity_conflict",
                                                                     detail, raw))  # fmt: skip
            identity.log_conflict(
                conn, device, inc, boot, seq, received_at,
                {"event": stored[0], "quarantine": cursor.lastrowid, "fields": differ},
            )  # fmt: skip
        if conflicts:
            _LOGGER.warning("%d event(s) reuse a stored identity with other content: quarantined", conflicts)
        return conflicts

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
