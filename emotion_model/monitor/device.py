"""The emotion monitor as a device on the MQTT bus, like any button console.

Owns :class:`MonitorDevice`, the paho client: a retained ``online`` status with a heartbeat and a
last will ``offline``; each visit an event with the identity ``(device, boot, seq)`` kept in the
:class:`~emotion_model.monitor.outbox.Outbox` until the **hub** acks it on the device's ``ack``
topic; unacked events are resent on reconnect and every ``resend_s`` while connected, at most
``window`` at a time. Also owns :func:`visit_event`, a tracker's visit as the body of a ``visit``
event within the bounds of ``mqtt_schemas`` ``event-visit.schema.json``, and the device's identity
(firmware and hardware strings).
"""

from __future__ import annotations

import contextlib
import logging
import platform
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from emotion_model.labels import LABELS
from emotion_model.monitor.outbox import Outbox

_LOGGER = logging.getLogger(__name__)


TOPIC = "otk/v1/{site}/{device}/{kind}"
MAX_DURATION_MS = 86_400_000  # event-visit.schema.json duration_ms maximum
MAX_FRAMES = 10_000_000
EPOCH_MIN, EPOCH_MAX = 1_500_000_000_000, 4_102_444_800_000  # common.schema.json epoch_ms


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("otklik")
    except Exception:  # not installed as a distribution (a bare checkout)
        return "0.1.0"


VERSION = _version()
FIRMWARE = f"emotion-monitor {VERSION}"[:32]
HARDWARE = (platform.machine() or "unix")[:32]


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


class MonitorDevice:
    """The monitor's MQTT client: status, heartbeat, will, and visit events through an outbox.

    paho runs its network loop in its own thread (``loop_start``); a service thread publishes
    (status, heartbeat, events from the outbox); the caller's thread only :meth:`submit` s. No lock
    of ours is ever held across a paho call (paho holds its own while it runs our callbacks).
    """

    def __init__(
        self,
        *,
        site: str,
        device: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        state_dir: str | Path = "monitor-state",
        heartbeat_s: float = 60.0,
        resend_s: float = 10.0,
        window: int = 100,
        keepalive: int = 30,
        max_outbox: int = 100_000,
    ) -> None:
        self.site = site
        self.device = device
        self.host, self.port = host, port
        self.heartbeat_s = float(heartbeat_s)
        self.resend_s = float(resend_s)
        self.window = int(window)
        self.keepalive = keepalive
        self.outbox = Outbox(state_dir, max_outbox)
        self.inc = self.outbox.incarnation()
        self.boot = self.outbox.bump_boot()
        self.seq = 0
        self.start_mono = time.monotonic()
        self.start_epoch = epoch_ms()
        self.camera: Callable[[], dict[str, Any] | None] = lambda: None  # set by Monitor
        self.connected = False
        self.published = 0  # events handed to the broker, resends included
        self.acked = 0  # events the hub acked (that were still in the outbox)
        self._lock = threading.Lock()
        self._inflight: dict[tuple[int, int], float] = {}  # sent, not acked by the hub: when sent
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._status_due = threading.Event()
        self._last_status = 0.0
        self._service: threading.Thread | None = None
        self.topic_event = self.topic("event")
        self.topic_status = self.topic("status")
        self.topic_ack = self.topic("ack")
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=device, clean_session=False, protocol=paho.MQTTv311
        )
        if username is not None:
            client.username_pw_set(username, password)
        client.will_set(self.topic_status, self._offline(), qos=1, retain=True)
        client.max_inflight_messages_set(max(20, self.window + 10))
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_connect_fail = self._on_connect_fail
        self._connect_failures = 0
        self.client = client

    def topic(self, kind: str) -> str:
        return TOPIC.format(site=self.site, device=self.device, kind=kind)

    def uptime_ms(self) -> int:
        return int((time.monotonic() - self.start_mono) * 1000)

    def _offline(self) -> bytes:
        return orjson.dumps({"v": 1, "device": self.device, "state": "offline"})

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start publishing."""
        _LOGGER.info(
            "device %s (site %s, boot %d) -> mqtt://%s:%d; %d event(s) waiting in the outbox",
            self.device, self.site, self.boot, self.host, self.port, self.pending(),
        )  # fmt: skip
        self.client.connect_async(self.host, self.port, self.keepalive)
        self.client.loop_start()
        self._service = threading.Thread(target=self._serve, name="monitor-mqtt", daemon=True)
        self._service.start()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.connected

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the hub to ack every event; True if the outbox is empty."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline or not self.connected:
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    def close(self, ack_wait_s: float = 3.0) -> None:
        """Wait briefly for acks, say ``offline`` (retained), disconnect and close the outbox."""
        if self.connected and ack_wait_s > 0:
            self.drain(ack_wait_s)
        self._stop.set()
        self._wake.set()
        if self._service is not None:
            self._service.join(5)
        if self.connected:
            info = self.client.publish(self.topic_status, self._offline(), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        left = self.pending()
        self.connected = False
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            self.outbox.close()
        _LOGGER.info(
            "device %s disconnected; %d event(s) left in the outbox for next time", self.device, left
        )

    # --- events ---------------------------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> tuple[int, int]:
        """Give an event (without identity) its ``boot``/``seq``, store it in the outbox, send it."""
        with self._lock:
            self.seq += 1
            full = {
                "v": 1, "type": body["type"], "device": self.device, "inc": self.inc, "boot": self.boot,
                "seq": self.seq,
            }  # fmt: skip
            full.update({k: v for k, v in body.items() if k not in full})
            self.outbox.add(self.boot, self.seq, orjson.dumps(full))
            key = (self.boot, self.seq)
        self._wake.set()
        return key

    def pending(self) -> int:
        """Events in the outbox (not yet acked by the hub)."""
        with self._lock:
            try:
                return self.outbox.count()
            except sqlite3.ProgrammingError:  # closed
                return 0

    def request_status(self) -> None:
        """Publish a status now (e.g. the camera failed or came back)."""
        self._status_due.set()
        self._wake.set()

    # --- paho callbacks (paho's thread) -------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            _LOGGER.warning("broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.topic_ack, 1)
        with self._lock:
            self._inflight.clear()  # resend everything unacked on (re)connect
        self.connected = True
        self._connect_failures = 0
        _LOGGER.info("connected to mqtt://%s:%d", self.host, self.port)
        self.request_status()

    def _on_connect_fail(self, client, userdata) -> None:
        self._connect_failures += 1
        if self._connect_failures == 1 or self._connect_failures % 60 == 0:
            _LOGGER.warning(
                "cannot reach the broker at mqtt://%s:%d (attempt %d); visits wait in the outbox",
                self.host, self.port, self._connect_failures,
            )  # fmt: skip

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected and not self._stop.is_set():
            _LOGGER.warning("disconnected from the broker: %s; reconnecting", reason_code)
        self.connected = False

    def _on_message(self, client, userdata, msg) -> None:
        try:
            ack = orjson.loads(msg.payload)
            boot, seqs = int(ack["boot"]), [int(s) for s in ack["seqs"]]
            if ack.get("device") != self.device:
                raise ValueError(f"ack names device {ack.get('device')!r}")
            if int(ack.get("inc", 0)) != self.inc:  # queued for an earlier state folder
                raise ValueError(f"ack names incarnation {ack.get('inc', 0)}, not {self.inc}")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            _LOGGER.warning("ignored a bad ack on %s: %s", msg.topic, exc)
            return
        with self._lock:
            try:
                self.acked += self.outbox.remove(boot, seqs)
            except sqlite3.ProgrammingError:  # closing
                return
            for seq in seqs:
                self._inflight.pop((boot, seq), None)
        self._wake.set()  # room for more

    # --- the service thread -------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if not self.connected:
                    continue
                now = time.monotonic()
                if self._status_due.is_set() or now - self._last_status >= self.heartbeat_s:
                    self._status_due.clear()
                    self._last_status = now
                    self._publish_status()
                self._pump(now)
            except Exception:  # keep serving: a bug here must not silence the device
                _LOGGER.exception("the MQTT service loop failed; going on")
                time.sleep(0.5)

    def status(self) -> dict[str, Any]:
        """The retained ``online`` status with the heartbeat fields and the camera block."""
        with self._lock:
            outbox, drops = self.outbox.count(), self.outbox.drops
        body: dict[str, Any] = {
            "v": 1, "device": self.device, "state": "online", "kind": "camera", "fw": FIRMWARE,
            "hw": HARDWARE, "inc": self.inc, "boot": self.boot, "up": self.uptime_ms(), "ts": epoch_ms(),
            "outbox": outbox, "drops": drops,
        }  # fmt: skip
        camera = self.camera()
        if camera is not None:
            body["camera"] = camera
        return body

    def _publish_status(self) -> None:
        self.client.publish(self.topic_status, orjson.dumps(self.status()), qos=1, retain=True)

    def _pump(self, now: float) -> None:
        with self._lock:
            inflight = self._inflight
            for key, sent in list(inflight.items()):
                if now - sent >= self.resend_s:
                    del inflight[key]  # no ack in time: send it again
            rows = self.outbox.pending(inflight.__contains__, self.window - len(inflight))
            for boot, seq, _ in rows:
                inflight[(boot, seq)] = now
        for boot, seq, payload in rows:
            body = orjson.loads(payload)
            body["sent_up"] = self.uptime_ms()
            info = self.client.publish(self.topic_event, orjson.dumps(body), qos=1)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.published += 1
            else:  # not connected after all, or paho's queue is full: try again later
                with self._lock:
                    self._inflight.pop((boot, seq), None)


def visit_event(visit, start_epoch: int) -> dict[str, Any]:
    """The body of a ``visit`` event (without identity) for a tracker's Visit (times in epoch ms)."""
    dist = {label: 0.0 for label in LABELS}
    for label, p in visit.dist.items():
        if label in dist:
            dist[label] = round(min(1.0, max(0.0, float(p))), 4)
    dominant = visit.dominant if visit.dominant in dist else max(dist, key=dist.__getitem__)
    start = int(visit.start_ms)
    ts = start if EPOCH_MIN <= start <= EPOCH_MAX else None
    return {
        "type": "visit",
        "up": max(0, start - start_epoch),
        "ts": ts,
        "duration_ms": min(MAX_DURATION_MS, max(0, int(visit.end_ms) - start)),
        "frames": min(MAX_FRAMES, max(1, int(visit.frames))),
        "dominant": dominant,
        "dist": dist,
    }
