"""Response models of the API (they document /docs)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field


def iso(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- errors -------------------------------------------------------------------------------------

#: SQLite's largest integer: ids and cursors above it cannot name a row (and would overflow)
SQL_INT_MAX = 2**63 - 1


class Refusal(BaseModel):
    """Every error answer of the API: ``{"detail": ...}``."""

    detail: str | dict[str, Any] | list[dict[str, Any]] = Field(
        description="'English / Russian' text; for invalid input FastAPI's list of what is wrong "
        "(loc, msg, type), or an object with a message and the bad lines of a CSV import"
    )


_REFUSALS = {
    400: "Bad request: a body that is not JSON (or not UTF-8), an invalid cursor",
    401: "No session or bearer token, or an unknown or revoked token (once the hub has an account)",
    403: "The session's role or the token's scope does not allow it, or the CSRF token is missing",
    404: "Unknown id in the path",
    409: "Conflict with the stored state",
    413: "The request body is larger than the hub accepts",
    422: "Invalid input: what the schema says, and rules it cannot say ('to' after 'from', a period "
    "or row limit, an unknown id named in the body)",
    503: "The hub cannot do it now (not connected to the broker; the database not writable)",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error answers a route really gives, each a :class:`Refusal`."""
    return {code: {"model": Refusal, "description": _REFUSALS[code]} for code in codes}


#: what /api/v1 answers before a route runs (hub_ui.core.api_access), and for an invalid query
API_REFUSALS = refusals(401, 403, 422)
#: a route with a request body: it may be unreadable or too large
BODY_REFUSALS = refusals(400, 413)


#: a character that is not white space as str.strip() sees it (str.isspace): names and who acts on
#: an alert are kept stripped, so one of only spaces (a no-break space included) is none
NOT_ONLY_SPACES = r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


# --- strict times -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _text_only(value: Any) -> Any:
    """Refuse numbers as times: pydantic would read ``0`` or ``"0.5"`` as Unix seconds, which the
    schema (an ISO 8601 string) does not allow."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("an ISO 8601 string is expected, not a number / нужна строка ISO 8601, не число")
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("an ISO 8601 date or time is expected / нужна дата или время в формате ISO 8601")
    return value


#: a date-time given as ISO 8601 text (never a number of seconds)
IsoDateTime = Annotated[datetime, BeforeValidator(_text_only)]
#: a date given as YYYY-MM-DD text (never a number of seconds)
IsoDate = Annotated[date, BeforeValidator(_text_only)]
#: a page cursor: the next_cursor of the previous page (digits)
CURSOR_SCHEMA = {"pattern": "^[0-9]{1,19}$"}


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
    value: int | float | None = Field(
        description="A press's answer value (integer); a reading's value (a number, e.g. 812.5 ppm)"
    )
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
    payload: dict[str, Any] = Field(
        description="The event as the device sent it, less a survey visitor's call-back phone number "
        "(shown only to the office's admins and managers, on the alert it belongs to)"
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EventOut:
        payload = row["payload"]
        if isinstance(payload, dict) and "phone" in payload:
            payload = {k: v for k, v in payload.items() if k != "phone"}
        return cls(
            **{k: row[k] for k in _EVENT_FIELDS},
            time=iso(row["ts"]),
            time_source=row["time_source"],
            device_time=iso(row["device_ts"]),
            received_at=iso(row["received_at"]),
            payload=payload,
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
