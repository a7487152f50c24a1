"""What the dashboard and the board show, gathered from :mod:`edge_hub.metrics.summary` (no metric here).

Every figure is a ``summary.summary`` / ``timeseries`` / ``executors`` result: this module only
chooses the periods (the office's local today, week and month), reads the latest presses, and
counts negative answers per local weekday and hour for the heat map, with
``metrics.formulas.negative_count`` over the hourly histograms of the main question.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from edge_hub.metrics import formulas as f
from edge_hub.metrics import summary
from edge_hub.metrics.aggregates import KIND_ANSWERS
from edge_hub.office.settings import WEEKDAYS, OfficeSettings

PERIODS = ("today", "week", "month")
#: (metric key in summary()["metrics"], unit): "%" a share, "pts" points from -100 to +100
CARD_METRICS = (
    ("csat", "%"),
    ("nps", "pts"),
    ("ces", "%"),
    ("emotional_nps", "pts"),
    ("response_rate", "%"),
    ("support_index", "%"),
    ("criticality_index", "%"),
)
TREND_DAYS = 30
HEATMAP_DAYS = 28
LATEST_ROWS = 20


def periods(settings: OfficeSettings, now_ms: int) -> dict[str, tuple[int, int]]:
    """[from, to) in epoch ms of the office's local today, this week (from Monday), this month."""
    today = settings.local(now_ms).date()
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return {
        "today": (settings.at(today, "00:00"), settings.at(today + timedelta(days=1), "00:00")),
        "week": (settings.at(week, "00:00"), settings.at(week + timedelta(days=7), "00:00")),
        "month": (settings.at(month, "00:00"), settings.at(next_month, "00:00")),
    }


def iso(ms: int) -> str:
    """UTC ISO 8601 with a Z, as the API writes its periods."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def scoreboard(conn: sqlite3.Connection, settings: OfficeSettings, now_ms: int) -> dict[str, Any]:
    """The metric table: per period its bounds and ``summary.summary``; per metric its row."""
    cols = []
    for name, (lo, hi) in periods(settings, now_ms).items():
        s = summary.summary(conn, lo, hi, settings=settings)
        cols.append({"period": name, "from": iso(lo), "to": iso(hi), "summary": s})
    rows = []
    for key, unit in CARD_METRICS:
        if key not in cols[0]["summary"]["metrics"]:
            continue  # a question the office does not ask
        rows.append(
            {
                "key": key,
                "unit": unit,
                "cells": [{"period": c["period"], **c["summary"]["metrics"][key]} for c in cols],
            }
        )
    return {"periods": cols, "rows": rows, "min_n": settings.min_n, "main_question": settings.main_question}


def trend(
    conn: sqlite3.Connection, settings: OfficeSettings, now_ms: int, question: str = "csat"
) -> dict | None:
    """``summary.timeseries`` of ``question`` per local day over the last :data:`TREND_DAYS` days."""
    if settings.scale_of(question) is None:
        return None
    today = settings.local(now_ms).date()
    first = today - timedelta(days=TREND_DAYS - 1)
    lo, hi = settings.at(first, "00:00"), settings.at(today + timedelta(days=1), "00:00")
    series = summary.timeseries(conn, lo, hi, question, "day", settings=settings)
    return {"question": question, "points": series["points"], "chart": day_chart(settings, series["points"])}


def day_chart(settings: OfficeSettings, points: list[dict[str, Any]]) -> dict[str, Any]:
    """A per-day series of ``summary.timeseries`` as uPlot's columns: x in seconds (the local
    midnight), the value (null: not enough data), n."""
    return {
        "x": [settings.at(date.fromisoformat(p["t"]), "00:00") // 1000 for p in points],
        "value": [p["value"] for p in points],
        "n": [p["n"] for p in points],
        "tz": settings.timezone,
    }


def unhappy_heatmap(
    conn: sqlite3.Connection, settings: OfficeSettings, from_ms: int, to_ms: int
) -> dict[str, Any]:
    """Negative answers to the main question per local weekday (mon..sun) and hour (0..23).

    From the hourly buckets (trusted presses only, as the summary counts them), each bucket's
    histogram restricted to the question's scale and passed to ``formulas.negative_count``.
    Also the number of answers per cell, and the hours worth showing (opening hours and any hour
    with answers).
    """
    question = settings.main_question
    scale = f.get_scale(settings.questions[question])
    lo, hi = summary.hour_range(from_ms, to_ms)
    per_hour: dict[int, dict[int, int]] = defaultdict(dict)
    for hour, counts in conn.execute(
        "SELECT hour, counts FROM aggregates WHERE kind = ? AND question = ? AND hour >= ? AND hour < ?",
        (KIND_ANSWERS, question, lo, hi),
    ):
        merged = per_hour[hour]
        for value, n in orjson.loads(counts).items():
            if scale.contains(int(value)):
                merged[int(value)] = merged.get(int(value), 0) + n
    negative = [[0] * 24 for _ in WEEKDAYS]
    answers = [[0] * 24 for _ in WEEKDAYS]
    for hour, hist in per_hour.items():
        local = settings.local(hour)
        negative[local.weekday()][local.hour] += f.negative_count(hist, scale)
        answers[local.weekday()][local.hour] += sum(hist.values())
    shown = {h for d in range(7) for h in range(24) if answers[d][h]}
    for spans in settings.opening_hours.values():
        for start, end in spans:
            first, last = int(start[:2]), int(end[:2]) - (end[3:] == "00")
            shown.update(range(first, last + 1))
    hours = list(range(min(shown), max(shown) + 1)) if shown else list(range(9, 19))
    top = max((max(row) for row in negative), default=0)
    days = []
    for d, key in enumerate(WEEKDAYS):
        cells = []
        for h in hours:
            neg = negative[d][h]
            level = 0.0 if not neg else max(0.15, round(neg / top, 2))
            cells.append({"hour": h, "negative": neg, "answers": answers[d][h], "level": level})
        days.append({"key": key, "cells": cells})
    return {
        "question": question,
        "from": iso(from_ms),
        "to": iso(to_ms),
        "hours": hours,
        "days": days,
        "max": top,
        "total": sum(map(sum, negative)),
    }


def heatmap_period(settings: OfficeSettings, now_ms: int) -> tuple[int, int]:
    """The last :data:`HEATMAP_DAYS` local days, today included."""
    today = settings.local(now_ms).date()
    first = today - timedelta(days=HEATMAP_DAYS - 1)
    return settings.at(first, "00:00"), settings.at(today + timedelta(days=1), "00:00")


def last_event_id(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def latest_presses(
    conn: sqlite3.Connection,
    settings: OfficeSettings,
    now_ms: int,
    after_id: int = 0,
    limit: int = LATEST_ROWS,
) -> list[dict[str, Any]]:
    """The newest presses (by arrival), newest first, with the visitor's comment as plain text."""
    rows = conn.execute(
        "SELECT id, ts, device, window, operator, question, value, flag, "
        "json_extract(payload, '$.comment'), json_extract(payload, '$.callback') "
        "FROM events WHERE type = 'press' AND id > ? ORDER BY id DESC LIMIT ?",
        (after_id, limit),
    ).fetchall()
    today = settings.local(now_ms).date()
    out = []
    for id_, ts, device, window, operator, question, value, flag, comment, callback in rows:
        local = settings.local(ts)
        scale = settings.scale_of(question)
        mood = "neu"
        if scale is not None and value is not None and f.SCALES[scale].contains(value):
            s = f.SCALES[scale]
            mood = "pos" if s.is_positive(value) else "neg" if s.is_negative(value) else "neu"
        out.append(
            {
                "id": id_,
                "time": local.strftime("%H:%M:%S" if local.date() == today else "%d.%m %H:%M"),
                "device": device, "window": window, "operator": operator, "question": question,
                "value": value, "mood": mood, "flag": flag,
                "comment": comment if isinstance(comment, str) else None, "callback": bool(callback),
            }
        )  # fmt: skip
    return out


def league(conn: sqlite3.Connection, settings: OfficeSettings, lo: int, hi: int) -> dict[str, Any]:
    """``summary.executors`` by operator (by window when no press has an operator), with names."""
    by = "operator"
    table = summary.executors(conn, lo, hi, by, settings=settings)
    if not table:
        by = "window"
        table = summary.executors(conn, lo, hi, by, settings=settings)
    names = dict(conn.execute(f"SELECT id, name FROM {'operators' if by == 'operator' else 'windows'}"))
    return {"by": by, "rows": [{**r, "name": names.get(r["id"]) or r["id"]} for r in table]}
