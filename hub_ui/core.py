"""The base every page stands on: the request context, role guards, CSRF, the nav list, ``page()``.

A page module (``hub_ui/pages/*.py``) declares its nav entry with :func:`nav`, guards each route
with ``Depends(require(roles))`` (which yields a :class:`Ui`), and answers with :func:`page`.
State-changing requests are checked by :func:`csrf_protect`, a dependency of the whole UI router
(``hub_ui/web.py``), so a page cannot forget it. See ``hub_ui/README.md``.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from edge_hub import __version__
from edge_hub.api import auth
from edge_hub.api.access import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, client_ip
from edge_hub.api.auth import Session, User
from edge_hub.api.deps import RuntimeDep
from edge_hub.db.store import Store
from hub_ui import STATIC_DIR, TEMPLATES_DIR, i18n

_LOGGER = logging.getLogger(__name__)

_BUSY = (
    "Хаб сейчас проверяет другие пароли, повторите через несколько секунд. / "
    "The hub is busy checking other passwords, try again in a few seconds."
)
i18n.register(
    {
        "login.busy": (_BUSY, _BUSY),
        "err.import_too_large": (
            "Файл смен слишком большой, ничего не загружено: {message}",
            "The shifts file is too large, nothing was imported: {message}",
        ),
    }
)

#: before login there is no session: the login and setup forms use a double-submit cookie
PRESESSION_COOKIE = "otk_csrf"
CSRF_FIELD = "csrf"
LANG_COOKIE_AGE_S = 365 * 24 * 3600

#: sent with every UI response: no foreign script, style, frame or connection, ever
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Redirect(Exception):  # a control-flow signal, answered with a 303
    """Send the browser elsewhere (to /setup, to /login) instead of answering."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class UiError(Exception):
    """Answer with an error page: ``status`` and the message ``key`` of :mod:`hub_ui.i18n`."""

    def __init__(self, status: int, key: str, **params: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.params = params


# --- the nav ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the header's nav: shown to the roles that may open the page."""

    path: str
    key: str  # the label's message key
    roles: frozenset[str]
    order: int = 100


NAV: list[NavItem] = []


def nav(path: str, key: str, roles: frozenset[str], order: int = 100) -> NavItem:
    """Declare a nav entry (once, at import of the page module); returns it, so its ``roles``
    can guard the route too: ``Depends(require(ITEM.roles))``."""
    item = NavItem(path, key, frozenset(roles), order)
    if all(existing.path != path for existing in NAV):
        NAV.append(item)
        NAV.sort(key=lambda i: i.order)
    return item


# --- templates ----------------------------------------------------------------------------------

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every {{ }} is escaped; never |safe on visitor data
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_ENV)


@cache
def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: browsers cache the asset until it changes."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    return f"/static/{path}?v={digest}"


_ENV.globals.update(static=static_url, version=__version__)


def render(template: str, **context: Any) -> str:
    """A template (or a fragment for the live stream) as text."""
    return _ENV.get_template(template).render(**context)


# --- the request context ------------------------------------------------------------------------


@dataclass
class Ui:
    """One UI request: its connection (read-write, closed after the request), language and session."""

    request: Request
    conn: sqlite3.Connection
    lang: str
    session: Session | None
    site: str
    extra_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None

    def t(self, key: str, **params: object) -> str:
        return i18n.t(key, self.lang, **params)

    @property
    def ip(self) -> str:
        return client_ip(self.request)

    def csrf(self) -> str:
        """The token forms and htmx send back: the session's, or the pre-session cookie's."""
        if self.session is not None:
            return self.session.csrf
        token = self.request.cookies.get(PRESESSION_COOKIE) or self.extra_cookies.get(PRESESSION_COOKIE)
        if not token or len(token) > 128:
            token = auth.new_token()
            self.extra_cookies[PRESESSION_COOKIE] = token
        return token

    def audit(self, action: str, detail: str = "") -> None:
        auth.audit(self.conn, self.user, action, detail, ip=self.ip)


def pick_lang(request: Request) -> str:
    return i18n.pick(request.query_params.get("lang"), request.cookies.get(i18n.LANG_COOKIE))


def ui_context(request: Request, runtime: RuntimeDep) -> Iterator[Ui]:
    store = Store.writer(runtime.db_path)
    try:
        session = auth.session_for(store.conn, request.cookies.get(SESSION_COOKIE))
        yield Ui(request, store.conn, pick_lang(request), session, runtime.site)
    finally:
        store.close()


UiDep = Annotated[Ui, Depends(ui_context)]


#: how often an open live stream checks that its session (or board link) is still valid
STREAM_RECHECK_S = 3.0


def stream_allowed(conn: sqlite3.Connection, request: Request, view: str, token: str | None) -> bool:
    """Whether a live stream (``/ui/stream``) may go on: its session is alive (not signed out, the
    user not disabled, not expired), or, for the board, its link is still the current one. Asked
    when it opens and every :data:`STREAM_RECHECK_S` while it is open."""
    if auth.session_for(conn, request.cookies.get(SESSION_COOKIE)) is not None:
        return True
    return view == "board" and token is not None and auth.board_token_ok(conn, token)


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another host, a scheme) becomes /."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def require(roles: frozenset[str]) -> Callable[[Ui], Ui]:
    """A dependency: the signed-in user must have one of ``roles``.

    No account yet: every page goes to /setup. Not signed in: to /login (and back after).
    Signed in without the role: 403 page.
    """

    def guard(ui: UiDep) -> Ui:
        if ui.session is None:
            if auth.user_count(ui.conn) == 0:
                raise Redirect("/setup")
            url = ui.request.url
            back = url.path + (f"?{url.query}" if url.query else "")
            raise Redirect("/login" + ("" if back == "/" else f"?next={quote(back, safe='')}"))
        if not ui.session.user.can(roles):
            raise UiError(403, "err.forbidden")
        return ui

    return guard


# --- CSRF ---------------------------------------------------------------------------------------


async def csrf_protect(request: Request, runtime: RuntimeDep) -> None:
    """Refuse (403) a state-changing UI request without the right CSRF token.

    The token comes in the form field ``csrf`` or the ``X-CSRF-Token`` header (htmx sends it
    from ``hx-headers`` on <body>). With a session it must equal the session's token; without
    one (login, setup) it must equal the pre-session cookie. A request whose Origin names
    another host is refused as well.
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise UiError(403, "err.csrf")
    given = request.headers.get(CSRF_HEADER)
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    store = Store.reader(runtime.db_path)
    try:
        session = auth.session_for(store.conn, request.cookies.get(SESSION_COOKIE))
    finally:
        store.close()
    expected = session.csrf if session else request.cookies.get(PRESESSION_COOKIE)
    if not auth.same_token(expected, given):
        raise UiError(403, "err.csrf")


# --- answering ----------------------------------------------------------------------------------


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def base_context(ui: Ui, title_key: str | None, **title_params: object) -> dict[str, Any]:
    lang, request = ui.lang, ui.request
    user = ui.user
    path = request.url.path
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    other = i18n.other(lang)
    return {
        "request": request,
        "lang": lang,
        "other_lang": other,
        "lang_url": path + "?" + urlencode({**query, "lang": other}),
        "t": lambda key, **params: i18n.t(key, lang, **params),
        "has": i18n.has,
        "reason_key": lambda reason: i18n.REASON_KEYS.get(reason or "", "reason.few"),
        "num": lambda value, digits=1, sign=False: i18n.number(value, lang, digits, sign),
        "user": user,
        "nav": [
            {"path": item.path, "key": item.key, "active": item.path == path}
            for item in NAV
            if user is not None and user.can(item.roles)
        ],
        "csrf": ui.csrf(),
        "site": ui.site,
        "path": path,
        "title": ui.t(title_key, **title_params) if title_key else "",
    }


def page(
    ui: Ui, template: str, title_key: str | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` (extending base.html) with the common context plus ``context``.

    Sets the language cookie when ``?lang=`` chose one, and the pre-session CSRF cookie when a
    login or setup form needs it; adds the security headers.
    """
    response = templates.TemplateResponse(
        ui.request, template, {**base_context(ui, title_key), **context}, status_code=status_code
    )
    finish(ui, response)
    return response


def fragment(ui: Ui, template: str, **context: Any) -> HTMLResponse:
    """A partial for htmx (a table row, a card): the common context, no base.html."""
    response = HTMLResponse(render(template, **{**base_context(ui, None), **context}))
    finish(ui, response)
    return response


def redirect(ui: Ui | None, location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    if ui is not None:
        finish(ui, response)
    return secure(response)


def finish(ui: Ui, response: Response) -> None:
    """Cookies the request decided on (language, pre-session CSRF) and the security headers."""
    chosen = ui.request.query_params.get("lang")
    if chosen in i18n.LANGS and ui.request.cookies.get(i18n.LANG_COOKIE) != chosen:
        response.set_cookie(i18n.LANG_COOKIE, chosen, max_age=LANG_COOKIE_AGE_S, samesite="lax")
    for name, value in ui.extra_cookies.items():
        response.set_cookie(name, value, httponly=True, samesite="strict")
    secure(response)


def set_session_cookie(response: Response, token: str) -> None:
    # Not Secure: the hub is served over plain HTTP inside the office LAN (see README).
    response.set_cookie(
        SESSION_COOKIE, token, max_age=auth.SESSION_TTL_S, httponly=True, samesite="strict", path="/"
    )


def error_page(request: Request, exc: UiError) -> HTMLResponse:
    """The page of a :class:`UiError`, with the nav when someone is signed in."""
    runtime = request.app.state.runtime
    store = Store.reader(runtime.db_path)
    try:
        session = auth.session_for(store.conn, request.cookies.get(SESSION_COOKIE))
        ui = Ui(request, store.conn, pick_lang(request), session, runtime.site)
        context = base_context(ui, "err.title")
        context["message"] = ui.t(exc.key, **exc.params)
        response = templates.TemplateResponse(request, "error.html", context, status_code=exc.status)
        finish(ui, response)
    finally:
        store.close()
    return response


def local_time(ts_ms: int | None, zone: Any, fmt: str = "%d.%m.%Y %H:%M") -> str:
    if ts_ms is None:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, zone).strftime(fmt)
