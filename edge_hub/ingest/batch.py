"""One ingest batch: the contract check of each message, its rows, the ingest transaction
(:func:`edge_hub.ingest.commit.commit`) and what each message came to.

The one path every device message takes into the store, whoever carries it: the MQTT ingestor
(:mod:`edge_hub.ingest.ingestor`, which then acks the broker and publishes the end-to-end acks)
and the web kiosk's HTTP endpoint (:mod:`edge_hub.ingest.webkiosk`, which answers the same acks
in its response). :func:`process` returns only after the commit.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass

from edge_hub.errors import ContractError
from edge_hub.ingest import commit as ingest_commit
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.rows import event_row, quarantine_row, status_row
from edge_hub.transport.mqtt import Incoming

_LOGGER = logging.getLogger(__name__)

#: an end-to-end ack is owed per (device, inc, boot): the seqs stored of that incarnation's boot
AckKey = tuple[str, int, int]


@dataclass(slots=True)
class IngestStats:
    """Counters since start, read by the health check from another thread."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    identity_conflicts: int = 0  # also counted in quarantined
    quarantined: int = 0
    statuses: int = 0
    batches: int = 0
    commit_errors: int = 0
    last_commit_at: int | None = None  # ms since the epoch
    last_batch_latency_ms: int | None = None  # first receipt -> commit, last batch


@dataclass(slots=True)
class Outcome:
    """What one committed batch came to."""

    #: the end-to-end acks owed, by (device, inc, boot): stored events, copies of stored ones and
    #: identity conflicts (kept in the quarantine: visible, not lost)
    acks: dict[AckKey, list[int]]
    #: the messages the contract check refused (quarantined), by their index in the batch:
    #: (reason, detail)
    refused: dict[int, tuple[str, str]]
    #: the events among the batch's messages, and what the commit did with them
    events: int
    committed: ingest_commit.Committed


def quarantined(incoming: Incoming, reason: str, detail: str) -> tuple:
    """The quarantine row of a refused message."""
    return quarantine_row(incoming.received_at, incoming.topic, reason, detail, incoming.payload)


def process(
    conn: sqlite3.Connection, contract: Contract, batch: list[Incoming], stats: IngestStats
) -> Outcome:
    """Check and commit one batch on the writer ``conn``; count it in ``stats``.

    Every stored event is acked, and so is a copy of one (the device may drop it) and an
    identity conflict (kept in the quarantine: visible, not lost).
    """
    events: list[tuple] = []
    topics: list[str] = []
    quarantine: list[tuple] = []
    refused: dict[int, tuple[str, str]] = {}
    statuses: list[tuple] = []
    replayed: list[tuple] = []
    seen: dict[str, int] = {}
    # incarnations in arrival order: each live status with a boot, and an event only when its
    # device's inc differs from the one it had last in this batch (a batch is usually one inc)
    sightings: list[tuple[str, int, int | None, str, int]] = []
    last_inc: dict[str, int] = {}
    acks: dict[AckKey, list[int]] = defaultdict(list)
    parse = contract.parse
    for index, incoming in enumerate(batch):
        try:
            msg = parse(incoming.topic, incoming.payload)
        except ContractError as exc:
            quarantine.append(quarantined(incoming, exc.reason, exc.detail))
            refused[index] = (exc.reason, exc.detail)
            continue
        except Exception as exc:  # a bug must not stop ingest: keep the message, say why
            _LOGGER.exception("contract check crashed on %s", incoming.topic)
            quarantine.append(quarantined(incoming, "internal", repr(exc)))
            refused[index] = ("internal", repr(exc))
            continue
        if msg.kind == "event":
            body = msg.body
            inc = body.get("inc", 0)
            events.append(event_row(msg, incoming.payload, incoming.received_at))
            topics.append(incoming.topic)
            acks[(msg.device, inc, body["boot"])].append(body["seq"])
            seen[msg.device] = incoming.received_at
            if last_inc.get(msg.device) != inc:
                last_inc[msg.device] = inc
                sightings.append((msg.device, inc, None, "event", incoming.received_at))
        elif msg.kind == "status":
            body = msg.body
            row = status_row(msg.device, body, incoming.payload.decode(), incoming.received_at)
            # A retained status replayed at subscribe time is old news: it only
            # introduces a device the registry has never seen.
            (replayed if incoming.retain else statuses).append(row)
            if not incoming.retain:
                seen[msg.device] = incoming.received_at
                if "boot" in body:  # a heartbeat names its incarnation; a last will does not
                    inc = body.get("inc", 0)
                    last_inc[msg.device] = inc
                    sightings.append((msg.device, inc, body["boot"], "status", incoming.received_at))
        else:
            detail = f"the hub does not accept {msg.kind} messages"
            quarantine.append(quarantined(incoming, "unexpected_kind", detail))
            refused[index] = ("unexpected_kind", detail)
    committed = ingest_commit.commit(
        conn, events, quarantine, statuses, ((d, t, t) for d, t in seen.items()), replayed,
        topics=topics, sightings=sightings,
    )  # fmt: skip
    now = time.time_ns() // 1_000_000
    stats.received += len(batch)
    stats.stored += committed.inserted
    stats.duplicates += committed.duplicates(len(events))
    stats.identity_conflicts += committed.conflicts
    stats.quarantined += len(quarantine) + committed.conflicts
    stats.statuses += len(statuses) + len(replayed)
    stats.batches += 1
    stats.last_commit_at = now
    stats.last_batch_latency_ms = now - batch[0].received_at
    if quarantine:
        _LOGGER.warning("quarantined %d of %d messages", len(quarantine), len(batch))
    return Outcome(acks, refused, len(events), committed)
