"""The FastAPI application: routers under /api/v1, /healthz at the root, the office page at /.

Request bodies are bounded (:class:`BodyLimit`, outermost but for Starlette's error layer):
:data:`MAX_BODY` (2 MiB) for every request, :data:`MAX_UPLOAD` (10 MiB) for the shift CSV
imports (:data:`UPLOAD_PATHS`). A larger ``Content-Length`` is refused with 413 before anything
is read; a chunked body is counted as it streams and refused with 413 the moment it passes the
limit. A state-changing ``/api/v1`` call with a body and neither a valid session nor a valid
token is refused with 401 before its body is read (the full check, :func:`hub_ui.core.api_access`,
runs again in the route).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from edge_hub import __version__
from edge_hub.api.routes import alerts, devices, events, export, health, metrics, quarantine, scopes, sync
from edge_hub.db.store import Store
from edge_hub.office import scopes as scope_rules
from edge_hub.runtime import Runtime
from hub_ui import web
from hub_ui.core import SAFE_METHODS, UiError, api_access, api_caller_known, error_page, static_url

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


def create_app(runtime: Runtime) -> FastAPI:
    # /docs is served below from the vendored Swagger UI (the office has no internet); no /redoc
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
    for module in (alerts, devices, events, metrics, export, quarantine, scopes):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(sync.router, prefix="/api/v1")
    app.include_router(health.router)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from /static/vendor/swagger-ui (open, like /openapi.json: the schema is no secret)."""
        return _swagger_ui(app.openapi_url or "/openapi.json")

    web.install(app)

    @app.exception_handler(scope_rules.ImportTooLarge)
    def _import_too_large(request: Request, exc: scope_rules.ImportTooLarge) -> Any:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=413)
        return error_page(request, UiError(413, "err.import_too_large", message=str(exc)))

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
            and not await anyio.to_thread.run_sync(_caller_known, scope["app"].state.runtime.db_path, headers)
        ):  # fmt: skip
            await _refuse_unknown(send)
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


def _caller_known(db_path: Any, headers: dict[str, str]) -> bool:
    store = Store.reader(db_path)
    try:
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


async def _refuse_unknown(send: Any) -> None:
    await _send_json(
        send, 401,
        {"detail": "sign in or send a bearer token (edge-hub token create --scope api:write) / "
                   "войдите или передайте токен доступа"},
        [(b"www-authenticate", b'Bearer realm="otklik-hub"')],
    )  # fmt: skip


def _swagger_ui(openapi_url: str) -> HTMLResponse:
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{TITLE} — API",
        swagger_js_url=static_url("vendor/swagger-ui/swagger-ui-bundle.js"),
        swagger_css_url=static_url("vendor/swagger-ui/swagger-ui.css"),
        swagger_favicon_url=static_url("vendor/swagger-ui/favicon-32x32.png"),
        swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
    )
    # The page's one inline script (FastAPI's SwaggerUIBundle call) is allowed by its hash; nothing
    # may come from another host.
    scripts = _INLINE_SCRIPT.findall(bytes(response.body).decode())
    digests = (base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() for script in scripts)
    hashes = " ".join(f"'sha256-{digest}'" for digest in digests)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
