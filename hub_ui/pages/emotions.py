"""Emotions (/emotions): camera visits and their emotion mix over a period, and /privacy.

Per day (or hour) ``summary.emotions``: visits by dominant emotion and the emotional NPS with its
n; the period's totals from ``summary.summary`` (``visits`` and ``metrics.emotional_nps``). No
number is computed here. No image is kept anywhere: /privacy shows the monitor's privacy
statement (``emotion_model/PRIVACY.md``) as plain, escaped text.
"""

from __future__ import annotations

from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from edge_hub.api import auth
from edge_hub.metrics import summary
from edge_hub.metrics.formulas import EMOTIONS_NEGATIVE, EMOTIONS_NEUTRAL, EMOTIONS_POSITIVE
from edge_hub.office import settings as office_settings
from hub_ui import i18n
from hub_ui.core import Ui, nav, page, require
from hub_ui.pages.league import period_context, pick_period

router = APIRouter()

EMOTIONS = nav("/emotions", "nav.emotions", auth.STAFF, order=60)
StaffUi = Annotated[Ui, Depends(require(EMOTIONS.roles))]
AnyUi = Annotated[Ui, Depends(require(auth.ALL_ROLES))]

#: the order of the labels in the table and the chart: positive, neutral, negative
LABELS = (
    *sorted(EMOTIONS_POSITIVE, key=["happy", "surprise"].index), *sorted(EMOTIONS_NEUTRAL),
    *sorted(EMOTIONS_NEGATIVE, key=["sad", "angry", "fear", "disgust"].index),
)  # fmt: skip
#: a period this short is shown per hour (unless ?step= says otherwise)
HOURLY_UP_TO_DAYS = 2

i18n.register({
    "nav.emotions": ("Эмоции", "Emotions"),
    "emotions.title": ("Эмоции посетителей", "Visitors' emotions"),
    "emotions.totals": ("За период", "In the period"),
    "emotions.visits": ("Визитов", "Visits"),
    "emotions.share_note": (
        "Визит — один проход лица перед камерой; эмоция визита — преобладающая за визит.",
        "A visit is one pass of a face before the camera; its emotion is the dominant one of the visit.",
    ),
    "emotions.chart": ("Визиты по эмоциям", "Visits by emotion"),
    "emotions.per.day": ("по дням", "per day"),
    "emotions.per.hour": ("по часам", "per hour"),
    "emotions.table": ("Данные {step}", "Data {step}"),
    "emotions.slot.day": ("День", "Day"),
    "emotions.slot.hour": ("Час", "Hour"),
    "emotions.enps_short": ("эNPS", "eNPS"),
    "emotions.no_visits": ("Визитов за период нет.", "No visits in the period."),
    "emotions.label.happy": ("радость", "happy"),
    "emotions.label.surprise": ("удивление", "surprise"),
    "emotions.label.neutral": ("нейтрально", "neutral"),
    "emotions.label.sad": ("грусть", "sad"),
    "emotions.label.angry": ("гнев", "angry"),
    "emotions.label.fear": ("страх", "fear"),
    "emotions.label.disgust": ("отвращение", "disgust"),
    "emotions.enps_help": (
        "Эмоциональный NPS = доля визитов с положительной эмоцией (радость, удивление) минус доля с "
        "отрицательной (грусть, гнев, страх, отвращение), от −100 до +100; показывается от {min_n} визитов.",
        "Emotional NPS = the share of visits with a positive emotion (happy, surprise) minus the share "
        "with a negative one (sad, angry, fear, disgust), from −100 to +100; shown from {min_n} visits.",
    ),
    "emotions.privacy": (
        "Изображения не хранятся и никуда не передаются: камера на хабе лишь оценивает выражение лица "
        "в памяти и отправляет итог визита (время, длительность, преобладающая эмоция). Лица не "
        "распознаются и не сравниваются, визит нельзя связать с человеком.",
        "No image is kept or sent anywhere: the camera process on the hub only estimates the facial "
        "expression in memory and sends a visit's summary (time, duration, dominant emotion). Faces are "
        "not recognised or compared; a visit cannot be linked to a person.",
    ),
    "emotions.privacy_link": ("Заявление о персональных данных", "The privacy statement"),
    "privacy.title": ("Монитор эмоций и персональные данные", "The emotion monitor and personal data"),
    "privacy.missing": ("Файл заявления не найден на хабе.", "The statement file is not on this hub."),
    "privacy.back": ("← Эмоции", "← Emotions"),
})  # fmt: skip


def _x(settings: office_settings.OfficeSettings, step: str, t: str) -> int:
    """A point's time as uPlot's x (epoch seconds): local midnight of a day, or the hour's start."""
    if step == "day":
        return settings.at(date.fromisoformat(t), "00:00") // 1000
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())


def emotion_view(
    conn: Any, settings: office_settings.OfficeSettings, lo: int, hi: int, step: str
) -> dict[str, Any]:
    """``summary.emotions`` per slot and ``summary.summary``'s visit totals, shaped for the page."""
    series = summary.emotions(conn, lo, hi, step, settings=settings)
    totals = summary.summary(conn, lo, hi, settings=settings)
    points = []
    for p in series["points"]:
        slot = (
            date.fromisoformat(p["t"]).strftime("%d.%m.%Y") if step == "day"
            else settings.local(_x(settings, step, p["t"]) * 1000).strftime("%d.%m %H:00")
        )  # fmt: skip
        points.append({**p, "slot": slot})
    return {
        "step": step,
        "points": points,
        "visits": totals["visits"],
        "enps": totals["metrics"]["emotional_nps"],
        "chart": {
            "step": step,
            "tz": settings.timezone,
            "x": [_x(settings, step, p["t"]) for p in series["points"]],
            "labels": list(LABELS),
            "counts": [[p["by_emotion"].get(label, 0) for p in series["points"]] for label in LABELS],
            "enps": [p["emotional_nps"]["value"] for p in series["points"]],
        },
    }


@router.get("/emotions", include_in_schema=False)
def emotions(ui: StaffUi, step: Annotated[str | None, Query(pattern="^(day|hour)$")] = None) -> HTMLResponse:
    settings = office_settings.load(ui.conn)
    period = pick_period(ui, settings)
    step = step or ("hour" if period.days <= HOURLY_UP_TO_DAYS else "day")
    data = emotion_view(ui.conn, settings, period.lo, period.hi, step)
    data["chart"]["names"] = [ui.t(f"emotions.label.{label}") for label in LABELS]
    return page(
        ui, "emotions.html", "emotions.title", labels=LABELS, min_n=settings.min_n, data=data,
        **period_context(ui, period),
    )  # fmt: skip


def privacy_text() -> str | None:
    try:
        return (resources.files("emotion_model") / "PRIVACY.md").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return None


@router.get("/privacy", include_in_schema=False)
def privacy(ui: AnyUi) -> HTMLResponse:
    return page(ui, "privacy.html", "privacy.title", text=privacy_text())
