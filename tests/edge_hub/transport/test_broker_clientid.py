"""A device's broker login cannot take over the hub's or another device's client id.

MQTT lets a new connection with a client id already in use throw the earlier one off, and a
clean-session connect under that id wipes its stored session (the messages queued for it).
The hub's Mosquitto forces the client id to the login name on the device listeners
(``use_username_as_clientid``); the hub keeps its own fixed id on a loopback-only listener.
Real Mosquitto and the real hub, raw paho for the devices and the intruder.
"""

from __future__ import annotations

import logging
import threading
import time

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_hub.app import Hub
from edge_hub.config import load_settings
from edge_hub.transport.broker import EmbeddedBroker, find_mosquitto
from tests.helpers import SITE, event_count, free_port, press, topic, wait_until

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs Mosquitto (./otk test installs it)")


class Client:
    """A raw paho client that records its connects and disconnects."""

    def __init__(self, port: int, user: str, password: str, client_id: str, *, clean_session: bool,
                 subscribe: str | None = None, reconnect: bool = True) -> None:  # fmt: skip
        self.connects: list[tuple[int, bool]] = []  # (reason code, session present)
        self.disconnects = 0
        self.messages: list[dict] = []
        self.subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(0.2, 1)

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            self.connects.append((reason_code.value, flags.session_present))
            if not reason_code.is_failure and subscribe:
                client.subscribe(subscribe, 1)

        def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
            self.disconnects += 1
            if not reconnect:
                client.disconnect()

        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append(orjson.loads(m.payload))
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        wait_until(lambda: self.connects, 10, f"{user} ({client_id}) to connect")
        assert self.connects[0][0] == 0, f"{user} refused: {self.connects}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _intrude(port: int, user: str, password: str, client_id: str) -> None:
    """Connect with someone else's client id and a clean session, stay a second, leave."""
    intruder = Client(port, user, password, client_id, clean_session=True, reconnect=False)
    time.sleep(1.0)
    intruder.close()


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        site=SITE, data_dir=tmp_path, broker="mosquitto", listen=f"127.0.0.1:{free_port()}", batch_ms=20
    )


def test_a_device_login_cannot_throw_off_the_hub_or_another_device(settings, caplog):
    hub = Hub(settings)
    hub.start()
    try:
        assert hub.broker.kind == "mosquitto"
        port = hub.broker.port  # the listener the devices use
        honest_pw = hub.broker.add_device("btn-01")
        rogue_pw = hub.broker.add_device("btn-02")
        wait_until(hub.wait_connected, 30, "the hub to connect")
        # the firmware's own client id ("otk-" + device id), persistent session
        honest = Client(port, "btn-01", honest_pw, "otk-btn-01", clean_session=False,
                        subscribe=topic("btn-01", "ack"))  # fmt: skip
        assert honest.subscribed.wait(10)
        with caplog.at_level(logging.WARNING, logger="edge_hub.transport.mqtt"):
            for stolen in (settings.mqtt_client_id, "otk-btn-01", "btn-01"):
                _intrude(port, "btn-02", rogue_pw, stolen)
            time.sleep(1.0)  # a thrown-off hub would have logged it and reconnected by now
        dropped = [r.getMessage() for r in caplog.records if "disconnected from" in r.getMessage()]
        assert not dropped, f"the hub was thrown off: {dropped}"
        assert honest.disconnects == 0 and len(honest.connects) == 1, "the device was thrown off"
        # and both still work end to end: a press is stored and acked to the honest device
        honest.client.publish(topic("btn-01", "event"), orjson.dumps(press("btn-01", seq=1)), qos=1)
        wait_until(lambda: event_count(settings.db_path) == 1, 30, "the press stored")
        wait_until(lambda: any(1 in a["seqs"] for a in honest.messages), 30, "the press acked")
        honest.close()
    finally:
        hub.stop()


def test_the_hubs_queued_messages_survive_a_login_using_its_client_id(settings):
    # 1. the hub runs once: its persistent session (subscriptions) is made
    hub = Hub(settings)
    hub.start()
    try:
        honest_pw = hub.broker.add_device("btn-01")
        rogue_pw = hub.broker.add_device("btn-02")
        wait_until(hub.wait_connected, 30, "the hub to connect")
    finally:
        hub.stop()
    # 2. the broker alone (the hub is down): presses are queued for the hub's session, and a
    #    device login connects under the hub's client id with a clean session
    broker = EmbeddedBroker(settings.data_dir / "broker", site=SITE, kind="mosquitto")
    broker.start()
    try:
        device = Client(broker.port, "btn-01", honest_pw, "otk-btn-01", clean_session=False)
        for seq in (1, 2, 3):
            device.client.publish(topic("btn-01", "event"), orjson.dumps(press("btn-01", seq=seq)), qos=1)
        time.sleep(0.5)
        device.close()
        _intrude(broker.port, "btn-02", rogue_pw, settings.mqtt_client_id)
        time.sleep(1.5)  # autosave_interval 1
    finally:
        broker.stop()
    # 3. the hub comes back and gets every queued press
    hub = Hub(settings)
    hub.start()
    try:
        wait_until(hub.wait_connected, 30, "the hub to reconnect")
        wait_until(lambda: event_count(settings.db_path) == 3, 20, "the 3 presses queued for the hub")
    finally:
        hub.stop()
