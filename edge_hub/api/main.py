"""The JSON API: routers under /api/v1 and /healthz at the root (the office page joins it in
:func:`edge_hub.app.create_app`).

Request bodies are bounded (:class:`BodyLimit`, outermost but for Starlette's error layer):
:data:`MAX_BODY` (2 MiB) for every request, :data:`MAX_UPLOAD` (10 MiB) for the shift CSV
imports (:data:`UPLOAD_PATHS`). A larger ``Content-Length`` is refused with 413 before anything
is read; a chunked body is counted as it streams and refused with 413 the moment it passes the
limit. A state-changing ``/api/v1`` call with a body and neither a valid session nor a valid
token (on ``/api/v1/kiosk/``: a web kiosk's token, and only that) is refused with 401 before its
body is read (the full check, :func:`edge_hub.api.access.api_access` or the kiosk routes' own,
runs again in the route).
"""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from edge_hub import __version__
from edge_hub.api.access import SAFE_METHODS, api_access, api_caller_known
from edge_hub.api.routes import (
    alerts,
    devices,
    events,
    export,
    health,
    kiosk,
    metrics,
    quarantine,
    scopes,
    survey,
    surveys,
    sync,
)  # fmt: skip
from edge_hub.db.store import Store
from edge_hub.ingest import webkiosk
from edge_hub.office import shifts as shift_rules
from edge_hub.runtime import Runtime

TITLE = "Otklik edge hub"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
MiB = 1024 * 1024
#: the largest request body, in bytes
MAX_BODY = 2 * MiB
#: the largest body of a shift CSV import (its rows are capped too: scopes.MAX_IMPORT_ROWS)
MAX_UPLOAD = 10 * MiB
UPLOAD_PATHS = frozenset({"/api/v1/shifts/import", "/settings/shifts/import"})
#: /api/v1 routes that check their own token (scope sync:read)
_OWN_AUTH = "/api/v1/sync/"
#: /api/v1 routes of the web kiosks, which check their own device token
_KIOSK = "/api/v1/kiosk/"


def create_api(runtime: Runtime) -> FastAPI:
    """The JSON API alone (the hub serves it with the office page: :func:`edge_hub.app.create_app`).

    /docs is the office page's (the vendored Swagger UI: the office has no internet); no /redoc.
    """
    app = FastAPI(
        title=TITLE,
        version=__version__,
        description="Office hub of the Otklik feedback devices: stored events, devices, quarantine, health.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(BodyLimit)
    # A UI session or an api:* bearer token; open only before the first account exists
    # (hub_ui/README.md, "The JSON API"). The sync routes check their own sync:read token.
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(api_access)])
    for module in (alerts, devices, events, metrics, export, quarantine, scopes, survey, surveys):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(sync.router, prefix="/api/v1")
    app.include_router(kiosk.router, prefix="/api/v1")  # a web kiosk's own token (edge_hub/WEBKIOSK.md)
    app.include_router(health.router)

    @app.exception_handler(shift_rules.ImportTooLarge)
    def _import_too_large(request: Request, exc: shift_rules.ImportTooLarge) -> Any:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    return app


# --- the request body limit ----------------------------------------------------------------------


def _limit_text(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"


class BodyLimit:
    """A pure ASGI middleware bounding request bodies (see the module's doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET")
        limit = MAX_UPLOAD if path in UPLOAD_PATHS else MAX_BODY
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        length = headers.get("content-length", "").strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length and (not length.isdigit() or int(length) > limit):
            await _too_large(scope, send, limit, bool(length.isdigit()))
            return
        has_body = chunked or (length.isdigit() and int(length) > 0)
        if (
            has_body and method not in SAFE_METHODS and path.startswith("/api/v1/")
            and not path.startswith(_OWN_AUTH)
            and not await anyio.to_thread.run_sync(
                _caller_known, scope["app"].state.runtime.db_path, headers, path
            )
        ):  # fmt: skip
            await _refuse_unknown(send, path.startswith(_KIOSK))
            return
        received = 0
        answered = False
        started = False

        async def counted_receive() -> dict:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answered = True
                    if not started:
                        await _too_large(scope, send, limit, True)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if answered:
                return  # the 413 is out: whatever the app says after that is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not answered:
                raise  # a body cut off by the limit ends the app's reading; that is no error


def _caller_known(db_path: Any, headers: dict[str, str], path: str = "") -> bool:
    store = Store.reader(db_path)
    try:
        if path.startswith(_KIOSK):  # a web kiosk's token, and only that
            scheme, _, token = headers.get("authorization", "").partition(" ")
            return scheme.lower() == "bearer" and webkiosk.device_for(store.conn, token.strip()) is not None
        return api_caller_known(store.conn, headers)
    finally:
        store.close()


async def _send_json(send: Any, status: int, body: dict, extra: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def _too_large(scope: dict, send: Any, limit: int, valid: bool) -> None:
    text = _limit_text(limit).replace("MiB", "МиБ").replace("bytes", "байт")
    detail = (
        f"request body too large: at most {_limit_text(limit)} / "
        f"тело запроса слишком большое: не больше {text}"
        if valid
        else "invalid Content-Length / неверный заголовок Content-Length"
    )
    await _send_json(send, 413 if valid else 400, {"detail": detail})


async def _refuse_unknown(send: Any, kiosk: bool = False) -> None:
    if kiosk:  # the same answer as edge_hub.api.routes.kiosk.require_kiosk's
        detail = "this web kiosk's token is unknown or was revoked / токен веб-киоска неизвестен или отозван"
        await _send_json(send, 401, {"detail": detail}, [(b"www-authenticate", b'Bearer realm="otklik-hub"')])
        return
    await _send_json(
        send, 401,
        {"detail": "sign in or send a bearer token (edge-hub token create --scope api:write) / "
                   "войдите или передайте токен доступа"},
        [(b"www-authenticate", b'Bearer realm="otklik-hub"')],
    )  # fmt: skip


