"""Admin pages: users (/users: add, set a password, disable, enable; the board link) and /audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edge_hub.api import auth
from edge_hub.office import settings as office_settings
from hub_ui.core import Ui, fragment, local_time, nav, page, redirect, require

router = APIRouter()

USERS = nav("/users", "nav.users", auth.ADMINS, order=90)
AUDIT = nav("/audit", "nav.audit", auth.ADMINS, order=95)

AdminUi = Annotated[Ui, Depends(require(USERS.roles))]
FormStr = Annotated[str, Form()]
#: the ?done= notices of /users after a change (Post/Redirect/Get)
DONE = ("created", "password", "disabled", "enabled", "board")
AUDIT_PAGE = 100


def _user_rows(ui: Ui) -> list[dict]:
    zone = office_settings.load(ui.conn).zone
    return [
        {
            **u,
            "created": local_time(u["created_at"], zone),
            "last_login": local_time(u["last_login_at"], zone),
        }
        for u in auth.users(ui.conn)
    ]


def _users_page(
    ui: Ui, *, error: str | None = None, form: dict | None = None, status: int = 200
) -> HTMLResponse:
    done = ui.request.query_params.get("done")
    base = str(ui.request.base_url).rstrip("/")
    return page(
        ui, "users.html", "users.title", status_code=status,
        users=_user_rows(ui), roles=auth.ROLES, min_password=auth.MIN_PASSWORD,
        form=form or {"username": "", "role": auth.MANAGER},
        error=error, notice=ui.t(f"users.done.{done}") if done in DONE else None,
        board_url=f"{base}/board?token={auth.ensure_board_token(ui.conn)}",
    )  # fmt: skip


@router.get("/users", include_in_schema=False)
def users(ui: AdminUi) -> HTMLResponse:
    return _users_page(ui)


@router.post("/users", include_in_schema=False)
def add_user(
    ui: AdminUi, username: FormStr = "", role: FormStr = "", password: FormStr = "", password2: FormStr = ""
) -> Response:
    assert ui.user is not None
    try:
        user = auth.create_user(ui.conn, username, password, role, by=ui.user.username, again=password2)
    except auth.AuthError as exc:
        return _users_page(ui, error=ui.t(exc.key), form={"username": username, "role": role}, status=400)
    ui.audit("user.create", f"{user.username} ({user.role})")
    return redirect(ui, "/users?done=created")


@router.post("/users/{user_id}/password", include_in_schema=False)
def reset_password(ui: AdminUi, user_id: int, password: FormStr = "") -> Response:
    try:
        user = auth.set_password(ui.conn, user_id, password)
    except auth.AuthError as exc:
        return _users_page(ui, error=ui.t(exc.key), status=400)
    ui.audit("user.password", user.username)
    if user.id == (ui.user.id if ui.user else None):  # one's own sessions ended with it
        return redirect(ui, "/login")
    return redirect(ui, "/users?done=password")


def _set_disabled(ui: Ui, user_id: int, disabled: bool) -> Response:
    assert ui.user is not None
    try:
        user = auth.set_disabled(ui.conn, user_id, disabled, actor=ui.user)
    except auth.AuthError as exc:
        return _users_page(ui, error=ui.t(exc.key), status=400)
    ui.audit("user.disable" if disabled else "user.enable", user.username)
    if ui.request.headers.get("hx-request"):  # htmx swaps the row in place
        row = next(u for u in _user_rows(ui) if u["id"] == user_id)
        return fragment(ui, "_user_row.html", u=row, min_password=auth.MIN_PASSWORD)
    return redirect(ui, "/users?done=" + ("disabled" if disabled else "enabled"))


@router.post("/users/{user_id}/disable", include_in_schema=False)
def disable_user(ui: AdminUi, user_id: int) -> Response:
    return _set_disabled(ui, user_id, True)


@router.post("/users/{user_id}/enable", include_in_schema=False)
def enable_user(ui: AdminUi, user_id: int) -> Response:
    return _set_disabled(ui, user_id, False)


@router.post("/board/token", include_in_schema=False)
def rotate_board_token(ui: AdminUi) -> RedirectResponse:
    auth.rotate_board_token(ui.conn)
    ui.audit("board.token")
    return redirect(ui, "/users?done=board")


@router.get("/audit", include_in_schema=False)
def audit_log(
    ui: Annotated[Ui, Depends(require(AUDIT.roles))], before: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    zone = office_settings.load(ui.conn).zone
    rows = auth.audit_log(ui.conn, before, AUDIT_PAGE + 1)
    entries = [{**e, "when": local_time(e["at"], zone, "%d.%m.%Y %H:%M:%S")} for e in rows[:AUDIT_PAGE]]
    older = entries[-1]["id"] if len(rows) > AUDIT_PAGE else None
    return page(ui, "audit.html", "audit.title", entries=entries, older=older)
