"""The central side of sync, for reference and tests: :func:`pull` pages from a hub into a SQLite
file, built on :func:`apply_page` (the revision upsert, one transaction per page with its
cursor). A hub whose id changed or whose sequence went backwards is refused, never merged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from edge_hub.db import schema
from edge_hub.db.tx import immediate as _write
from edge_hub.db.tx import now_ms as _now_ms
from edge_hub.errors import SyncError
from edge_hub.sync.page import ENDPOINT, PAGE_DEFAULT

_LOGGER = logging.getLogger(__name__)


PULL_TIMEOUT_S = 30.0
BUSY_TIMEOUT_S = 5.0


def open_central(path: str | Path) -> sqlite3.Connection:
    """The central database of the reference puller (created when missing), autocommit mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=PULL_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    schema.migrate_central(conn)
    return conn


@dataclass(frozen=True, slots=True)
class Applied:
    """What one page did to the central database."""

    new: int
    updated: int
    unchanged: int
    cursor: int  # the hub's cursor stored with the page


_UPSERT = (
    "INSERT INTO central_buckets (hub_id, key, site, hour, device, question, window, operator, kind, "
    "counts, flagged, n, revision, seq, source, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (hub_id, key) DO UPDATE SET site = excluded.site, hour = excluded.hour, "
    "device = excluded.device, question = excluded.question, window = excluded.window, "
    "operator = excluded.operator, kind = excluded.kind, counts = excluded.counts, "
    "flagged = excluded.flagged, n = excluded.n, revision = excluded.revision, seq = excluded.seq, "
    "source = excluded.source, received_at = excluded.received_at "
    "WHERE excluded.revision > central_buckets.revision"
)


def apply_page(conn: sqlite3.Connection, body: dict[str, Any], source: str | None = None) -> Applied:
    """Upsert one page (as :func:`page` returns it) and advance that hub's cursor, in one transaction.

    A bucket is taken only when its revision is greater than the stored one, so an old or
    repeated page changes nothing. The cursor only moves forward: every change after it has a
    greater seq, whatever order pages arrive in.
    """
    hub, site, items = body["hub_id"], body.get("site"), body["items"]
    new = updated = 0
    now = _now_ms()
    with _write(conn):
        for item in items:
            row = conn.execute(
                "SELECT revision FROM central_buckets WHERE hub_id = ? AND key = ?", (hub, item["key"])
            ).fetchone()
            if row is not None and item["revision"] <= row[0]:
                continue
            conn.execute(
                _UPSERT,
                (hub, item["key"], site, item["hour"], item["device"], item["question"], item["window"],
                 item["operator"], item["kind"], _json(item["counts"]), _json(item["flagged"]), item["n"],
                 item["revision"], item["seq"], source, now),
            )  # fmt: skip
            if row is None:
                new += 1
            else:
                updated += 1
        last = max((item["seq"] for item in items), default=0)
        conn.execute(
            "INSERT INTO central_cursors (hub_id, url, site, last_seq, high_water, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hub_id) DO UPDATE SET "
            "url = coalesce(excluded.url, url), site = coalesce(excluded.site, site), "
            "last_seq = max(last_seq, excluded.last_seq), high_water = excluded.high_water, "
            "updated_at = excluded.updated_at "
            # a page that teaches nothing new (a repeated pull) leaves the row as it is
            "WHERE excluded.last_seq > last_seq OR excluded.high_water IS NOT high_water "
            "OR excluded.url IS NOT url",
            (hub, source, site, last, body.get("high_water"), now),
        )
        (cursor,) = conn.execute("SELECT last_seq FROM central_cursors WHERE hub_id = ?", (hub,)).fetchone()
    return Applied(new, updated, len(items) - new - updated, cursor)


def _json(value: dict) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class PageProgress:
    """One page of a pull, for the progress callback."""

    number: int
    items: int
    new: int
    updated: int
    unchanged: int
    cursor: int
    high_water: int


@dataclass(slots=True)
class PullStats:
    """Totals of one :func:`pull`."""

    url: str
    hub_id: str | None = None
    site: str | None = None
    pages: int = 0
    items: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    cursor: int = 0
    high_water: int = 0


def endpoint_url(url: str) -> str:
    """The pull endpoint of a hub given by its base URL (or by the endpoint itself)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SyncError(f"not an http(s) URL: {url!r} / это не адрес http(s): {url!r}")
    base = url.rstrip("/")
    return base if base.endswith(ENDPOINT) else base + ENDPOINT


def _cursor_by_url(conn: sqlite3.Connection, url: str) -> int:
    row = conn.execute(
        "SELECT last_seq FROM central_cursors WHERE url = ? ORDER BY updated_at DESC LIMIT 1", (url,)
    ).fetchone()
    return row[0] if row else 0


def _cursor_by_hub(conn: sqlite3.Connection, hub: str) -> int:
    row = conn.execute("SELECT last_seq FROM central_cursors WHERE hub_id = ?", (hub,)).fetchone()
    return row[0] if row else 0


def _get_page(client: httpx.Client, url: str, token: str, after: int, limit: int) -> dict[str, Any]:
    try:
        response = client.get(
            url, params={"after": str(after), "limit": limit}, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        raise SyncError(f"cannot reach {url}: {exc} / хаб недоступен") from exc
    if response.status_code == 401:
        raise SyncError(f"{url} refused the token (401) / хаб отклонил токен")
    if response.status_code != 200:
        raise SyncError(f"{url} answered {response.status_code}: {response.text[:200]} / ошибка хаба")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not {"hub_id", "items", "high_water"} <= body.keys():
        raise SyncError(f"{url} did not answer a sync page / ответ хаба не страница синхронизации")
    return body


def pull(
    url: str,
    token: str,
    into: str | Path,
    limit: int = PAGE_DEFAULT,
    progress: Callable[[PageProgress], None] | None = None,
    *,
    from_start: bool = False,
    client: httpx.Client | None = None,
) -> PullStats:
    """Pull a hub's changed buckets into the central SQLite file ``into`` until none are left.

    Each page is stored with the hub's cursor in one transaction, so an interrupted pull
    resumes where it stopped and a repeated one changes nothing. The cursor is kept per hub id
    (the hub's database), found first by URL; ``from_start`` pulls everything again (harmless:
    only greater revisions are taken). ``progress`` is called after each committed page.
    """
    url = endpoint_url(url)
    stats = PullStats(url)
    own_client = client is None
    http = client or httpx.Client(timeout=PULL_TIMEOUT_S)
    try:
        with closing(open_central(into)) as conn:
            after = 0 if from_start else _cursor_by_url(conn, url)
            while True:
                body = _get_page(http, url, token, after, limit)
                if stats.hub_id is None:
                    # the database behind this URL may be another one (replaced), or this hub may
                    # have moved here from another URL: its own cursor decides
                    stats.hub_id, stats.site = body["hub_id"], body.get("site")
                    expected = 0 if from_start else _cursor_by_hub(conn, stats.hub_id)
                    if expected != after:
                        _LOGGER.info("hub %s at %s: cursor %d, not %d", stats.hub_id, url, expected, after)
                        after = expected
                        continue
                elif body["hub_id"] != stats.hub_id:
                    raise SyncError(
                        f"{url} switched hubs during the pull ({stats.hub_id} -> {body['hub_id']}) / "
                        "хаб по этому адресу сменился во время загрузки"
                    )
                if body["high_water"] < after:
                    raise SyncError(
                        f"hub {stats.hub_id} is behind the central copy (its last change {body['high_water']}"
                        f" < cursor {after}): was its database restored from an older backup? / "
                        "база хаба старше центральной копии (восстановлена из старой резервной копии?)"
                    )
                applied = apply_page(conn, body, source=url)
                stats.pages += 1
                stats.items += len(body["items"])
                stats.new += applied.new
                stats.updated += applied.updated
                stats.unchanged += applied.unchanged
                stats.cursor, stats.high_water = applied.cursor, body["high_water"]
                if progress is not None:
                    progress(
                        PageProgress(stats.pages, len(body["items"]), applied.new, applied.updated,
                                     applied.unchanged, applied.cursor, body["high_water"])
                    )  # fmt: skip
                if body.get("next_cursor") is None:
                    return stats
                next_after = int(body["next_cursor"])
                if next_after <= after:
                    raise SyncError(f"{url} returned a cursor that does not advance / курсор не движется")
                after = next_after
    finally:
        if own_client:
            http.close()
