"""Push mode: the hub POSTs new pages of its buckets to a central URL (:class:`Pusher`), for
central servers that cannot reach the office.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from edge_hub.db.tx import immediate as _write
from edge_hub.db.tx import now_ms as _now_ms
from edge_hub.errors import SyncError
from edge_hub.sync.page import PAGE_DEFAULT, PAGE_MAX, page
from edge_hub.sync.pull import BUSY_TIMEOUT_S, PULL_TIMEOUT_S

_LOGGER = logging.getLogger(__name__)


# the Pusher's pace (class attributes of Pusher take these; tests shrink them per instance)
PUSH_INTERVAL_S = 30.0
PUSH_BACKOFF_S = 1.0
PUSH_MAX_BACKOFF_S = 300.0
PUSH_CURSOR_KEY = "sync_push_cursor"


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
