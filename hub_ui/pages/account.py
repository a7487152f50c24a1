"""First run, sign-in and sign-out, one's own password: /setup, /login, /logout, /account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edge_hub.api import auth
from hub_ui.core import SESSION_COOKIE, Ui, UiDep, page, redirect, require, safe_next, set_session_cookie

router = APIRouter()

FormStr = Annotated[str, Form()]
#: any signed-in user (/account is in the user menu, not the nav)
AnyUi = Annotated[Ui, Depends(require(auth.ALL_ROLES))]


@router.get("/setup", include_in_schema=False)
def setup_form(ui: UiDep) -> Response:
    if auth.user_count(ui.conn):
        return redirect(ui, "/login")
    return _setup_page(ui)


def _setup_page(ui: Ui, username: str = "", error: str | None = None, status: int = 200) -> HTMLResponse:
    return page(
        ui, "setup.html", "setup.title", status_code=status,
        username=username, error=error, notice=None, min_password=auth.MIN_PASSWORD,
    )  # fmt: skip


@router.post("/setup", include_in_schema=False)
def setup(ui: UiDep, username: FormStr = "", password: FormStr = "", password2: FormStr = "") -> Response:
    """Create the first admin (only while no account exists), sign them in, go to the dashboard."""
    try:
        user = auth.create_first_admin(ui.conn, username, password, password2)
    except auth.AuthError as exc:
        if exc.key == "err.setup_done":
            return redirect(ui, "/login")
        return _setup_page(ui, username, ui.t(exc.key), 400)
    auth.audit(ui.conn, user, "setup", user.username, ip=ui.ip)
    return _signed_in(ui, user, "/")


@router.get("/login", include_in_schema=False)
def login_form(ui: UiDep, next: str = "/") -> Response:
    if not auth.user_count(ui.conn):
        return redirect(ui, "/setup")
    if ui.session is not None:
        return redirect(ui, safe_next(next))
    notice = ui.t("login.signed_out") if ui.request.query_params.get("out") else None
    return _login_page(ui, next=safe_next(next), notice=notice)


def _login_page(
    ui: Ui, *, next: str = "/", username: str = "", error: str | None = None, notice: str | None = None,
    status: int = 200, headers: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    response = page(
        ui, "login.html", "login.title", status_code=status, next=next, username=username, error=error,
        notice=notice,
    )  # fmt: skip
    response.headers.update(headers or {})
    return response


@router.post("/login", include_in_schema=False)
def login(ui: UiDep, username: FormStr = "", password: FormStr = "", next: FormStr = "/") -> Response:
    """401 with the form again on a wrong name or password; 429 once rate limited."""
    if not auth.user_count(ui.conn):
        return redirect(ui, "/setup")
    target = safe_next(next)
    try:
        user = auth.login(ui.conn, username, password, ui.ip)
    except auth.RateLimited as exc:
        who = username.strip().lower()[:64] or "-"
        auth.audit(ui.conn, who, "login.blocked", f"{exc.retry_after} s", ip=ui.ip)
        message = ui.t(exc.key, seconds=exc.retry_after)
        return _login_page(
            ui, next=target, username=username, error=message, status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )  # fmt: skip
    except auth.AuthError as exc:
        return _login_page(ui, next=target, username=username, error=ui.t(exc.key), status=401)
    auth.audit(ui.conn, user, "login", "", ip=ui.ip)
    return _signed_in(ui, user, target)


def _signed_in(ui: Ui, user: auth.User, target: str) -> RedirectResponse:
    token, _ = auth.new_session(ui.conn, user, ui.ip)
    response = redirect(None, target)
    set_session_cookie(response, token)
    return response


@router.post("/logout", include_in_schema=False)
def logout(ui: UiDep) -> RedirectResponse:
    if ui.session is not None:
        ui.audit("logout")
        auth.end_session(ui.conn, ui.request.cookies.get(SESSION_COOKIE))
    response = redirect(None, "/login?out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", include_in_schema=False)
def account(ui: AnyUi) -> HTMLResponse:
    done = ui.request.query_params.get("done") == "password"
    return _account_page(ui, notice=ui.t("account.done") if done else None)


def _account_page(
    ui: Ui, *, error: str | None = None, notice: str | None = None, status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    response = page(
        ui, "account.html", "account.title", status_code=status, error=error, notice=notice,
        min_password=auth.MIN_PASSWORD,
    )  # fmt: skip
    response.headers.update(headers or {})
    return response


@router.post("/account", include_in_schema=False)
def change_password(
    ui: AnyUi, current: FormStr = "", password: FormStr = "", password2: FormStr = ""
) -> Response:
    """One's own new password: the current one first (failures count as failed sign-ins, 429 at
    the limit); the user's other sessions end, this one stays."""
    assert ui.user is not None
    try:
        token = ui.request.cookies.get(SESSION_COOKIE)
        ended = auth.change_own_password(ui.conn, ui.user, current, password, password2, ip=ui.ip, keep=token)
    except auth.RateLimited as exc:
        ui.audit("login.blocked", f"{exc.retry_after} s (password change)")
        return _account_page(
            ui, error=ui.t(exc.key, seconds=exc.retry_after), status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )  # fmt: skip
    except auth.AuthError as exc:
        return _account_page(ui, error=ui.t(exc.key), status=400)
    ui.audit("user.password.self", f"other sessions ended: {ended}")
    return redirect(ui, "/account?done=password")
