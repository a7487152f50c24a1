"""Every valid event example of the MQTT contract, stored through the real ingest path, is listed by
``GET /api/v1/events`` as it was sent (issue 12, point 2: a fractional reading gave a 500)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

import mqtt_schemas
from edge_hub.app import create_app
from edge_hub.runtime import Runtime
from edge_hub.transport.mqtt import Incoming
from tests.helpers import SITE, FedHub

EVENT_EXAMPLES = [p for p in mqtt_schemas.examples("valid") if p.name.startswith("event-")]
RECEIVED = 1_795_000_000_000


def _feed(hub: FedHub, paths: list[Path]) -> None:
    batch = []
    for mid, path in enumerate(paths, 1):
        to, raw, _doc = mqtt_schemas.load_example(path)
        assert to.split("/")[2] == SITE, f"{path.name} is for another site"
        batch.append(Incoming(to, raw, mid, 1, False, RECEIVED))
    hub.ingestor.process(batch)


def _without_phone(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "phone"}


def _client(path: Path) -> TestClient:
    return TestClient(create_app(Runtime(SITE, path, "mqtt://test", None, None)))


def test_there_are_event_examples_of_each_type():
    types = {orjson.loads(mqtt_schemas.load_example(p)[1]).get("type") for p in EVENT_EXAMPLES}
    assert {"press", "reading", "visit"} <= types


@pytest.mark.parametrize("path", EVENT_EXAMPLES, ids=[p.stem for p in EVENT_EXAMPLES])
def test_each_valid_event_example_is_listed_as_sent(tmp_path, path):
    hub = FedHub(tmp_path / "hub.db")
    try:
        _feed(hub, [path])
    finally:
        hub.close()
    _to, raw, _doc = mqtt_schemas.load_example(path)
    sent = orjson.loads(raw)
    answer = _client(tmp_path / "hub.db").get("/api/v1/events")
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    # a kiosk visitor's call-back number is never listed: only admins and managers see it, on its
    # alert (edge_hub/PRIVACY.md)
    assert "phone" not in item["payload"]
    assert item["payload"] == _without_phone(sent)
    assert (item["device"], item["type"], item["boot"], item["seq"]) == (
        sent["device"], sent["type"], sent["boot"], sent["seq"],
    )  # fmt: skip
    assert item["inc"] == sent.get("inc", 0)
    if "value" in sent:
        assert item["value"] == sent["value"] and type(item["value"]) is type(sent["value"])


def test_all_valid_event_examples_together_are_listed(tmp_path):
    """In one database, some examples share a key (a resend, or the same key with other content,
    which goes to quarantine): every stored event is listed, page by page, with no error."""
    hub = FedHub(tmp_path / "hub.db")
    try:
        _feed(hub, EVENT_EXAMPLES)
        stored = hub.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        hub.close()
    api = _client(tmp_path / "hub.db")
    seen, cursor = [], None
    while True:
        answer = api.get("/api/v1/events", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        seen += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == stored >= len(EVENT_EXAMPLES) - 3
    assert 812.5 in {item["value"] for item in seen}
    for type_ in ("reading", "visit", "press"):
        listed = api.get("/api/v1/events", params={"type": type_})
        assert listed.status_code == 200 and {i["type"] for i in listed.json()["items"]} == {type_}
