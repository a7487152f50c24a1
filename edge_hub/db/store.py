"""Connections to the hub's database, and the readers of what ingest stores.

One writer (the ingest thread) commits batches (:mod:`edge_hub.ingest.commit` owns that
transaction); readers (the API, the office page) open their own read-only connections, which
WAL mode lets run beside the writer; edits beside the ingest writer (settings, scopes, alerts,
accounts) take a :meth:`Store.writer` connection and :func:`edge_hub.db.tx.immediate`. Every
table is created by :mod:`edge_hub.db.schema`; this module knows only the ``events``,
``quarantine`` and ``devices`` tables it lists.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database

from edge_hub.db import schema

_LOGGER = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


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
        schema.migrate(store.db)
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
