"""The emotion monitor: camera -> faces -> emotions -> visits, published as a device on the MQTT bus.

Three parts:

* :class:`Pipeline` turns one frame into the visits that ended with it: detect the faces, classify
  each box, feed the tracker.
* :class:`MonitorDevice` is the MQTT side, a device like any button console: a retained ``online``
  status with a heartbeat and a last will ``offline``; each visit an event with the identity
  ``(device, boot, seq)`` kept in a persistent outbox (``STATE_DIR/monitor.db``, JSON payloads only)
  until the **hub** acks it on the device's ``ack`` topic; unacked events are resent on reconnect and
  every ``resend_s`` while connected, at most ``window`` at a time.
* :class:`Monitor` is the loop: read a frame, pace it, step the pipeline, publish the visits; a
  failing source is closed and reopened with backoff while the status says so, and never stops it.

Privacy by construction: frames live in memory for one step and are dropped; nothing but visit
summaries and status ever leaves the process or reaches the disk. The optional admin live view
(:class:`LiveView`, off by default) keeps only a 1/16-scale copy of the latest frame in memory and
serves it upscaled, i.e. heavily blurred, with the boxes drawn on top; only to whoever has its
token, and on loopback unless a token was configured.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import platform
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from sqlite_utils import Database

from emotion_model.sources import SourceError

_LOGGER = logging.getLogger(__name__)


LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # event-visit.schema.json
SOURCE_KINDS = ("camera", "picamera", "file", "synthetic")  # status.schema.json camera.source
TOPIC = "otk/v1/{site}/{device}/{kind}"
MAX_DURATION_MS = 86_400_000  # event-visit.schema.json duration_ms maximum
MAX_FRAMES = 10_000_000
EPOCH_MIN, EPOCH_MAX = 1_500_000_000_000, 4_102_444_800_000  # common.schema.json epoch_ms
MAX_ERROR = 200  # status camera.error maxLength
BOOT_MAX = 4_294_967_295


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


# --- the frame pipeline ---------------------------------------------------------------------------


class _Source(Protocol):
    kind: str
    fps: float
    live: bool

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Pipeline:
    """detect -> classify the boxes -> track; counts frames and faces for the status."""

    def __init__(self, detector, classifier, tracker) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.labels: tuple[str, ...] = tuple(getattr(classifier, "labels", LABELS))
        self.frames = 0
        self.faces = 0
        self.last_faces: list = []  # the latest frame's faces and probabilities (for the live view)
        self.last_probs: np.ndarray = np.zeros((0, len(self.labels)), dtype=np.float32)

    def step(self, frame: np.ndarray, now_ms: int) -> list:
        """Process one frame taken at ``now_ms``; return the visits that ended."""
        faces = self.detector.detect(frame)
        boxes = [face.box for face in faces]
        if boxes:
            probs = self.classifier.classify(frame, boxes)
        else:
            probs = np.zeros((0, len(self.labels)), dtype=np.float32)
        self.frames += 1
        self.faces += len(faces)
        self.last_faces, self.last_probs = faces, probs
        return self.tracker.update(now_ms, boxes, probs)

    def flush(self, now_ms: int | None = None) -> list:
        """End every track (the source ended or failed): their visits."""
        return self.tracker.flush(now_ms)

    @property
    def tracks(self) -> int:
        active = self.tracker.active
        return active if isinstance(active, int) else len(active)


class RateMeter:
    """Frames and faces per second over the last ``period_s``, in one-second buckets (thread-safe)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = max(1.0, float(period_s))
        self._buckets: deque[list[int]] = deque()  # [second, frames, faces]
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def add(self, faces: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        with self._lock:
            buckets = self._buckets
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += 1
                buckets[-1][2] += faces
            else:
                buckets.append([second, 1, faces])
                self._trim(second)

    def _trim(self, now_second: float) -> None:
        buckets = self._buckets
        while buckets and buckets[0][0] <= now_second - self.period_s:
            buckets.popleft()

    def rates(self, now: float | None = None) -> tuple[float, float]:
        """(frames per second, faces per minute) over the period (or since start, if shorter)."""
        now = now if now is not None else time.monotonic()
        with self._lock:
            self._trim(int(now))
            frames = sum(b[1] for b in self._buckets)
            faces = sum(b[2] for b in self._buckets)
        elapsed = min(self.period_s, max(now - self._start, 1.0))
        return frames / elapsed, faces * 60.0 / elapsed


# --- the outbox ------------------------------------------------------------------------------------


class Outbox:
    """Events waiting for the hub's ack, and the boot counter, in ``STATE_DIR/monitor.db``.

    Holds JSON event payloads only. Not thread-safe by itself: :class:`MonitorDevice` serialises
    every call with its lock.
    """

    def __init__(self, state_dir: str | Path, max_events: int = 100_000) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "monitor.db"
        self.max_events = max_events
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        self.db = Database(conn)
        self.conn = conn
        self.db["meta"].create({"key": str, "value": int}, pk="key", if_not_exists=True)
        self.db["outbox"].create(
            {"boot": int, "seq": int, "payload": str}, pk=("boot", "seq"), if_not_exists=True
        )

    def _meta(self, key: str) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def incarnation(self) -> int:
        """A random nonzero 32-bit id drawn when this state folder was made, kept with the boot
        counter: a deleted folder restarts the counter, and the new id keeps the hub's key
        (device, inc, boot, seq) from repeating (see mqtt_schemas/README.md)."""
        inc = self._meta("inc")
        if not inc:
            inc = secrets.randbits(32) or 1
            self._set_meta("inc", inc)
        return inc

    def bump_boot(self) -> int:
        """The boot counter, bumped and persisted: call once per start."""
        boot = self._meta("boot") + 1
        if boot > BOOT_MAX:
            boot = 0
        self._set_meta("boot", boot)
        return boot

    @property
    def drops(self) -> int:
        """Events dropped because the outbox was full, since the state folder was made."""
        return self._meta("drops")

    def add(self, boot: int, seq: int, payload: bytes) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT OR REPLACE INTO outbox (boot, seq, payload) VALUES (?, ?, ?)",
                (boot, seq, payload.decode()),
            )
            over = self.count() - self.max_events
            if over > 0:  # full: the oldest go (counted), as the firmware's overflow policy
                self.conn.execute(
                    "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox ORDER BY boot, seq LIMIT ?)",
                    (over,),
                )
                self._set_meta("drops", self._meta("drops") + over)
                _LOGGER.warning("outbox full (%d events): dropped the %d oldest", self.max_events, over)

    def remove(self, boot: int, seqs: Iterable[int]) -> int:
        """Delete the acked events; return how many were still there."""
        with self.conn:  # one transaction (one fsync) per ack, not one per event
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.executemany(
                "DELETE FROM outbox WHERE boot = ? AND seq = ?", [(boot, int(s)) for s in seqs]
            )
            return cur.rowcount

    def pending(self, skip: Callable[[tuple[int, int]], bool], limit: int) -> list[tuple[int, int, str]]:
        """Up to ``limit`` events, oldest first, leaving out those ``skip((boot, seq))`` names."""
        out: list[tuple[int, int, str]] = []
        if limit <= 0:
            return out
        for boot, seq, payload in self.conn.execute(
            "SELECT boot, seq, payload FROM outbox ORDER BY boot, seq"
        ):
            if skip((boot, seq)):
                continue
            out.append((boot, seq, payload))
            if len(out) >= limit:
                break
        return out

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


# --- the MQTT device ------------------------------------------------------------------------------


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


# --- the admin live view --------------------------------------------------------------------------


LIVE_VIEW_TOKEN_ENV = "OTK_LIVE_VIEW_TOKEN"
_UNAUTHORIZED = (
    "401: the live view needs its token (?token=... on the page, or Authorization: Bearer ...)\n"
    "401: для просмотра нужен токен (?token=... в адресе страницы или Authorization: Bearer ...)\n"
).encode()


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class LiveView:
    """A heavily blurred picture of what the camera sees, with boxes and labels, on a tiny HTTP server.

    Only a 1/``shrink``-scale copy of the latest frame is kept, in memory; it is upscaled when
    served, so no face is recognisable. ``GET /frame.jpg`` is one JPEG, ``GET /stream.mjpg`` an
    MJPEG stream, ``GET /`` a page showing it.

    Every request needs the token: ``token``, else the environment variable
    ``OTK_LIVE_VIEW_TOKEN``, else a random one made here (logged once, in the URL to open).
    ``GET /?token=...`` serves the page and sets an HttpOnly, SameSite=Strict cookie that the
    page's picture then carries; any path also takes ``Authorization: Bearer <token>``.
    Anything else gets 401. It binds to 127.0.0.1 by default and refuses (ValueError) any
    address that is not loopback unless a token was configured (argument or environment).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        shrink: int = 16,
        stream_fps: float = 5.0,
    ):
        self.shrink = max(4, int(shrink))
        self.stream_interval = 1.0 / max(0.5, stream_fps)
        self._lock = threading.Lock()
        self._small: np.ndarray | None = None
        self._size = (0, 0)
        self._overlay: list[tuple[tuple[int, int, int, int], str]] = []
        configured = (token if token is not None else os.environ.get(LIVE_VIEW_TOKEN_ENV, "")).strip()
        self.token_configured = bool(configured)
        self.token = configured or secrets.token_urlsafe(24)
        if not self.token_configured and not ((host and _is_loopback(host)) or host == "localhost"):
            raise ValueError(
                f"the live view would be reachable from the network on {host or '0.0.0.0'}: set a token "
                f"first ({LIVE_VIEW_TOKEN_ENV}), or listen on 127.0.0.1 / просмотр доступен из сети на "
                f"{host or '0.0.0.0'}: сначала задайте токен ({LIVE_VIEW_TOKEN_ENV}) или слушайте 127.0.0.1"
            )
        # the cookie holds a value derived from the token, not the token (which may hold any character)
        self._cookie_value = hmac.new(self.token.encode(), b"otk-live-view-cookie", "sha256").hexdigest()
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                view._handle(self)

            def log_message(self, format: str, *args) -> None:
                # never the query: it may hold the token
                _LOGGER.debug("live view: %s %s", self.command, urlsplit(self.path).path)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self.server.daemon_threads = True
        self.cookie_name = f"otk_live_view_{self.port}"  # cookies ignore ports: one per view
        self._thread = threading.Thread(target=self.server.serve_forever, name="live-view", daemon=True)

    @property
    def url(self) -> str:
        """The address to open, token included."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def start(self) -> LiveView:
        self._thread.start()
        if self.token_configured:
            _LOGGER.info(
                "admin live view (blurred) on http://%s:%d/?token=<%s> / размытый просмотр",
                self.host, self.port, LIVE_VIEW_TOKEN_ENV,
            )  # fmt: skip
        else:  # the only place the generated token is ever shown
            _LOGGER.warning("admin live view (blurred), open / размытый просмотр, откройте: %s", self.url)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which may never have run
            self.server.shutdown()
        self.server.server_close()

    def _matches(self, candidate: str | None, secret: str | None = None) -> bool:
        expected = (secret or self.token).encode()
        return bool(candidate) and hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)

    def _authorized(self, req: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> tuple[bool, bool]:
        """(allowed, came with the query token: set the cookie)."""
        scheme, _, credentials = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(credentials.strip()):
            return True, False
        cookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            cookie.load(req.headers.get("Cookie") or "")
        morsel = cookie.get(self.cookie_name)
        if morsel is not None and self._matches(morsel.value, self._cookie_value):
            return True, False
        if urlsplit(req.path).path == "/" and self._matches((query.get("token") or [None])[0]):
            return True, True
        return False, False

    def update(self, frame: np.ndarray, faces: Sequence, probs: np.ndarray, labels: Sequence[str]) -> None:
        """Keep a tiny copy of ``frame`` (the frame itself is not kept) and the boxes with labels."""
        import cv2

        h, w = frame.shape[:2]
        small = cv2.resize(
            frame, (max(1, w // self.shrink), max(1, h // self.shrink)), interpolation=cv2.INTER_AREA
        )
        overlay = []
        for i, face in enumerate(faces):
            text = ""
            if i < len(probs):
                k = int(np.argmax(probs[i]))
                text = f"{labels[k]} {float(probs[i][k]):.2f}"
            overlay.append((tuple(int(v) for v in face.box), text))
        with self._lock:
            self._small, self._size, self._overlay = small, (w, h), overlay

    def jpeg(self) -> bytes | None:
        """The latest picture as JPEG: the tiny copy upscaled and smoothed, boxes drawn on top."""
        import cv2

        with self._lock:
            small, (w, h), overlay = self._small, self._size, list(self._overlay)
        if small is None:
            return None
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        k = (self.shrink * 2) | 1
        image = cv2.GaussianBlur(image, (k, k), 0)
        for (x, y, bw, bh), text in overlay:
            cv2.rectangle(image, (x, y), (x + bw, y + bh), (0, 255, 0), 2)
            if text:
                cv2.putText(image, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return buf.tobytes() if ok else None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        path = parts.path
        allowed, set_cookie = self._authorized(req, parse_qs(parts.query))
        if not allowed:
            self._reply(
                req, 401, "text/plain; charset=utf-8", _UNAUTHORIZED,
                {"WWW-Authenticate": 'Bearer realm="otklik-live-view"'},
            )  # fmt: skip
            return
        if path == "/":
            page = (
                b"<!doctype html><meta charset=utf-8><title>emotion monitor</title>"
                b"<p>Blurred live view / \xd0\xa0\xd0\xb0\xd0\xb7\xd0\xbc\xd1\x8b\xd1\x82\xd0\xbe\xd0\xb5 "
                b"\xd0\xb8\xd0\xb7\xd0\xbe\xd0\xb1\xd1\x80\xd0\xb0\xd0\xb6\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5"
                b"<p><img src=/stream.mjpg>"
            )
            cookie = (
                {"Set-Cookie": f"{self.cookie_name}={self._cookie_value}; Path=/; HttpOnly; SameSite=Strict"}
                if set_cookie
                else {}
            )
            self._reply(req, 200, "text/html; charset=utf-8", page, cookie)
        elif path == "/frame.jpg":
            data = self.jpeg()
            if data is None:
                self._reply(req, 503, "text/plain", b"no frame yet\n")
            else:
                self._reply(req, 200, "image/jpeg", data)
        elif path == "/stream.mjpg":
            req.send_response(200)
            req.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            req.send_header("Cache-Control", "no-store")
            req.send_header("X-Content-Type-Options", "nosniff")
            req.end_headers()
            try:
                while True:
                    data = self.jpeg()
                    if data is not None:
                        req.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n"
                        )  # fmt: skip
                        req.wfile.flush()
                    time.sleep(self.stream_interval)
            except (BrokenPipeError, ConnectionResetError, OSError):
                return
        else:
            self._reply(req, 404, "text/plain", b"not found\n")

    @staticmethod
    def _reply(
        req: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.send_header("Cache-Control", "no-store")
        req.send_header("Referrer-Policy", "no-referrer")  # the page's URL may hold the token
        req.send_header("X-Content-Type-Options", "nosniff")
        req.send_header("X-Frame-Options", "DENY")
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(body)


def parse_listen(spec: str) -> tuple[str, int]:
    """``PORT``, ``:PORT`` or ``HOST:PORT`` (host 127.0.0.1 unless given)."""
    host, _, port = spec.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"not HOST:PORT: {spec!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range: {spec!r}")
    return (host.strip("[]") or "127.0.0.1"), number


# --- the loop -------------------------------------------------------------------------------------


class Monitor:
    """Reads frames and runs the pipeline until the source ends (or forever with ``loop``) or stop().

    ``open_source`` is called to (re)open the video source; a :class:`SourceError` from it or from
    ``read()`` marks the camera failing (status at once), flushes the tracker, and the source is
    reopened with backoff (``backoff_s`` doubling to ``backoff_max_s``).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        device: MonitorDevice,
        open_source: Callable[[], _Source],
        *,
        source_kind: str | None = None,
        detector_name: str | None = None,
        realtime: bool = True,
        loop: bool = False,
        live_view: LiveView | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
        ack_wait_s: float = 3.0,
    ) -> None:
        self.pipeline = pipeline
        self.device = device
        self.open_source = open_source
        self.source_kind = source_kind if source_kind in SOURCE_KINDS else None
        self.detector_name = detector_name or getattr(pipeline.detector, "name", None)
        self.realtime = realtime
        self.loop = loop
        self.live_view = live_view
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.ack_wait_s = ack_wait_s
        self.ok = False
        self.error: str | None = None
        self.restarts = 0
        self.visits = 0
        self.failures = 0
        self.meter = RateMeter(device.heartbeat_s)
        self._source: _Source | None = None
        self._failed = False  # the source failed and has not delivered a frame since
        self._delay = backoff_s
        self._stop = threading.Event()
        self._index = 0  # frames read from non-live sources, for their virtual clock
        self._anchor: tuple[float, int] | None = None  # (monotonic, index) for real-time pacing
        self._last_ms: int | None = None
        self._step_errors = 0
        device.camera = self.camera_status

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def camera_status(self) -> dict[str, Any]:
        fps, faces_per_min = self.meter.rates()
        camera: dict[str, Any] = {
            "ok": self.ok,
            "fps": round(min(fps, 1000.0), 2),
            "faces_per_min": round(faces_per_min, 2),
            "visits": self.visits,
            "tracks": self.pipeline.tracks if self.ok else 0,
            "restarts": self.restarts,
        }
        if self.detector_name in ("blazeface", "haar"):
            camera["detector"] = self.detector_name
        if self.source_kind is not None:
            camera["source"] = self.source_kind
        if not self.ok and self.error:
            camera["error"] = self.error[:MAX_ERROR]
        return camera

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        """Run until the source ends (without ``loop``) or :meth:`stop`; then flush and disconnect."""
        self.device.start()
        try:
            self._run()
        finally:
            self._finish()

    def _run(self) -> None:
        while not self._stop.is_set():
            source = self._source
            if source is None:
                self._open()
                continue
            try:
                frame = source.read()
            except SourceError as exc:
                self._fail(str(exc) or type(exc).__name__)
                continue
            except Exception as exc:  # a driver blew up: the same as a failing source
                self._fail(f"{type(exc).__name__}: {exc}")
                continue
            if frame is None:
                _LOGGER.info("source ended after %d frames", self.pipeline.frames)
                self._publish(self.pipeline.flush(self._last_ms))
                self._close_source()
                if not self.loop:
                    return
                continue
            if not self.ok:
                self.ok, self.error = True, None
                self._delay = self.backoff_s
                if self._failed:
                    _LOGGER.info("source delivers frames again (restart %d)", self.restarts)
                self._failed = False
                self.device.request_status()
            self._process(frame, source)
            del frame

    def _process(self, frame: np.ndarray, source: _Source) -> None:
        if getattr(source, "live", True):
            now_ms = epoch_ms()
            if self._last_ms is not None and now_ms < self._last_ms:
                now_ms = self._last_ms  # the wall clock stepped back (NTP): the tracker needs order
        else:
            fps = float(getattr(source, "fps", 0) or 15.0)
            now_ms = self.device.start_epoch + round(self._index * 1000.0 / fps)
            if self.realtime:
                self._pace(fps)
            self._index += 1
        self._last_ms = now_ms
        try:
            visits = self.pipeline.step(frame, now_ms)
        except Exception:
            self._step_errors += 1
            if self._step_errors <= 3 or self._step_errors % 1000 == 0:
                _LOGGER.exception(
                    "frame %d could not be processed (error %d)", self.pipeline.frames, self._step_errors
                )
            return
        self.meter.add(len(self.pipeline.last_faces))
        if self.live_view is not None:
            self.live_view.update(
                frame, self.pipeline.last_faces, self.pipeline.last_probs, self.pipeline.labels
            )
        self._publish(visits)

    def _pace(self, fps: float) -> None:
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = (now, self._index)
            return
        start, index = self._anchor
        due = start + (self._index - index) / fps
        if due - now > 0:
            self._stop.wait(due - now)
        elif now - due > 1.0:  # fell behind (a stall): start pacing afresh rather than rush
            self._anchor = (now, self._index)

    def _publish(self, visits: Iterable) -> None:
        for visit in visits:
            body = visit_event(visit, self.device.start_epoch)
            boot, seq = self.device.submit(body)
            self.visits += 1
            _LOGGER.info(
                "visit %d/%d: %s, %.1f s, %d frames", boot, seq, body["dominant"],
                body["duration_ms"] / 1000, body["frames"],
            )  # fmt: skip

    def _open(self) -> None:
        try:
            source = self.open_source()
        except (SourceError, OSError) as exc:
            self._fail(str(exc) or type(exc).__name__, opening=True)
            return
        except Exception as exc:
            if not self._failed and self.pipeline.frames == 0 and self.restarts == 0 and self.failures == 0:
                raise  # the very first open: a wrong spec is a configuration error, not a failure
            self._fail(f"{type(exc).__name__}: {exc}", opening=True)
            return
        kind = getattr(source, "kind", None)
        if kind in SOURCE_KINDS:
            self.source_kind = kind
        if self._failed:
            self.restarts += 1
            _LOGGER.info("source reopened (restart %d)", self.restarts)
        self._source = source
        self._anchor = None

    def _fail(self, error: str, opening: bool = False) -> None:
        """The source failed: say so at once, end the visits, close it, wait, then retry."""
        self.failures += 1
        first = not self._failed
        changed = error != self.error
        self._failed = True
        self.ok, self.error = False, error
        level = logging.WARNING if first else logging.INFO
        _LOGGER.log(
            level,
            "source %s: %s; retrying in %.1f s",
            "cannot open" if opening else "failed",
            error,
            self._delay,
        )
        if first or changed:
            self.device.request_status()
        self._publish(self.pipeline.flush(self._last_ms))
        self._close_source()
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, self.backoff_max_s)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception as exc:
                _LOGGER.warning("closing the source failed: %s", exc)

    def _finish(self) -> None:
        try:
            self._publish(self.pipeline.flush(self._last_ms))
        except Exception:
            _LOGGER.exception("could not flush the last visits")
        self._close_source()
        if self.live_view is not None:
            self.live_view.stop()
        self.device.close(self.ack_wait_s)


def state_dir_default(device: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "otklik" / "emotion-monitor" / device
