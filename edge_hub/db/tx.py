"""Small SQLite helpers shared by the modules that write beside the ingest thread."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction taken up front (BEGIN IMMEDIATE), or the caller's open one.

    Taking the write lock first means a check and the write it guards cannot be split by
    another writer (the ingest thread).
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def now_ms() -> int:
    """The time every write stamps its rows with: milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
