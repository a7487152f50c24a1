"""The alert engine: :func:`edge_hub.alerts.rules.evaluate` on a timer, in a daemon thread of the
hub, on its own writer connection. The rules are :mod:`edge_hub.alerts.rules`'; an alert's
lifecycle and readers, :mod:`edge_hub.alerts.lifecycle`'s; both described in ``edge_hub/ALERTS.md``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_hub.alerts.rules import evaluate
from edge_hub.db.store import Store

_LOGGER = logging.getLogger(__name__)

#: How often :class:`AlertEngine` evaluates, in seconds.
EVALUATE_EVERY_S = 30.0


class AlertEngine:
    """Runs :func:`evaluate` every ``interval_s`` seconds in a daemon thread, on its own writer
    connection to the hub database (which must exist: the hub creates it first).

    A failed round is logged and the next one tries again; it never stops the thread.
    ``clock`` (epoch ms) is for tests.
    """

    def __init__(
        self,
        db_path: str | Path,
        interval_s: float = EVALUATE_EVERY_S,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.interval_s = interval_s
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.rounds = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="otk-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        store: Store | None = None
        try:
            while not self._stop.is_set():
                try:
                    if store is None:
                        store = Store.writer(self.db_path)
                    evaluate(store.conn, self.clock())
                    self.last_error = None
                except sqlite3.Error as exc:  # busy, locked, missing: the next round tries again
                    self.last_error = str(exc)
                    _LOGGER.warning("alert evaluation failed: %s", exc)
                except Exception as exc:
                    self.last_error = repr(exc)
                    _LOGGER.exception("alert evaluation crashed")
                self.rounds += 1
                self._stop.wait(self.interval_s)
        finally:
            if store is not None:
                store.close()
