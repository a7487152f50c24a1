"""Identify: POST /api/v1/devices/{device}/identify publishes a contract-valid ``cmd`` message on
the device's cmd topic at QoS 1, through the hub's own MQTT connection (a real Mosquitto and a
real ``edge-hub run`` process; the device is a raw paho client)."""

from __future__ import annotations

import time

import httpx
import jsonschema_rs
import pytest

import mqtt_schemas
from edge_hub.runtime import NotConnected, Runtime, UnknownDevice
from tests.helpers import SITE, Broker, DeviceClient, HubProcess, TopicListener, press, wait_until


def cmd_validator():
    """The contract's cmd schema, compiled on its own (not through the hub's Contract)."""
    docs = mqtt_schemas.schemas()
    registry = jsonschema_rs.Registry(list(docs.items()))
    return jsonschema_rs.validator_for(docs[mqtt_schemas.schema_uri("cmd")], registry=registry)


@pytest.fixture
def hub(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    hub = HubProcess(broker, tmp_path / "hub").start()
    device = DeviceClient(broker, "btn-01")  # the registry learns the device from an event
    device.send(press("btn-01", ts=int(time.time() * 1000)))
    device.wait_acked({(1, 1)})
    device.close()
    yield hub
    hub.stop()
    broker.stop()


def test_identify_reaches_the_device_as_a_valid_command(hub):
    base = f"http://127.0.0.1:{hub.port}/api/v1"
    listener = TopicListener(hub.broker, "btn-01")
    try:
        started = time.monotonic()
        response = httpx.post(f"{base}/devices/btn-01/identify", params={"seconds": 7}, timeout=10)
        assert response.status_code == 202, response.text
        sent = response.json()
        assert sent["topic"] == f"otk/v1/{SITE}/btn-01/cmd" and sent["cmd"] == "identify"
        topic, qos, body = listener.wait_for(sent["id"])
        took = time.monotonic() - started
        assert topic == sent["topic"] and qos == 1
        assert cmd_validator().is_valid(body), list(cmd_validator().iter_errors(body))
        assert body["v"] == 1 and body["cmd"] == "identify" and body["args"] == {"seconds": 7}
        assert body["id"].startswith("c-") and abs(body["ts"] - time.time() * 1000) < 60_000
        # the default is 10 s
        again = httpx.post(f"{base}/devices/btn-01/identify", timeout=10).json()
        assert listener.wait_for(again["id"])[2]["args"] == {"seconds": 10}
        print(f"identify: API call -> device received it in {took * 1000:.0f} ms")
    finally:
        listener.close()


def test_identify_refusals(hub):
    base = f"http://127.0.0.1:{hub.port}/api/v1"
    unknown = httpx.post(f"{base}/devices/btn-19/identify", timeout=10)
    assert unknown.status_code == 404 and "неизвестное устройство" in unknown.json()["detail"]
    for seconds in (0, 301):
        assert httpx.post(f"{base}/devices/btn-01/identify", params={"seconds": seconds}).status_code == 422
    assert httpx.post(f"{base}/devices/Bad..Id/identify").status_code == 422
    # no broker: 503 with the reason in both languages
    hub.broker.stop()
    wait_until(lambda: not hub.connected(), 15, "the hub to notice the broker is gone", interval=0.1)
    down = httpx.post(f"{base}/devices/btn-01/identify", timeout=10)
    assert down.status_code == 503
    assert down.json()["detail"] == "the hub is not connected to the broker / хаб не подключён к брокеру"


def test_runtime_command_without_ingest(tmp_path):
    from edge_hub.db.store import Store

    store = Store.open(tmp_path / "hub.db")
    store.conn.execute("INSERT INTO devices (device, first_seen, last_seen) VALUES ('btn-01', 1, 1)")
    store.conn.commit()
    store.close()
    runtime = Runtime(SITE, tmp_path / "hub.db", "mqtt://127.0.0.1:1")
    with pytest.raises(UnknownDevice, match="unknown device 'btn-02'"):
        runtime.command("btn-02", "identify", {"seconds": 5})
    with pytest.raises(NotConnected, match="хаб не подключён к брокеру"):
        runtime.command("btn-01", "identify", {"seconds": 5})
