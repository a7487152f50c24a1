"""The hub's side of sync: its hourly buckets as pages by change sequence.

The hub offers its hourly buckets (``aggregates``, see :mod:`edge_hub.metrics.aggregates`) in the
order of their global change sequence ``seq``: every changed bucket gets the next seq, so a cursor
"the last seq I have" is all a puller needs, and a bucket changed by a late event simply shows
up again further on. The central side keeps one row per (hub id, bucket key) and takes an item
only when its revision is greater than the one it holds, so pulling twice, out of order or
after an interruption changes nothing that is already right. See ``edge_hub/SYNC.md``.

The package: :mod:`~edge_hub.sync.tokens` (the bearer tokens of the sync and JSON APIs),
:mod:`~edge_hub.sync.page` (this: what ``GET /api/v1/sync/aggregates`` returns),
:mod:`~edge_hub.sync.push` (optional: POST the same pages to a central URL) and
:mod:`~edge_hub.sync.pull` (the central side, for reference and tests: the revision upsert into a
SQLite file). Refusals raise :class:`~edge_hub.errors.SyncError` with an "English / Russian"
message; the API and the CLI translate them at the edges.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any

import orjson

from edge_hub.errors import SyncError

_LOGGER = logging.getLogger(__name__)

PAGE_DEFAULT = 1000
PAGE_MAX = 5000
ENDPOINT = "/api/v1/sync/aggregates"
_ITEM_COLUMNS = "key, seq, revision, hour, device, question, window, operator, kind, counts, flagged, n"


def hub_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'hub_id'").fetchone()
    if row is None:
        raise SyncError("the database has no hub id / в базе нет идентификатора хаба")
    return row[0]


def iso_hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def page(conn: sqlite3.Connection, after: int, limit: int, site: str | None = None) -> dict[str, Any]:
    """The buckets with seq > ``after``, at most ``limit``, in seq order.

    ``next_cursor`` is the last item's seq as a string while more follow, else None;
    ``high_water`` is the highest seq at the moment of the read. Rows and high water come from
    one statement, i.e. one snapshot of the database.
    """
    if limit < 1:
        raise SyncError("limit must be at least 1 / limit должен быть не меньше 1")
    rows = conn.execute(
        f"SELECT {_ITEM_COLUMNS}, (SELECT max(seq) FROM aggregates) FROM aggregates "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit + 1),
    ).fetchall()
    if rows:
        high_water = rows[0][12]
    else:
        (high_water,) = conn.execute("SELECT coalesce(max(seq), 0) FROM aggregates").fetchone()
    more = len(rows) > limit
    items = [_item(r) for r in rows[:limit]]
    return {
        "hub_id": hub_id(conn),
        "site": site,
        "items": items,
        "next_cursor": str(items[-1]["seq"]) if more else None,
        "high_water": high_water,
    }


def _item(r: tuple) -> dict[str, Any]:
    return {
        "key": r[0], "seq": r[1], "revision": r[2], "hour": iso_hour(r[3]), "device": r[4],
        "question": r[5] or "", "window": r[6] or "", "operator": r[7] or "", "kind": r[8],
        "counts": orjson.loads(r[9]), "flagged": orjson.loads(r[10] or "{}"), "n": r[11],
    }  # fmt: skip
