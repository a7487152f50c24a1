"""The emotion monitor as a device on a real Mosquitto, with the real hub where it matters.

Only the camera is mocked, at the hardware edge: :class:`FakeCamera` is a live source that fails
after some frames and whose reopening fails twice (an unplugged USB camera). Everything else is
real: the synthetic clip of real faces, BlazeFace, the ONNX classifier, the tracker, paho, the
broker with the hub's own config and ACL, and ``edge-hub run`` as a child process. Every message the
monitor sends is checked against the MQTT contract (``edge_hub.ingest.contract.Contract``).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import orjson
import paho.mqtt.client as paho
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_hub.ingest.contract import Contract
from edge_hub.transport.broker import set_password
from emotion_model.classifier import EmotionClassifier
from emotion_model.detect import make_detector
from emotion_model.monitor.device import MonitorDevice
from emotion_model.monitor.liveview import LiveView, parse_listen
from emotion_model.monitor.loop import Monitor
from emotion_model.monitor.outbox import Outbox
from emotion_model.monitor.pipeline import Pipeline
from emotion_model.sources import SourceError, SyntheticClip
from emotion_model.track import Tracker
from tests.helpers import SITE, Broker, db_rows, wait_until

CAM = "cam-01"
REPO = Path(__file__).resolve().parents[2]
CONTRACT = Contract(site=SITE)


# --- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path):
    """The test broker (hub config, ACL, btn-01..20) plus credentials for the camera ``cam-01``.

    Overrides conftest's ``broker``, so conftest's ``hub_process`` runs against this one."""
    b = Broker(tmp_path / "broker")
    b.passwords[CAM] = set_password(b.files, CAM)
    b.start()
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def no_logged_exception(caplog):
    """A traceback logged by the monitor fails the test (as conftest does for the hub's)."""
    yield
    bad = [r for r in caplog.get_records("call") if r.exc_info and r.name.startswith("emotion_model")]
    assert not bad, f"the monitor logged an exception: {bad[0].getMessage()}"


@pytest.fixture(scope="module")
def models():
    classifier = EmotionClassifier()
    return make_detector("blazeface"), classifier


class Bus:
    """A raw paho subscriber (hub credentials) recording every message of the site."""

    def __init__(self, broker: Broker, pattern: str = f"otk/v1/{SITE}/#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bus-{time.monotonic_ns()}")
        self.client.username_pw_set(*broker.hub_creds)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(pattern, 1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.hub_port)
        self.client.loop_start()
        assert subscribed.wait(10), "the test subscriber could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def of(self, kind: str) -> list[dict]:
        with self._lock:
            items = list(self.messages)
        return [orjson.loads(p) for t, p, _ in items if t == f"otk/v1/{SITE}/{CAM}/{kind}"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def bus(broker):
    b = Bus(broker)
    yield b
    b.close()


def make_monitor(broker: Broker, state: Path, models, open_source, **kw) -> Monitor:
    detector, classifier = models
    device = MonitorDevice(
        site=SITE, device=CAM, port=broker.port, username=CAM, password=broker.passwords[CAM],
        state_dir=state, heartbeat_s=kw.pop("heartbeat_s", 60.0), resend_s=kw.pop("resend_s", 10.0),
    )  # fmt: skip
    pipeline = Pipeline(detector, classifier, Tracker(classifier.labels))
    kw.setdefault("realtime", False)
    kw.setdefault("ack_wait_s", 3.0)
    return Monitor(pipeline, device, open_source, **kw)


def start(monitor: Monitor) -> threading.Thread:
    thread = threading.Thread(target=monitor.run, name="monitor", daemon=True)
    thread.start()
    return thread


def outbox_rows(state: Path) -> list[tuple]:
    return db_rows(state / "monitor.db", "SELECT boot, seq, payload FROM outbox ORDER BY boot, seq")


def hub_visits(hub) -> list[tuple]:
    sql = "SELECT device, boot, seq, payload FROM events WHERE type = 'visit' ORDER BY boot, seq"
    return db_rows(hub.db, sql)


def check_contract(bus: Bus) -> None:
    """Every event and status the camera sent passes the hub's contract check."""
    for topic, payload, _ in list(bus.messages):
        if topic.startswith(f"otk/v1/{SITE}/{CAM}/") and topic.rsplit("/", 1)[1] in ("event", "status"):
            CONTRACT.parse(topic, payload)  # raises ContractError with the reason


class FakeCamera:
    """Hardware-edge mock of a USB camera: frames from a looping synthetic clip, live (kind "camera",
    15 frames/s, each read waits for its frame as a capture does), and ``read()`` raises SourceError
    after ``fail_after`` frames (the cable is pulled)."""

    kind = "camera"
    live = True
    fps = 15.0

    def __init__(self, clip: SyntheticClip, fail_after: int | None = None) -> None:
        assert clip.loop, "a camera never ends"
        self.clip, self.fail_after, self.frames = clip, fail_after, 0
        self.due = time.monotonic()

    def read(self) -> np.ndarray:
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise SourceError("capture returned no frame (camera 0)")
        self.frames += 1
        self.due = max(self.due + 1 / self.fps, time.monotonic() - 0.1)
        time.sleep(max(0.0, self.due - time.monotonic()))
        return self.clip.read()

    def close(self) -> None:
        pass


class FakeCameraDriver:
    """Opens FakeCameras: the first fails after ``fail_after`` frames; then ``open_fails`` openings
    fail (the camera is gone); the next one works for good."""

    def __init__(self, fail_after: int, open_fails: int) -> None:
        self.opens = self.failed_opens = 0
        self.fail_after, self.open_fails = fail_after, open_fails

    def __call__(self) -> FakeCamera:
        self.opens += 1
        if self.opens > 1 and self.failed_opens < self.open_fails:
            self.failed_opens += 1
            raise SourceError("cannot open camera 0")
        return FakeCamera(SyntheticClip(loop=True), self.fail_after if self.opens == 1 else None)


# --- visits to the hub ----------------------------------------------------------------------------------


def test_three_people_make_three_visits_in_the_hub(tmp_path, broker, bus, hub_process, models):
    hub = hub_process()
    clip = SyntheticClip(people=3, seed=1)
    monitor = make_monitor(broker, tmp_path / "state", models, lambda: clip)
    monitor.run()  # the clip ends -> the tracker is flushed -> the monitor waits for the acks

    rows = wait_until(lambda: len(hub_visits(hub)) >= 3 and hub_visits(hub), 20, "three visits in the hub")
    time.sleep(0.3)
    rows = hub_visits(hub)
    assert [(d, b, s) for d, b, s, _ in rows] == [(CAM, 1, 1), (CAM, 1, 2), (CAM, 1, 3)]
    bodies = [orjson.loads(p) for *_, p in rows]
    for body in bodies:
        assert body["type"] == "visit" and body["frames"] >= 3
        assert set(body["dist"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        assert abs(sum(body["dist"].values()) - 1) < 0.01
        assert body["dominant"] == max(body["dist"], key=body["dist"].get)
        assert 3000 <= body["duration_ms"] <= 4500  # walk_s = 4 s of the clip's virtual time
        assert body["sent_up"] >= 0
    # the visits follow one another in the clip's time, from the monitor's start
    starts = [b["ts"] for b in bodies]
    assert starts == sorted(starts) and starts[1] - starts[0] >= 4000
    assert outbox_rows(tmp_path / "state") == []  # acked by the hub, so gone
    assert db_rows(hub.db, "SELECT count(*) FROM quarantine") == [(0,)]
    assert monitor.visits == 3 and monitor.pipeline.frames == clip.frames_total
    check_contract(bus)
    statuses = bus.of("status")
    assert statuses[0]["state"] == "online" and statuses[0]["kind"] == "camera"
    assert statuses[-1] == {"v": 1, "device": CAM, "state": "offline"}  # said at a clean exit


def test_no_face_no_visit(tmp_path, broker, bus, models):
    empty = SyntheticClip(people=0)
    monitor = make_monitor(broker, tmp_path / "state", models, lambda: empty, ack_wait_s=0.5)
    monitor.run()
    assert monitor.pipeline.frames == empty.frames_total > 0
    assert monitor.pipeline.faces == 0 and monitor.visits == 0
    assert bus.of("event") == [] and outbox_rows(tmp_path / "state") == []
    check_contract(bus)


# --- a failing camera ----------------------------------------------------------------------------------


def test_the_monitor_survives_its_camera_failing(tmp_path, broker, bus, models):
    driver = FakeCameraDriver(fail_after=30, open_fails=2)
    monitor = make_monitor(
        broker, tmp_path / "state", models, driver, source_kind="camera", heartbeat_s=1.0,
        backoff_s=0.05, backoff_max_s=0.2, ack_wait_s=0.5,
    )  # fmt: skip
    thread = start(monitor)
    try:

        def cameras():
            return [s["camera"] for s in bus.of("status") if "camera" in s]

        failing = wait_until(
            lambda: [c for c in cameras() if not c["ok"] and "error" in c], 15, "a status: the camera fails"
        )
        assert failing[0]["error"] in ("capture returned no frame (camera 0)", "cannot open camera 0")
        assert failing[0]["source"] == "camera" and failing[0]["detector"] == "blazeface"
        back = wait_until(
            lambda: [c for c in cameras() if c["ok"] and c["restarts"] >= 1], 15, "a status: it works again"
        )
        assert "error" not in back[0]
        assert driver.opens == 4 and monitor.restarts == 1  # first open, two failed, one that works
        assert thread.is_alive() and monitor.ok
        # it goes on working: frames flow, and a heartbeat reports their rate
        frames = monitor.pipeline.frames
        wait_until(lambda: monitor.pipeline.frames > frames + 20, 10, "frames after the restart")
        wait_until(lambda: cameras()[-1]["fps"] > 0, 5, "a heartbeat with frames per second")
    finally:
        monitor.stop()
        thread.join(20)
    assert not thread.is_alive()
    check_contract(bus)


# --- delivery: the outbox ------------------------------------------------------------------------------


def test_visits_wait_for_the_hub_and_arrive_exactly_once(tmp_path, broker, bus, hub_process, models):
    state = tmp_path / "state"
    # the hub is down: the visits stay in the outbox (the broker alone acking them is not enough)
    first = make_monitor(broker, state, models, lambda: SyntheticClip(people=3, seed=2), ack_wait_s=0.5)
    first.run()
    waiting = outbox_rows(state)
    assert [(b, s) for b, s, _ in waiting] == [(1, 1), (1, 2), (1, 3)]
    assert len(bus.of("event")) >= 3  # they were sent; only the hub's ack would clear them

    # the hub comes up; a new start of the monitor (boot 2) resends boot 1's events, and the hub's
    # acks, which name boot 1, clear them
    hub = hub_process()
    blank = SyntheticClip(people=0, loop=True)
    second = make_monitor(broker, state, models, lambda: blank, realtime=True, resend_s=0.5)
    thread = start(second)
    try:
        wait_until(lambda: not outbox_rows(state), 20, "the outbox to empty after the hub's acks")
        assert second.device.boot == 2
        rows = hub_visits(hub)
        assert [(d, b, s) for d, b, s, _ in rows] == [(CAM, 1, 1), (CAM, 1, 2), (CAM, 1, 3)]
        # the hub stored exactly the payloads that waited (plus the sent_up of the copy it got)
        for (_, _, payload), (*_, stored) in zip(waiting, rows, strict=True):
            body = orjson.loads(stored)
            body.pop("sent_up")
            assert body == orjson.loads(payload)
        time.sleep(1.2)  # past resend_s: nothing is sent again once acked
        sent = len(bus.of("event"))
        time.sleep(1.2)
        assert len(bus.of("event")) == sent
    finally:
        second.stop()
        thread.join(20)
    assert db_rows(hub.db, "SELECT count(*) FROM events WHERE device = ?", (CAM,)) == [(3,)]
    check_contract(bus)


def test_broker_and_hub_restarts_lose_nothing(tmp_path, broker, bus, hub_process, models):
    hub = hub_process()
    camera = FakeCamera(SyntheticClip(people=3, seed=4, gap_s=0.5, walk_s=1.0, loop=True))
    monitor = make_monitor(broker, tmp_path / "state", models, lambda: camera, resend_s=1.0)
    thread = start(monitor)
    try:
        wait_until(lambda: len(hub_visits(hub)) >= 2, 20, "the first visits in the hub")
        broker.kill()  # SIGKILL: the monitor and the hub lose the broker; visits go on
        visits = monitor.visits
        wait_until(lambda: monitor.visits >= visits + 1, 20, "a visit while the broker is down")
        broker.start()
        wait_until(lambda: len(hub_visits(hub)) >= visits + 1, 30, "the visits of the outage in the hub")
        hub.kill()  # and now the hub crashes
        visits = monitor.visits
        wait_until(lambda: monitor.visits >= visits + 1, 20, "a visit while the hub is down")
        hub.start()
        wait_until(lambda: len(hub_visits(hub)) >= visits + 1, 30, "the visits of the hub outage")
    finally:
        monitor.stop()
        thread.join(20)
    assert not thread.is_alive()
    total = monitor.visits
    wait_until(lambda: len(hub_visits(hub)) == total, 10, f"all {total} visits in the hub")
    assert [(b, s) for _, b, s, _ in hub_visits(hub)] == [(1, s) for s in range(1, total + 1)]
    assert outbox_rows(tmp_path / "state") == []
    check_contract(bus)


def test_at_most_window_events_in_flight(tmp_path, broker, bus):
    device = MonitorDevice(
        site=SITE, device=CAM, port=broker.port, username=CAM, password=broker.passwords[CAM],
        state_dir=tmp_path, window=5, resend_s=30,
    )  # fmt: skip
    dist = dict.fromkeys(("angry", "disgust", "fear", "sad", "surprise", "neutral"), 0.0) | {"happy": 1.0}
    device.start()
    try:
        assert device.wait_connected(10)
        for _ in range(20):
            device.submit(
                {"type": "visit", "up": 0, "duration_ms": 0, "frames": 1, "dominant": "happy", "dist": dist}
            )
        wait_until(lambda: len(bus.of("event")) >= 5, 5, "the first events")
        time.sleep(0.5)
        assert [e["seq"] for e in bus.of("event")] == [1, 2, 3, 4, 5]  # no hub, no ack: no more
        # an ack (sent here as the hub sends it) frees room for three more
        ack = {"v": 1, "device": CAM, "inc": device.inc, "boot": device.boot, "seqs": [1, 2, 3]}
        bus.client.publish(f"otk/v1/{SITE}/{CAM}/ack", orjson.dumps(ack), qos=1)
        wait_until(lambda: len(bus.of("event")) >= 8, 5, "three more events")
        time.sleep(0.3)
        assert [e["seq"] for e in bus.of("event")][5:] == [6, 7, 8] and device.pending() == 17
    finally:
        device.close(0)
    check_contract(bus)


def test_boot_counter_persists(tmp_path):
    assert Outbox(tmp_path).bump_boot() == 1
    box = Outbox(tmp_path)
    assert box.bump_boot() == 2
    box.add(2, 1, b'{"v":1}')
    assert box.remove(2, [1, 5]) == 1 and box.count() == 0


# --- privacy: nothing image-like leaves the process -------------------------------------------------------

IMAGE_MAGIC = {
    "JPEG": b"\xff\xd8\xff",
    "PNG": b"\x89PNG\r\n\x1a\n",
    "NumPy": b"\x93NUMPY",
    "GIF": b"GIF89a",
    "WebP": b"WEBPVP8",
}
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{100,}")


def image_like(data: bytes) -> list[str]:
    """What in ``data`` looks like an image: a signature, a BMP header, a long base64 run."""
    found = [name for name, magic in IMAGE_MAGIC.items() if magic in data]
    if data[:2] == b"BM" and len(data) > 54:
        found.append("BMP")
    if BASE64_RUN.search(data):
        found.append("base64")
    return found


def sqlite_blobs(path: Path, limit: int = 2048) -> list[str]:
    """Every value over ``limit`` bytes, and every binary or image-like one, in a SQLite file."""
    bad = []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if len(raw) > limit or image_like(raw):
                        bad.append(f"{table}: {len(raw)} bytes {image_like(raw)}")
    finally:
        conn.close()
    return bad


def scan_files(root: Path) -> list[str]:
    bad = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data.startswith(b"SQLite format 3\x00"):
            bad += [f"{path}: {b}" for b in sqlite_blobs(path)]
            data = data.replace(b"SQLite format 3\x00", b"")  # pages hold the same values, checked above
        if found := image_like(data):
            bad.append(f"{path}: {found}")
    return bad


def test_the_checks_find_images(tmp_path):
    """Negative control: the checks below do catch a JPEG, a PNG, a blob in SQLite, base64."""
    image = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    (tmp_path / "a.bin").write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
    cv2.imwrite(str(tmp_path / "b.png"), image)
    np.save(tmp_path / "c.npy", image)
    conn = sqlite3.connect(tmp_path / "d.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (?)", (os.urandom(4000),))
    conn.commit()
    conn.close()
    found = scan_files(tmp_path)
    for name in ("a.bin", "b.png", "c.npy", "d.db"):
        assert any(name in f for f in found), (name, found)
    import base64

    assert image_like(orjson.dumps({"img": base64.b64encode(image.tobytes()).decode()})) == ["base64"]
    assert image_like(orjson.dumps({"v": 1, "type": "visit", "dominant": "happy"})) == []


def test_privacy_nothing_image_like_is_written_or_sent(tmp_path, broker, bus, hub_process):
    hub = hub_process()
    home = tmp_path / "mon"
    (home / "tmp").mkdir(parents=True)
    env = {
        **os.environ, "HOME": str(home), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / ".cache"),
        "OTK_MQTT_PASSWORD": broker.passwords[CAM], "PYTHONPATH": str(REPO),
    }  # fmt: skip
    env.pop("XDG_STATE_HOME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emotion_model", "monitor", "--mqtt-url", broker.url, "--site", SITE,
         "--device", CAM, "--source", "synthetic:3", "--no-realtime", "--loop", "--heartbeat-s", "1"],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until(lambda: len(hub_visits(hub)) >= 4 or proc.poll() is not None, 60, "visits in the hub")
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        # off by default: the monitor listens on no port (no live view)
        sockets = psutil.Process(proc.pid).net_connections("inet")
        assert [c for c in sockets if c.status == psutil.CONN_LISTEN] == []
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert out == b""  # results and logs: nothing on stdout
    assert b"visit 1/1:" in err
    wait_until(lambda: bus.of("status")[-1]["state"] == "offline", 5, "the offline status")

    # (a) every MQTT message of the site is small JSON with nothing image-like
    assert len(bus.of("event")) >= 4
    for topic, payload, _ in bus.messages:
        assert len(payload) < 2048, (topic, len(payload))
        assert isinstance(orjson.loads(payload), dict)  # JSON (and so UTF-8, not binary)
        assert image_like(payload) == [], (topic, payload)
    check_contract(bus)
    # (b) every file the monitor wrote: the state folder (its outbox) under HOME, cwd, TMPDIR
    # (no onnxruntime telemetry store in ~/.cache/Microsoft either: the CLI turns it off)
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert written == [".local/state/otklik/emotion-monitor/cam-01/monitor.db"], written
    assert scan_files(home) == []
    # (c) the hub stored only small JSON
    for (payload,) in db_rows(hub.db, "SELECT payload FROM events"):
        assert len(payload) < 2048 and image_like(payload.encode()) == []
    assert scan_files(hub.directory) == []


# --- the admin live view ----------------------------------------------------------------------------


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_live_view_is_off_by_default_and_blurred(models, tmp_path):
    detector, classifier = models
    assert Monitor.__init__.__kwdefaults__["live_view"] is None  # the CLI's default: see the privacy test
    clip = SyntheticClip(people=1, seed=1)
    frame = clip.frame(clip.schedule[0][0] + 30)
    faces = detector.detect(frame)
    assert len(faces) == 1
    probs = classifier.classify(frame, [f.box for f in faces])
    host, port = parse_listen(":0")
    assert host == "127.0.0.1"
    view = LiveView(host, port, token="t").start()
    auth = {"Authorization": "Bearer t"}
    try:
        url = f"http://{view.host}:{view.port}"
        assert httpx.get(f"{url}/frame.jpg", headers=auth, timeout=5).status_code == 503  # nothing yet
        view.update(frame, faces, probs, classifier.labels)
        del frame
        reply = httpx.get(f"{url}/frame.jpg", headers=auth, timeout=5)
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
        served = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_COLOR)
        raw = clip.frame(clip.schedule[0][0] + 30)
        assert served.shape == raw.shape
        # inside the face box (away from the drawn lines) the picture has lost its detail
        x, y, w, h = faces[0].box
        inner = (slice(y + 6, y + h - 6), slice(x + 6, x + w - 6))
        assert sharpness(served[inner]) < sharpness(raw[inner]) / 50
        assert sharpness(served) < sharpness(raw) / 3  # even with the boxes and labels drawn
        # the box is drawn (green) where the face is
        assert served[y, x + w // 2, 1] > 200
        assert httpx.get(f"{url}/", headers=auth, timeout=5).status_code == 200
    finally:
        view.stop()


# --- the command line --------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emotion_model", *args], cwd=cwd, capture_output=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def test_classify_command(tmp_path):
    from skimage import data

    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    done = run_cli("classify", str(image), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    result = orjson.loads(done.stdout)
    assert result["image"] == str(image)
    [face] = result["faces"]
    assert face["label"] == "happy" and len(face["box"]) == 4 and 0.6 <= face["score"] <= 1
    assert set(face["probs"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}

    missing = run_cli("classify", str(tmp_path / "nope.png"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == b""
    assert b"cannot read image" in missing.stderr and "не удалось".encode() in missing.stderr
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert run_cli("classify", str(tmp_path / "junk.png"), cwd=tmp_path).returncode == 2


def test_a_new_state_folder_is_a_new_incarnation(tmp_path):
    from emotion_model.monitor.outbox import Outbox

    first = Outbox(tmp_path / "a")
    inc = first.incarnation()
    assert inc == first.incarnation() == Outbox(tmp_path / "a").incarnation(), "kept with the counter"
    assert 1 <= inc < 2**32
    # the folder deleted (a reinstall): the boot counter starts again, the incarnation does not repeat
    others = {Outbox(tmp_path / f"b{i}").incarnation() for i in range(5)}
    assert inc not in others and len(others) == 5
