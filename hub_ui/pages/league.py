"""Windows and operators: the league (/league) and one operator's page (/operators/{id}).

The league is ``summary.executors`` (ranked by the Wilson lower bound of the positive share of
the main question) by operator and by window, for a period: today, this week, this month (the
office's local calendar) or custom dates. An operator's page is ``summary.summary`` and
``summary.timeseries`` with ``Scope(operator=…)`` and their shifts (``shift_rules.shifts``). No
number is computed here. :func:`pick_period` (the period picker) is shared with /emotions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from edge_hub.api import auth
from edge_hub.metrics import summary
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.office.settings import OfficeSettings
from hub_ui import i18n, numbers
from hub_ui.core import Ui, UiError, local_time, nav, page, require

router = APIRouter()

LEAGUE = nav("/league", "nav.league", auth.STAFF, order=30)
StaffUi = Annotated[Ui, Depends(require(LEAGUE.roles))]

PRESETS = ("today", "week", "month")
#: the longest custom period, in days
MAX_DAYS = 400
SHIFTS_SHOWN = 100
#: the operator page's figures besides the questions' own metrics (the response rate and the
#: support and criticality indices divide by the office's served clients: not an operator's)
OPERATOR_EXTRA = (("emotional_nps", "pts"),)
#: the unit of a question's metric by its scale ("%" a share, "pts" −100..+100)
SCALE_UNITS = {"csat5": "%", "ces7": "%", "yesno": "%", "nps11": "pts"}

i18n.register({
    "nav.league": ("Окна и операторы", "Windows and operators"),
    "league.title": ("Окна и операторы", "Windows and operators"),
    "league.by.operator": ("Операторы", "Operators"),
    "league.by.window": ("Окна", "Windows"),
    "league.rank": ("Место", "Rank"),
    "league.name": ("Кто", "Who"),
    "league.n": ("Оценок", "Ratings"),
    "league.positive": ("Положительных", "Positive"),
    "league.share": ("Доля положительных", "Positive share"),
    "league.bound": ("Нижняя граница (Уилсон)", "Lower bound (Wilson)"),
    "league.empty": ("За этот период оценок нет.", "No ratings in this period."),
    "league.help": (
        "Места — по нижней границе 95-процентного доверительного интервала Уилсона для доли "
        "положительных оценок главного вопроса «{question}»: 3 из 3 (граница 44 %) стоят ниже, "
        "чем 290 из 300 (94 %). Меньше {min_n} оценок — «недостаточно данных», такие строки в конце "
        "и без места. Подозрительные нажатия не учтены.",
        "Ranked by the lower bound of the 95 % Wilson interval of the positive share of the main "
        "question “{question}”: 3 of 3 (bound 44 %) ranks below 290 of 300 (94 %). Fewer than {min_n} "
        "ratings: “not enough data”, listed last without a rank. Suspicious presses left out.",
    ),
    "league.period": ("Период", "Period"),
    "league.period_custom": ("Свои даты", "Custom dates"),
    "league.period_from": ("с", "from"),
    "league.period_to": ("по", "to"),
    "league.period_show": ("Показать", "Show"),
    "league.period_bad": (
        "Даты не распознаны или период длиннее {days} дней: показан этот месяц.",
        "The dates are not valid or span more than {days} days: showing this month.",
    ),
    "league.period_span": ("{first} – {last}", "{first} – {last}"),
    "operator.title": ("Оператор {name}", "Operator {name}"),
    "operator.unknown": ("Нет такого оператора.", "No such operator."),
    "operator.back": ("← Окна и операторы", "← Windows and operators"),
    "operator.numbers": ("Показатели оператора", "The operator's scores"),
    "operator.place": ("Место в лиге: {rank} из {total}", "League rank: {rank} of {total}"),
    "operator.unranked": (
        "В лиге без места: меньше {min_n} оценок.", "Unranked: fewer than {min_n} ratings."
    ),
    "operator.scope_note": (
        "Доля оценивших и индексы поддержки и критичности считаются по числу обслуженных офиса или "
        "окна, поэтому здесь их нет.",
        "The response rate and the support and criticality indices divide by the served clients of the "
        "office or a window, so they are not shown per operator.",
    ),
    "operator.trend": ("{label} по дням", "{label} per day"),
    "operator.shifts": ("Смены", "Shifts"),
    "operator.shift_start": ("Начало", "Start"),
    "operator.shift_end": ("Конец", "End"),
    "operator.no_shifts": ("Смен в этом периоде нет.", "No shifts in this period."),
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Period:
    """A period of local days [first, last] as [lo, hi) in epoch ms, and how it was chosen."""

    key: str  # today | week | month | custom
    first: date
    last: date
    lo: int
    hi: int
    bad: bool = False  # custom dates were given but not usable

    def query(self) -> dict[str, str]:
        if self.key == "custom":
            return {"period": "custom", "from": self.first.isoformat(), "to": self.last.isoformat()}
        return {"period": self.key}

    def qs(self) -> str:
        return urlencode(self.query())

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def pick_period(ui: Ui, settings: OfficeSettings, default: str = "month") -> Period:
    """The period of ``?period=today|week|month`` or ``?period=custom&from=YYYY-MM-DD&to=YYYY-MM-DD``
    (local days, both included); anything unusable falls back to ``default`` (flagged ``bad``)."""
    params = ui.request.query_params
    key = params.get("period") or default
    if key == "custom":
        try:
            first, last = date.fromisoformat(params.get("from", "")), date.fromisoformat(params.get("to", ""))
        except ValueError:
            first = last = None
        if first is not None and last is not None and first <= last and (last - first).days < MAX_DAYS:
            return Period("custom", first, last, *_bounds(settings, first, last))
        return _preset(settings, default, bad=True)
    return _preset(settings, key if key in PRESETS else default)


def _preset(settings: OfficeSettings, key: str, bad: bool = False) -> Period:
    lo, hi = numbers.periods(settings, auth.now_ms())[key]
    first, last = settings.local(lo).date(), settings.local(hi - 1).date()
    return Period(key, first, last, lo, hi, bad)


def _bounds(settings: OfficeSettings, first: date, last: date) -> tuple[int, int]:
    return settings.at(first, "00:00"), settings.at(last + timedelta(days=1), "00:00")


def period_context(ui: Ui, period: Period) -> dict[str, Any]:
    """What ``_period.html`` needs."""
    return {
        "period": period,
        "presets": PRESETS,
        "period_from": numbers.iso(period.lo),
        "period_to": numbers.iso(period.hi),
        "period_error": ui.t("league.period_bad", days=MAX_DAYS) if period.bad else None,
    }


def _names(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    return dict(conn.execute(f"SELECT id, name FROM {table}"))  # a fixed table name


def league_tables(conn: sqlite3.Connection, settings: OfficeSettings, period: Period) -> list[dict[str, Any]]:
    """``summary.executors`` by operator and by window, with names."""
    tables = []
    for by, table in (("operator", "operators"), ("window", "windows")):
        names = _names(conn, table)
        rows = summary.executors(conn, period.lo, period.hi, by, settings=settings)
        tables.append({"by": by, "rows": [{**r, "name": names.get(r["id"]) or r["id"]} for r in rows]})
    return tables


@router.get("/league", include_in_schema=False)
def league(ui: StaffUi) -> HTMLResponse:
    settings = office_settings.load(ui.conn)
    period = pick_period(ui, settings)
    return page(
        ui, "league.html", "league.title", tables=league_tables(ui.conn, settings, period),
        min_n=settings.min_n, question=settings.main_question, **period_context(ui, period),
    )  # fmt: skip


def operator_numbers(
    conn: sqlite3.Connection, settings: OfficeSettings, operator: str, period: Period
) -> dict[str, Any]:
    """The operator's ``summary.summary``: the questions' metrics and the emotional NPS, with units."""
    s = summary.summary(conn, period.lo, period.hi, summary.Scope(operator=operator), settings=settings)
    main = settings.main_question
    rows = [  # the main question always; the others when the operator has answers to them
        {"key": q, "unit": SCALE_UNITS[scale], **s["metrics"][q]}
        for q, scale in settings.questions.items()
        if q in s["metrics"] and scale in SCALE_UNITS and (q == main or s["metrics"][q]["n"])
    ]
    rows += [{"key": k, "unit": unit, **s["metrics"][k]} for k, unit in OPERATOR_EXTRA if k in s["metrics"]]
    return {"summary": s, "rows": rows}


def operator_trend(
    conn: sqlite3.Connection, settings: OfficeSettings, operator: str, period: Period
) -> dict[str, Any] | None:
    """CSAT per local day of the period (``summary.timeseries``, the operator's scope), for uPlot."""
    if settings.scale_of("csat") != "csat5":
        return None
    series = summary.timeseries(
        conn, period.lo, period.hi, "csat", "day", summary.Scope(operator=operator), settings=settings
    )
    return {"points": series["points"], "chart": numbers.day_chart(settings, series["points"])}


@router.get("/operators/{operator_id}", include_in_schema=False)
def operator_page(ui: StaffUi, operator_id: str) -> HTMLResponse:
    conn = ui.conn
    try:
        who = scopes.operator(conn, operator_id)
    except scopes.ScopeError:
        raise UiError(404, "operator.unknown") from None
    settings = office_settings.load(conn)
    period = pick_period(ui, settings)
    league_rows = summary.executors(conn, period.lo, period.hi, "operator", settings=settings)
    place = next((r for r in league_rows if r["id"] == operator_id), None)
    windows = _names(conn, "windows")
    shifts = [
        {
            **s, "window_name": windows.get(s["window"]) or s["window"],
            "start": local_time(s["start_ms"], settings.zone), "end": local_time(s["end_ms"], settings.zone),
        }
        for s in shift_rules.shifts(conn, operator=operator_id, from_ms=period.lo,
                                    to_ms=period.hi)[-SHIFTS_SHOWN:]
    ]  # fmt: skip
    return page(
        ui, "operator.html", None, operator=who, title=ui.t("operator.title", name=who["name"]),
        numbers=operator_numbers(conn, settings, operator_id, period),
        trend=operator_trend(conn, settings, operator_id, period),
        place=place, ranked=sum(1 for r in league_rows if r["rank"] is not None),
        shifts=shifts, min_n=settings.min_n, **period_context(ui, period),
    )  # fmt: skip
