"""Web kiosks: a tablet's browser running the office's survey at the hub's ``/kiosk/{device}``,
sending the MQTT contract's messages over HTTP (edge_hub/WEBKIOSK.md).

A web kiosk is a device (kind ``webkiosk``) with its own bearer token, never an admin session.
:func:`provision` makes the token and shows it once (in the provisioning link's fragment,
``/kiosk/{device}#t=TOKEN``); only its SHA-256 is kept (table ``kiosk_tokens``): the token is 256
random bits from :mod:`secrets`, which no dictionary or GPU can search, so a slow password hash
(argon2) would only cost CPU on every request of every tablet, and a deterministic digest is its
own lookup key. :func:`revoke` deletes it: the tablet's next request is refused.

What a tablet posts goes through the very path of an MQTT message
(:func:`edge_hub.ingest.batch.process`: the contract check with the topic the device would have
used, the quarantine, dedup by (device, inc, boot, seq), identity, trust flags, buckets, one
commit), and the answer is the end-to-end acks that path owes, made only after the commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from typing import Any

import mqtt_schemas
from edge_hub.db.tx import immediate, now_ms
from edge_hub.errors import OtklikError
from edge_hub.ingest import batch as ingest_batch
from edge_hub.ingest.contract import Contract
from edge_hub.transport.mqtt import Incoming

#: the device kind a web kiosk's status says (status.schema.json)
KIND = "webkiosk"
TOKEN_PREFIX = "otkw_"
TOKEN_BYTES = 32  # 256 random bits
TOKEN_MAX_LEN = 200  # longer bearer values are refused before hashing
#: events in one request
MAX_EVENTS = 100
#: a web kiosk whose last heartbeat is older than this is marked offline (its "last will")
STALE_MS = 180_000


class WebKioskError(OtklikError, ValueError):
    """A web kiosk cannot be provisioned under this id; the message is "English / Russian"."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def provision(conn: sqlite3.Connection, device: str) -> str:
    """Give ``device`` a new web kiosk token (replacing any it had) and return it: the only time
    it can be seen. The device is registered with kind ``webkiosk`` (so the devices page lists it
    and the survey is sent to it); an id in use by another kind of device is refused."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    now = now_ms()
    with immediate(conn):
        row = conn.execute("SELECT kind FROM devices WHERE device = ?", (device,)).fetchone()
        if row is not None and row[0] not in (None, KIND):
            raise WebKioskError(
                f"{device!r} is a device of kind {row[0]!r}, not a web kiosk: choose another id / "
                f"{device!r} — устройство типа {row[0]!r}, а не веб-киоск: выберите другой id"
            )
        conn.execute(
            "INSERT INTO kiosk_tokens (device, token_hash, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(device) DO UPDATE SET token_hash = excluded.token_hash, "
            "created_at = excluded.created_at",
            (device, _hash(token), now),
        )
        conn.execute(
            "INSERT INTO devices (device, kind, first_seen, last_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(device) DO UPDATE SET kind = coalesce(kind, excluded.kind)",
            (device, KIND, now, now),
        )
    return token


def revoke(conn: sqlite3.Connection, device: str) -> bool:
    """Delete the web kiosk's token (its history stays); False when it had none."""
    with immediate(conn):
        return conn.execute("DELETE FROM kiosk_tokens WHERE device = ?", (device,)).rowcount > 0


def device_for(conn: sqlite3.Connection, token: str) -> str | None:
    """The web kiosk this token belongs to, or None (unknown, revoked)."""
    if not token or len(token) > TOKEN_MAX_LEN:
        return None
    digest = _hash(token)
    row = conn.execute(
        "SELECT device, token_hash FROM kiosk_tokens WHERE token_hash = ?", (digest,)
    ).fetchone()
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    return row[0]


def provisioned(conn: sqlite3.Connection) -> set[str]:
    """The devices that hold a web kiosk token now."""
    return {device for (device,) in conn.execute("SELECT device FROM kiosk_tokens")}


def link(base_url: str, device: str, token: str) -> str:
    """The provisioning link: the page at ``/kiosk/{device}``, the token in the fragment (a
    fragment never leaves the browser: not in a request line, a proxy's log or a Referer)."""
    return f"{base_url.rstrip('/')}/kiosk/{device}#t={token}"


def _raw(item: Any) -> bytes:
    # the bytes the device would have published; NaN or Infinity come out as the contract's bad_json
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


def _identity(item: Any) -> tuple[Any, Any]:
    if isinstance(item, dict):
        return item.get("boot"), item.get("seq")
    return None, None


def post(
    conn: sqlite3.Connection,
    contract: Contract,
    site: str,
    device: str,
    kind: str,
    items: list[Any],
    stats: ingest_batch.IngestStats,
) -> ingest_batch.Outcome:
    """Ingest ``items`` as messages of ``kind`` (``event`` or ``status``) on ``device``'s topic,
    one batch, one commit (:func:`edge_hub.ingest.batch.process`)."""
    topic = mqtt_schemas.topic(site, device, kind)
    received_at = now_ms()
    batch = [Incoming(topic, _raw(item), index, 0, False, received_at) for index, item in enumerate(items)]
    return ingest_batch.process(conn, contract, batch, stats)


def events_answer(device: str, items: list[Any], outcome: ingest_batch.Outcome) -> dict[str, Any]:
    """The answer to a batch of events: the end-to-end acks (the contract's ack messages, one per
    (inc, boot)), each refused event with its quarantine reason, and the counts."""
    acks = [
        {"v": 1, "device": dev, "inc": inc, "boot": boot, "seqs": seqs}
        for (dev, inc, boot), seqs in outcome.acks.items()
    ]
    refused = []
    for index, (reason, detail) in sorted(outcome.refused.items()):
        boot, seq = _identity(items[index])
        refused.append({
            "index": index, "reason": reason, "detail": detail,
            "boot": boot if type(boot) is int else None, "seq": seq if type(seq) is int else None,
        })  # fmt: skip
    committed = outcome.committed
    return {
        "device": device, "acks": acks, "refused": refused, "stored": committed.inserted,
        "duplicates": committed.duplicates(outcome.events), "conflicts": committed.conflicts,
    }  # fmt: skip


def expire(conn: sqlite3.Connection, contract: Contract, site: str, stats: ingest_batch.IngestStats,
           now: int | None = None) -> list[str]:  # fmt: skip
    """Mark offline the web kiosks online without a heartbeat for :data:`STALE_MS`: a tablet has
    no broker to publish its last will, so the hub stores that will for it (the same offline
    status, through the same path). Returns the devices marked."""
    now = now_ms() if now is None else now
    stale = [
        device
        for (device,) in conn.execute(
            "SELECT device FROM devices WHERE kind = ? AND state = 'online' AND last_status_at < ?",
            (KIND, now - STALE_MS),
        )
    ]
    for device in stale:
        post(conn, contract, site, device, "status", [{"v": 1, "device": device, "state": "offline"}], stats)
    return stale
