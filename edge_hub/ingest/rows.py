"""The rows ingest writes: one ``events`` row per event, one ``devices`` row per status, one
``quarantine`` row per refused message, and every reason a quarantine row can give.

Built here from a checked :class:`~edge_hub.ingest.contract.Message` (or a raw message that
failed the check) and written by :mod:`edge_hub.ingest.commit` in the ingest transaction; the
tables themselves are :mod:`edge_hub.db.schema`'s.
"""

from __future__ import annotations

from typing import Any

from edge_hub.ingest.contract import REASONS, Message
from edge_hub.metrics.aggregates import VISIT_QUESTION

QUARANTINE_KEEP_BYTES = 1024

#: An events row of :func:`edge_hub.ingest.commit.commit`. ``inc`` comes last so that rows built
#: without it (13 columns, e.g. bench/metrics.py) still load, as inc 0.
EVENT_COLUMNS = (
    "device", "boot", "seq", "type", "question", "value", "repeat",
    "ts", "time_source", "device_ts", "up", "received_at", "payload", "inc",
)  # fmt: skip
STATUS_COLUMNS = (
    "state", "kind", "fw", "hw", "boot", "up", "battery_mv", "rssi", "heap_free",
    "reset_cause", "outbox", "drops", "safe_mode", "config_rev",
)  # fmt: skip

#: Every reason code the quarantine table can hold.
QUARANTINE_REASONS = {
    **REASONS,
    "unexpected_kind": "the hub accepts only event and status messages from devices",
    "internal": "the contract check failed unexpectedly (a bug; the message is kept)",
    "identity_conflict": (
        "an event whose (device, inc, boot, seq) is stored already with other content: an identity "
        "reused (a cloned flash image, a restored identity file); kept here, acked, and alerted"
    ),
}


def event_row(msg: Message, raw: bytes, received_at: int) -> tuple:
    """The events row of one event (:data:`edge_hub.db.store.EVENT_COLUMNS`), with its best-known
    true time; an event without ``inc`` (older firmware) is inc 0.

    The device clock wins when it was synced (``ts``). Otherwise ``sent_up - up`` says how long
    the event waited in the device's outbox before this copy was sent, which the hub subtracts
    from its own receive time; with neither, the receive time is all there is.
    """
    body = msg.body
    ts, up, sent_up = body.get("ts"), body["up"], body.get("sent_up")
    if ts is not None:
        when, source = ts, "device"
    elif sent_up is not None:
        when, source = received_at - max(0, sent_up - up), "uptime"
    else:
        when, source = received_at, "hub"
    kind = body["type"]
    if kind == "visit":
        question = VISIT_QUESTION
    elif kind == "reading":
        question = body["metric"]
    else:
        question = body.get("question", "csat")
    return (
        msg.device, body["boot"], body["seq"], kind, question, body.get("value"),
        int(body.get("repeat", False)), when, source, ts, up, received_at, raw.decode(), body.get("inc", 0),
    )  # fmt: skip


def status_row(device: str, body: dict[str, Any], raw: str, received_at: int) -> tuple:
    """The ``statuses`` row of :meth:`Store.commit_batch` for one status message."""
    values = [body.get(c) for c in STATUS_COLUMNS]
    return (device, *values, raw, received_at, received_at, received_at, received_at)


def quarantine_row(received_at: int, topic: str, reason: str, detail: str, payload: bytes) -> tuple:
    return (received_at, topic[:512], reason, detail, payload[:QUARANTINE_KEEP_BYTES], len(payload))
