"""Publisher-side flow control: paho silently refuses QoS 1 publishes past 65,535 outstanding.

The first test shows the trap with bare paho; the second shows the hub's MqttConnection (which
publishes its end-to-end acks) never reaches it and still delivers every message.
"""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge_hub.transport.mqtt import PAHO_MID_LIMIT, BrokerAddress, MqttConnection
from tests.helpers import DeviceClient, topic, wait_until

N = PAHO_MID_LIMIT + 4_465  # 70,000


def test_bare_paho_silently_refuses_past_65535_outstanding(broker):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bare", protocol=paho.MQTTv311)
    client.username_pw_set(*broker.hub_creds)
    client.connect("127.0.0.1", broker.hub_port)
    # no loop: no PUBACK is ever processed, so every publish stays outstanding
    codes = [client.publish(topic("btn-01", "ack"), b"{}", qos=1).rc for _ in range(PAHO_MID_LIMIT + 10)]
    assert codes[:PAHO_MID_LIMIT].count(MQTTErrorCode.MQTT_ERR_QUEUE_SIZE) == 0
    assert codes[PAHO_MID_LIMIT:] == [MQTTErrorCode.MQTT_ERR_QUEUE_SIZE] * 10  # no exception, just lost
    client.disconnect()


def test_hub_connection_keeps_below_the_limit_and_delivers_everything(broker):
    receiver = DeviceClient(broker, "btn-01")  # subscribes to btn-01's ack topic
    received = []
    receiver.client.on_message = lambda c, u, msg: received.append(msg.payload)
    conn = MqttConnection(
        BrokerAddress("127.0.0.1", broker.hub_port, *broker.hub_creds), "flow-test", max_outstanding=5000
    )
    wait_until(lambda: (conn.loop(0.05), conn.connected)[1], 10, "connection")
    for i in range(N):  # far more than paho can hold, queued without running the loop
        conn.publish(topic("btn-01", "ack"), str(i).encode(), qos=1)
    assert conn.outstanding == 5000 and conn.backlog == N - 5000
    wait_until(lambda: (conn.loop(0.01), conn.backlog == 0 and conn.outstanding == 0)[1], 120, "all PUBACKs")
    assert conn.refused == 0
    assert conn.peak_outstanding <= 5000 < PAHO_MID_LIMIT
    wait_until(lambda: len(received) >= N, 60, f"{N} messages at the subscriber")
    assert sorted(int(p) for p in received) == list(range(N))
    conn.close()
    receiver.close()
