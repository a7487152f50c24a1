"""The MQTT connection: the only module that imports paho-mqtt.

:class:`MqttConnection` wraps a paho 2.x client for one thread's own loop: a fixed client id
and a persistent session, optional manual acks (ack QoS 1 only after the commit), reconnect
with backoff, and publisher-side flow control. paho assigns 16-bit message ids and silently
refuses a QoS 1 publish (``MQTT_ERR_QUEUE_SIZE``, no exception) once 65,535 are outstanding,
so this class keeps at most ``max_outstanding`` unacknowledged publishes in paho and holds
the rest in its own backlog until PUBACKs free slots.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge_hub.errors import ConfigError

_LOGGER = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0
PAHO_MID_LIMIT = 65535
READS_PER_SELECT = 64


class Incoming(NamedTuple):
    """A message as it came off the wire, before the contract check (a tuple: one is made per message)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: int  # ms since the epoch, hub clock


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None) -> BrokerAddress:
        """``mqtt://[user:pass@]host[:port]``; explicit username/password win over the URL's."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ConfigError(f"not an MQTT URL: {url!r} (expected mqtt://HOST:PORT)")
        return cls(
            parts.hostname,
            parts.port or 1883,
            username or (unquote(parts.username) if parts.username else None),
            password or (unquote(parts.password) if parts.password else None),
        )

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttConnection:
    """One MQTT 3.1.1 client driven by :meth:`loop` from a single thread."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        on_message: Callable[[Incoming], None] | None = None,
        subscriptions: tuple[tuple[str, int], ...] = (),
        manual_ack: bool = False,
        clean_session: bool = False,
        max_outstanding: int = 1000,
        will: Will | None = None,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        if not 0 < max_outstanding < PAHO_MID_LIMIT:
            raise ConfigError(f"max_outstanding must be 1..{PAHO_MID_LIMIT - 1}")
        self.address = address
        self.max_outstanding = max_outstanding
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connect_cb = on_connect
        self._outstanding: set[int] = set()
        self._backlog: deque[tuple[str, bytes, int, bool]] = deque()
        self._next_try = 0.0
        self._backoff = RECONNECT_MIN_S
        self.connected = False
        self.peak_outstanding = 0
        self.messages = 0  # received since start
        self.refused = 0  # publishes paho refused; stays 0 thanks to the flow control
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            manual_ack=manual_ack,
        )
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.max_inflight_messages_set(min(max_outstanding, 100))
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        if _LOGGER.isEnabledFor(logging.DEBUG):  # paho logs every packet: costly at full rate
            client.enable_logger(_LOGGER)
        self._client = client
        client.connect_async(address.host, address.port, KEEPALIVE_S)

    # --- paho callbacks (run inside loop()) --------------------------------------------------

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            _LOGGER.warning("broker %s refused the connection: %s", self.address, reason_code)
            return
        self.connected = True
        self._backoff = RECONNECT_MIN_S
        # paho leaves Nagle on: a PUBACK followed by a small ack would wait ~40 ms for the
        # broker's delayed ACK of the first packet.
        sock = client.socket()
        if sock is not None and hasattr(sock, "setsockopt"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _LOGGER.info("connected to %s (session present: %s)", self.address, flags.session_present)
        if self._subscriptions and not flags.session_present:
            client.subscribe(list(self._subscriptions))
        if self._on_connect_cb is not None:
            self._on_connect_cb()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected:
            _LOGGER.warning("disconnected from %s: %s", self.address, reason_code)
        self.connected = False

    def _handle_message(self, client, userdata, msg) -> None:
        self.messages += 1
        if self._on_message is not None:
            self._on_message(
                Incoming(msg.topic, msg.payload, msg.mid, msg.qos, msg.retain, time.time_ns() // 1_000_000)
            )

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._outstanding.discard(mid)

    # --- driving -----------------------------------------------------------------------------

    def loop(self, timeout: float) -> None:
        """Handle network traffic for up to ``timeout`` seconds; reconnect when it is time.

        Uses paho's external-loop calls (read / write / misc) on our own select(): paho's
        ``Client.loop()`` adds a wake-up socket pair written to on every queued packet.
        """
        client = self._client
        sock = client.socket()
        if sock is None:
            now = time.monotonic()
            if now < self._next_try:
                time.sleep(min(timeout, self._next_try - now))
                return
            try:
                client.reconnect()
            except (OSError, ValueError) as exc:
                self._next_try = now + self._backoff
                _LOGGER.warning(
                    "cannot reach broker %s (%s); retry in %.1f s", self.address, exc, self._backoff
                )
                self._backoff = min(self._backoff * 2, RECONNECT_MAX_S)
                return
            sock = client.socket()
            if sock is None:
                return
        try:
            readable, _, _ = select.select([sock], [sock] if client.want_write() else [], [], timeout)
        except (OSError, ValueError):  # the socket was closed under us
            readable = []
        if readable:
            # paho reads one packet per call; keep reading while messages keep coming (the
            # socket is non-blocking, so an empty read returns at once) to save a select()
            # per message under load.
            for _ in range(READS_PER_SELECT):
                before = self.messages
                client.loop_read()
                if self.messages == before or client.socket() is None:
                    break
        if client.socket() is not None and client.want_write():
            client.loop_write()
        client.loop_misc()
        self._drain_backlog()

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received message to the broker (manual_ack mode)."""
        self._client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; QoS 1 publishes wait in the backlog while too many are outstanding."""
        self._backlog.append((topic, payload, qos, retain))
        self._drain_backlog()

    @property
    def outstanding(self) -> int:
        """QoS 1 publishes handed to paho and not yet acknowledged by the broker."""
        return len(self._outstanding)

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def _drain_backlog(self) -> None:
        backlog, outstanding = self._backlog, self._outstanding
        while backlog and len(outstanding) < self.max_outstanding:
            topic, payload, qos, retain = backlog.popleft()
            info = self._client.publish(topic, payload, qos, retain)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                self.refused += 1
                backlog.appendleft((topic, payload, qos, retain))
                return
            if qos:
                outstanding.add(info.mid)
        self.peak_outstanding = max(self.peak_outstanding, len(outstanding))

    def close(self) -> None:
        """Disconnect cleanly (a clean disconnect suppresses the will)."""
        self.connected = False  # a disconnect we asked for is not worth a warning
        if self._client.socket() is not None:
            self._client.disconnect()  # paho writes the DISCONNECT packet and closes the socket
