"""Response models of the API (they document /docs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


def iso(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


_EVENT_FIELDS = (
    "id", "device", "inc", "boot", "seq", "type", "question", "value", "repeat", "window", "operator", "flag",
)  # fmt: skip


class EventOut(BaseModel):
    id: int
    device: str
    inc: int = Field(
        description="Incarnation id of the device (0 for firmware without one); "
        "the key is (device, inc, boot, seq)"
    )
    boot: int
    seq: int
    type: str
    question: str | None
    value: int | None
    repeat: bool
    time: datetime = Field(description="Best-known true time of the event (UTC)")
    time_source: str = Field(description="device: device clock; uptime: recovered from uptime; hub: receipt")
    device_time: datetime | None
    received_at: datetime
    window: str | None = Field(None, description="The device's window at the press")
    operator: str | None = Field(None, description="The operator on shift at the press")
    flag: str | None = Field(
        None,
        description="Why the press looks fake (repeat, burst, self_rating, after_hours, no_operator); "
        "null = trusted",
    )
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EventOut:
        return cls(
            **{k: row[k] for k in _EVENT_FIELDS},
            time=iso(row["ts"]),
            time_source=row["time_source"],
            device_time=iso(row["device_ts"]),
            received_at=iso(row["received_at"]),
            payload=row["payload"],
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")


class QuarantineOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    reason_text: str
    detail: str | None
    size: int = Field(description="Size of the raw payload in bytes")
    truncated: bool = Field(description="Only the first KB of the payload was kept")
    payload_text: str = Field(description="Kept bytes as UTF-8 (invalid bytes replaced)")
    payload_hex: str | None = Field(description="Kept bytes in hex, when they are not UTF-8")


class QuarantinePage(BaseModel):
    items: list[QuarantineOut]
    next_cursor: str | None


class DeviceOut(BaseModel):
    device: str
    state: str | None = Field(
        description="online / asleep (battery device in deep sleep) / offline (its will); null before any"
    )
    state_since: datetime | None
    kind: str | None
    fw: str | None
    hw: str | None
    inc: int | None = Field(
        None, description="The device's current incarnation id (a new one after a reflash or a new board)"
    )
    boot: int | None
    up: int | None = Field(description="Uptime in ms at the last heartbeat")
    battery_mv: int | None
    rssi: int | None
    heap_free: int | None
    reset_cause: str | None
    outbox: int | None
    drops: int | None
    safe_mode: bool | None
    config_rev: int | None
    first_seen: datetime | None
    last_seen: datetime | None
    last_status_at: datetime | None
    status: dict[str, Any] | None = Field(description="The last online heartbeat as sent")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeviceOut:
        times = ("first_seen", "last_seen", "last_status_at", "state_since")
        return cls(**{k: (iso(v) if k in times else v) for k, v in row.items()})
