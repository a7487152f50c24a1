"""Smoke test of the amqtt fallback broker: used only where no Mosquitto binary exists."""

from __future__ import annotations

import logging

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_hub.app import Hub
from edge_hub.config import load_settings
from tests.helpers import SITE, event_count, free_port, press, topic, wait_until


def test_amqtt_fallback_stores_and_acks_and_warns(tmp_path, caplog):
    settings = load_settings(
        site=SITE, data_dir=tmp_path, broker="amqtt", listen=f"127.0.0.1:{free_port()}", batch_ms=20
    )
    hub = Hub(settings)
    with caplog.at_level(logging.WARNING, logger="edge_hub.transport.broker"):
        hub.start()
    try:
        assert any("NOT lossless" in r.getMessage() for r in caplog.records)
        assert hub.broker.kind == "amqtt" and not hub.broker.lossless
        wait_until(hub.wait_connected, 30, "the hub to connect to amqtt")
        acks = []
        device = paho.Client(CallbackAPIVersion.VERSION2, client_id="amqtt-dev", protocol=paho.MQTTv311)
        subscribed = []
        device.on_message = lambda c, u, m: acks.append(orjson.loads(m.payload))
        device.on_connect = lambda c, u, f, rc, p: c.subscribe(topic("btn-01", "ack"), 1)
        device.on_subscribe = lambda c, u, mid, rcs, p: subscribed.append(mid)
        device.connect("127.0.0.1", hub.broker.port)
        device.loop_start()
        wait_until(lambda: subscribed, 10, "the device to subscribe to its acks")
        for seq in (1, 2, 3):
            device.publish(topic("btn-01", "event"), orjson.dumps(press("btn-01", seq=seq)), qos=1)
        wait_until(lambda: event_count(settings.db_path) == 3, 30, "3 events via amqtt")
        wait_until(lambda: {s for a in acks for s in a["seqs"]} == {1, 2, 3}, 30, "the acks via amqtt")
        device.loop_stop()
        device.disconnect()
    finally:
        hub.stop()
