"""The MQTT contract check: topic, size, encoding, JSON and schema, in that order.

Schemas are compiled once when a :class:`Contract` is built; :meth:`Contract.parse` is on
the ingest hot path and turns raw bytes into a typed message or raises
:class:`~edge_hub.errors.ContractError` with a reason code for the quarantine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

import mqtt_schemas
from edge_hub.errors import ContractError

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_PAYLOAD = 4096

#: Reason codes stored in the quarantine table.
REASONS = {
    "bad_topic": "topic is not otk/v1/{site}/{device}/{kind}",
    "wrong_site": "topic names another site",
    "too_large": "payload over the size limit",
    "not_utf8": "payload is not UTF-8",
    "bad_json": "payload is not JSON",
    "not_object": "payload is not a JSON object",
    "bad_version": "unsupported schema version",
    "unknown_type": "unknown message type",
    "schema": "payload does not match the schema",
    "device_mismatch": "device id in the payload differs from the topic",
    "bad_identity": "inc, boot, seq or up is a number with a decimal point (JSON Schema allows 7.0)",
}

#: kinds whose optional ``inc`` (incarnation id, part of an event's identity) must be a plain integer
_WITH_INC = frozenset(("event", "status", "ack"))
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class Message:
    """A message that passed the contract check."""

    topic: str
    site: str
    device: str
    kind: str
    body: dict[str, Any]


def _valid_id(text: str) -> bool:
    return 0 < len(text) <= 32 and text[0] not in "_-" and _ID_CHARS.issuperset(text)


def _redacted(detail: str, body: dict[str, Any]) -> str:
    """The detail of a schema error without the visitor's phone number: error messages quote the
    offending value, and the detail is stored and shown in the quarantine (the raw payload, which
    still holds it, is the hub's to purge with the phone numbers it keeps)."""
    if "phone" not in body:
        return detail
    phone = body["phone"]
    quoted = orjson.dumps(phone).decode()
    forms = {quoted, quoted[1:-1], phone} if type(phone) is str else {quoted}
    for form in sorted((f for f in forms if f), key=len, reverse=True):
        detail = detail.replace(form, "<phone>")
    return detail


def split_topic(topic: str) -> tuple[str, str, str]:
    """(site, device, kind) of a contract topic, or ContractError('bad_topic')."""
    parts = topic.split("/")
    if (
        len(parts) != 5
        or parts[0] != "otk"
        or parts[1] != "v1"
        or parts[4] not in mqtt_schemas.KINDS
        or not _valid_id(parts[2])
        or not _valid_id(parts[3])
    ):
        raise ContractError("bad_topic", topic[:200])
    return parts[2], parts[3], parts[4]


class Contract:
    """Compiled validators for every message kind and event type."""

    def __init__(self, *, max_payload: int = DEFAULT_MAX_PAYLOAD, site: str | None = None) -> None:
        self.max_payload = max_payload
        self.site = site
        docs = mqtt_schemas.schemas()
        registry = jsonschema_rs.Registry(list(docs.items()))

        def compile_(name: str):
            return jsonschema_rs.validator_for(docs[mqtt_schemas.schema_uri(name)], registry=registry)

        self._kinds = {kind: compile_(kind) for kind in mqtt_schemas.KINDS if kind != "event"}
        self._events = {etype: compile_(f"event-{etype}") for etype in mqtt_schemas.EVENT_TYPES}
        _LOGGER.debug("compiled %d schemas", len(self._kinds) + len(self._events))

    def parse(self, topic: str, payload: bytes) -> Message:
        """Check one raw message; return it typed or raise ContractError."""
        site, device, kind = split_topic(topic)
        if self.site is not None and site != self.site:
            raise ContractError("wrong_site", site)
        if len(payload) > self.max_payload:
            raise ContractError("too_large", f"{len(payload)} bytes > {self.max_payload}")
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as uexc:
                raise ContractError("not_utf8", str(uexc)) from None
            raise ContractError("bad_json", str(exc)) from None
        if type(body) is not dict:
            raise ContractError("not_object", type(body).__name__)
        version = body.get("v")
        if version != mqtt_schemas.SCHEMA_VERSION or type(version) is not int:
            raise ContractError("bad_version", repr(version)[:40])
        if kind == "event":
            etype = body.get("type")
            validator = self._events.get(etype) if type(etype) is str else None
            if validator is None:
                raise ContractError("unknown_type", repr(etype)[:40])
        else:
            validator = self._kinds[kind]
        if not validator.is_valid(body):
            error = next(iter(validator.iter_errors(body)))
            path = "/".join(str(p) for p in error.instance_path)
            raise ContractError("schema", _redacted(f"/{path}: {error.message}", body)[:300])
        if kind == "event":
            # JSON Schema counts 7.0 as an integer; an identity must be a plain integer.
            for name in ("boot", "seq", "up"):
                if type(body[name]) is not int:
                    raise ContractError("bad_identity", f"/{name}: {body[name]!r} is not a plain integer")
        if kind in _WITH_INC:
            inc = body.get("inc", 0)
            if type(inc) is not int:
                raise ContractError("bad_identity", f"/inc: {inc!r} is not a plain integer")
        if kind != "cmd" and body["device"] != device:
            raise ContractError("device_mismatch", f"{body['device']!r} on the topic of {device!r}")
        return Message(topic, site, device, kind, body)
