"""The ingest transaction: one batch of rows stored in one SQLite transaction, exactly once.

This is where the delivery guarantee meets the disk (the ingestor acks only after
:func:`commit` returns). In one transaction: the events (a copy of a stored key is ignored, a
different event under a stored key is quarantined as an identity conflict), their window,
operator, trust flag and hourly buckets (:func:`edge_hub.metrics.aggregates.apply`), the
quarantined messages, the device statuses, and the incarnations seen
(:func:`edge_hub.ingest.identity.track`).

The quarantine is bounded: every ingest commit that quarantines something also deletes the
oldest rows beyond :data:`QUARANTINE_MAX_ROWS` or older than :data:`QUARANTINE_MAX_AGE_DAYS`
days, at most :data:`QUARANTINE_PRUNE_BATCH` more than it added (by primary key, no scan), in
the same transaction; the table only grows on those commits, so it never passes the bound for
long, and no commit does more than a small, bounded delete.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge_hub.ingest import identity
from edge_hub.ingest.rows import EVENT_COLUMNS, STATUS_COLUMNS, quarantine_row
from edge_hub.metrics import aggregates

_LOGGER = logging.getLogger(__name__)

#: the quarantine keeps at most the newest this many rows ...
QUARANTINE_MAX_ROWS = 100_000
#: ... and none older than this many days (by ``received_at``)
QUARANTINE_MAX_AGE_DAYS = 90
#: rows pruned at most per ingest commit beyond the ones it adds, so a backlog (an old hub's
#: table) goes away over many commits instead of blocking one
QUARANTINE_PRUNE_BATCH = 1000

_INSERT_EVENT = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)
_INSERT_EVENT_NO_INC = (
    f"INSERT OR IGNORE INTO events ({', '.join(EVENT_COLUMNS[:-1])}) "
    f"VALUES ({', '.join('?' * (len(EVENT_COLUMNS) - 1))})"
)
_STORED_EVENT = "SELECT id, payload FROM events WHERE device = ? AND inc = ? AND boot = ? AND seq = ?"
_INSERT_QUARANTINE = (
    "INSERT INTO quarantine (received_at, topic, reason, detail, payload, size) VALUES (?, ?, ?, ?, ?, ?)"
)
_SEEN = (
    "INSERT INTO devices (device, first_seen, last_seen) VALUES (?, ?, ?) "
    "ON CONFLICT(device) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)"
)
# An offline will carries no heartbeat fields: keep the last known ones.
_STATUS = (
    f"INSERT INTO devices (device, {', '.join(STATUS_COLUMNS)}, status, first_seen, last_seen, "
    f"last_status_at, state_since) VALUES (?, {', '.join('?' * len(STATUS_COLUMNS))}, ?, ?, ?, ?, ?) "
    "ON CONFLICT(device) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {c})" for c in STATUS_COLUMNS)
    + ", status = CASE WHEN excluded.state = 'offline' THEN status ELSE excluded.status END"
    ", last_seen = max(last_seen, excluded.last_seen), last_status_at = excluded.last_status_at"
    ", state_since = CASE WHEN state IS excluded.state THEN state_since ELSE excluded.state_since END"
)
_STATUS_REPLAYED = _STATUS.split(" ON CONFLICT")[0].replace("INSERT INTO", "INSERT OR IGNORE INTO")


@dataclass(frozen=True, slots=True)
class Committed:
    """What one :meth:`Store.commit` did with its events."""

    inserted: int  # new events stored
    conflicts: int = 0  # copies of a stored key with other content, quarantined as identity_conflict

    def duplicates(self, events: int) -> int:
        """Of ``events`` sent, how many were true copies of stored ones (ignored)."""
        return events - self.inserted - self.conflicts


def commit(
    conn: sqlite3.Connection,
    events: Sequence[tuple],
    quarantine: Sequence[tuple] = (),
    statuses: Sequence[tuple] = (),
    seen: Iterable[tuple[str, int, int]] = (),
    replayed: Sequence[tuple] = (),
    *,
    topics: Sequence[str] | None = None,
    sightings: Sequence[tuple[str, int, int | None, str, int]] = (),
) -> Committed:
    """Store one ingest batch in one transaction.

    ``events`` rows follow :data:`EVENT_COLUMNS`; an event whose key (device, inc, boot,
    seq) is stored already is ignored when it is a copy (only ``sent_up`` may differ), so a
    redelivered message is harmless. A row with the key of a stored event but other content
    is an identity reused (a cloned flash image, a restored identity file): it goes to the
    quarantine as ``identity_conflict`` (its topic from ``topics``, aligned with
    ``events``) and to the identity log. The content is compared only in a batch that had
    ignored rows, so the common path pays nothing.

    ``quarantine`` rows are (received_at, topic, reason, detail, raw payload, size);
    ``statuses`` rows come from :func:`~edge_hub.ingest.rows.status_row`; ``seen`` rows are
    (device, first_seen, last_seen); ``replayed`` status rows (retained copies) only add devices
    not known yet;
    ``sightings`` are the batch's incarnations for :func:`edge_hub.ingest.identity.track`.
    """
    before = conn.total_changes
    conflicts = 0
    with conn:
        if not conn.in_transaction:
            # the write lock before max(id) is read: the new events are those above it, and
            # another writer of events (the web kiosk's endpoint, edge_hub/ingest/webkiosk.py,
            # beside the ingest thread) must not insert in between
            conn.execute("BEGIN IMMEDIATE")
        if events:
            (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
            with_inc = len(events[0]) == len(EVENT_COLUMNS)
            conn.executemany(_INSERT_EVENT if with_inc else _INSERT_EVENT_NO_INC, events)
        inserted = conn.total_changes - before
        if inserted < len(events):
            conflicts = _quarantine_conflicts(conn, events, topics)
        if inserted:
            # the new events' window, operator, trust flag and hourly buckets, in the same commit
            aggregates.apply(conn, last_id)
        if quarantine:
            conn.executemany(_INSERT_QUARANTINE, quarantine)
        if quarantine or inserted < len(events):
            prune_quarantine(conn, len(quarantine) + QUARANTINE_PRUNE_BATCH)
        if statuses:
            conn.executemany(_STATUS, statuses)
        if replayed:
            conn.executemany(_STATUS_REPLAYED, replayed)
        conn.executemany(_SEEN, seen)
        if sightings:
            identity.track(conn, sightings)
    return Committed(inserted, conflicts)


def prune_quarantine(conn: sqlite3.Connection, at_most: int, now_ms: int | None = None) -> int:
    """Delete up to ``at_most`` of the oldest quarantine rows beyond :data:`QUARANTINE_MAX_ROWS`
    or older than :data:`QUARANTINE_MAX_AGE_DAYS`; returns how many went (inside the caller's
    transaction)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cutoff = now_ms - QUARANTINE_MAX_AGE_DAYS * 86_400_000
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM quarantine").fetchone()
    gone = conn.execute(
        "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE id <= ? ORDER BY id LIMIT ?)",
        (top - QUARANTINE_MAX_ROWS, at_most),
    ).rowcount
    if gone < at_most:  # the oldest ones left, while they are too old (ids grow with time)
        old = conn.execute(
            "SELECT id FROM quarantine ORDER BY id LIMIT ?", (at_most - gone,)
        ).fetchall()  # fmt: skip
        ids = [i for (i,) in old]
        if ids:
            (last,) = conn.execute(
                "SELECT coalesce(max(id), 0) FROM quarantine WHERE id <= ? AND received_at < ?",
                (ids[-1], cutoff),
            ).fetchone()
            gone += conn.execute(
                "DELETE FROM quarantine WHERE id <= ? AND received_at < ?", (last, cutoff)
            ).rowcount
    if gone:
        _LOGGER.info("quarantine: %d old row(s) pruned", gone)
    return gone


def _quarantine_conflicts(
    conn: sqlite3.Connection, events: Sequence[tuple], topics: Sequence[str] | None
) -> int:
    """Quarantine the rows whose key is stored with other content; return how many.

    Every row is looked up by its key: a row that was just inserted finds itself, a true
    copy finds an equal payload, and only a different payload is a conflict.
    """
    conflicts = 0
    for i, row in enumerate(events):
        device, boot, seq, payload, received_at = row[0], row[1], row[2], row[12], row[11]
        inc = row[13] if len(row) == len(EVENT_COLUMNS) else 0
        stored = conn.execute(_STORED_EVENT, (device, inc, boot, seq)).fetchone()
        topic = topics[i] if topics is not None else f"otk/v1/-/{device}/event"
        raw = payload.encode()
        if stored is None:  # ignored for another reason than its key (a bug): keep it, say why
            detail = "the events table refused the row (not a duplicate key)"
            conn.execute(_INSERT_QUARANTINE, quarantine_row(received_at, topic, "internal", detail, raw))
            continue
        same, differ = identity.same_event(stored[1], payload)
        if same:
            continue
        conflicts += 1
        detail = (
            f"(device, inc, boot, seq) = ({device}, {inc}, {boot}, {seq}) is stored as event "
            f"{stored[0]} with other content ({', '.join(differ)}): an identity reused"
        )
        cursor = conn.execute(_INSERT_QUARANTINE, quarantine_row(received_at, topic, "identity_conflict",
                                                                 detail, raw))  # fmt: skip
        identity.log_conflict(
            conn, device, inc, boot, seq, received_at,
            {"event": stored[0], "quarantine": cursor.lastrowid, "fields": differ},
        )  # fmt: skip
    if conflicts:
        _LOGGER.warning("%d event(s) reuse a stored identity with other content: quarantined", conflicts)
    return conflicts
