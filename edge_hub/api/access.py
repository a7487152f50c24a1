"""Who may call the hub over HTTP: the JSON API's access rule, and the caller's address.

A caller of ``/api/v1`` is let in by the office page's session cookie (any role reads; admins and
managers change, with the CSRF header the page sends) or by a bearer token of scope ``api:read``
or ``api:write`` (:mod:`edge_hub.sync.tokens`); before the first account exists anyone is (a new
hub is set up through it). The sync routes check their own ``sync:read`` token. Accounts and
sessions are :mod:`edge_hub.api.accounts`'; the office page (``hub_ui``) signs people in and
checks its own CSRF tokens on top of the same sessions.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping

from fastapi import HTTPException, Request
from starlette.requests import cookie_parser

from edge_hub.api import auth
from edge_hub.api.deps import RuntimeDep
from edge_hub.db.store import Store
from edge_hub.sync import tokens as sync_tokens

#: the session cookie the office page sets at sign-in
SESSION_COOKIE = "otk_session"
#: the header carrying the session's CSRF token on the JSON API (htmx and fetch calls send it)
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Bearer realm="otklik-hub"'
_CSRF_REFUSED = "CSRF token missing or wrong / нет CSRF-токена или он неверен"


#: addresses of reverse proxies whose ``X-Forwarded-For`` is believed (comma-separated); unset:
#: none, and the header is ignored (a client could otherwise name any address it likes)
TRUSTED_PROXIES_ENV = "OTK_TRUSTED_PROXIES"


def trusted_proxies() -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(TRUSTED_PROXIES_ENV, "").split(",") if p.strip())


def client_ip(request: Request) -> str:
    """The caller's address: the connection's peer, or, when that peer is a configured trusted
    proxy (:data:`TRUSTED_PROXIES_ENV`), the nearest address in ``X-Forwarded-For`` that is not one."""
    peer = request.client.host if request.client else "-"
    proxies = trusted_proxies()
    if peer not in proxies:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in proxies:
            return hop[:64]
    return peer


def api_access(request: Request, runtime: RuntimeDep) -> None:
    """Who may use the JSON API (``/api/v1``, the sync routes apart: they check their own token).

    - the UI's session cookie: any role reads, admins and managers change (with the
      ``X-CSRF-Token`` header, as the page's htmx and fetch calls send it);
    - ``Authorization: Bearer <token>`` from ``edge-hub token create --scope api:read`` (GET)
      or ``api:write`` (every method);
    - before the first account exists (the hub's first run, as for ``/setup``), anyone: a new
      hub is set up through it; afterwards everything else is 401.
    """
    writes = request.method not in SAFE_METHODS
    store = Store.reader(runtime.db_path)
    try:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = auth.session_for(store.conn, cookie) if cookie else None
        if session is not None:
            request.state.ui_user = session.user
            if writes and not auth.same_token(session.csrf, request.headers.get(CSRF_HEADER)):
                raise HTTPException(403, detail=_CSRF_REFUSED)
            if writes and session.user.role not in auth.STAFF:
                raise HTTPException(403, detail="your role may not change this / вашей роли это запрещено")
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            wanted = (
                (sync_tokens.SCOPE_API_WRITE,) if writes
                else (sync_tokens.SCOPE_API_READ, sync_tokens.SCOPE_API_WRITE)
            )  # fmt: skip
            if any(sync_tokens.check_token(store.conn, token.strip(), scope) for scope in wanted):
                return
            known = sync_tokens.find_token(store.conn, token.strip())
            raise HTTPException(
                403 if known is not None and not known.revoked else 401,
                detail="this token may not do that / у токена нет такого права",
                headers={"WWW-Authenticate": REALM},
            )
        if auth.user_count(store.conn) == 0:
            return  # the first run: nobody to sign in as yet
        raise HTTPException(
            401,
            detail="sign in or send a bearer token (edge-hub token create --scope api:read) / "
            "войдите или передайте токен доступа",
            headers={"WWW-Authenticate": REALM},
        )
    finally:
        store.close()


def admins_change(request: Request) -> None:
    """A route's changes are the admins' (the survey: the office page's editor is admins-only too):
    a signed-in manager is refused (403); an ``api:write`` token may, as for every route."""
    user = getattr(request.state, "ui_user", None)
    if user is not None and request.method not in SAFE_METHODS and user.role not in auth.ADMINS:
        raise HTTPException(
            403, detail="only an admin may change this / это может менять только администратор"
        )


def api_caller_known(conn: sqlite3.Connection, headers: Mapping[str, str]) -> bool:
    """Whether a JSON API caller could be let in at all (``headers`` with lower-case names): a live
    session cookie, a known unrevoked token, or no account yet. The body limit
    (``edge_hub.api.main.BodyLimit``) refuses the others before reading their body; the full
    check is still :func:`api_access`."""
    cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
    if cookie and auth.session_for(conn, cookie) is not None:
        return True
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        known = sync_tokens.find_token(conn, token.strip())
        if known is not None and not known.revoked:
            return True
    return auth.user_count(conn) == 0


