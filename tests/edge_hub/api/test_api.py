"""The HTTP API against a real SQLite database and, for health, a real hub and broker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.db.store import Store
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.ingestor import Ingestor
from edge_hub.runtime import Runtime
from edge_hub.transport.mqtt import BrokerAddress, Incoming
from tests.helpers import SITE, DeviceClient, press, topic, wait_until

T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z


@pytest.fixture
def filled(tmp_path) -> Path:
    """A database with 25 presses of btn-01, 10 of btn-02 (one minute apart), a status, and 3 bad messages."""
    db = tmp_path / "api.db"
    store = Store.open(db)
    ingestor = Ingestor(store, Contract(site=SITE), BrokerAddress("127.0.0.1", 1), site=SITE, client_id="t")
    batch = []
    for i in range(35):
        device = "btn-01" if i < 25 else "btn-02"
        body = press(device, seq=i + 1, ts=T0 + i * 60_000, value=i % 5 + 1)
        batch.append(Incoming(topic(device, "event"), orjson.dumps(body), i, 1, False, T0 + i * 60_000))
    status = {"v": 1, "device": "btn-01", "state": "online", "fw": "0.1.0", "rssi": -50}
    batch.append(Incoming(topic("btn-01", "status"), orjson.dumps(status), 90, 1, False, T0))
    batch.append(Incoming(topic("btn-01", "event"), b"\xff\xfe", 91, 1, False, T0))
    batch.append(Incoming(topic("btn-01", "event"), b"{", 92, 1, False, T0))
    batch.append(Incoming(topic("btn-02", "event"), b"x" * 5000, 93, 1, False, T0))
    ingestor.process(batch)
    store.close()
    return db


@pytest.fixture
def client(filled):
    return TestClient(create_app(Runtime(SITE, filled, "mqtt://test")))


def test_events_newest_first_with_cursor_pagination(client):
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/events", params={"limit": 10, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(35, 0, -1))


def test_events_filters(client):
    only_2 = client.get("/api/v1/events", params={"device": "btn-02", "limit": 100}).json()["items"]
    assert {e["device"] for e in only_2} == {"btn-02"} and len(only_2) == 10
    assert client.get("/api/v1/events", params={"type": "survey"}).json()["items"] == []
    window = client.get(
        "/api/v1/events", params={"since": "2026-11-18T11:06:40Z", "until": "2026-11-18T11:09:40Z"}
    ).json()["items"]
    assert [e["seq"] for e in window] == [3, 2, 1]  # one a minute from T0; until is exclusive
    event = window[0]
    assert event["time"].startswith("2026-11-18T11:08:40") and event["time_source"] == "device"
    assert event["payload"]["seq"] == 3


def test_events_bad_input_is_a_clear_400_or_422(client):
    assert client.get("/api/v1/events", params={"cursor": "abc"}).status_code == 400
    assert client.get("/api/v1/events", params={"since": "yesterday"}).status_code == 422
    assert client.get("/api/v1/events", params={"limit": 0}).status_code == 422


def test_quarantine_lists_reason_and_payload(client):
    items = client.get("/api/v1/quarantine").json()["items"]
    assert [i["reason"] for i in items] == ["too_large", "bad_json", "not_utf8"]
    too_large, bad_json, not_utf8 = items
    assert too_large["size"] == 5000 and too_large["truncated"] and len(too_large["payload_text"]) == 1024
    assert bad_json["payload_text"] == "{" and bad_json["payload_hex"] is None
    assert not_utf8["payload_hex"] == "fffe" and not_utf8["reason_text"]
    assert (
        client.get("/api/v1/quarantine", params={"reason": "bad_json"}).json()["items"][0]["id"]
        == bad_json["id"]
    )


def test_devices_registry(client):
    devices = {d["device"]: d for d in client.get("/api/v1/devices").json()}
    assert devices["btn-01"]["state"] == "online" and devices["btn-01"]["fw"] == "0.1.0"
    assert devices["btn-02"]["state"] is None and devices["btn-02"]["last_seen"]  # seen through events only


def test_openapi_documents_every_route(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/devices", "/api/v1/events", "/api/v1/quarantine", "/healthz"} <= set(paths)


def test_page_is_served_in_russian_and_english(client):
    html = client.get("/").text
    assert "Отклик" in html and "Otklik" in html and "cdn" not in html.lower()


def test_healthz_reports_broker_database_lag_and_counts(hub, broker):
    api = TestClient(create_app(hub.runtime))
    device = DeviceClient(broker, "btn-03")
    device.send(press("btn-03", seq=1))
    device.wait_acked({(1, 1)})
    body = api.get("/healthz").json()
    assert body["status"] == "ok" and body["broker"]["connected"] and body["database"]["writable"]
    assert body["counts"]["events"] == 1 and body["ingest"]["stored"] == 1 and body["ingest"]["lag_ms"] >= 0
    broker.kill()
    wait_until(lambda: api.get("/healthz").status_code == 503, 30, "healthz to report the broker gone")
    assert api.get("/healthz").json()["broker"]["connected"] is False
    device.client.loop_stop()
