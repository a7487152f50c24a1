#!/usr/bin/env python3
"""Ingest benchmark: how fast the real hub drains an MQTT backlog, next to bare paho.

One run, against a private Mosquitto started with the hub's own lossless configuration
(``edge_hub.transport.broker.write_mosquitto_config``), measures:

  (a) raw drain: a bare paho-mqtt 2.x subscriber (MQTT 3.1.1, fixed client id,
      clean_session=False, manual_ack, QoS 1) that only acks, reading a backlog of N
      queued press events -> msg/s from its first to its last message;
  (b) hub drain: the same kind of backlog (fresh boot number, fresh database) read by
      ``edge-hub run`` as a subprocess -> msg/s from the first to the last stored row
      (``received_at``), and wall time from process start until all N rows are in SQLite;
  (c) latency: with the hub running, R events/s for S seconds from device clients that
      also subscribe to their end-to-end ack topic -> publish->ack p50/p99 (an upper
      bound of publish->commit, since the hub acks only after its commit) and
      publish->receipt from the database's ``received_at``;
  (d) the same at a sparse rate (default 5/s for 6 s): isolated presses, one per batch.

(a) and (b) run --repeat times (default 3), interleaved. The last line printed is
``hub/raw drain ratio: R``: the median hub rate (received_at span) over the median raw rate
(first to last message). A JSON copy of every figure goes to bench/results/; see
bench/README.md for what the figures mean and what they were on the reference machine.

    .venv/bin/python bench/ingest.py [--events 100000] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from common import (
    RESULTS_DIR,
    STOP,
    BenchError,
    Children,
    bench_run,
    check_stop,
    log,
    percentile,
    prepare,
    save_results,
)
from paho.mqtt import __version__ as PAHO_VERSION
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

import mqtt_schemas
from edge_hub.transport.broker import HUB_USER, free_port, wait_for_port, write_mosquitto_config

HOST = "127.0.0.1"
RAW_CLIENT_ID = "bench-raw-sub"
KEEPALIVE_S = 30
PAHO_MID_LIMIT = 65535

BROKER_START_S = 15.0
CONNECT_S = 15.0
HUB_READY_S = 45.0
HUBSTOP_S = 25.0
POLL_S = 0.05
SETTLE_S = 1.0
GAP_MS = 20  # a pause this long between two consecutive messages counts as a stall


def rate(count: int, seconds: float) -> float | None:
    """Messages per second over the span from the first to the last message."""
    return (count - 1) / seconds if count > 1 and seconds > 0 else None


# --- child processes ----------------------------------------------------------------------


def cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- payloads -----------------------------------------------------------------------------


def press(device: str, boot: int, seq: int, t0_ms: int) -> bytes:
    """One press event as the firmware sends it (about 140 bytes of compact JSON)."""
    button = seq % 5 + 1
    return orjson.dumps({
        "v": 1, "type": "press", "device": device, "boot": boot, "seq": seq,
        "up": 60_000 + seq * 37, "ts": t0_ms + seq, "button": button, "value": button,
        "question": "csat",
    })  # fmt: skip


def device_ids(count: int) -> list[str]:
    return [f"btn-{i:02d}" for i in range(1, count + 1)]


# --- a fleet of device clients on one thread ----------------------------------------------


class Fleet:
    """One paho client per device (each with its own credentials, as the ACL requires),
    all driven from the calling thread by one select() over their sockets (paho's external
    event loop API: loop_read / loop_write / loop_misc)."""

    def __init__(
        self,
        port: int,
        site: str,
        passwords: dict[str, str],
        *,
        window: int,
        tag: str,
        on_ack: Callable[[str, dict, int], None] | None = None,
    ) -> None:
        if not 0 < window < PAHO_MID_LIMIT:
            raise BenchError(f"--window must be 1..{PAHO_MID_LIMIT - 1}")
        self.site = site
        self.window = window
        self.on_ack = on_ack
        self.outstanding: dict[str, int] = {}
        self.acked = 0
        self.connected: set[str] = set()
        self.subscribed: set[str] = set()
        self.errors: list[str] = []
        self._closing = False
        self.clients: dict[str, paho.Client] = {}
        for device, password in passwords.items():
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"bench-{tag}-{device}",
                clean_session=True,
                protocol=paho.MQTTv311,
                userdata=device,
            )
            client.username_pw_set(device, password)
            client.max_inflight_messages_set(window)  # paho never queues past our own window
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.on_subscribe = self._on_subscribe
            client.on_message = self._on_message
            self.clients[device] = client
            self.outstanding[device] = 0
        self.port = port

    # callbacks (run inside pump)
    def _on_connect(self, client, device, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.errors.append(f"{device}: broker refused the connection: {reason_code}")
            return
        self.connected.add(device)
        if self.on_ack is not None:
            client.subscribe(mqtt_schemas.topic(self.site, device, "ack"), qos=1)

    def _on_disconnect(self, client, device, flags, reason_code, properties) -> None:
        self.connected.discard(device)
        if not self._closing:
            self.errors.append(f"{device}: disconnected unexpectedly: {reason_code}")

    def _on_publish(self, client, device, mid, reason_code, properties) -> None:
        self.outstanding[device] -= 1
        self.acked += 1

    def _on_subscribe(self, client, device, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self.errors.append(f"{device}: subscription to its ack topic refused")
        else:
            self.subscribed.add(device)

    def _on_message(self, client, device, msg) -> None:
        if self.on_ack is not None:
            self.on_ack(device, orjson.loads(msg.payload), time.perf_counter_ns())

    def _check(self) -> None:
        if self.errors:
            raise BenchError("; ".join(self.errors[:3]))

    def pump(self, timeout: float) -> None:
        """One select() round over every client's socket."""
        if not self._closing:
            check_stop()
        socks = {}
        for client in self.clients.values():
            sock = client.socket()
            if sock is not None:
                socks[sock] = client
        if not socks:
            raise BenchError("every device client lost its connection")
        wlist = [s for s, c in socks.items() if c.want_write()]
        readable, writable, _ = select.select(list(socks), wlist, [], max(timeout, 0.0))
        for sock in readable:
            socks[sock].loop_read()
        for sock in writable:
            client = socks[sock]
            if client.socket() is not None:
                client.loop_write()
        now = time.monotonic()
        if now >= getattr(self, "_next_misc", 0.0):
            self._next_misc = now + 1.0
            for client in self.clients.values():
                if client.socket() is not None:
                    client.loop_misc()
        self._check()

    def connect(self, timeout: float = CONNECT_S) -> None:
        for client in self.clients.values():
            client.connect(HOST, self.port, KEEPALIVE_S)
        want_sub = self.on_ack is not None
        deadline = time.monotonic() + timeout
        while len(self.connected) < len(self.clients) or (
            want_sub and len(self.subscribed) < len(self.clients)
        ):
            if time.monotonic() > deadline:
                raise BenchError(
                    f"device clients not ready within {timeout:.0f} s "
                    f"({len(self.connected)}/{len(self.clients)} connected, "
                    f"{len(self.subscribed)} subscribed)"
                )
            self.pump(0.05)

    def publish(self, device: str, payload: bytes) -> None:
        info = self.clients[device].publish(mqtt_schemas.topic(self.site, device, "event"), payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BenchError(f"paho refused a publish of {device}: {info.rc!r}")
        self.outstanding[device] += 1

    def publish_backlog(self, count: int, boot: int, timeout: float) -> float:
        """Publish ``count`` events round-robin over the devices, at most ``window`` unacked
        per device; return once the broker has PUBACKed all of them. Returns msg/s."""
        devices = list(self.clients)
        quota = {
            d: count // len(devices) + (1 if i < count % len(devices) else 0) for i, d in enumerate(devices)
        }
        sent = dict.fromkeys(devices, 0)
        t0_ms = time.time_ns() // 1_000_000
        start = time.perf_counter()
        deadline = time.monotonic() + timeout
        acked_before = self.acked
        next_report = start + 5.0
        while self.acked - acked_before < count:
            for device in devices:
                room = min(self.window - self.outstanding[device], quota[device] - sent[device])
                for _ in range(room):
                    sent[device] += 1
                    self.publish(device, press(device, boot, sent[device], t0_ms))
            self.pump(0.05)
            now = time.perf_counter()
            if now >= next_report:
                next_report = now + 5.0
                log(f"  published {self.acked - acked_before:,}/{count:,} (PUBACKed)")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"publishing the backlog timed out after {timeout:.0f} s: "
                    f"{self.acked - acked_before:,}/{count:,} PUBACKed"
                )
        return rate(count + 1, time.perf_counter() - start) or 0.0

    def close(self) -> None:
        """Disconnect every client cleanly (bounded: 2 s at most)."""
        if self._closing:
            return
        self._closing = True
        for client in self.clients.values():
            if client.socket() is not None:
                client.disconnect()
        deadline = time.monotonic() + 2.0
        while any(c.socket() is not None for c in self.clients.values()) and time.monotonic() < deadline:
            try:
                self.pump(0.05)
            except BenchError:
                break

    def abort(self) -> None:
        """After a KeyboardInterrupt, which may have left a paho lock held: close the sockets
        without calling into paho again."""
        self._closing = True
        for client in self.clients.values():
            sock = client.socket()
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


# --- (a) the raw paho subscriber ----------------------------------------------------------


def raw_client(password: str, *, clean_session: bool, manual_ack: bool,
               client_id: str = RAW_CLIENT_ID) -> paho.Client:  # fmt: skip
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=paho.MQTTv311,
        manual_ack=manual_ack,
        reconnect_on_failure=False,  # a lost connection ends loop_forever() instead of hiding
    )
    client.username_pw_set(HUB_USER, password)
    return client


def raw_session(port: int, password: str, site: str, *, create: bool, client_id: str = RAW_CLIENT_ID) -> None:
    """create=True: connect once with clean_session=False and subscribe, so the broker queues
    the backlog for this client id. create=False: connect with clean_session=True, which
    deletes the session of ``client_id`` (the raw subscriber's or the stopped hub's), so no
    backlog is ever queued for two clients at once."""
    client = raw_client(password, clean_session=not create, manual_ack=True, client_id=client_id)
    done = threading.Event()
    failure: list[str] = []

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            failure.append(str(reason_code))
            done.set()
        elif create:
            c.subscribe(mqtt_schemas.topic(site, "+", "event"), qos=1)
        else:
            done.set()

    def on_subscribe(c, userdata, mid, reason_codes, properties) -> None:
        if any(rc.is_failure for rc in reason_codes):
            failure.append(f"subscribe refused: {reason_codes}")
        done.set()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.connect(HOST, port, KEEPALIVE_S)
    deadline = time.monotonic() + CONNECT_S
    while not done.is_set():
        check_stop()
        if time.monotonic() > deadline:
            raise BenchError("raw subscriber: no CONNACK/SUBACK within the time limit")
        client.loop(0.1)
    client.disconnect()
    client.loop(0.1)
    if failure:
        raise BenchError(f"raw subscriber: {failure[0]}")


def raw_drain(port: int, password: str, count: int, timeout: float, broker_pid: int | None = None) -> dict:
    """Connect the persistent raw subscriber and time how long it takes to receive ``count``
    queued messages. Driven by loop_forever() on this thread, the fastest of paho's loops
    here: loop_start()'s thread was ~38 % slower (GIL handoffs), and a hand-written select
    loop over loop_read/loop_write/loop_misc ~8 % slower (median of 10 pairs). A watchdog thread
    ends the loop on the time limit or Ctrl-C by shutting the socket down (it never calls
    into paho from a second thread)."""
    client = raw_client(password, clean_session=False, manual_ack=True)
    state = {"n": 0, "first": 0, "last": 0, "session_present": None, "gaps": 0, "gap_ns": 0}
    gap_min_ns = int(GAP_MS * 1e6)

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        state["session_present"] = bool(flags.session_present)
        if reason_code.is_failure:
            c.disconnect()

    def on_message(c, userdata, msg) -> None:
        c.ack(msg.mid, msg.qos)
        now = time.perf_counter_ns()
        n = state["n"] = state["n"] + 1
        if n == 1:
            state["first"] = now
        elif now - state["last"] >= gap_min_ns:
            state["gaps"] += 1
            state["gap_ns"] += now - state["last"]
        state["last"] = now
        if n >= count:
            c.disconnect()  # queued after the last PUBACK, so every ack reaches the broker

    client.on_connect, client.on_message = on_connect, on_message
    finished = threading.Event()
    deadline = time.monotonic() + timeout

    def watchdog() -> None:
        while not finished.wait(0.1):
            if STOP.is_set() or time.monotonic() > deadline:
                sock = client.socket()
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)  # loop_forever() sees the connection lost
                return

    broker_cpu0, cpu0 = cpu_s(broker_pid), time.process_time()
    start = time.perf_counter_ns()
    client.connect(HOST, port, KEEPALIVE_S)
    guard = threading.Thread(target=watchdog, name="raw-watchdog", daemon=True)
    guard.start()
    try:
        client.loop_forever()
    finally:
        finished.set()
        guard.join(2)
    end = time.perf_counter_ns()
    check_stop()
    cpu1, broker_cpu1 = time.process_time(), cpu_s(broker_pid)
    if state["session_present"] is False:
        raise BenchError("raw subscriber: the broker had no session for it (the backlog was not queued)")
    if state["n"] < count:
        raise BenchError(f"raw drain timed out after {timeout:.0f} s: {state['n']:,}/{count:,} messages")
    span_s = (state["last"] - state["first"]) / 1e9
    return {
        "messages": state["n"],
        "span_s": round(span_s, 3),
        "msg_per_s": round(rate(count, span_s) or 0.0),
        "wall_s": round((end - start) / 1e9, 3),
        "wall_msg_per_s": round(count / ((end - start) / 1e9)),
        "connect_to_first_ms": round((state["first"] - start) / 1e6, 1),
        "subscriber_cpu_s": round(cpu1 - cpu0, 2),
        "gaps": state["gaps"],
        "gap_s": round(state["gap_ns"] / 1e9, 3),
        "broker_cpu_s": cpu_delta(broker_cpu0, broker_cpu1),
    }


# --- (b) the hub ---------------------------------------------------------------------------


class HubProcess:
    """``edge-hub run`` against the bench broker, as a child process."""

    def __init__(self, children: Children, tmp: Path, port: int, password: str, args) -> None:
        self.children = children
        self.tmp = tmp
        self.db = tmp / "hub-0.db"
        self.log_path = tmp / "hub.log"
        self.broker_port = port
        self.password = password
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.http_port = 0
        exe = Path(sys.executable).with_name("edge-hub")
        self.base_cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edge_hub.cli"]

    def start(self, db: Path) -> float:
        """Start the hub on database ``db``; return the wall-clock start time (time.time())."""
        self.db = db
        self.http_port = free_port(HOST)
        cmd = [
            *self.base_cmd, "run",
            "--mqtt-url", f"mqtt://{HOST}:{self.broker_port}",
            "--mqtt-username", HUB_USER,
            "--db", str(self.db),
            "--data-dir", str(self.tmp / "hub-data"),
            "--listen", f"{HOST}:{self.http_port}",
            "--site", self.args.site,
            "--batch-size", str(self.args.batch_size),
            "--batch-ms", str(self.args.batch_ms),
        ]  # fmt: skip
        if self.args.py_spy:
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            out = (
                RESULTS_DIR
                / f"hub-pyspy-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.args.py_spy_out) + 1}.txt"
            )
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            # collapsed stacks ("raw"): flamegraph.pl and speedscope read them, and so does grep
            cmd = [spy, "record", "--format", "raw", "--rate", "250", "-o", str(out), "--", *cmd]
            self.args.py_spy_out.append(str(out))
        # the password through the environment (OTK_MQTT_PASSWORD), not the process list
        env = {**os.environ, "OTK_MQTT_PASSWORD": self.password}
        started = time.time()
        with open(self.log_path, "ab") as fh:
            fh.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n".encode())
        self.proc = self.children.start(cmd, self.log_path, env=env, cwd=self.tmp)
        return started

    @property
    def pid(self) -> int | None:
        """The hub's own pid (under --py-spy, py-spy's child)."""
        if self.proc is None:
            return None
        if not self.args.py_spy:
            return self.proc.pid
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            except OSError:
                kids = []
            if kids:
                return int(kids[0])
            time.sleep(0.05)
        return None

    def health(self) -> dict | None:
        url = f"http://{HOST}:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 503 = degraded, still a JSON body
            try:
                return json.loads(exc.read())
            except ValueError:
                return None
        except (OSError, ValueError):
            return None

    def _alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BenchError(f"edge-hub exited (code {code}); log tail:\n{tail(self.log_path)}")

    def wait_connected(self, timeout: float = HUB_READY_S) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check_stop()
            self._alive()
            body = self.health()
            if body and body.get("broker", {}).get("connected"):
                return body
            time.sleep(0.1)
        raise BenchError(
            f"edge-hub not connected to the broker within {timeout:.0f} s:\n{tail(self.log_path)}"
        )

    def stop(self) -> int:
        if self.proc is None:
            return 0
        # Under py-spy the hub is py-spy's child: signal the hub; py-spy writes its file and exits.
        if self.args.py_spy and self.proc.poll() is None:
            child = self.pid
            if child is not None:
                os.kill(child, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(HUBSTOP_S)
        code = Children.stop(self.proc, HUBSTOP_S)
        self.children.procs.remove(self.proc)
        self.proc = None
        return code


def ro_connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def hub_drain(hub: HubProcess, db_path: Path, count: int, boot: int, timeout: float,
              broker_pid: int | None = None) -> dict:  # fmt: skip
    """Start the hub on a queued backlog; poll the database until all ``count`` events of
    ``boot`` are stored. The poll reads max(rowid) (O(log n), so it takes no CPU from the
    hub on a 2-core box; ids are dense on a fresh table), then checks count(*) at the end.
    CPU: the hub's and the broker's, from the first poll that sees a stored row to the end
    (so the hub's Python start-up is left out; up to one poll interval of work is missed)."""
    started = hub.start(db_path)
    hub_pid = hub.pid
    t0 = time.perf_counter()
    db: sqlite3.Connection | None = None
    try:
        deadline = time.monotonic() + timeout
        next_report = t0 + 5.0
        stored = stored0 = 0
        cpu0 = broker_cpu0 = None
        while True:
            try:  # the hub creates the database and its tables after its start-up
                if db is None:
                    db = ro_connect(db_path)
                stored = db.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0]
            except sqlite3.OperationalError:
                if db is not None:
                    db.close()
                db = None
            if stored and cpu0 is None:
                cpu0, broker_cpu0, stored0 = cpu_s(hub_pid), cpu_s(broker_pid), stored
            if stored >= count:
                cpu1, broker_cpu1 = cpu_s(hub_pid), cpu_s(broker_pid)
                break
            check_stop()
            hub._alive()
            now = time.perf_counter()
            if now >= next_report:
                next_report = now + 5.0
                log(f"  hub stored {stored:,}/{count:,}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"hub drain timed out after {timeout:.0f} s: {stored:,}/{count:,} stored; "
                    f"log tail:\n{tail(hub.log_path)}"
                )
            time.sleep(POLL_S)
        wall_s = time.perf_counter() - t0
        n, first, last = db.execute(
            "SELECT count(*), min(received_at), max(received_at) FROM events WHERE boot = ?", (boot,)
        ).fetchone()
        total = db.execute("SELECT count(*) FROM events").fetchone()[0]
        gaps, gap_ms = db.execute(
            "SELECT count(*), coalesce(sum(gap), 0) FROM (SELECT received_at - lag(received_at) "
            "OVER (ORDER BY id) AS gap FROM events WHERE boot = ?) WHERE gap >= ?",
            (boot, GAP_MS),
        ).fetchone()
        quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    finally:
        if db is not None:
            db.close()
    if n != count or total != count:
        raise BenchError(f"hub stored {n:,} events of this backlog ({total:,} in all), expected {count:,}")
    span_s = (last - first) / 1000
    health = hub.health() or {}
    return {
        "messages": n,
        "span_s": round(span_s, 3),
        "msg_per_s": round(rate(count, span_s) or 0.0),
        "wall_s": round(wall_s, 3),
        "wall_msg_per_s": round(count / wall_s),
        "start_to_first_ms": first - round(started * 1000),
        "quarantined": quarantined,
        "hub_cpu_s": cpu_delta(cpu0, cpu1),
        "gaps": gaps,
        "gap_s": round(gap_ms / 1000, 3),
        "broker_cpu_s": cpu_delta(broker_cpu0, broker_cpu1),
        "cpu_window_messages": count - stored0,
        "ingest": health.get("ingest"),
    }


# --- (c) latency ---------------------------------------------------------------------------


def latency(port: int, passwords: dict[str, str], hub: HubProcess, args, boot: int,
            rate_per_s: float, seconds: float) -> dict:  # fmt: skip
    """R events/s for S seconds, round-robin over the devices; each device client is
    subscribed to its own ack topic and records when the hub's end-to-end ack names the event."""
    sent_pc: dict[tuple[str, int], int] = {}
    sent_wall_ms: dict[tuple[str, int], int] = {}
    acked_pc: dict[tuple[str, int], int] = {}

    def on_ack(device: str, body: dict, now_pc: int) -> None:
        if body.get("boot") != boot:
            return
        for seq in body.get("seqs", ()):
            key = (device, seq)
            if key in sent_pc and key not in acked_pc:
                acked_pc[key] = now_pc

    fleet = Fleet(port, args.site, passwords, window=args.window, tag="lat", on_ack=on_ack)
    total = max(1, int(rate_per_s * seconds))
    devices = list(passwords)
    try:
        fleet.connect()
        seqs = dict.fromkeys(devices, 0)
        t0_ms = time.time_ns() // 1_000_000
        start = time.perf_counter()
        deadline = start + seconds + 30  # a stalled publisher cannot hold the run
        next_report = start + 5.0
        i = 0
        while i < total:
            now = time.perf_counter()
            due = min(total, int((now - start) * rate_per_s) + 1)
            while i < due:
                device = devices[i % len(devices)]
                seqs[device] += 1
                key = (device, seqs[device])
                payload = press(device, boot, seqs[device], t0_ms)
                sent_wall_ms[key] = time.time_ns() // 1_000_000
                sent_pc[key] = time.perf_counter_ns()
                fleet.publish(device, payload)
                i += 1
            next_due = start + i / rate_per_s
            fleet.pump(max(0.0, min(next_due - time.perf_counter(), 0.05)))
            if now >= next_report:
                next_report = now + 5.0
                log(f"  sent {i:,}/{total:,}, acked end to end {len(acked_pc):,}")
            if time.perf_counter() > deadline:
                raise BenchError(f"latency publisher fell behind: {i:,}/{total:,} sent")
        publish_s = time.perf_counter() - start
        wait_until = time.perf_counter() + args.ack_wait
        while len(acked_pc) < total and time.perf_counter() < wait_until:
            fleet.pump(0.05)
    except KeyboardInterrupt:
        fleet.abort()
        raise
    finally:
        fleet.close()
    missing = total - len(acked_pc)
    lat_ms = [(acked_pc[k] - sent_pc[k]) / 1e6 for k in acked_pc]

    db = ro_connect(hub.db)
    try:
        rows = db.execute("SELECT device, seq, received_at FROM events WHERE boot = ?", (boot,)).fetchall()
    finally:
        db.close()
    receipt_ms = [received - sent_wall_ms[(d, s)] for d, s, received in rows if (d, s) in sent_wall_ms]

    def summary(values: list[float]) -> dict:
        return {
            "n": len(values),
            "p50_ms": round(percentile(values, 50), 1) if values else None,
            "p90_ms": round(percentile(values, 90), 1) if values else None,
            "p99_ms": round(percentile(values, 99), 1) if values else None,
            "max_ms": round(max(values), 1) if values else None,
        }

    return {
        "rate_per_s": rate_per_s,
        "seconds": seconds,
        "events": total,
        "achieved_rate_per_s": round((total - 1) / publish_s, 1) if total > 1 else None,
        "acks_missing": missing,
        "stored": len(rows),
        "publish_to_ack": summary(lat_ms),
        "publish_to_receipt": summary(receipt_ms),
    }


# --- the run -------------------------------------------------------------------------------


def mosquitto_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.splitlines()[0] if out else ""
    return first.replace("mosquitto version", "").strip() or "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--events", type=int, default=100_000, help="backlog size N for each drain")
    p.add_argument("--rate", type=float, default=200.0, help="(c) latency: events per second")
    p.add_argument("--seconds", type=float, default=20.0, help="(c) latency: duration, s")
    p.add_argument("--sparse-rate", type=float, default=5.0,
                   help="(d) isolated presses: events per second (each in a batch of its own)")  # fmt: skip
    p.add_argument("--sparse-seconds", type=float, default=6.0, help="(d) duration; 0 skips it")
    p.add_argument("--devices", type=int, default=20, help="device clients (each its own credentials)")
    p.add_argument("--window", type=int, default=100, help="unacked QoS 1 publishes per device client")
    p.add_argument("--site", default="bench")
    p.add_argument("--batch-size", type=int, default=500, help="hub --batch-size")
    p.add_argument("--batch-ms", type=int, default=50, help="hub --batch-ms")
    p.add_argument("--inflight", type=int, default=2000, help="broker max_inflight_messages")
    p.add_argument("--repeat", type=int, default=3,
                   help="drains of each kind; the ratio uses the median run of each")  # fmt: skip
    p.add_argument("--timeout", type=float, default=180.0, help="limit for each publish/drain phase, s")
    p.add_argument("--ack-wait", type=float, default=10.0, help="(c)/(d): wait for the last acks, s")
    p.add_argument("--skip-latency", action="store_true", help="drains only: skip (c) and (d)")
    p.add_argument("--py-spy", action="store_true",
                   help="record the hub drains with py-spy (collapsed stacks in bench/results/); "
                        "sampling slows the hub, so the ratio of such a run is not a result")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = p.parse_args(argv)
    if (args.events < 2 or args.devices < 1 or args.repeat < 1 or args.rate <= 0 or args.seconds <= 0
            or args.sparse_rate <= 0 or args.sparse_seconds < 0):  # fmt: skip
        p.error("need --events >= 2, --devices >= 1, --repeat >= 1, --rate > 0 and --seconds > 0")
    if args.window * args.devices > 20_000:
        p.error("--window x --devices above 20,000 outstanding publishes is not 'a few thousand'")
    args.py_spy_out = []
    return args


def publish_backlog(port: int, passwords: dict[str, str], args, boot: int, label: str) -> float:
    log(f"{label}: publishing a backlog of {args.events:,} QoS 1 events (boot {boot})")
    fleet = Fleet(port, args.site, passwords, window=args.window, tag="pub")
    try:
        fleet.connect()
        return fleet.publish_backlog(args.events, boot=boot, timeout=args.timeout)
    except KeyboardInterrupt:
        fleet.abort()
        raise
    finally:
        fleet.close()


def median_run(runs: list[dict]) -> dict:
    """The run with the median msg/s (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["msg_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    binary = prepare()
    if binary is None:
        return 2
    results: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "paho_mqtt": PAHO_VERSION,
            "mosquitto": mosquitto_version(binary),
            "platform": platform.platform(),
        },
        "params": {k: v for k, v in vars(args).items() if k not in ("keep", "py_spy_out")},
    }
    boot = 0
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="otklik-bench-"))
    with bench_run(tmp, args.keep, children.stop_all, stopping="stopping the hub and the broker") as outcome:
        # 1. the broker, with the hub's real lossless configuration
        devices = device_ids(args.devices)
        port = free_port(HOST)  # the devices' listener (client id forced to the login)
        hub_port = free_port(HOST)  # the hub's own listener: the hub and the bare subscriber
        files, passwords = write_mosquitto_config(
            tmp / "broker", site=args.site, port=port, inflight=args.inflight,
            devices=dict.fromkeys(devices), hub_port=hub_port,
        )  # fmt: skip
        hub_password = passwords.pop(HUB_USER)
        broker = children.start([binary, "-c", str(files.conf)], tmp / "mosquitto.stderr.log")
        wait_for_port(HOST, port, BROKER_START_S, broker)
        wait_for_port(HOST, hub_port, BROKER_START_S, broker)
        log(f"mosquitto {results['machine']['mosquitto']} on {HOST}:{port} (pid {broker.pid}), "
            f"{args.devices} devices, {args.repeat} drain(s) of each kind, {tmp}")  # fmt: skip

        # 2a/2b, interleaved (raw 1, hub 1, raw 2, hub 2, ...) so that drift in the speed of
        # a shared machine hits both alike. Each drain has its own backlog and only its own
        # client has a session while it is published: the other one's session is deleted.
        hub = HubProcess(children, tmp, hub_port, hub_password, args)
        hub_client_id = f"otklik-hub-{args.site}"
        raw_runs, hub_runs = [], []
        results["raw_runs"], results["hub_runs"] = raw_runs, hub_runs
        for rep in range(1, args.repeat + 1):
            label = f"(a) raw {rep}/{args.repeat}"
            raw_session(hub_port, hub_password, args.site, create=True)
            boot += 1
            pub_rate = publish_backlog(port, passwords, args, boot, label)
            log(f"{label}: published at {pub_rate:,.0f} msg/s; draining with bare paho")
            time.sleep(SETTLE_S)  # as the hub's start-up gives the broker a pause after publishing
            run = raw_drain(hub_port, hub_password, args.events, args.timeout, broker.pid)
            run["publish_msg_per_s"] = round(pub_rate)
            raw_runs.append(run)
            log(
                f"{label}: {run['messages']:,} in {run['span_s']:.2f} s first->last = "
                f"{run['msg_per_s']:,} msg/s"
            )
            raw_session(hub_port, hub_password, args.site, create=False)  # delete its session

            label = f"(b) hub {rep}/{args.repeat}"
            log(f"{label}: first start, to create its persistent session")
            saved_spy, args.py_spy = args.py_spy, False
            hub.start(tmp / f"hub-{rep}-init.db")
            hub.wait_connected()
            time.sleep(1.0)  # its SUBSCRIBE follows the CONNACK; let the SUBACK come back
            code = hub.stop()
            args.py_spy = saved_spy
            if code == -signal.SIGTERM:
                # uvicorn restores SIG_DFL and re-raises the SIGTERM it caught, so the
                # process dies before Hub.serve's `finally: self.stop()` (bench/README.md).
                results["hub_sigterm_exit_code"] = code
                log(f"{label}: note: edge-hub died of its SIGTERM (code -15), Hub.stop() did not run")
            elif code != 0:
                raise BenchError(f"edge-hub exited with code {code} on SIGTERM:\n{tail(hub.log_path)}")
            boot += 1
            pub_rate = publish_backlog(port, passwords, args, boot, label)
            log(f"{label}: published at {pub_rate:,.0f} msg/s; starting edge-hub on the backlog")
            run = hub_drain(hub, tmp / f"hub-{rep}.db", args.events, boot, args.timeout, broker.pid)
            run["publish_msg_per_s"] = round(pub_rate)
            hub_runs.append(run)
            log(f"{label}: {run['messages']:,} in {run['span_s']:.2f} s first->last row = "
                f"{run['msg_per_s']:,} msg/s; {run['wall_s']:.2f} s from process start")  # fmt: skip
            if rep < args.repeat:
                hub.stop()
                raw_session(hub_port, hub_password, args.site, create=False, client_id=hub_client_id)

        # 2c. latency with the hub running (on the last drain's database)
        if not args.skip_latency:
            hub.wait_connected()
            boot += 1
            log(f"(c) latency: {args.rate:g} events/s for {args.seconds:g} s over {args.devices} devices")
            results["latency"] = latency(port, passwords, hub, args, boot, args.rate, args.seconds)
            if args.sparse_seconds > 0:
                boot += 1
                log(f"(d) sparse latency: {args.sparse_rate:g} events/s for {args.sparse_seconds:g} s "
                    "(isolated presses, as in a real office)")  # fmt: skip
                results["sparse_latency"] = latency(
                    port, passwords, hub, args, boot, args.sparse_rate, args.sparse_seconds
                )
        hub.stop()
        if args.py_spy_out:
            results["py_spy_profile"] = args.py_spy_out
    if outcome.code:
        return outcome.code

    results["raw"], results["hub"] = median_run(results["raw_runs"]), median_run(results["hub_runs"])
    raw_median = statistics.median(run["msg_per_s"] for run in results["raw_runs"])
    hub_median = statistics.median(run["msg_per_s"] for run in results["hub_runs"])
    results["raw_median_msg_per_s"], results["hub_median_msg_per_s"] = raw_median, hub_median
    results["hub_wall_median_msg_per_s"] = statistics.median(
        run["wall_msg_per_s"] for run in results["hub_runs"]
    )
    ratio = hub_median / raw_median
    results["ratio"] = round(ratio, 4)
    results["pair_ratios"] = [
        round(h["msg_per_s"] / r["msg_per_s"], 3)
        for r, h in zip(results["raw_runs"], results["hub_runs"], strict=True)
    ]
    results["ratio_definition"] = (
        "median over runs of hub msg/s (first->last stored row, received_at) / "
        "median of raw msg/s (first->last message received)"
    )
    out = save_results(results, "ingest")
    print_summary(results, out)
    print(f"hub/raw drain ratio: {ratio:.2f}")
    return 0


def print_summary(r: dict, out: Path) -> None:
    m, p = r["machine"], r["params"]
    n = p["events"]

    def per_msg(cpu, count):
        return f"{cpu / count * 1e6:.0f} us/msg" if cpu is not None and count else "n/a"

    print()
    print(f"=== Otklik ingest bench: {r['date']}, {m['cores']} cores, Mosquitto {m['mosquitto']}, "
          f"paho {m['paho_mqtt']}, Python {m['python']} ===")  # fmt: skip
    print(f"backlog {n:,} QoS 1 press events from {p['devices']} device clients; hub batch "
          f"{p['batch_size']} / {p['batch_ms']} ms; broker inflight {p['inflight']}")  # fmt: skip
    print("(a) raw paho drain (bare subscriber, manual_ack, ack only):")
    for i, run in enumerate(r["raw_runs"], 1):
        print(f"    run {i}: {run['msg_per_s']:>7,} msg/s first->last message ({run['span_s']:.2f} s); "
              f"{run['wall_msg_per_s']:,} msg/s from connect; {run['gaps']} stalls >= {GAP_MS} ms "
              f"({run['gap_s']:.2f} s); CPU subscriber "
              f"{per_msg(run['subscriber_cpu_s'], n)}, broker {per_msg(run['broker_cpu_s'], n)}; "
              f"published at {run['publish_msg_per_s']:,} msg/s")  # fmt: skip
    print("(b) hub drain (edge-hub run; rate from received_at of the first and last stored row):")
    for i, run in enumerate(r["hub_runs"], 1):
        w = run["cpu_window_messages"]
        print(f"    run {i}: {run['msg_per_s']:>7,} msg/s first->last row ({run['span_s']:.2f} s); "
              f"{run['wall_msg_per_s']:,} msg/s from process start ({run['wall_s']:.2f} s, first row "
              f"{run['start_to_first_ms']} ms after start); {run['gaps']} stalls >= {GAP_MS} ms "
              f"({run['gap_s']:.2f} s); CPU hub {per_msg(run['hub_cpu_s'], w)}, "
              f"broker {per_msg(run['broker_cpu_s'], w)}; "
              f"published at {run['publish_msg_per_s']:,} msg/s")  # fmt: skip
    ingest = r["hub"].get("ingest") or {}
    print(f"    median hub run's counters: stored {ingest.get('stored')}, duplicates "
          f"{ingest.get('duplicates')}, quarantined {ingest.get('quarantined')}, commit errors "
          f"{ingest.get('commit_errors')}")  # fmt: skip
    print(f"    medians: raw {r['raw_median_msg_per_s']:,.0f} msg/s, "
          f"hub {r['hub_median_msg_per_s']:,.0f} msg/s "
          f"(hub from process start: {r['hub_wall_median_msg_per_s']:,.0f} msg/s); hub/raw of each pair "
          f"{', '.join(f'{x:.2f}' for x in r['pair_ratios'])}")  # fmt: skip
    for tag, lat in (("(c)", r.get("latency")), ("(d)", r.get("sparse_latency"))):
        if not lat:
            continue
        a, b = lat["publish_to_ack"], lat["publish_to_receipt"]
        print(f"{tag} latency at {lat['rate_per_s']:g}/s for {lat['seconds']:g} s ({lat['events']:,} events, "
              f"sent at {lat['achieved_rate_per_s'] or 0:g}/s, {lat['acks_missing']} acks missing, "
              f"{lat['stored']:,} stored)")  # fmt: skip
        print(f"    publish->e2e ack : p50 {a['p50_ms']} ms, p90 {a['p90_ms']} ms, p99 {a['p99_ms']} ms, "
              f"max {a['max_ms']} ms (an upper bound of publish->commit: "
              "the hub acks after its commit)")  # fmt: skip
        print(f"    publish->receipt : p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, max {b['max_ms']} ms "
              f"(hub received_at, ms resolution)")  # fmt: skip
    if r.get("py_spy_profile"):
        print(
            f"py-spy profiles of the hub: {', '.join(r['py_spy_profile'])} "
            "(sampled: this run's ratio is not a result)"
        )
    print(f"figures saved to {out}")


if __name__ == "__main__":
    sys.exit(main())
