"""Simulated button consoles for the demo: random presses with an outbox and end-to-end acks.

A stand-in until the real MicroPython firmware runs here: each console keeps every press until
the hub's ack names it and resends what waits too long, like the firmware's outbox.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import orjson

import mqtt_schemas
from edge_hub.mqtt import BrokerAddress, MqttConnection, Will

_LOGGER = logging.getLogger(__name__)

RESEND_AFTER_S = 10.0
HEARTBEAT_S = 30.0
# Mostly happy offices with some unhappy visitors: weights of the values 1..5.
VALUE_WEIGHTS = (5, 5, 10, 30, 50)


class SimulatedConsole:
    """One five-button console (values 1..5 on the csat question)."""

    def __init__(
        self, address: BrokerAddress, site: str, device: str, rate_per_min: float, seed: int
    ) -> None:
        self.site, self.device = site, device
        self.rate_per_s = rate_per_min / 60
        self.random = random.Random(seed)
        self.boot = int(time.time()) % 100000
        self.seq = 0
        self.started = time.monotonic()
        self.outbox: dict[int, tuple[bytes, float]] = {}
        self.acked = 0
        self.conn = MqttConnection(
            address,
            f"sim-{site}-{device}",
            on_message=self._on_ack,
            subscriptions=((mqtt_schemas.topic(site, device, "ack"), 1),),
            clean_session=False,
            will=Will(
                mqtt_schemas.topic(site, device, "status"),
                orjson.dumps({"v": 1, "device": device, "state": "offline"}),
            ),
            on_connect=self._send_status,
        )
        self._next_press = self._draw_gap()
        self._next_heartbeat = 0.0

    def _uptime(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def _draw_gap(self) -> float:
        return time.monotonic() + self.random.expovariate(self.rate_per_s)

    def _on_ack(self, incoming) -> None:
        body = orjson.loads(incoming.payload)
        if body.get("boot") == self.boot:
            for seq in body.get("seqs", ()):
                if self.outbox.pop(seq, None) is not None:
                    self.acked += 1

    def _send_status(self) -> None:
        status = {
            "v": 1, "device": self.device, "state": "online", "kind": "button", "fw": "sim-0.1",
            "hw": "simulator", "boot": self.boot, "up": self._uptime(), "ts": int(time.time() * 1000),
            "battery_mv": None, "rssi": -40 - self.random.randint(0, 30), "heap_free": 90000,
            "reset_cause": "power_on", "outbox": len(self.outbox), "drops": 0,
        }  # fmt: skip
        self.conn.publish(
            mqtt_schemas.topic(self.site, self.device, "status"), orjson.dumps(status), 1, retain=True
        )
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S

    def press(self, value: int | None = None) -> None:
        self.seq += 1
        value = value or self.random.choices(range(1, 6), VALUE_WEIGHTS)[0]
        up = self._uptime()
        body = {
            "v": 1, "type": "press", "device": self.device, "boot": self.boot, "seq": self.seq, "up": up,
            "ts": int(time.time() * 1000), "button": value, "value": value, "question": "csat",
        }  # fmt: skip
        self.outbox[self.seq] = (orjson.dumps(body), 0.0)
        self._send(self.seq)

    def _send(self, seq: int) -> None:
        payload, _ = self.outbox[seq]
        self.conn.publish(mqtt_schemas.topic(self.site, self.device, "event"), payload, 1)
        self.outbox[seq] = (payload, time.monotonic())

    def tick(self) -> None:
        self.conn.loop(0)
        now = time.monotonic()
        if now >= self._next_press:
            self.press()
            self._next_press = self._draw_gap()
        if self.conn.connected and now >= self._next_heartbeat:
            self._send_status()
        for seq, (_, sent) in list(self.outbox.items()):
            if now - sent > RESEND_AFTER_S:
                self._send(seq)


class Simulation:
    """N consoles driven by one background thread."""

    def __init__(self, consoles: list[SimulatedConsole]) -> None:
        self.consoles = consoles
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for console in self.consoles:
                console.tick()
            self._stop.wait(0.02)
        for console in self.consoles:
            console.conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
