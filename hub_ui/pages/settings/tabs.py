"""The frame the three settings tabs share: the nav entry and role guards, the tab list, the
``?done=`` notice after a change, the HTTP status of a refusal, and rendering a tab."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form
from fastapi.responses import HTMLResponse

from edge_hub.api import auth
from edge_hub.office.scopes import ScopeConflict, ScopeError, ScopeNotFound
from hub_ui.core import Ui, nav, page, require

SETTINGS = nav("/settings", "nav.settings", auth.STAFF, order=70)
StaffUi = Annotated[Ui, Depends(require(SETTINGS.roles))]
AdminUi = Annotated[Ui, Depends(require(auth.ADMINS))]
FormStr = Annotated[str, Form()]

TABS = (("structure", "/settings"), ("shifts", "/settings/shifts"), ("office", "/settings/office"))
#: ?done= code -> the section it belongs to (its message is settings.done.<code>)
DONE = {
    "department": "departments", "department_deleted": "departments",
    "window": "windows", "window_deleted": "windows",
    "operator": "operators", "operator_deleted": "operators",
    "device": "devices", "shift": "shift-add", "shift_deleted": "shifts",
    "import": "import", "served": "served", "office": "office", "rebuild": "rebuild",
}  # fmt: skip


def status_of(exc: ScopeError) -> int:
    """The HTTP status the API gives the same refusal."""
    return 404 if isinstance(exc, ScopeNotFound) else 409 if isinstance(exc, ScopeConflict) else 422


def done(ui: Ui) -> tuple[str | None, str | None]:
    """(section, notice) of a ``?done=`` after a change."""
    code = ui.request.query_params.get("done")
    if code not in DONE:
        return None, None
    n = ui.request.query_params.get("n", "")
    n = n if n.isdigit() else "?"
    if code == "import":
        return "import", ui.t("settings.import_done", n=n)
    if code == "rebuild":
        return "rebuild", ui.t("settings.done.rebuild", n=n)
    return DONE[code], ui.t(f"settings.done.{code}")


def tab(
    ui: Ui, name: str, context: dict[str, Any], *, section: str | None = None, error: str | None = None,
    form: dict[str, Any] | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    """The settings page on tab ``name``: ``error`` (or else the ``?done=`` notice) shown in ``section``."""
    notice = None
    if error is None:
        section, notice = done(ui)
    return page(
        ui, "settings.html", "settings.title", status_code=status, tab=name, tabs=TABS,
        section=section, error=error, notice=notice, form=form or {}, **context,
    )  # fmt: skip
