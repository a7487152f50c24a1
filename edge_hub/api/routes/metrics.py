"""GET /api/v1/metrics/*: the office's numbers, each with its sample size (see edge_hub/metrics/summary.py).

``/timeseries``, ``/emotions`` and ``/readings`` give a point per hour or day of the period, at
most ``MAX_POINTS`` (10,000, the export's row cap): a longer period is a 422 (centuries by the hour
would take minutes and gigabytes).

``POST /api/v1/metrics/rebuild`` follows the page's rules (hub_ui/pages/settings/): a signed-in
user must be an admin (403 otherwise; an ``api:write`` token, made on the hub's command line, may)
and the period is at most ``REBUILD_MAX_DAYS`` days (422 otherwise): a rebuild holds the write lock.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from edge_hub.api import auth
from edge_hub.api.deps import StoreDep, WriterDep, to_ms
from edge_hub.api.models import API_REFUSALS, IsoDateTime
from edge_hub.api.routes import Route
from edge_hub.metrics import aggregates, summary

router = APIRouter(prefix="/metrics", tags=["metrics"], route_class=Route, responses=API_REFUSALS)

#: the longest period POST /metrics/rebuild takes (the settings page's limit)
REBUILD_MAX_DAYS = 400
#: the most points (hours or days of the period) /timeseries, /emotions and /readings answer with
MAX_POINTS = 10_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000

FromQ = Annotated[IsoDateTime, Query(alias="from", description="Period start, ISO 8601 (inclusive)")]
ToQ = Annotated[IsoDateTime, Query(description="Period end, ISO 8601 (exclusive)")]
WindowQ = Annotated[str | None, Query(description="Only this window")]
OperatorQ = Annotated[str | None, Query(description="Only this operator")]
DeviceQ = Annotated[str | None, Query(description="Only this device")]
DepartmentQ = Annotated[str | None, Query(description="Only the windows of this department")]


def _period(from_: IsoDateTime, to: IsoDateTime) -> tuple[int, int]:
    lo, hi = to_ms(from_), to_ms(to)
    assert lo is not None and hi is not None
    if hi <= lo:
        raise HTTPException(422, detail="'to' must be after 'from' / 'to' должно быть позже 'from'")
    return lo, hi


def _series_period(from_: IsoDateTime, to: IsoDateTime, step: str) -> tuple[int, int]:
    """:func:`_period`, of at most ``MAX_POINTS`` hours (step=hour) or days (step=day)."""
    lo, hi = _period(from_, to)
    if (hi - lo) / (_HOUR_MS if step == "hour" else _DAY_MS) > MAX_POINTS:
        unit, unit_ru = ("hours", "часов") if step == "hour" else ("days", "дней")
        raise HTTPException(
            422,
            detail=f"at most {MAX_POINTS} {unit} at step={step}: choose a shorter period"
            f"{' or step=day' if step == 'hour' else ''} / не больше {MAX_POINTS} {unit_ru} при "
            f"step={step}: сократите период{' или выберите step=day' if step == 'hour' else ''}",
        )
    return lo, hi


@router.get("/summary")
def get_summary(
    store: StoreDep,
    from_: FromQ,
    to: ToQ,
    window: WindowQ = None,
    operator: OperatorQ = None,
    device: DeviceQ = None,
    department: DepartmentQ = None,
    include_flagged: Annotated[bool, Query(description="Count presses flagged as fake too")] = False,
) -> dict[str, Any]:
    """Every metric as ``{value, n}``; value is null (with a reason) when there is not enough data."""
    lo, hi = _period(from_, to)
    scope = summary.Scope(window=window, operator=operator, device=device, department=department)
    return summary.summary(store.conn, lo, hi, scope, include_flagged=include_flagged)


@router.get("/timeseries")
def get_timeseries(
    store: StoreDep,
    from_: FromQ,
    to: ToQ,
    question: Annotated[str, Query(description="Question id, e.g. csat, nps, ces")] = "csat",
    step: Annotated[str, Query(pattern="^(hour|day)$", description="hour, or the local day")] = "day",
    window: WindowQ = None,
    operator: OperatorQ = None,
    device: DeviceQ = None,
    department: DepartmentQ = None,
) -> dict[str, Any]:
    lo, hi = _series_period(from_, to, step)
    scope = summary.Scope(window=window, operator=operator, device=device, department=department)
    try:
        return summary.timeseries(store.conn, lo, hi, question, step, scope)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.get("/emotions")
def get_emotions(
    store: StoreDep,
    from_: FromQ,
    to: ToQ,
    step: Annotated[str, Query(pattern="^(hour|day)$", description="hour, or the local day")] = "day",
    window: WindowQ = None,
    operator: OperatorQ = None,
    device: DeviceQ = None,
    department: DepartmentQ = None,
) -> dict[str, Any]:
    """Camera visits per slot: the count by dominant emotion and the emotional NPS ``{value, n}``."""
    lo, hi = _series_period(from_, to, step)
    scope = summary.Scope(window=window, operator=operator, device=device, department=department)
    return summary.emotions(store.conn, lo, hi, step, scope)


@router.get("/readings")
def get_readings(
    store: StoreDep,
    from_: FromQ,
    to: ToQ,
    metric: Annotated[str, Query(pattern="^(temperature|humidity|co2|noise|visitors)$")],
    step: Annotated[str, Query(pattern="^(hour|day)$", description="hour, or the local day")] = "hour",
    window: WindowQ = None,
    device: DeviceQ = None,
) -> dict[str, Any]:
    """A sensor metric per slot: n, mean, min, max (and the sum, which is what visitors add up to)."""
    lo, hi = _series_period(from_, to, step)
    return summary.readings(store.conn, lo, hi, metric, step, summary.Scope(window=window, device=device))


@router.get("/executors")
def get_executors(
    store: StoreDep,
    from_: FromQ,
    to: ToQ,
    by: Annotated[str, Query(pattern="^(operator|window)$")] = "operator",
) -> list[dict[str, Any]]:
    """The league table, ranked by the Wilson lower bound of the positive share (in %)."""
    lo, hi = _period(from_, to)
    return summary.executors(store.conn, lo, hi, by)


@router.post("/rebuild")
def post_rebuild(
    request: Request, store: WriterDep, from_: FromQ, to: ToQ, device: DeviceQ = None
) -> dict[str, int]:
    """Attribute, flag and aggregate the presses of a period again (after shifts or settings changed).

    Admins only (or an ``api:write`` token); at most ``REBUILD_MAX_DAYS`` (400) days."""
    user = getattr(request.state, "ui_user", None)
    if user is not None and user.role != auth.ADMIN:
        raise HTTPException(403, detail="only an admin may rebuild / пересчёт доступен только администратору")
    lo, hi = _period(from_, to)
    if hi - lo > REBUILD_MAX_DAYS * _DAY_MS:
        raise HTTPException(
            422,
            detail=f"a rebuild takes at most {REBUILD_MAX_DAYS} days: choose a shorter period / "
            f"пересчёт — не больше {REBUILD_MAX_DAYS} дней: сократите период",
        )
    return {"buckets_changed": aggregates.rebuild(store.conn, lo, hi, device)}
