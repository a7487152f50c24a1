"""Exactly once across crashes: the hub SIGKILLed mid-stream, the broker SIGKILLed under load."""

from __future__ import annotations

import signal
import time

from tests.helpers import DEVICES, DeviceClient, db_rows, event_count, press, wait_until

N_EVENTS = 20_000


def _identities(db) -> list[tuple[str, int, int]]:
    return db_rows(db, "SELECT device, boot, seq FROM events")


def test_hub_sigkill_mid_stream_stores_every_event_exactly_once(broker, hub_process):
    hub = hub_process()
    devices = [DeviceClient(broker, d) for d in DEVICES[:10]]
    killed_at = None
    for i in range(N_EVENTS):
        devices[i % 10].send(press(DEVICES[i % 10], boot=1, seq=i // 10 + 1))
        if killed_at is None and i >= N_EVENTS // 3 and event_count(hub.db) > 0:
            hub.kill()  # mid-batch, while thousands are still arriving
            killed_at = event_count(hub.db)
            hub.start(wait=False)
    for device in devices:
        device.wait_published()
    wait_until(lambda: event_count(hub.db) >= N_EVENTS, 120, f"{N_EVENTS} events after the restart")
    time.sleep(0.5)  # any straggling duplicate would land now
    ids = _identities(hub.db)
    expected = {(DEVICES[i % 10], 1, i // 10 + 1) for i in range(N_EVENTS)}
    assert len(ids) == N_EVENTS and set(ids) == expected
    assert 0 < killed_at < N_EVENTS, "the kill must land mid-stream"
    for device in devices:
        device.close()


def test_broker_sigkill_loses_nothing_the_hub_had_not_yet_received(broker, hub_process):
    """Events queued in Mosquitto for a stalled hub survive a broker SIGKILL (persistence, autosave 1 s)."""
    hub = hub_process()
    device = DeviceClient(broker, "btn-01", client_id="btn-01-persistent", clean_session=False)
    for seq in range(1, 5001):
        device.send(press("btn-01", boot=1, seq=seq))
    device.wait_published()
    wait_until(lambda: event_count(hub.db) == 5000, 60, "the first 5,000 events")
    hub.signal(signal.SIGSTOP)  # the hub stalls: everything from here waits in the broker's queue
    for seq in range(5001, N_EVENTS + 1):
        device.send(press("btn-01", boot=1, seq=seq))
    device.wait_published()  # every event PUBACKed: the broker has them all
    time.sleep(2.5)  # past autosave_interval 1 s
    broker.kill()
    hub.signal(signal.SIGCONT)
    broker.start()
    wait_until(lambda: event_count(hub.db) >= N_EVENTS, 120, "every queued event after the broker restart")
    time.sleep(0.5)
    assert sorted(seq for _, _, seq in _identities(hub.db)) == list(range(1, N_EVENTS + 1))
    device.close()


def test_broker_sigkill_mid_stream_with_device_outbox_stores_everything_once(broker, hub_process):
    """The end-to-end promise: a device resends what the hub has not acked, across a broker crash."""
    hub = hub_process()
    device = DeviceClient(broker, "btn-02", client_id="btn-02-persistent", clean_session=False)
    total = 6000
    for seq in range(1, total + 1):
        device.send(press("btn-02", boot=2, seq=seq), window=200)
        if seq == total // 2:
            broker.kill()
            broker.start()
    wait_until(lambda: device.connected.is_set(), 30, "the device to reconnect")
    deadline = time.monotonic() + 90
    while len(device.outbox) and time.monotonic() < deadline:
        time.sleep(2)
        device.resend_unacked()  # what a firmware outbox does for events not acked in time
    assert not device.outbox, f"{len(device.outbox)} events never acked"
    assert sorted(seq for _, _, seq in _identities(hub.db)) == list(range(1, total + 1))
    device.close()
