"""Ingest: MQTT messages -> contract check -> one SQLite transaction per batch -> acks.

The order is the delivery guarantee. A batch is committed every ``batch_size`` messages or
``batch_ms`` after its first message, whichever comes first. Only after the commit are the
messages acknowledged to the broker (paho ``manual_ack``), so a crash before the commit makes
the broker redeliver them, and the store ignores the copies it already has. Then each device
gets an end-to-end ack listing the events now stored, after which they may leave its outbox.
Invalid messages go to the quarantine table with a reason; none stops ingest. The check and the
commit of a batch are :func:`edge_hub.ingest.batch.process`, shared with the web kiosk's endpoint.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict

import orjson

import mqtt_schemas
from edge_hub.db.store import Store
from edge_hub.ingest import batch as ingest_batch
from edge_hub.ingest import commit as ingest_commit
from edge_hub.ingest.batch import AckKey, IngestStats
from edge_hub.ingest.contract import Contract
from edge_hub.transport.mqtt import BrokerAddress, Incoming, MqttConnection

_LOGGER = logging.getLogger(__name__)

ACK_MAX_SEQS = 1000  # maxItems of seqs in ack.schema.json
COMMIT_RETRY_S = 1.0

__all__ = ["ACK_MAX_SEQS", "AckKey", "IngestStats", "Ingestor"]


class Ingestor:
    """Subscribes to the site's event and status topics and stores them exactly once."""

    def __init__(
        self,
        store: Store,
        contract: Contract,
        address: BrokerAddress,
        *,
        site: str,
        client_id: str,
        batch_size: int = 500,
        batch_ms: int = 50,
        max_outstanding: int = 1000,
    ) -> None:
        self.store = store
        self.contract = contract
        self.site = site
        self.batch_size = batch_size
        self.batch_s = batch_ms / 1000
        self.stats = IngestStats()
        self._pending: list[Incoming] = []
        self._deadline = 0.0
        self._stop = threading.Event()
        #: publishes asked for by other threads (a command from the API), sent by the ingest thread
        self._outgoing: queue.SimpleQueue[tuple[str, bytes, int, bool]] = queue.SimpleQueue()
        self.conn = MqttConnection(
            address,
            client_id,
            on_message=self._on_message,
            subscriptions=(
                (mqtt_schemas.topic(site, "+", "event"), 1),
                (mqtt_schemas.topic(site, "+", "status"), 1),
            ),
            manual_ack=True,
            clean_session=False,
            max_outstanding=max_outstanding,
        )

    # --- the loop ----------------------------------------------------------------------------

    def _on_message(self, incoming: Incoming) -> None:
        pending = self._pending
        if not pending:
            self._deadline = time.monotonic() + self.batch_s
        pending.append(incoming)
        if len(pending) >= self.batch_size:
            self.flush()

    def run(self) -> None:
        """Loop until :meth:`stop`; then commit what is pending and disconnect."""
        _LOGGER.info("ingest for site %s from %s", self.site, self.conn.address)
        while not self._stop.is_set():
            timeout = self._deadline - time.monotonic() if self._pending else 0.5
            self.conn.loop(max(timeout, 0.0))
            self._send_outgoing()
            if self._pending and time.monotonic() >= self._deadline:
                self.flush()
        self.flush()
        self._send_outgoing()
        self.conn.loop(0.05)
        self.conn.close()

    def stop(self) -> None:
        self._stop.set()

    def send(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish from any thread: the connection is driven by the ingest thread alone, so the
        message waits here until that thread's next loop turn (at most ~0.5 s when idle)."""
        self._outgoing.put((topic, payload, qos, retain))

    def _send_outgoing(self) -> None:
        outgoing = self._outgoing
        while not outgoing.empty():
            topic, payload, qos, retain = outgoing.get_nowait()
            self.conn.publish(topic, payload, qos=qos, retain=retain)

    @property
    def lag_ms(self) -> int:
        """Age of the oldest message not yet committed (0 when none waits)."""
        pending = self._pending
        return max(0, time.time_ns() // 1_000_000 - pending[0].received_at) if pending else 0

    # --- one batch ---------------------------------------------------------------------------

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            try:
                acks = self.process(batch)
            except sqlite3.OperationalError:
                raise
            except Exception:
                # One message the contract let through still broke the batch (a bug). Store the
                # rest one by one and quarantine the culprit, so it cannot stop ingest.
                _LOGGER.exception("batch of %d messages failed; retrying them one at a time", len(batch))
                acks = self._process_singly(batch)
        except sqlite3.OperationalError:
            # The database itself failed (disk full, I/O, lock). Nothing is acked, so the broker
            # still owes us the batch: drop the connection and it redelivers after the reconnect.
            self.stats.commit_errors += 1
            _LOGGER.exception("commit of %d messages failed; reconnecting to get them again", len(batch))
            self.conn.close()
            time.sleep(COMMIT_RETRY_S)
            return
        conn = self.conn
        for incoming in batch:
            if incoming.qos:
                conn.ack(incoming.mid, incoming.qos)
        for (device, inc, boot), seqs in acks.items():
            topic = mqtt_schemas.topic(self.site, device, "ack")
            for start in range(0, len(seqs), ACK_MAX_SEQS):
                part = seqs[start : start + ACK_MAX_SEQS]
                body = {"v": 1, "device": device, "inc": inc, "boot": boot, "seqs": part}
                conn.publish(topic, orjson.dumps(body), qos=1)

    def _process_singly(self, batch: list[Incoming]) -> dict[AckKey, list[int]]:
        acks: dict[AckKey, list[int]] = defaultdict(list)
        for incoming in batch:
            try:
                for key, seqs in self.process([incoming]).items():
                    acks[key] += seqs
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                row = ingest_batch.quarantined(incoming, "internal", repr(exc))
                ingest_commit.commit(self.store.conn, (), [row])
                self.stats.quarantined += 1
        return acks

    def process(self, batch: list[Incoming]) -> dict[AckKey, list[int]]:
        """Check and commit one batch (:func:`edge_hub.ingest.batch.process`); return the end-to-end
        acks owed, by (device, inc, boot)."""
        return ingest_batch.process(self.store.conn, self.contract, batch, self.stats).acks
