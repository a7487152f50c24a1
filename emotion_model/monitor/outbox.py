"""The monitor's persistent outbox: events waiting for the hub's ack, and the boot counter.

Owns :class:`Outbox` (``STATE_DIR/monitor.db``, SQLite, JSON event payloads only), the boot
counter's range and :func:`state_dir_default`, where the state folder lives unless configured.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlite_utils import Database

_LOGGER = logging.getLogger(__name__)

BOOT_MAX = 4_294_967_295


class Outbox:
    """Events waiting for the hub's ack, and the boot counter, in ``STATE_DIR/monitor.db``.

    Holds JSON event payloads only. Not thread-safe by itself: :class:`MonitorDevice` serialises
    every call with its lock.
    """

    def __init__(self, state_dir: str | Path, max_events: int = 100_000) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "monitor.db"
        self.max_events = max_events
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        self.db = Database(conn)
        self.conn = conn
        self.db["meta"].create({"key": str, "value": int}, pk="key", if_not_exists=True)
        self.db["outbox"].create(
            {"boot": int, "seq": int, "payload": str}, pk=("boot", "seq"), if_not_exists=True
        )

    def _meta(self, key: str) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def incarnation(self) -> int:
        """A random nonzero 32-bit id drawn when this state folder was made, kept with the boot
        counter: a deleted folder restarts the counter, and the new id keeps the hub's key
        (device, inc, boot, seq) from repeating (see mqtt_schemas/README.md)."""
        inc = self._meta("inc")
        if not inc:
            inc = secrets.randbits(32) or 1
            self._set_meta("inc", inc)
        return inc

    def bump_boot(self) -> int:
        """The boot counter, bumped and persisted: call once per start."""
        boot = self._meta("boot") + 1
        if boot > BOOT_MAX:
            boot = 0
        self._set_meta("boot", boot)
        return boot

    @property
    def drops(self) -> int:
        """Events dropped because the outbox was full, since the state folder was made."""
        return self._meta("drops")

    def add(self, boot: int, seq: int, payload: bytes) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT OR REPLACE INTO outbox (boot, seq, payload) VALUES (?, ?, ?)",
                (boot, seq, payload.decode()),
            )
            over = self.count() - self.max_events
            if over > 0:  # full: the oldest go (counted), as the firmware's overflow policy
                self.conn.execute(
                    "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox ORDER BY boot, seq LIMIT ?)",
                    (over,),
                )
                self._set_meta("drops", self._meta("drops") + over)
                _LOGGER.warning("outbox full (%d events): dropped the %d oldest", self.max_events, over)

    def remove(self, boot: int, seqs: Iterable[int]) -> int:
        """Delete the acked events; return how many were still there."""
        with self.conn:  # one transaction (one fsync) per ack, not one per event
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.executemany(
                "DELETE FROM outbox WHERE boot = ? AND seq = ?", [(boot, int(s)) for s in seqs]
            )
            return cur.rowcount

    def pending(self, skip: Callable[[tuple[int, int]], bool], limit: int) -> list[tuple[int, int, str]]:
        """Up to ``limit`` events, oldest first, leaving out those ``skip((boot, seq))`` names."""
        out: list[tuple[int, int, str]] = []
        if limit <= 0:
            return out
        for boot, seq, payload in self.conn.execute(
            "SELECT boot, seq, payload FROM outbox ORDER BY boot, seq"
        ):
            if skip((boot, seq)):
                continue
            out.append((boot, seq, payload))
            if len(out) >= limit:
                break
        return out

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def state_dir_default(device: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "otklik" / "emotion-monitor" / device
