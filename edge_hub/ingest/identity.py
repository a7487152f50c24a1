"""Device incarnations: who a device is, and when its identity repeats or goes backwards.

An event's key is (device, inc, boot, seq). ``inc`` (the incarnation id) is a random 32-bit
number a device draws when its identity files are created: a wiped flash or a replacement board
given the same id starts its boot counter at 1 again, but under a new inc, so its presses can
never be taken for copies of old ones. Events and statuses without ``inc`` (firmware older than
incarnation ids) are inc 0.

In the ingest transaction (:meth:`edge_hub.db.store.Store.commit`) this module:

- records every device's incarnations (``device_incs``: first seen, the boot of its last live
  status) and the current one (``devices.inc``);
- logs in ``identity_log`` what the alert rules (:mod:`edge_hub.alerts.engine`) turn into alerts:
  ``reset`` (an inc never seen for a device that had another: reflashed or replaced),
  ``backwards`` (a live status of a known inc with a lower boot than the last one: a restored or
  cloned identity file) and ``conflict`` (an event whose key is stored with other content: an
  identity reused; the message itself is kept in quarantine as ``identity_conflict``);
- tells, for a batch with ignored rows, which of them were true redeliveries and which were
  conflicts (:func:`same_event`).

Retained statuses replayed at subscribe time are old news and never count here, and events
never move a boot backwards (an outbox may deliver an older boot's events after a reboot).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

#: what ``identity_log.change`` may say
CHANGES = ("reset", "backwards", "conflict")
#: fields that may differ between two copies of one event (the copy's send time)
COPY_FIELDS = ("sent_up",)

_LOG = (
    "INSERT INTO identity_log (device, at, change, inc, boot, seq, prev_inc, prev_boot, via, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def track(conn: sqlite3.Connection, sightings: Iterable[tuple[str, int, int | None, str, int]]) -> int:
    """Record the incarnations seen in one batch, in arrival order; return the log lines written.

    A sighting is (device, inc, boot or None, via, at): ``via`` is ``status`` (a live status
    with heartbeat fields: its boot counts) or ``event`` (boot None: an event's boot may be an
    old one from the outbox). Call it after the batch's devices rows exist.
    """
    logged = 0
    for device, inc, boot, via, at in sightings:
        row = conn.execute("SELECT inc FROM devices WHERE device = ?", (device,)).fetchone()
        current = row[0] if row else None
        known = conn.execute(
            "SELECT boot FROM device_incs WHERE device = ? AND inc = ?", (device, inc)
        ).fetchone()
        if known is None:
            conn.execute(
                "INSERT INTO device_incs (device, inc, first_seen, boot, boot_at) VALUES (?, ?, ?, ?, ?)",
                (device, inc, at, boot, at if boot is not None else None),
            )
            if current is not None and current != inc:
                conn.execute(_LOG, (device, at, "reset", inc, boot, None, current, None, via, None))
                logged += 1
        elif boot is not None:
            (last_boot,) = known
            if last_boot is not None and boot < last_boot:
                conn.execute(_LOG, (device, at, "backwards", inc, boot, None, inc, last_boot, via, None))
                logged += 1
            if boot != last_boot:
                conn.execute(
                    "UPDATE device_incs SET boot = ?, boot_at = ? WHERE device = ? AND inc = ?",
                    (boot, at, device, inc),
                )
        if current != inc:
            conn.execute("UPDATE devices SET inc = ? WHERE device = ?", (inc, device))
    return logged


def log_conflict(
    conn: sqlite3.Connection, device: str, inc: int, boot: int, seq: int, at: int, detail: dict[str, Any]
) -> None:
    """Log an event whose key is stored with other content (the caller quarantined it)."""
    detail_text = orjson.dumps(detail).decode()
    conn.execute(_LOG, (device, at, "conflict", inc, boot, seq, None, None, "event", detail_text))


def _content(payload: str | bytes) -> dict[str, Any]:
    body = orjson.loads(payload)
    for name in COPY_FIELDS:
        body.pop(name, None)
    if body.get("inc") == 0:
        del body["inc"]  # inc 0 and no inc are the same identity
    return body


def same_event(stored: str, received: str) -> tuple[bool, list[str]]:
    """Whether two payloads with one key are copies of one event (only ``sent_up`` may differ),
    and the names of the fields that differ when they are not."""
    if stored == received:
        return True, []
    a, b = _content(stored), _content(received)
    if a == b:
        return True, []
    return False, sorted(k for k in a.keys() | b.keys() if a.get(k, _MISSING) != b.get(k, _MISSING))


_MISSING = object()
