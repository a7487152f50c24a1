"""The office's own settings, kept in the database and edited through the API (and the UI).

Time zone and opening hours, the minimum sample size, which scale each question uses, and
the thresholds of the trust rules and the alerts. Defaults live here; a saved copy in the
``office_settings`` table overrides them.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import BaseModel, Field, field_validator, model_validator

from edge_hub.db.tx import immediate
from edge_hub.metrics.formulas import SCALES

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: one HH:MM of a span written as text (``9:00`` is read as ``09:00``), and what separates spans and
#: their two ends in that text (see :func:`parse_hours`)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SPANS_SPLIT = re.compile(r"\s*[,;]\s*")
_SPAN_SPLIT = re.compile(r"\s*[-–—]\s*")

#: question id -> scale, for the questions the devices ask out of the box
DEFAULT_QUESTIONS = {"csat": "csat5", "nps": "nps11", "enps": "nps11", "ces": "ces7", "fcr": "yesno"}


class TrustRules(BaseModel):
    """When a press looks fake (flagged, never deleted; left out of results by default)."""

    burst_max: int = Field(6, ge=2, description="More presses than this on one device ...")
    burst_window_s: int = Field(60, ge=1, description="... within this many seconds: a burst")
    self_run: int = Field(3, ge=2, description="This many top scores in a row on one device ...")
    self_gap_s: int = Field(20, ge=1, description="... each within this many seconds: staff rating")
    flag_after_hours: bool = Field(True, description="Flag presses outside the opening hours")
    flag_no_operator: bool = Field(
        True, description="Flag presses at a window that has shifts but nobody on shift at the time"
    )
    flag_no_visitor: bool = Field(
        True, description="Flag presses at a window a working camera covers when it saw no visitor"
    )
    visitor_slack_s: int = Field(
        30, ge=0, le=600, description="A visit counts for presses this many seconds before or after it"
    )


class AlertRules(BaseModel):
    spike_share: float = Field(0.5, gt=0, le=1, description="Negative spike: this share unhappy ...")
    spike_minutes: int = Field(15, ge=1, description="... within this many minutes ...")
    spike_min_n: int = Field(4, ge=1, description="... with at least this many ratings")
    silent_minutes: int = Field(120, ge=5, description="A device with no press this long while open")
    offline_minutes: int = Field(10, ge=1, description="A device offline (its will) this long")
    low_battery_mv: int = Field(3300, ge=0, description="Battery below this many mV")


class OfficeSettings(BaseModel):
    timezone: str = Field("Europe/Moscow", description="IANA time zone of the office")
    opening_hours: dict[str, list[tuple[str, str]]] = Field(
        default_factory=lambda: {d: [("09:00", "19:00")] for d in WEEKDAYS[:5]} | {"sat": [], "sun": []},
        description="Per weekday (mon..sun): [open, close] pairs in local time, HH:MM",
    )
    min_n: int = Field(5, ge=1, description="Fewer answers than this: 'not enough data'")
    questions: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_QUESTIONS), description="Question id -> scale"
    )
    main_question: str = Field("csat", description="The question behind positive/negative counts")
    trust: TrustRules = Field(default_factory=TrustRules)
    alerts: AlertRules = Field(default_factory=AlertRules)
    phone_keep_days: int = Field(
        30, ge=1, le=365, description="A visitor's callback phone number is deleted after this many days"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for day, spans in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (mon..sun)")
            for start, end in spans:
                check_span(day, start, end)
        return {d: value.get(d, []) for d in WEEKDAYS}

    @field_validator("questions")
    @classmethod
    def _scales(cls, value: dict[str, str]) -> dict[str, str]:
        for question, scale in value.items():
            if scale not in SCALES:
                raise ValueError(f"question {question!r}: unknown scale {scale!r}")
        return value

    @model_validator(mode="after")
    def _main(self) -> OfficeSettings:
        if self.main_question not in self.questions:
            raise ValueError(f"main_question {self.main_question!r} is not among the questions")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def scale_of(self, question: str | None) -> str | None:
        return self.questions.get(question or "")

    def local(self, ts_ms: int) -> datetime:
        """An instant as the office's local date and time."""
        return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(self.zone)

    def at(self, day: date, wall: str | time) -> int:
        """The instant (epoch ms) of a local wall time (HH:MM or a time) on a local day."""
        clock = _hhmm(wall) if isinstance(wall, str) else wall
        return int(datetime.combine(day, clock, tzinfo=self.zone).timestamp() * 1000)

    def is_open(self, ts_ms: int) -> bool:
        """Whether the office is open at this instant (its local time)."""
        local = self.local(ts_ms)
        now = local.time()
        return any(_hhmm(a) <= now < _hhmm(b) for a, b in self.opening_hours[WEEKDAYS[local.weekday()]])


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _hhmm(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"expected HH:MM, got {text!r}") from None


def check_span(day: str, start: str, end: str) -> tuple[str, str]:
    """One span of a weekday's opening hours: both ends HH:MM, opening before closing; ValueError
    otherwise. The model's validation and :func:`parse_hours` (the office page's form) both check
    a span with it."""
    if _hhmm(start) >= _hhmm(end):
        raise ValueError(f"{day}: {start}-{end} does not open before it closes")
    return start, end


def parse_hours(day: str, text: str) -> list[tuple[str, str]]:
    """A weekday's opening hours written as text, ``09:00-13:00, 14:00-18:00`` (spans separated by
    ``,`` or ``;``, their ends by ``-``, ``–`` or ``—``; ``9:00`` read as ``09:00``), as the spans
    :class:`OfficeSettings` holds; empty text: closed. ValueError when a span is malformed or does
    not open before it closes."""
    spans = []
    for part in _SPANS_SPLIT.split(text.strip()):
        if not part:
            continue
        ends = _SPAN_SPLIT.split(part)
        if len(ends) != 2 or not all(_HHMM.match(end) for end in ends):
            raise ValueError(f"{day}: expected HH:MM-HH:MM, got {part!r}")
        start, end = (f"{int(hours):02d}:{minutes}" for hours, minutes in (e.split(":") for e in ends))
        spans.append(check_span(day, start, end))
    return spans


def hours_text(spans: list[tuple[str, str]]) -> str:
    """A weekday's spans as the text :func:`parse_hours` reads."""
    return ", ".join(f"{start}-{end}" for start, end in spans)


def load(conn: sqlite3.Connection) -> OfficeSettings:
    row = conn.execute("SELECT value FROM office_settings WHERE key = 'office'").fetchone()
    return OfficeSettings.model_validate(orjson.loads(row[0])) if row else OfficeSettings()


def save(conn: sqlite3.Connection, settings: OfficeSettings) -> None:
    """Save the settings, in the caller's open transaction if there is one (else its own)."""
    with immediate(conn):
        conn.execute(
            "INSERT INTO office_settings (key, value) VALUES ('office', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (settings.model_dump_json(),),
        )
