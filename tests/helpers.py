"""Test factories and real-service helpers: a Mosquitto broker, raw paho device clients, a hub process.

Tests use real services only; nothing here mocks the hub. Device clients speak raw paho so that
the hub's own MQTT code is never used to check itself.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge_hub.db.store import Store
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.ingestor import Ingestor
from edge_hub.transport.broker import (
    HUB_USER,
    find_mosquitto,
    free_port,
    stop_process,
    wait_for_port,
    write_mosquitto_config,
)
from edge_hub.transport.mqtt import BrokerAddress, Incoming
from emotion_model.labels import LABELS

SITE = "office-1"
DEVICES = tuple(f"btn-{i:02d}" for i in range(1, 21))
#: feedback terminals (survey kiosks) with a login on the test broker
TERMINALS = ("kiosk-01", "kiosk-02", "kiosk-03")
EMOTION_LABELS = LABELS  # the contract's, from emotion_model/labels.py


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def press(device: str = "btn-01", boot: int = 1, seq: int = 1, **extra) -> dict:
    """A valid press event body."""
    body = {
        "v": 1, "type": "press", "device": device, "boot": boot, "seq": seq,
        "up": 1000 + seq, "ts": 1795000000000 + seq, "button": 5, "value": 5, "question": "csat",
    }  # fmt: skip
    body.update(extra)
    return body


def topic(device: str, kind: str, site: str = SITE) -> str:
    return f"otk/v1/{site}/{device}/{kind}"


class FedHub:
    """A hub database (real SQLite) fed through the real ingest path: each message goes through
    the contract and ``Ingestor.process`` as if it came from the broker, without one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = Store.open(path)
        self.conn = self.store.conn
        self.ingestor = Ingestor(
            self.store, Contract(site=SITE), BrokerAddress("127.0.0.1", 1), site=SITE, client_id="t"
        )
        self.seqs: dict[str, count] = {}
        self.mids = count(1)

    def presses(self, items) -> None:
        """(ts, value, device, question, extra fields) each, in one ingest batch."""
        batch = []
        for ts, value, device, question, extra in items:
            seq = next(self.seqs.setdefault(device, count(1)))
            body = press(device, seq=seq, ts=ts, value=value, question=question, **extra)
            batch.append(Incoming(topic(device, "event"), orjson.dumps(body), next(self.mids), 1, False, ts))
        self.ingestor.process(batch)

    def press(self, ts: int, value: int, device: str = "btn-01", question: str = "csat", **extra) -> None:
        self.presses([(ts, value, device, question, extra)])

    def event(self, device: str, ts: int, type_: str, **fields) -> None:
        """One event of another type (visit, reading) with the next seq of its device."""
        seq = next(self.seqs.setdefault(device, count(1)))
        body = {"v": 1, "type": type_, "device": device, "boot": 1, "seq": seq, "up": 1000 + seq, "ts": ts}
        body.update(fields)
        self.send(topic(device, "event"), body, ts)

    def visit(self, ts: int, dominant: str, device: str = "cam-01", duration_ms: int = 5000) -> None:
        dist = dict.fromkeys(EMOTION_LABELS, 0.0) | {dominant: 1.0}
        self.event(device, ts, "visit", duration_ms=duration_ms, frames=10, dominant=dominant, dist=dist)

    def reading(self, ts: int, metric: str, value: float, device: str = "sensor-01") -> None:
        self.event(device, ts, "reading", metric=metric, value=value)

    def status(self, device: str, received_at: int, **fields) -> None:
        body = {"v": 1, "device": device, "state": "online", **fields}
        self.send(topic(device, "status"), body, received_at)

    def send(self, to: str, body: dict, received_at: int) -> None:
        self.ingestor.process([Incoming(to, orjson.dumps(body), next(self.mids), 1, False, received_at)])

    def close(self) -> None:
        self.store.close()


def db_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    if not Path(path).exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def event_count(path: Path) -> int:
    rows = db_rows(path, "SELECT count(*) FROM events")
    return rows[0][0] if rows else 0


class Broker:
    """A real Mosquitto with the hub's own generated config, on a free loopback port."""

    def __init__(self, directory: Path, site: str = SITE) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: run ./otk test, which installs it")
        self.binary = binary
        self.port = free_port()  # the device listener: client id forced to the login name
        self.hub_port = free_port()  # the hub's loopback listener: for the hub's login
        self.files, self.passwords = write_mosquitto_config(
            directory, site=site, port=self.port, devices=dict.fromkeys(DEVICES + TERMINALS),
            hub_port=self.hub_port,
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def hub_url(self) -> str:
        """Where clients with the hub's login connect (several may, each with its own client id)."""
        return f"mqtt://127.0.0.1:{self.hub_port}"

    def port_for(self, user: str) -> int:
        return self.hub_port if user == HUB_USER else self.port

    def creds(self, user: str) -> tuple[str, str]:
        return user, self.passwords[user]

    @property
    def hub_creds(self) -> tuple[str, str]:
        return self.creds(HUB_USER)

    def start(self) -> Broker:
        log = open(self.files.directory / "stderr.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([self.binary, "-c", str(self.files.conf)], stdout=log, stderr=log)
        log.close()
        wait_for_port("127.0.0.1", self.port, 10, self.proc)
        wait_for_port("127.0.0.1", self.hub_port, 10, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to save anything beyond what autosave already wrote."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


class DeviceClient:
    """A raw paho client acting as a device (or, with the hub's credentials, as an injector).

    Keeps at most ``window`` QoS 1 publishes unacknowledged by the broker, collects the hub's
    end-to-end acks, and can resend every event the hub has not acked (the device outbox).
    ``acked`` holds (boot, seq) of every acked event whatever its incarnation; ``acked_ids`` and
    the outbox go by the full identity (inc, boot, seq), an ack without ``inc`` being inc 0.
    """

    def __init__(
        self,
        broker: Broker,
        device: str = "btn-01",
        *,
        user: str | None = None,
        client_id: str | None = None,
        clean_session: bool = True,
        will: bytes | None = None,
    ) -> None:
        self.device = device
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{device}-{os.getpid()}-{time.monotonic_ns()}",
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(*broker.creds(user or device))
        if will is not None:
            self.client.will_set(topic(device, "status"), will, 1, retain=True)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.1, 1)
        self.acked: set[tuple[int, int]] = set()
        self.acked_ids: set[tuple[int, int, int]] = set()
        self.ack_messages: list[dict] = []
        self.outbox: dict[tuple[int, int, int], bytes] = {}
        self._outstanding = 0  # QoS 1 publishes not yet acknowledged by the broker
        self._cond = threading.Condition()
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.connect("127.0.0.1", getattr(broker, "port_for", lambda u: broker.port)(user or device),
                            keepalive=30)  # fmt: skip
        self.client.loop_start()
        if not self.connected.wait(10):
            raise AssertionError(f"{device} could not connect to the broker")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe(topic(self.device, "ack"), 1)
            self.connected.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._outstanding -= 1
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg) -> None:
        body = orjson.loads(msg.payload)
        with self._cond:
            self.ack_messages.append(body)
            inc = body.get("inc", 0)
            for seq in body["seqs"]:
                self.acked.add((body["boot"], seq))
                self.acked_ids.add((inc, body["boot"], seq))
                self.outbox.pop((inc, body["boot"], seq), None)
            self._cond.notify_all()

    def publish_raw(
        self, topic_: str, payload: bytes, qos: int = 1, retain: bool = False, window: int = 1000
    ):
        # Never hold our lock across client.publish: paho's loop thread holds its own mutex
        # while it calls on_publish, which takes our lock.
        with self._cond:
            if not self._cond.wait_for(lambda: self._outstanding < window, timeout=60):
                raise AssertionError("the broker stopped acknowledging publishes")
            if qos:
                self._outstanding += 1
        info = self.client.publish(topic_, payload, qos, retain)
        assert info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN), info.rc

    def send(self, body: dict, window: int = 1000) -> None:
        """Publish an event and keep it in the outbox until the hub acks it."""
        payload = orjson.dumps(body)
        with self._cond:
            self.outbox[(body.get("inc", 0), body["boot"], body["seq"])] = payload
        self.publish_raw(topic(body["device"], "event"), payload, window=window)

    def resend_unacked(self) -> int:
        with self._cond:
            pending = list(self.outbox.values())
        for payload in pending:
            self.publish_raw(topic(self.device, "event"), payload)
        return len(pending)

    def wait_acked_ids(self, ids: set[tuple[int, int, int]], timeout: float = 30) -> None:
        """Wait for acks of these (inc, boot, seq)."""
        with self._cond:
            if not self._cond.wait_for(lambda: ids <= self.acked_ids, timeout=timeout):
                raise AssertionError(f"hub never acked {sorted(ids - self.acked_ids)[:10]}")

    def wait_published(self, timeout: float = 60) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._outstanding, timeout=timeout):
                raise AssertionError(f"{self._outstanding} publishes never got a PUBACK")

    def wait_acked(self, ids: set[tuple[int, int]], timeout: float = 30) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: ids <= self.acked, timeout=timeout):
                raise AssertionError(f"hub never acked {sorted(ids - self.acked)[:10]}")

    def drop(self) -> None:
        """Vanish without a DISCONNECT, so the broker publishes the will."""
        self.client.loop_stop()
        self.client.socket().close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HubProcess:
    """``edge-hub run`` as a child process, so a test can SIGKILL or SIGSTOP it."""

    def __init__(self, broker: Broker, directory: Path, *, batch_size: int = 500, batch_ms: int = 50) -> None:
        self.broker = broker
        self.db = directory / "hub.db"
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.args = [
            sys.executable, "-m", "edge_hub.cli", "run", "--site", SITE, "--mqtt-url", broker.hub_url,
            "--mqtt-username", broker.hub_creds[0], "--mqtt-password", broker.hub_creds[1],
            "--db", str(self.db), "--data-dir", str(directory), "--listen", f"127.0.0.1:{self.port}",
            "--batch-size", str(batch_size), "--batch-ms", str(batch_ms),
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> HubProcess:
        self.starts += 1
        log = open(self.directory / f"hub-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            wait_until(self.connected, 30, "the hub to connect to the broker", interval=0.1)
        return self

    def health(self) -> dict | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None

    def connected(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"hub exited with {self.proc.returncode}: {self.log_tail()}")
        health = self.health()
        return bool(health and health["broker"]["connected"])

    def log_tail(self) -> str:
        logs = sorted(self.directory.glob("hub-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped hub cannot handle SIGTERM
            stop_process(self.proc, 15)


def publish_status(broker: Broker, device: str, kind: str) -> None:
    """An online status of ``device`` (of ``kind``) from its own login, as a terminal says hello."""
    client = DeviceClient(broker, device)
    body = {"v": 1, "device": device, "state": "online", "kind": kind, "fw": "0.2.0", "boot": 1, "up": 1000}
    client.publish_raw(topic(device, "status"), orjson.dumps(body), qos=1)
    client.wait_published()
    client.close()


class TopicListener:
    """A device that listens on one of its own topics (``cmd``, ``config``, ``ack``; raw paho, the
    device's own credentials), subscribed before the constructor returns."""

    def __init__(self, broker: Broker, device: str, kind: str = "cmd") -> None:
        self.topic = topic(device, kind)
        self.received: list[tuple[str, int, dict]] = []  # (topic, qos, body)
        self.retained: list[bool] = []  # the retain flag of each, in the same order
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{kind}-{device}-{os.getpid()}-{time.monotonic_ns()}",
            protocol=paho.MQTTv311,
        )  # fmt: skip
        self.client.username_pw_set(*broker.creds(device))
        self.client.on_connect = lambda c, *a: c.subscribe(self.topic, 1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError(f"{device} could not subscribe to {self.topic}")

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.received.append((msg.topic, msg.qos, orjson.loads(msg.payload)))
            self.retained.append(bool(msg.retain))
            self._cond.notify_all()

    def bodies(self) -> list[dict]:
        with self._cond:
            return [body for _, _, body in self.received]

    def wait_for(self, command_id: str, timeout: float = 5) -> tuple[str, int, dict]:
        """The command with this id (a ``cmd`` listener), once it came."""
        def found():
            return next((m for m in self.received if m[2].get("id") == command_id), None)

        with self._cond:
            if not self._cond.wait_for(found, timeout=timeout):
                raise AssertionError(f"command {command_id} never arrived on {self.topic}: {self.received}")
            return found()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
