"""The metrics as a table to download: CSV or XLSX, per local day, per hour or for the whole period.

One row per slot (``step``: a local day of the office, an hour, or the whole period ``total``),
for one scope (the office, a department, a window, an operator, a device). Columns: the
period, the scope, then for every metric its value and its ``n`` (each question of
``OfficeSettings.questions`` that has a metric, the response rate, the support and
criticality indices, emotional NPS), and the number of flagged presses. Every number is one
that :func:`edge_hub.metrics.summary.summary` returns for that slot: this module runs no SQL of its
own. A value withheld for lack of data is an empty cell, never a 0.

Rows hold the same hourly buckets as :func:`edge_hub.metrics.summary.timeseries` (a bucket belongs to
the local day its hour starts in), so per-day n add up to the whole period's n. Served clients
are counted per local day, so per-hour rows leave the three served-client metrics (response
rate, support and criticality index) empty rather than divide an hour's ratings by a day's
clients.

The survey per question (``kind="survey"``, :func:`build_survey`): one row per question of the
survey report (:func:`edge_hub.metrics.survey_report.report`, the same filters: a department, a
window, an operator, a device) and per slot of ``step``: a local day, an hour or the whole period,
each slot exact by the press time like the report itself (no hourly buckets). Columns: the period,
the scope, the question's id, text (in the file's language, else Russian) and scale, its trusted
answers n, the metric, its value (empty below min_n) and mean, the distribution as text
("value: count; …", a choice's options by their text), the median time on screen in seconds, and
the funnel's counts in the slot (sessions started, asked the question, answered it, completed).
A staff survey's slot that the report withholds (fewer than min_n sessions) is one row saying so,
with no number.

Writers:

- **CSV**: UTF-8 with a BOM (so Excel reads Cyrillic right), CRLF line ends. Russian headers
  (``lang=ru``) go with ``;`` between fields and a decimal comma, which is what Excel expects
  under a Russian locale; English headers with ``,`` and a decimal point. Numbers are written
  exactly (the shortest text that reads back as the same float), not rounded. Only the table:
  the parameters are in the file name and the XLSX.
- **XLSX** (openpyxl): a "Метрики"/"Metrics" sheet, header row bold and frozen (with the period
  and scope columns), numbers stored exactly and shown with one decimal, days and hours as real
  Excel dates; a "Параметры"/"Parameters" sheet with the period, scope, time zone, min_n,
  step and generation time.

Long: the metrics table, the survey table and their two writers share the words, the slots and
the cell rules; apart they would drift.
"""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from edge_hub.errors import OtklikError
from edge_hub.metrics import summary, survey_report
from edge_hub.metrics.aggregates import HOUR_MS, hour_of
from edge_hub.office import settings as office_settings
from edge_hub.office.settings import OfficeSettings

_LOGGER = logging.getLogger(__name__)

STEPS = ("day", "hour", "total")
#: what the file holds: the metrics per slot, or the survey per question (and slot)
KINDS = ("metrics", "survey")
#: at most this many slots (days or hours) of a survey export: each is a report of its own
SURVEY_MAX_SLOTS = 1_000
LANGS = ("ru", "en")
FORMATS = ("csv", "xlsx")
#: more rows than this is refused, whatever the step (about 13 months of hours, 27 years of days)
MAX_ROWS = 10_000

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CSV_DIALECT = {"ru": (";", ","), "en": (",", ".")}  # lang -> (field separator, decimal mark)

#: the metric of each scale (as edge_hub.metrics.summary computes it) and its unit
_SCALE_METRIC = {"csat5": ("CSAT", "%"), "nps11": ("NPS", ""), "ces7": ("CES", "%"), "yesno": ("FCR", "%")}
#: well-known question ids and their names (others: "<id> (<metric>)")
_QUESTION_NAMES = {"csat": "CSAT", "nps": "NPS", "enps": "eNPS", "ces": "CES", "fcr": "FCR"}
#: metrics per served client (served clients are counted per local day)
_PER_SERVED = ("response_rate", "support_index", "criticality_index")
#: the export's words, key -> (Russian, English): its headers, scope kinds, parameters and note. The
#: one copy: the office page's catalogue (hub_ui/i18n.py) reads the ones it shows too
LABELS: dict[str, tuple[str, str]] = {
    "period": ("Период", "Period"),
    "scope": ("Срез", "Scope"),
    "flagged": ("Подозрительные нажатия", "Flagged presses"),
    "response_rate": ("Коэффициент отклика", "Response rate"),
    "support_index": ("Индекс поддержки", "Support index"),
    "criticality_index": ("Индекс критичности", "Criticality index"),
    "emotional_nps": ("Индекс эмоциональной лояльности", "Emotional NPS"),
    "office": ("весь офис", "whole office"),
    "window": ("окно", "window"), "operator": ("оператор", "operator"),
    "device": ("устройство", "device"), "department": ("отдел", "department"),
    "sheet": ("Метрики", "Metrics"), "params": ("Параметры", "Parameters"),
    "from": ("Начало периода", "Period start"),
    "to": ("Конец периода (не включая)", "Period end (exclusive)"),
    "step": ("Шаг", "Step"), "timezone": ("Часовой пояс", "Time zone"),
    "min_n": ("Минимум ответов (min_n)", "Minimum answers (min_n)"),
    "generated": ("Сформировано", "Generated"), "note": ("Примечание", "Note"),
    "flagged_text": ("не входят в метрики, показано их число", "left out of the metrics, counted apart"),
    "day": ("по дням", "per day"), "hour": ("по часам", "per hour"), "total": ("весь период", "whole period"),
    "note_text": (
        "Пустое значение — недостаточно данных (n меньше min_n или нет числа обслуженных). "
        "CSAT, CES, FCR — доля положительных ответов, %; NPS и индекс эмоциональной лояльности — "
        "в пунктах от −100 до +100; коэффициент отклика и индексы — на 100 обслуженных клиентов, "
        "их n — число обслуженных за сутки (в строках по часам не считаются).",
        "An empty value: not enough data (n below min_n, or served clients unknown). "
        "CSAT, CES, FCR: share of positive answers, %; NPS and emotional NPS: points from -100 to "
        "+100; the response rate and the indices: per 100 served clients, their n is the served "
        "clients of the day (not counted in hourly rows).",
    ),
    # the survey per question (kind survey)
    "survey_sheet": ("Опрос", "Survey"),
    "question_id": ("Вопрос (id)", "Question id"),
    "question": ("Текст вопроса", "Question"),
    "scale": ("Шкала", "Scale"),
    "answers_n": ("Ответов, n", "Answers, n"),
    "metric": ("Показатель", "Metric"),
    "metric_value": ("Значение", "Value"),
    "mean": ("Среднее", "Mean"),
    "distribution": ("Распределение ответов", "Distribution of answers"),
    "dwell": ("Время на вопрос, медиана, с", "Time on the question, median, s"),
    "started": ("Начали опрос (сессий)", "Sessions started"),
    "applied": ("Вопрос задан (сессий)", "Asked of (sessions)"),
    "answered": ("Ответили на вопрос (сессий)", "Answered it (sessions)"),
    "completed": ("Прошли до конца (сессий)", "Completed (sessions)"),
    "kind": ("Содержание", "Contents"),
    "kind_metrics": ("показатели", "metrics"), "kind_survey": ("опрос по вопросам", "survey per question"),
    "yes": ("да", "yes"), "no": ("нет", "no"),
    "metric_csat": ("CSAT, %", "CSAT, %"), "metric_nps": ("NPS", "NPS"), "metric_ces": ("CES, %", "CES, %"),
    "metric_fcr": ("FCR, %", "FCR, %"), "metric_yes": ("доля «да», %", "share of yes, %"),
    "metric_agreement": ("доля согласных (8–10), %", "agreement (8–10), %"),
    "withheld": (
        "недостаточно людей: опрос сотрудников показывается от {n} сессий",
        "not enough people: a staff survey is shown from {n} sessions",
    ),
    "survey_note_text": (
        "Строка на вопрос (и на день или час). Пустое значение — недостаточно данных (n меньше min_n). "
        "Учтены только достоверные ответы; сессия — один проход посетителя по опросу.",
        "A row per question (and per day or hour). An empty value: not enough data (n below min_n). "
        "Trusted answers only; a session is one visitor's pass through the survey.",
    ),
}  # fmt: skip


def label(key: str, lang: str) -> str:
    """The export's word ``key`` in ``lang`` (ru or en)."""
    return LABELS[key][LANGS.index(lang)]


class ExportError(OtklikError, ValueError):
    """An export was refused: an unknown step or language, an empty period, too many rows."""


@dataclass(frozen=True, slots=True)
class Column:
    """One number column: ``field`` (value or n) of the ``metric`` of summary()'s ``metrics``."""

    metric: str
    field: str
    header: str


@dataclass(frozen=True, slots=True)
class Row:
    """One slot: its start and end (office local time) and one number (or None) per column."""

    start: datetime
    end: datetime
    cells: tuple[float | int | None, ...]
    flagged: int


@dataclass(frozen=True, slots=True)
class _Frame:
    """What every export table has: the parameters it was made with."""

    step: str
    lang: str
    scope: summary.Scope
    timezone: str
    min_n: int
    start: datetime
    end: datetime
    generated: datetime

    def text(self, key: str) -> str:
        return label(key, self.lang)

    @property
    def scope_text(self) -> str:
        parts = [
            f"{self.text(kind)} {value}"
            for kind in ("department", "window", "operator", "device")
            if (value := getattr(self.scope, kind)) is not None
        ]
        return "; ".join(parts) or self.text("office")

    def period_label(self, row: Row | SurveyRow) -> str:
        """The period cell as text: a day, a local hour, or the whole period."""
        if self.step == "day":
            return row.start.date().isoformat()
        if self.step == "hour":
            return row.start.strftime("%Y-%m-%d %H:%M")
        if _is_midnight(row.start) and _is_midnight(row.end):
            last = (row.end - timedelta(days=1)).date()
            return f"{row.start.date().isoformat()} – {last.isoformat()}"
        return f"{row.start.strftime('%Y-%m-%d %H:%M')} – {row.end.strftime('%Y-%m-%d %H:%M')}"


@dataclass(frozen=True, slots=True)
class Table(_Frame):
    """The export before it is written: rows, columns and the parameters it was made with."""

    columns: tuple[Column, ...] = ()
    rows: tuple[Row, ...] = ()
    kind = "metrics"

    @property
    def headers(self) -> list[str]:
        return [
            f"{self.text('period')} ({self.timezone})",
            self.text("scope"),
            *(c.header for c in self.columns),
            self.text("flagged"),
        ]


def build(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    scope: summary.Scope | None = None,
    *,
    step: str = "day",
    lang: str = "ru",
    settings: OfficeSettings | None = None,
    now_ms: int | None = None,
) -> Table:
    """The metrics of [from, to) for the scope, one row per ``step`` (day, hour or total)."""
    _check(step, lang, from_ms, to_ms)
    scope = summary.Scope() if scope is None else scope
    settings = settings or office_settings.load(conn)
    columns = _columns(settings, lang)
    rows = []
    for lo, hi, start, end in _slots(settings, from_ms, to_ms, step):
        s = summary.summary(conn, lo, hi, scope, settings=settings)
        metrics = s["metrics"]
        cells: list[float | int | None] = []
        for c in columns:
            if step == "hour" and c.metric in _PER_SERVED:
                cells.append(None)  # served clients are per day: an hour's share would be wrong
            else:
                cells.append(metrics.get(c.metric, {}).get(c.field))
        rows.append(Row(settings.local(start), settings.local(end), tuple(cells), s["flagged"]["total"]))
    now_ms = int(_time.time() * 1000) if now_ms is None else now_ms
    _LOGGER.info("export: %s rows (%s, %s) for %s", len(rows), step, lang, scope)
    return Table(
        step=step, lang=lang, scope=scope, timezone=settings.timezone, min_n=settings.min_n,
        start=settings.local(from_ms), end=settings.local(to_ms),
        generated=settings.local(now_ms).replace(microsecond=0), columns=columns, rows=tuple(rows),
    )  # fmt: skip


# --- the survey per question ------------------------------------------------------------------

#: the survey table's columns after the period and the scope, and each one's Excel number format
SURVEY_COLUMNS = (
    ("question_id", None), ("question", None), ("scale", None), ("answers_n", "0"), ("metric", None),
    ("metric_value", "0.0"), ("mean", "0.00"), ("distribution", None), ("dwell", "0.0"),
    ("started", "0"), ("applied", "0"), ("answered", "0"), ("completed", "0"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SurveyRow:
    """One question in one slot (or, withheld, the slot alone): start, end and the cells."""

    start: datetime
    end: datetime
    cells: tuple[str | float | int | None, ...]


@dataclass(frozen=True, slots=True)
class SurveyTable(_Frame):
    """The survey per question before it is written."""

    rows: tuple[SurveyRow, ...] = ()
    staff: bool = False
    kind = "survey"

    @property
    def headers(self) -> list[str]:
        return [
            f"{self.text('period')} ({self.timezone})", self.text("scope"),
            *(self.text(key) for key, _ in SURVEY_COLUMNS),
        ]  # fmt: skip


def build_survey(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    scope: summary.Scope | None = None,
    *,
    step: str = "total",
    lang: str = "ru",
    settings: OfficeSettings | None = None,
    now_ms: int | None = None,
    staff: bool = False,
    survey_id: str | None = None,
) -> SurveyTable:
    """The survey report of [from, to) per question, for the scope, one row per question and slot
    (``step``: a local day, an hour, or ``total``); ``staff`` and ``survey_id`` as in the survey
    report (a staff survey is always under its rule)."""
    _check(step, lang, from_ms, to_ms)
    scope = summary.Scope() if scope is None else scope
    settings = settings or office_settings.load(conn)
    filters = {k: getattr(scope, k) for k in ("department", "window", "operator", "device")}
    rows: list[SurveyRow] = []
    for lo, hi in _exact_slots(settings, from_ms, to_ms, step):
        try:
            r = survey_report.report(
                conn, lo, hi, settings=settings, staff=staff, survey_id=survey_id, **filters
            )
        except survey_report.SurveyReportError as exc:
            raise ExportError(str(exc)) from None
        start, end = settings.local(lo), settings.local(hi)
        if r["withheld"]:
            note = label("withheld", lang).format(n=r["needed"])
            rows.append(SurveyRow(start, end, (None, note, *(None,) * (len(SURVEY_COLUMNS) - 2))))
            continue
        funnel = r["funnel"]
        steps = {st["question"]: st for st in funnel["steps"]}
        for q in r["questions"]:
            m = q["metric"] or {}
            st = steps.get(q["id"], {})
            dwell = None if q["dwell_median_ms"] is None else q["dwell_median_ms"] / 1000
            rows.append(SurveyRow(start, end, (
                q["id"], _in(q["text"], lang) or "", q["scale"] or "", q["n"],
                label(f"metric_{m['name']}", lang) if m else None, m.get("value"), m.get("mean"),
                _distribution_text(q, lang), dwell,
                funnel["started"], st.get("applied"), st.get("answered"), funnel["completed"],
            )))  # fmt: skip
    now_ms = int(_time.time() * 1000) if now_ms is None else now_ms
    _LOGGER.info("survey export: %s rows (%s, %s) for %s", len(rows), step, lang, scope)
    return SurveyTable(
        step=step, lang=lang, scope=scope, timezone=settings.timezone, min_n=settings.min_n,
        start=settings.local(from_ms), end=settings.local(to_ms),
        generated=settings.local(now_ms).replace(microsecond=0), rows=tuple(rows), staff=staff,
    )  # fmt: skip


def _in(text: dict[str, str] | None, lang: str) -> str | None:
    """A survey text in ``lang``, else in Russian."""
    return (text.get(lang) or text.get("ru")) if text else None


def _distribution_text(q: dict[str, Any], lang: str) -> str:
    """``value: count; …``: a choice's options by their text, yes / no by the word."""
    parts = []
    for d in q["distribution"]:
        if d["option"] is not None:
            name = _in(d["text"], lang) or d["option"]
        elif q["scale"] == "yesno" and d["value"] in (0, 1):
            name = label("yes" if d["value"] else "no", lang)
        else:
            name = str(d["value"])
        parts.append(f"{name}: {d['count']}")
    return "; ".join(parts)


def _exact_slots(settings: OfficeSettings, from_ms: int, to_ms: int, step: str) -> list[tuple[int, int]]:
    """[from, to) of each slot, exact: local days or hours clipped to the period, or the period."""
    if step == "total":
        return [(from_ms, to_ms)]
    if step == "hour":
        count = -(-(to_ms - hour_of(from_ms)) // HOUR_MS)
    else:
        first, last = summary.local_day(settings, from_ms), summary.local_day(settings, to_ms - 1)
        count = (last - first).days + 1
    if count > SURVEY_MAX_SLOTS:
        raise ExportError(
            f"more than {SURVEY_MAX_SLOTS} rows per question: choose a shorter period or a longer step / "
            f"больше {SURVEY_MAX_SLOTS} строк на вопрос: сократите период или выберите шаг крупнее"
        )
    if step == "hour":
        bounds = [hour_of(from_ms) + i * HOUR_MS for i in range(1, count)]
    else:
        bounds = [settings.at(first + timedelta(days=i), time(0)) for i in range(1, count)]
    return list(pairwise([from_ms, *bounds, to_ms]))


def _check(step: str, lang: str, from_ms: int, to_ms: int) -> None:
    if step not in STEPS:
        raise ExportError(f"step must be one of {', '.join(STEPS)} / шаг: {', '.join(STEPS)}")
    if lang not in LANGS:
        raise ExportError(f"lang must be one of {', '.join(LANGS)} / язык: {', '.join(LANGS)}")
    if to_ms <= from_ms:
        raise ExportError("'to' must be after 'from' / 'to' должно быть позже 'from'")


def _columns(settings: OfficeSettings, lang: str) -> tuple[Column, ...]:
    columns = []
    for question, scale in settings.questions.items():
        if scale not in _SCALE_METRIC:
            continue  # a scale without a metric of its own (summary() leaves it out too)
        metric, unit = _SCALE_METRIC[scale]
        name = _QUESTION_NAMES.get(question) or f"{question} ({metric})"
        columns += _pair(question, name, unit)
    for metric in _PER_SERVED:
        columns += _pair(metric, label(metric, lang), "%")
    columns += _pair("emotional_nps", label("emotional_nps", lang), "")
    return tuple(columns)


def _pair(metric: str, name: str, unit: str) -> list[Column]:
    return [
        Column(metric, "value", f"{name}, {unit}" if unit else name),
        Column(metric, "n", f"{name}, n"),
    ]


def _slots(settings: OfficeSettings, from_ms: int, to_ms: int, step: str) -> list[tuple[int, int, int, int]]:
    """Per row: (from, to) for summary(), holding the same hourly buckets as summary.timeseries,
    and (start, end) of the row as shown (a day is its local day, clipped to the period)."""
    if step == "total":
        return [(from_ms, to_ms, from_ms, to_ms)]
    lo, hi = summary.hour_range(from_ms, to_ms)
    if step == "hour":
        if (hi - lo) // HOUR_MS > MAX_ROWS:
            raise ExportError(
                f"more than {MAX_ROWS} hourly rows: choose a shorter period or step=day / "
                f"больше {MAX_ROWS} строк по часам: сократите период или выберите step=day"
            )
        return [(h, h + HOUR_MS, h, h + HOUR_MS) for h in range(lo, hi, HOUR_MS)]
    first, last = summary.local_day(settings, lo), summary.local_day(settings, hi - 1)
    if (last - first).days + 1 > MAX_ROWS:
        raise ExportError(
            f"more than {MAX_ROWS} daily rows: choose a shorter period or step=total / "
            f"больше {MAX_ROWS} строк по дням: сократите период или выберите step=total"
        )
    slots = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        midnight, next_midnight = settings.at(day, time(0)), settings.at(day + timedelta(days=1), time(0))
        # the buckets whose hour starts on this local day; the end passed is the next midnight
        # itself (summary() rounds it up to the hour, and its served clients stay on this day)
        lo_day, hi_day = max(lo, _ceil_hour(midnight)), min(to_ms, next_midnight)
        slots.append((lo_day, hi_day, max(from_ms, midnight), min(to_ms, next_midnight)))
    return slots


def _ceil_hour(ms: int) -> int:
    return hour_of(ms + HOUR_MS - 1)


def _is_midnight(moment: datetime) -> bool:
    return moment.time() == time(0)


def _safe(text: str) -> str:
    """Text a spreadsheet will not take for a formula (CSV/XLSX formula injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- writers --------------------------------------------------------------------------------


def filename(table: Table | SurveyTable, fmt: str) -> str:
    """``otklik[-survey]-<first day>_<last day>[-<scope>].<fmt>``, the days in office local time."""
    last = (table.end - timedelta(milliseconds=1)).date()
    kind = "-survey" if table.kind == "survey" else ""
    name = f"otklik{kind}-{table.start.date().isoformat()}_{last.isoformat()}"
    for kind in ("department", "window", "operator", "device"):
        value = getattr(table.scope, kind)
        if value is not None:
            name += f"-{kind}-{''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in value)}"
    return f"{name}.{fmt}"


def to_csv(table: Table | SurveyTable) -> bytes:
    """The table as CSV: UTF-8 with a BOM; ``;`` and a decimal comma in Russian, ``,`` and a point
    in English; numbers exact; an empty field where a value is withheld."""
    sep, decimal = CSV_DIALECT[table.lang]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    writer.writerow([_safe(h) for h in table.headers])
    if isinstance(table, SurveyTable):
        for srow in table.rows:
            cells = [_safe(c) if isinstance(c, str) else _csv_number(c, decimal) for c in srow.cells]
            writer.writerow([table.period_label(srow), _safe(table.scope_text), *cells])
        return out.getvalue().encode("utf-8-sig")
    for row in table.rows:
        writer.writerow(
            [
                table.period_label(row),
                _safe(table.scope_text),
                *(_csv_number(v, decimal) for v in row.cells),
                row.flagged,
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _csv_number(value: float | int | None, decimal: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value).replace(".", decimal)
    return str(value)


def to_xlsx(table: Table | SurveyTable) -> bytes:
    """The table as an XLSX workbook: the metrics (or survey) sheet and a parameters sheet."""
    if isinstance(table, SurveyTable):
        return _survey_xlsx(table)
    wb = Workbook()
    ws = wb.active
    ws.title = table.text("sheet")
    bold = Font(bold=True)
    ws.append([_safe(h) for h in table.headers])
    for cell in ws[1]:
        cell.font = bold
    period_format = {"day": "yyyy-mm-dd", "hour": "yyyy-mm-dd hh:mm"}.get(table.step)
    for row in table.rows:
        period: Any = table.period_label(row)
        if table.step == "day":
            period = row.start.date()
        elif table.step == "hour":
            period = row.start.replace(tzinfo=None)  # Excel has no zones: the header names it
        ws.append([period, _safe(table.scope_text), *row.cells, row.flagged])
    formats = ["0.0" if c.field == "value" else "0" for c in table.columns] + ["0"]
    for cells in ws.iter_rows(min_row=2):
        if period_format:
            cells[0].number_format = period_format
        for cell, number_format in zip(cells[2:], formats, strict=True):
            cell.number_format = number_format
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = ws.dimensions
    widths = [20 if table.step != "total" else 26, max(12, len(table.scope_text) + 2)]
    widths += [max(10, len(h) + 2) for h in table.headers[2:]]
    _widths(ws, widths)

    return _with_parameters(wb, table)


def _with_parameters(wb: Workbook, table: Table | SurveyTable) -> bytes:
    """Add the parameters sheet and save the workbook."""
    params = wb.create_sheet(table.text("params"))
    for label, value in _parameters(table):
        params.append([label, value])
    for cell in params["A"]:
        cell.font = Font(bold=True)
    _widths(params, [30, 60])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _survey_xlsx(table: SurveyTable) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = table.text("survey_sheet")
    ws.append([_safe(h) for h in table.headers])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    period_format = {"day": "yyyy-mm-dd", "hour": "yyyy-mm-dd hh:mm"}.get(table.step)
    for row in table.rows:
        period: Any = table.period_label(row)
        if table.step == "day":
            period = row.start.date()
        elif table.step == "hour":
            period = row.start.replace(tzinfo=None)  # Excel has no zones: the header names it
        cells = [_safe(c) if isinstance(c, str) else c for c in row.cells]
        ws.append([period, _safe(table.scope_text), *cells])
    for cells in ws.iter_rows(min_row=2):
        if period_format:
            cells[0].number_format = period_format
        for cell, (_, number_format) in zip(cells[2:], SURVEY_COLUMNS, strict=True):
            if number_format:
                cell.number_format = number_format
    ws.freeze_panes = "D2"
    ws.auto_filter.ref = ws.dimensions
    widths = [20 if table.step != "total" else 26, max(12, len(table.scope_text) + 2), 14, 40, 10]
    widths += [max(10, len(h) + 2) for h in table.headers[5:]]
    widths[9] = 40  # the distribution
    _widths(ws, widths)
    return _with_parameters(wb, table)


def _parameters(table: Table | SurveyTable) -> Sequence[tuple[str, Any]]:
    t = table.text
    survey = table.kind == "survey"
    return (
        *(((t("kind"), t("kind_survey")),) if survey else ()),
        (t("from"), _moment(table.start)),
        (t("to"), _moment(table.end)),
        (t("step"), t(table.step)),
        (t("scope"), _safe(table.scope_text)),
        (t("timezone"), table.timezone),
        (t("min_n"), table.min_n),
        (t("flagged"), t("flagged_text")),
        (t("generated"), _moment(table.generated, "seconds")),
        (t("note"), t("survey_note_text" if survey else "note_text")),
    )


def _moment(moment: datetime, timespec: str = "minutes") -> str:
    return moment.isoformat(sep=" ", timespec=timespec)


def _widths(ws: Any, widths: Sequence[int]) -> None:
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width


def write(table: Table | SurveyTable, fmt: str) -> bytes:
    """The table in ``fmt`` (csv or xlsx)."""
    if fmt == "csv":
        return to_csv(table)
    if fmt == "xlsx":
        return to_xlsx(table)
    raise ExportError(f"format must be one of {', '.join(FORMATS)} / формат: {', '.join(FORMATS)}")
