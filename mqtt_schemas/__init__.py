"""The Otklik MQTT contract: JSON Schemas, the AsyncAPI document and example messages.

This package holds data, not logic: the hub (``edge_hub.ingest.contract``), the firmware tests and
the tools all load the same files from here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schemas"
EXAMPLES_DIR = HERE / "examples"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"

BASE_URI = "https://schemas.otklik.dev/mqtt/v1/"
TOPIC_PREFIX = "otk/v1"
#: Message kinds, i.e. the last topic level: otk/v1/{site}/{device}/{kind}.
KINDS = ("event", "status", "ack", "config", "cmd")
#: Event types with a body schema ``event-<type>.schema.json``.
EVENT_TYPES = ("press", "visit", "reading")
SCHEMA_VERSION = 1


@cache
def schemas() -> dict[str, dict]:
    """Every schema document by its ``$id``."""
    docs = (json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.schema.json")))
    return {doc["$id"]: doc for doc in docs}


def schema_uri(name: str) -> str:
    """The ``$id`` of a schema file name such as ``status`` or ``event-press``."""
    return f"{BASE_URI}{name}.schema.json"


def topic(site: str, device: str, kind: str) -> str:
    """The topic of a message kind for one device."""
    return f"{TOPIC_PREFIX}/{site}/{device}/{kind}"


def load_example(path: Path) -> tuple[str, bytes, dict]:
    """An example file as (topic, raw payload bytes, the whole example document).

    The payload is given as ``payload`` (any JSON value, serialised compactly),
    ``payload_text`` (a non-JSON body, sent as UTF-8) or ``payload_hex`` (raw bytes,
    for bodies that are not even UTF-8).
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "payload" in doc:
        raw = json.dumps(doc["payload"], ensure_ascii=False, separators=(",", ":")).encode()
    elif "payload_text" in doc:
        raw = doc["payload_text"].encode()
    else:
        raw = bytes.fromhex(doc["payload_hex"])
    return doc["topic"], raw, doc


def examples(which: str) -> list[Path]:
    """The example files under ``examples/valid`` or ``examples/invalid``."""
    return sorted((EXAMPLES_DIR / which).glob("*.json"))
