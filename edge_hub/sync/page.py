"""Sync to the central server: access tokens, the pull page, a push mode and the reference puller.

The hub offers its hourly buckets (``aggregates``, see :mod:`edge_hub.metrics.aggregates`) in the order
of their global change sequence ``seq``: every changed bucket gets the next seq, so a cursor
"the last seq I have" is all a puller needs, and a bucket changed by a late event simply shows
up again further on. The central side keeps one row per (hub id, bucket key) and takes an item
only when its revision is greater than the one it holds, so pulling twice, out of order or
after an interruption changes nothing that is already right. See ``edge_hub/SYNC.md``.

- tokens: :func:`create_token` (the secret is shown once; only its SHA-256 is stored),
  :func:`check_token`, :func:`authenticate`, :func:`list_tokens`, :func:`revoke_token`;
- the hub's side: :func:`page` (what ``GET /api/v1/sync/aggregates`` returns) and
  :class:`Pusher` (optional: POST the same pages to a central URL);
- the central side, for reference and tests: :func:`pull` into a SQLite file, built on
  :func:`apply_page` (the revision upsert, one transaction per page with its cursor).

Every function takes a sqlite3 connection; writes run in one ``BEGIN IMMEDIATE`` transaction
(or inside the caller's open one). Refusals raise :class:`SyncError` with an
"English / Russian" message; the API and the CLI translate them at the edges.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson

from edge_hub.db.tx import immediate as _write
from edge_hub.errors import OtklikError

if TYPE_CHECKING:
    from sqlite_utils import Database

_LOGGER = logging.getLogger(__name__)

SCOPE_READ = "sync:read"
#: every scope a token can carry, with what it allows
SCOPE_API_READ = "api:read"
SCOPE_API_WRITE = "api:write"
SCOPES = {
    SCOPE_READ: "pull the hourly aggregates (GET /api/v1/sync/aggregates)",
    SCOPE_API_READ: "read the JSON API (/api/v1, GET) once the hub has accounts",
    SCOPE_API_WRITE: "read and change through the JSON API (/api/v1, every method)",
}
TOKEN_PREFIX = "otk_"
TOKEN_BYTES = 32  # 256 random bits
TOKEN_MAX_LEN = 200  # longer bearer values are refused before hashing
#: last_used_at is written at most this often per token (each write competes with ingest)
TOUCH_EVERY_MS = 60_000
NAME_MAX = 100

PAGE_DEFAULT = 1000
PAGE_MAX = 5000
ENDPOINT = "/api/v1/sync/aggregates"
PULL_TIMEOUT_S = 30.0
BUSY_TIMEOUT_S = 5.0

# the Pusher's pace (class attributes of Pusher take these; tests shrink them per instance)
PUSH_INTERVAL_S = 30.0
PUSH_BACKOFF_S = 1.0
PUSH_MAX_BACKOFF_S = 300.0
PUSH_CURSOR_KEY = "sync_push_cursor"

_ITEM_COLUMNS = "key, seq, revision, hour, device, question, window, operator, kind, counts, flagged, n"


class SyncError(OtklikError):
    """A sync request or token operation was refused, or the other side answered wrongly."""


class TokenNotFound(SyncError):
    """No token has this id."""


# --- schema ---------------------------------------------------------------------------------


def migrate(db: Database) -> None:
    """Create this module's tables (called by Store._migrate)."""
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS sync_tokens ("
        " id INTEGER PRIMARY KEY,"
        " name TEXT,"
        " scope TEXT NOT NULL,"
        " token_hash TEXT NOT NULL UNIQUE,"  # hex SHA-256 of the token; the token itself is never stored
        " created_at INTEGER NOT NULL,"  # ms since the epoch
        " last_used_at INTEGER,"
        " revoked INTEGER NOT NULL DEFAULT 0)"
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret (which is never stored)."""

    id: int
    name: str | None
    scope: str
    created_at: int
    last_used_at: int | None
    revoked: bool


def _hash(token: str) -> str:
    # SHA-256, unsalted, is the right hash here: the token is 256 random bits from `secrets`, so
    # no dictionary, rainbow table or GPU can search its space, and a slow password hash
    # (bcrypt, argon2) would only cost CPU on every request. Being deterministic, the digest is
    # also the lookup key (a unique index), so checking a token needs no per-row comparison.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(conn: sqlite3.Connection, scope: str = SCOPE_READ, name: str | None = None) -> str:
    """Store a new token and return its secret: the only time it can be seen."""
    scopes = scope.split()
    if not scopes or any(s not in SCOPES for s in scopes):
        raise SyncError(
            f"unknown scope {scope!r} (known: {', '.join(SCOPES)}) / "
            f"неизвестное право {scope!r} (есть: {', '.join(SCOPES)})"
        )
    if name is not None and len(name) > NAME_MAX:
        raise SyncError(f"name longer than {NAME_MAX} characters / имя длиннее {NAME_MAX} символов")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with _write(conn):
        conn.execute(
            "INSERT INTO sync_tokens (name, scope, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, " ".join(scopes), _hash(token), _now_ms()),
        )
    return token


def find_token(conn: sqlite3.Connection, token: str) -> TokenInfo | None:
    """The stored token with this secret (revoked or not), or None."""
    if not token or len(token) > TOKEN_MAX_LEN:
        return None
    digest = _hash(token)
    row = conn.execute(
        "SELECT id, name, scope, created_at, last_used_at, revoked, token_hash FROM sync_tokens "
        "WHERE token_hash = ?",
        (digest,),
    ).fetchone()
    # The lookup is by the digest, so its timing says nothing about how much of a real token a
    # guess got right; compare_digest keeps the final check constant-time as well.
    if row is None or not hmac.compare_digest(row[6], digest):
        return None
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def authenticate(conn: sqlite3.Connection, token: str, scope: str) -> TokenInfo | None:
    """The token if it exists, is not revoked and carries ``scope``; else None."""
    info = find_token(conn, token)
    if info is None or info.revoked or scope not in info.scope.split():
        return None
    return info


def check_token(conn: sqlite3.Connection, token: str, scope: str) -> bool:
    """True when ``token`` is a live token carrying ``scope``."""
    return authenticate(conn, token, scope) is not None


def touch_token(conn: sqlite3.Connection, token_id: int, now_ms: int | None = None) -> bool:
    """Record a use of the token (at most every :data:`TOUCH_EVERY_MS`); True if written."""
    now_ms = _now_ms() if now_ms is None else now_ms
    with _write(conn):
        cur = conn.execute(
            "UPDATE sync_tokens SET last_used_at = ? WHERE id = ? AND "
            "(last_used_at IS NULL OR last_used_at <= ?)",
            (now_ms, token_id, now_ms - TOUCH_EVERY_MS),
        )
    return cur.rowcount > 0


def list_tokens(conn: sqlite3.Connection) -> list[TokenInfo]:
    rows = conn.execute(
        "SELECT id, name, scope, created_at, last_used_at, revoked FROM sync_tokens ORDER BY id"
    ).fetchall()
    return [TokenInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int) -> bool:
    """Revoke a token for good; False if it was revoked already. Unknown id: TokenNotFound."""
    with _write(conn):
        row = conn.execute("SELECT revoked FROM sync_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise TokenNotFound(f"no token {token_id} / нет токена {token_id}")
        if row[0]:
            return False
        conn.execute("UPDATE sync_tokens SET revoked = 1 WHERE id = ?", (token_id,))
    return True


# --- the hub's side: pages of buckets by change sequence --------------------------------------


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


# --- the central side: the revision upsert and the reference puller ---------------------------


def open_central(path: str | Path) -> sqlite3.Connection:
    """The central database of the reference puller (created when missing), autocommit mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=PULL_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS central_buckets ("
        " hub_id TEXT NOT NULL, key TEXT NOT NULL, site TEXT, hour TEXT NOT NULL, device TEXT NOT NULL,"
        " question TEXT NOT NULL, window TEXT NOT NULL, operator TEXT NOT NULL, kind TEXT NOT NULL,"
        " counts TEXT NOT NULL, flagged TEXT NOT NULL, n INTEGER NOT NULL, revision INTEGER NOT NULL,"
        " seq INTEGER NOT NULL, source TEXT, received_at INTEGER NOT NULL,"
        " PRIMARY KEY (hub_id, key))"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS central_buckets_hour ON central_buckets (hour)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS central_cursors ("
        " hub_id TEXT PRIMARY KEY, url TEXT, site TEXT, last_seq INTEGER NOT NULL,"
        " high_water INTEGER, updated_at INTEGER NOT NULL)"
    )
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


# --- push mode ----------------------------------------------------------------------------------


@dataclass(slots=True)
class PushStatus:
    """The Pusher's state, read by other threads (e.g. a health check)."""

    pushed: int = 0
    failures: int = 0  # consecutive
    last_success_at: int | None = None
    last_error: str | None = None
    cursor: int = 0


class Pusher:
    """POST new pages of buckets to a central URL, with the bearer token, in a daemon thread.

    The body of each POST is exactly a :func:`page` (what the central side would pull), so the
    receiver applies it with the same revision upsert (:func:`apply_page`). After a 2xx answer
    the pushed cursor is kept in the hub's ``meta`` table (per URL: a new URL starts from 0);
    any failure retries with exponential backoff and jitter, never losing or skipping a page.
    """

    interval_s = PUSH_INTERVAL_S
    backoff_s = PUSH_BACKOFF_S
    max_backoff_s = PUSH_MAX_BACKOFF_S

    def __init__(
        self,
        db_path: str | Path,
        url: str,
        token: str,
        *,
        site: str | None = None,
        limit: int = PAGE_DEFAULT,
        interval_s: float | None = None,
        backoff_s: float | None = None,
        max_backoff_s: float | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not 1 <= limit <= PAGE_MAX:
            raise SyncError(f"push page size must be 1..{PAGE_MAX} / размер страницы 1..{PAGE_MAX}")
        self.db_path = Path(db_path)
        self.url = url
        self.token = token
        self.site = site
        self.limit = limit
        if interval_s is not None:
            self.interval_s = interval_s
        if backoff_s is not None:
            self.backoff_s = backoff_s
        if max_backoff_s is not None:
            self.max_backoff_s = max_backoff_s
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=PULL_TIMEOUT_S)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = PushStatus()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sync-push", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._own_client:
            self._client.close()

    def wake(self) -> None:
        """Push now instead of at the end of the current wait (e.g. after a commit)."""
        self._wake.set()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S)

    def _load_cursor(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PUSH_CURSOR_KEY,)).fetchone()
        if row is None:
            return 0
        try:
            state = orjson.loads(row[0])
            return int(state["cursor"]) if state.get("url") == self.url else 0
        except (ValueError, KeyError, TypeError, AttributeError):
            _LOGGER.warning("unreadable %s in meta; pushing from the start", PUSH_CURSOR_KEY)
            return 0

    def _save_cursor(self, conn: sqlite3.Connection, cursor: int) -> None:
        value = orjson.dumps({"url": self.url, "cursor": cursor}).decode()
        with _write(conn):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (PUSH_CURSOR_KEY, value),
            )

    def push_once(self) -> int:
        """Push every page not pushed yet; return how many items went. Raises on any failure."""
        sent = 0
        with closing(self._connect()) as conn:
            cursor = self._load_cursor(conn)
            while not self._stop.is_set():
                body = page(conn, cursor, self.limit, site=self.site)
                if not body["items"]:
                    break
                response = self._client.post(
                    self.url,
                    content=orjson.dumps(body),
                    headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                )
                if not response.is_success:
                    raise SyncError(f"{self.url} answered {response.status_code} / сервер ответил ошибкой")
                cursor = body["items"][-1]["seq"]
                self._save_cursor(conn, cursor)
                sent += len(body["items"])
                self.status.pushed += len(body["items"])
                self.status.cursor = cursor
                if body["next_cursor"] is None:
                    break
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.push_once()
            except (httpx.HTTPError, SyncError, sqlite3.Error) as exc:
                delay = self._failed(str(exc))
                _LOGGER.warning("push to %s failed (%s); retrying in %.1f s", self.url, exc, delay)
            except Exception as exc:  # never let the thread die silently: log and go on
                delay = self._failed(repr(exc))
                _LOGGER.exception("push to %s crashed; retrying in %.1f s", self.url, delay)
            else:
                if sent:
                    _LOGGER.info("pushed %d buckets to %s", sent, self.url)
                self.status.failures, self.status.last_error = 0, None
                self.status.last_success_at = _now_ms()
                delay = self.interval_s
            self._wake.wait(delay)
            self._wake.clear()

    def _failed(self, error: str) -> float:
        self.status.failures += 1
        self.status.last_error = error
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (self.status.failures - 1))
        return delay * random.uniform(0.5, 1.0)  # jitter: many hubs must not retry in step
