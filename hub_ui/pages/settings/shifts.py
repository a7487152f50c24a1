"""The shifts tab (``/settings/shifts``): the shifts of a period (office-local), add one, delete one,
upload a CSV (all or nothing, every bad line listed), and the clients served per day."""

from __future__ import annotations

from datetime import date, timedelta
from datetime import time as dtime
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import HTMLResponse, Response

from edge_hub.api import auth
from edge_hub.office import recredit, scopes
from edge_hub.office import served as served_counts
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.office.scopes import ScopeError
from hub_ui.core import Ui, local_time, redirect
from hub_ui.pages.settings.tabs import FormStr, StaffUi, status_of, tab

router = APIRouter()

#: the largest shift CSV taken (a year of shifts of a big office is far less)
MAX_CSV_BYTES = 2_000_000
SHIFTS_SHOWN = 500
SERVED_DAYS = 14


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _shifts(ui: Ui, **kwargs: Any) -> HTMLResponse:
    settings = office_settings.load(ui.conn)
    zone = settings.zone
    today = settings.local(auth.now_ms()).date()
    query = ui.request.query_params
    start = _day(query.get("from"), today - timedelta(days=7))
    end = max(start, _day(query.get("to"), today + timedelta(days=14)))
    lo, hi = settings.at(start, dtime(0)), settings.at(end + timedelta(days=1), dtime(0))
    operators = scopes.operators(ui.conn)
    windows = scopes.windows(ui.conn)
    names = {("operator", o["id"]): o["name"] for o in operators} | {
        ("window", w["id"]): w["name"] for w in windows
    }
    rows = shift_rules.shifts(ui.conn, from_ms=lo, to_ms=hi)
    shifts = [
        {
            **s,
            "operator_name": names.get(("operator", s["operator"]), ""),
            "window_name": names.get(("window", s["window"]), ""),
            "start": local_time(s["start_ms"], zone),
            "end": local_time(s["end_ms"], zone),
        }
        for s in rows[:SHIFTS_SHOWN]
    ]
    served_from = today - timedelta(days=SERVED_DAYS - 1)
    context = {
        "operators": operators,
        "windows": windows,
        "shifts": shifts,
        "shifts_more": len(rows) > SHIFTS_SHOWN,
        "shifts_shown": SHIFTS_SHOWN,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "zone": settings.timezone,
        "today": today.isoformat(),
        "served": served_counts.served(ui.conn, served_from.isoformat(), today.isoformat()),
        "served_days": SERVED_DAYS,
        "import_errors": kwargs.pop("import_errors", None),
    }
    return tab(ui, "shifts", context, **kwargs)


@router.get("/settings/shifts", include_in_schema=False)
def shifts_tab(ui: StaffUi) -> HTMLResponse:
    return _shifts(ui)


@router.post("/settings/shifts", include_in_schema=False)
def add_shift(
    ui: StaffUi, operator: FormStr = "", window: FormStr = "", start: FormStr = "", end: FormStr = ""
) -> Response:
    """A shift from ``datetime-local`` inputs (office local time); stored presses are re-credited."""
    zone = office_settings.load(ui.conn).zone
    form = {"operator": operator, "window": window, "start": start, "end": end}
    try:
        try:
            start_ms, end_ms = shift_rules.parse_local(start, zone), shift_rules.parse_local(end, zone)
        except ValueError as exc:
            raise ScopeError(str(exc)) from None
        row = recredit.add_shift_and_rebuild(ui.conn, operator, window, start_ms, end_ms)
    except ScopeError as exc:
        return _shifts(ui, section="shift-add", error=str(exc), form=form, status=status_of(exc))
    ui.audit(
        "settings.shift.add",
        f"#{row['id']} {operator} @ {window}: {shift_rules.local_text(start_ms, zone)}–"
        f"{shift_rules.local_text(end_ms, zone)}",
    )
    return redirect(ui, "/settings/shifts?done=shift#shift-add")


@router.post("/settings/shifts/{shift_id}/delete", include_in_schema=False)
def delete_shift(ui: StaffUi, shift_id: int) -> Response:
    zone = office_settings.load(ui.conn).zone
    try:
        gone = recredit.delete_shift_and_rebuild(ui.conn, shift_id)
    except ScopeError as exc:
        return _shifts(ui, section="shifts", error=str(exc), status=status_of(exc))
    ui.audit(
        "settings.shift.delete",
        f"#{shift_id} {gone['operator']} @ {gone['window']}: "
        f"{shift_rules.local_text(gone['start_ms'], zone)}",
    )
    return redirect(ui, "/settings/shifts?done=shift_deleted#shifts")


@router.post("/settings/shifts/import", include_in_schema=False)
def import_shifts(ui: StaffUi, file: Annotated[UploadFile, File()]) -> Response:
    """A CSV upload: all or nothing (:func:`edge_hub.office.recredit.import_shifts_file`); every bad
    line listed."""
    raw = file.file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return _shifts(ui, section="import", error=ui.t("settings.import_too_big"), status=413)
    result = recredit.import_shifts_file(ui.conn, raw, office_settings.load(ui.conn).zone)
    if not result.ok:
        return _shifts(
            ui, section="import", error=ui.t("settings.import_failed", n=len(result.errors)),
            import_errors=result.errors, status=422,
        )  # fmt: skip
    ui.audit("settings.shift.import", f"{file.filename or '-'}: {result.added}")
    return redirect(ui, f"/settings/shifts?done=import&n={result.added}#import")


@router.post("/settings/served", include_in_schema=False)
def put_served(ui: StaffUi, day: FormStr = "", window: FormStr = "", count: FormStr = "") -> Response:
    form = {"day": day, "window": window, "count": count}
    try:
        if not count.strip().isdigit():
            raise ScopeError(ui.t("settings.bad_count"))
        row = served_counts.put_served(ui.conn, day, window, int(count), "manual")
    except ScopeError as exc:
        return _shifts(ui, section="served", error=str(exc), form=form, status=status_of(exc))
    ui.audit("settings.served", f"{row['day']} {row['window'] or '*'}: {row['count']}")
    return redirect(ui, "/settings/shifts?done=served#served")
