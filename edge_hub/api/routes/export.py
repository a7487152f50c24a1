"""GET /api/v1/export: the metrics by period and scope as a CSV or XLSX download (edge_hub/metrics/export.py).

A date-time without an offset is office local time (the ``timezone`` setting), so
``from=2026-11-01&to=2026-12-01`` is the office's November. Refusals are 422 with an
"English / Russian" ``detail``: an unknown format, language or step, ``to`` not after ``from``,
a scope id that is not an id, more than ``MAX_ROWS`` (10,000) rows at any step.

``kind=survey`` exports the survey per question instead (:func:`edge_hub.metrics.export.build_survey`):
a row per question and slot (day, hour or the whole period), with the same scope filters; at
most ``SURVEY_MAX_SLOTS`` (1,000) slots. The default ``kind=metrics`` is the metrics table.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from edge_hub.api.deps import StoreDep, to_ms
from edge_hub.api.models import API_REFUSALS, IsoDateTime
from edge_hub.api.routes import Route
from edge_hub.metrics import export, summary
from edge_hub.office import settings as office_settings
from edge_hub.office.scopes import ID_PATTERN
from edge_hub.office.survey import SURVEY_ID

router = APIRouter(tags=["export"], route_class=Route, responses=API_REFUSALS)

LOCAL = "ISO 8601; office local time when it has no offset"
ScopeId = Annotated[str | None, Query(pattern=ID_PATTERN)]


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as an attachment named otklik-<first day>_<last day>.<format>",
            "content": {media_type: {} for media_type in export.MEDIA_TYPES.values()},
        }
    },
)
def get_export(
    store: StoreDep,
    from_: Annotated[IsoDateTime, Query(alias="from", description=f"Period start (inclusive), {LOCAL}")],
    to: Annotated[IsoDateTime, Query(description=f"Period end (exclusive), {LOCAL}")],
    fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format", description="File format")] = "xlsx",
    lang: Annotated[
        Literal["ru", "en"],
        Query(description="Headers; CSV: ru is ';' with a decimal comma, en is ',' with a point"),
    ] = "ru",
    step: Annotated[
        Literal["day", "hour", "total"], Query(description="A row per local day, per hour, or one row")
    ] = "day",
    window: Annotated[ScopeId, Query(description="Only this window")] = None,
    operator: Annotated[ScopeId, Query(description="Only this operator")] = None,
    department: Annotated[ScopeId, Query(description="Only the windows of this department")] = None,
    device: Annotated[ScopeId, Query(description="Only this device")] = None,
    kind: Annotated[
        Literal["metrics", "survey"],
        Query(description="metrics: the metrics per slot; survey: the survey per question (and slot)"),
    ] = "metrics",
    survey: Annotated[
        str | None,
        Query(pattern="^" + SURVEY_ID + "$", description="kind=survey: this survey (default: the main one)"),
    ] = None,
) -> Response:
    """Every metric with its n per row (an empty value: not enough data) and the flagged presses;
    or (``kind=survey``) each survey question's n, metric, distribution, time and funnel counts."""
    settings = office_settings.load(store.conn)
    lo, hi = _ms(from_, settings.zone), _ms(to, settings.zone)
    scope = summary.Scope(window=window, operator=operator, device=device, department=department)
    try:
        if kind == "survey":
            table = export.build_survey(
                store.conn, lo, hi, scope, step=step, lang=lang, settings=settings, survey_id=survey
            )
        else:
            table = export.build(store.conn, lo, hi, scope, step=step, lang=lang, settings=settings)
        body = export.write(table, fmt)
    except export.ExportError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return Response(
        body,
        media_type=export.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename(table, fmt)}"',
            "Cache-Control": "no-store",
        },
    )


def _ms(value: datetime, zone: tzinfo) -> int:
    ms = to_ms(value if value.tzinfo is not None else value.replace(tzinfo=zone))
    assert ms is not None
    return ms
