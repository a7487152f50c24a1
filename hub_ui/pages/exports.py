"""The export page (/export, admin and manager): a GET form whose answer is the file itself.

Period (office-local days, both included), scope (the office, a department, a window, an
operator), format (CSV or XLSX), the headers' language ``file_lang`` (the UI's by default;
``?lang=`` switches the page's own), the step and what the file holds (``kind``: the metrics, or
the survey per question: ``build_survey``). The file is made by :mod:`edge_hub.metrics.export`
(``build`` → ``write``), as ``/api/v1/export`` makes it: same rows, same numbers, same file name.
"""

from __future__ import annotations

from datetime import date, timedelta
from datetime import time as dtime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from edge_hub.api import auth
from edge_hub.metrics import export, summary
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from hub_ui import i18n
from hub_ui.core import Ui, finish, nav, page, require
from hub_ui.pages.survey_editor import survey_label

router = APIRouter()

EXPORT = nav("/export", "nav.export", auth.STAFF, order=80)
StaffUi = Annotated[Ui, Depends(require(EXPORT.roles))]
SCOPE_KINDS = ("department", "window", "operator")
QueryStr = Annotated[str | None, Query()]

i18n.register(
    {
        "nav.export": ("Выгрузка", "Export"),
        "export.title": ("Выгрузка показателей", "Export the metrics"),
        "export.intro": (
            "Файл с показателями и их n за период: строка на день, час или весь период. Пустая ячейка — "
            "недостаточно данных. Те же числа, что в сводке и в API (/api/v1/export).",
            "A file of the metrics with their n for a period: a row per day, per hour or for the whole "
            "period. An empty cell: not enough data. The same numbers as the dashboard and the API "
            "(/api/v1/export).",
        ),
        "export.from": ("С (день)", "From (day)"),
        "export.to": ("По (день, включительно)", "To (day, included)"),
        "export.scope": export.LABELS["scope"],
        "export.whole_office": ("Весь офис", "Whole office"),
        "export.departments": ("Отделы", "Departments"),
        "export.windows": ("Окна", "Windows"),
        "export.operators": ("Операторы", "Operators"),
        "export.format": ("Формат", "Format"),
        "export.lang": ("Язык заголовков", "Header language"),
        "export.lang.ru": ("русский", "Russian"),
        "export.lang.en": ("английский", "English"),
        "export.step": ("Строка на", "A row per"),
        "export.step.day": ("день", "day"),
        "export.step.hour": ("час", "hour"),
        "export.step.total": export.LABELS["total"],
        "export.submit": ("Скачать", "Download"),
        "export.tz": (
            "Дни — по местному времени офиса ({zone}).",
            "Days are the office's local days ({zone}).",
        ),
        "export.csv_note": (
            "CSV с русскими заголовками — через «;» и с десятичной запятой (как ждёт Excel в России); с "
            "английскими — через «,» и с точкой.",
            "CSV with Russian headers uses ';' and a decimal comma (as Excel expects in Russia); with "
            "English headers, ',' and a point.",
        ),
        "export.bad_day": ("Укажите дни периода.", "Give the days of the period."),
        "export.bad_order": ("Конец периода раньше начала.", "The period ends before it starts."),
        "export.bad_scope": ("Неизвестный срез.", "Unknown scope."),
        "action.export.download": ("выгрузка показателей", "metrics exported"),
        # the survey per question (kind)
        "export.kind": export.LABELS["kind"],
        "export.kind.metrics": ("Показатели по периодам", "The metrics per period"),
        "export.survey": ("Опрос (для выгрузки по вопросам)", "Survey (for the per-question file)"),
        "export.kind.survey": (
            "Опрос по вопросам (n, показатель, ответы, время, воронка)",
            "The survey per question (n, metric, answers, time, funnel)",
        ),
    }
)


def _form(ui: Ui, today: date) -> dict[str, str]:
    query = ui.request.query_params
    return {
        "from": query.get("from") or today.replace(day=1).isoformat(),
        "to": query.get("to") or today.isoformat(),
        "scope": query.get("scope") or "",
        "format": query.get("format") if query.get("format") in export.FORMATS else "xlsx",
        "file_lang": query.get("file_lang") if query.get("file_lang") in export.LANGS else ui.lang,
        "step": query.get("step") if query.get("step") in export.STEPS else "day",
        "kind": query.get("kind") if query.get("kind") in export.KINDS else "metrics",
        "survey": query.get("survey") or office_survey.MAIN,
    }


def _page(
    ui: Ui, form: dict[str, str], zone: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    return page(
        ui, "export.html", "export.title", status_code=status, form=form, zone=zone, error=error,
        notice=None, departments=scopes.departments(ui.conn), windows=scopes.windows(ui.conn),
        operators=scopes.operators(ui.conn), formats=export.FORMATS, langs=export.LANGS, steps=export.STEPS,
        kinds=export.KINDS, surveys=_surveys(ui),
    )  # fmt: skip


def _surveys(ui: Ui) -> list[dict[str, str]]:
    """The surveys to export (those ever saved), named as the Survey page names them."""
    found = []
    for s in office_survey.surveys(ui.conn):
        if s["rev"] is None:
            continue
        found.append({"id": s["id"], "label": survey_label(ui, s)})
    return found


@router.get("/export", include_in_schema=False)
def export_form(ui: StaffUi) -> HTMLResponse:
    settings = office_settings.load(ui.conn)
    return _page(ui, _form(ui, settings.local(auth.now_ms()).date()), settings.timezone)


def _scope(value: str) -> summary.Scope | None:
    """``window:w1`` (or department:, operator:) as a Scope; "" the whole office; None if invalid."""
    if not value:
        return summary.Scope()
    kind, _, key = value.partition(":")
    if kind not in SCOPE_KINDS:
        return None
    try:
        scopes.check_id(key, kind)
    except scopes.ScopeError:
        return None
    return summary.Scope(**{kind: key})


@router.get("/export/file", include_in_schema=False)
def export_file(ui: StaffUi) -> Response:
    """The file (as an attachment), or the form again with what is wrong (422)."""
    settings = office_settings.load(ui.conn)
    form = _form(ui, settings.local(auth.now_ms()).date())

    def refuse(key: str) -> HTMLResponse:
        return _page(ui, form, settings.timezone, ui.t(key), 422)

    try:
        first, last = date.fromisoformat(form["from"]), date.fromisoformat(form["to"])
    except ValueError:
        return refuse("export.bad_day")
    if last < first:
        return refuse("export.bad_order")
    scope = _scope(form["scope"])
    if scope is None:
        return refuse("export.bad_scope")
    lo, hi = settings.at(first, dtime(0)), settings.at(last + timedelta(days=1), dtime(0))
    try:
        if form["kind"] == "survey":
            sid = form["survey"]
            known = {s["id"] for s in office_survey.surveys(ui.conn)}
            table = export.build_survey(
                ui.conn, lo, hi, scope, step=form["step"], lang=form["file_lang"], settings=settings,
                survey_id=sid if sid in known else None,
            )  # fmt: skip
        else:
            table = export.build(
                ui.conn, lo, hi, scope, step=form["step"], lang=form["file_lang"], settings=settings
            )
        body = export.write(table, form["format"])
    except export.ExportError as exc:
        return _page(ui, form, settings.timezone, str(exc), 422)
    name = export.filename(table, form["format"])
    ui.audit("export.download", f"{name} ({form['step']}, {form['file_lang']})")
    response = Response(
        body,
        media_type=export.MEDIA_TYPES[form["format"]],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    finish(ui, response)
    return response
