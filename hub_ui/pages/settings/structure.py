"""The structure tab (``/settings``): departments, windows, operators, and which window each device
is on (moving a device re-credits its stored presses, as the API does)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from edge_hub.office import recredit, scopes
from edge_hub.office import settings as office_settings
from edge_hub.office.scopes import ScopeError
from hub_ui.core import Ui, local_time, redirect
from hub_ui.pages.settings.tabs import FormStr, StaffUi, status_of, tab

router = APIRouter()
#: the generic delete route, included after every other router of the settings pages
delete_router = APIRouter()


def _devices(ui: Ui) -> list[dict[str, Any]]:
    zone = office_settings.load(ui.conn).zone
    rows = ui.conn.execute('SELECT device, kind, "window", last_seen FROM devices ORDER BY device').fetchall()
    return [
        {"device": d, "kind": k or "", "window": w, "last_seen": local_time(seen, zone)}
        for d, k, w, seen in rows
    ]


def _structure(ui: Ui, **kwargs: Any) -> HTMLResponse:
    context = {
        "departments": scopes.departments(ui.conn),
        "windows": scopes.windows(ui.conn),
        "operators": scopes.operators(ui.conn),
        "devices": _devices(ui),
    }
    return tab(ui, "structure", context, **kwargs)


def _refused(ui: Ui, exc: ScopeError, section: str, form: dict[str, Any]) -> HTMLResponse:
    return _structure(ui, section=section, error=str(exc), form=form, status=status_of(exc))


@router.get("/settings", include_in_schema=False)
def structure(ui: StaffUi) -> HTMLResponse:
    return _structure(ui)


@router.post("/settings/departments", include_in_schema=False)
def put_department(ui: StaffUi, id: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_department(ui.conn, id.strip(), name)
    except ScopeError as exc:
        return _refused(ui, exc, "departments", {"id": id, "name": name})
    ui.audit("settings.department.put", f"{row['id']}: {row['name']}")
    return redirect(ui, "/settings?done=department#departments")


@router.post("/settings/windows", include_in_schema=False)
def put_window(ui: StaffUi, id: FormStr = "", department: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_window(ui.conn, id.strip(), department, name)
    except ScopeError as exc:
        return _refused(ui, exc, "windows", {"id": id, "department": department, "name": name})
    ui.audit("settings.window.put", f"{row['id']} ({row['department']}): {row['name']}")
    return redirect(ui, "/settings?done=window#windows")


@router.post("/settings/operators", include_in_schema=False)
def put_operator(ui: StaffUi, id: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_operator(ui.conn, id.strip(), name)
    except ScopeError as exc:
        return _refused(ui, exc, "operators", {"id": id, "name": name})
    ui.audit("settings.operator.put", f"{row['id']}: {row['name']}")
    return redirect(ui, "/settings?done=operator#operators")


@router.post("/settings/devices", include_in_schema=False)
def put_device_window(ui: StaffUi, device: FormStr = "", window: FormStr = "") -> Response:
    """Put a device on a window or none; its stored presses are credited again (as the API does)."""
    try:
        recredit.assign_device_and_rebuild(ui.conn, device, window or None)
    except ScopeError as exc:
        return _refused(ui, exc, "devices", {})
    ui.audit("settings.device.window", f"{device} → {window or '-'}")
    return redirect(ui, "/settings?done=device#devices")


#: the sections whose items are deleted the same way: the scopes function, the item's name
_DELETE = {
    "departments": (scopes.delete_department, "department"),
    "windows": (scopes.delete_window, "window"),
    "operators": (scopes.delete_operator, "operator"),
}


@delete_router.post("/settings/{section}/{key}/delete", include_in_schema=False)
def delete_item(ui: StaffUi, section: Literal["departments", "windows", "operators"], key: str) -> Response:
    """Delete a department, window or operator (refused while something still uses it)."""
    delete, name = _DELETE[section]
    try:
        delete(ui.conn, key)
    except ScopeError as exc:
        return _refused(ui, exc, section, {})
    ui.audit(f"settings.{name}.delete", key)
    return redirect(ui, f"/settings?done={name}_deleted#{section}")
