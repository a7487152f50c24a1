"""What the API needs to know about the running hub: where the database is, and how ingest
and the broker are doing. The API reads it; only the hub's own threads change it — except
:meth:`Runtime.command` and :meth:`Runtime.publish_config`, which hand a message to the ingest
thread to publish."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

import mqtt_schemas
from edge_hub.errors import ContractError, OtklikError

if TYPE_CHECKING:
    from edge_hub.ingest.ingestor import Ingestor
    from edge_hub.transport.broker import EmbeddedBroker

_LOGGER = logging.getLogger(__name__)


class CommandError(OtklikError):
    """A command to a device was refused; the message is "English / Russian"."""


class UnknownDevice(CommandError):
    """No device of this id is in the registry (it never sent anything valid)."""


class NotConnected(CommandError):
    """The hub has no live connection to the broker, so it cannot send anything."""


class InvalidCommand(CommandError):
    """The command would break the MQTT contract (cmd.schema.json), e.g. an argument out of range."""


@dataclass
class Runtime:
    site: str
    db_path: Path
    broker_url: str
    ingestor: Ingestor | None = None
    broker: EmbeddedBroker | None = None

    def command(self, device: str, cmd: str, args: dict[str, Any] | None = None) -> str:
        """Send ``cmd`` (identify, reboot, update) to ``device`` on ``otk/v1/{site}/{device}/cmd``
        at QoS 1, through the hub's own MQTT connection; return the command's id (``c-…``).

        The message is checked against the contract before it leaves. Raises
        :class:`UnknownDevice`, :class:`NotConnected` or :class:`InvalidCommand`. The publish is
        handed to the ingest thread (which drives the connection) and leaves within its next
        loop turn; a device that is asleep or offline gets it from its persistent session.
        """
        if not self._known(device):
            raise UnknownDevice(f"unknown device {device!r} / неизвестное устройство {device!r}")
        ingestor = self.ingestor
        if ingestor is None or not ingestor.conn.connected:
            raise NotConnected("the hub is not connected to the broker / хаб не подключён к брокеру")
        command_id = "c-" + secrets.token_hex(8)
        body: dict[str, Any] = {"v": 1, "id": command_id, "cmd": cmd, "ts": time.time_ns() // 1_000_000}
        if args is not None:
            body["args"] = args
        topic = mqtt_schemas.topic(self.site, device, "cmd")
        payload = orjson.dumps(body)
        _check(ingestor, topic, payload, "the command breaks", "команда нарушает")
        ingestor.send(topic, payload, qos=1)
        _LOGGER.info("command %s (%s) to %s", command_id, cmd, device)
        return command_id

    def publish_config(self, payload: dict[str, Any]) -> None:
        """Hand a device's config (the contract's config message) to the broker as the retained
        message of ``otk/v1/{site}/{device}/config`` at QoS 1: the device gets it whenever it
        connects, and applies it when its ``rev`` is above the one it has. Checked against the
        contract first (:class:`InvalidCommand`); while the hub is offline it waits in the
        connection's queue."""
        topic = mqtt_schemas.topic(self.site, payload["device"], "config")
        raw = orjson.dumps(payload)
        ingestor = self.ingestor
        if ingestor is None:
            raise NotConnected("the hub is not connected to the broker / хаб не подключён к брокеру")
        _check(ingestor, topic, raw, "the config breaks", "настройки нарушают")
        ingestor.send(topic, raw, qos=1, retain=True)
        _LOGGER.info("config rev %s to %s", payload.get("rev"), payload["device"])

    def _known(self, device: str) -> bool:
        conn = sqlite3.connect(f"file:{Path(self.db_path)}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT 1 FROM devices WHERE device = ?", (device,)).fetchone() is not None
        finally:
            conn.close()


def _check(ingestor: Ingestor, topic: str, payload: bytes, breaks_en: str, breaks_ru: str) -> None:
    """A message the hub is about to send, checked against the contract (:class:`InvalidCommand`,
    "the command breaks the MQTT contract (why) / команда нарушает контракт MQTT (why)")."""
    try:
        ingestor.contract.parse(topic, payload)
    except ContractError as exc:
        why = exc.detail or exc.reason
        raise InvalidCommand(
            f"{breaks_en} the MQTT contract ({why}) / {breaks_ru} контракт MQTT ({why})"
        ) from None
