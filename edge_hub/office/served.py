"""Served clients per local day, for the whole office or one window: the denominator of the
response rate and the support and criticality indices (typed in, from a visitor counter, or
from the queue system)."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from typing import Any

from edge_hub.db.tx import immediate as _write
from edge_hub.office.scopes import (
    ScopeError,
    _exists,
    _msg,
    _rows,
    _unknown_ref,
    check_id,
)

SERVED_SOURCES = ("manual", "counter", "queue")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _check_day(day: object) -> str:
    if isinstance(day, str) and _DAY.fullmatch(day):
        try:
            date.fromisoformat(day)
            return day
        except ValueError:
            pass
    raise ScopeError(_msg(f"{day!r} is not a day YYYY-MM-DD", f"{day!r} — не дата вида ГГГГ-ММ-ДД"))


def put_served(
    conn: sqlite3.Connection, day: str, window: str, count: int, source: str = "manual"
) -> dict[str, Any]:
    """Set the clients served on a local day at a window ('' = the whole office)."""
    _check_day(day)
    if window != "":
        check_id(window, "window")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ScopeError(
            _msg(
                f"count must be a whole number >= 0, got {count!r}",
                f"число должно быть целым >= 0: {count!r}",
            )
        )
    if source not in SERVED_SOURCES:
        raise ScopeError(
            _msg(
                f"source must be one of {', '.join(SERVED_SOURCES)}, got {source!r}",
                f"источник — один из {', '.join(SERVED_SOURCES)}: {source!r}",
            )
        )
    with _write(conn):
        if window and not _exists(conn, "window", window):
            raise _unknown_ref("window", window)
        conn.execute(
            'INSERT INTO served (day, "window", count, source) VALUES (?, ?, ?, ?) '
            'ON CONFLICT(day, "window") DO UPDATE SET count = excluded.count, source = excluded.source',
            (day, window, count, source),
        )
    return {"day": day, "window": window, "count": count, "source": source}


def served(
    conn: sqlite3.Connection,
    from_day: str | None = None,
    to_day: str | None = None,
    window: str | None = None,
) -> list[dict[str, Any]]:
    """Served counts by day then window, for the days from_day..to_day (both included)."""
    where, args = [], []
    for clause, value in (("day >= ?", from_day), ("day <= ?", to_day), ('"window" = ?', window)):
        if value is not None:
            if clause.startswith("day"):
                _check_day(value)
            where.append(clause)
            args.append(value)
    sql = 'SELECT day, "window", count, source FROM served'
    return _rows(
        conn, sql + (" WHERE " + " AND ".join(where) if where else "") + ' ORDER BY day, "window"', args
    )
