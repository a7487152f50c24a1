"""The office page's web layer: one router with every page, the static files, the error answers.

:func:`edge_hub.app.create_app` calls :func:`install` on the JSON API's app, so the page and the
API share one server, one port and the same sessions. The API's documentation (/docs) is served
here too: its Swagger UI is a vendored asset of this package. Every route of :data:`router` depends on
:func:`hub_ui.core.csrf_protect`, so no state-changing page request escapes the CSRF check.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from edge_hub.office.shifts import ImportTooLarge
from hub_ui import STATIC_DIR
from hub_ui.core import Redirect, UiError, csrf_protect, error_page, redirect, static_url
from hub_ui.pages import MODULES

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)

router = APIRouter(dependencies=[Depends(csrf_protect)])
for _module in MODULES:
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Mount the pages at /, the assets at /static, the API's /docs, and the UI's error handlers."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(Redirect)
    async def _redirect(request: Request, exc: Redirect) -> Response:
        return redirect(None, exc.location)

    @app.exception_handler(UiError)
    def _ui_error(request: Request, exc: UiError) -> Response:
        return error_page(request, exc)

    api_too_large = app.exception_handlers.get(ImportTooLarge)

    @app.exception_handler(ImportTooLarge)
    def _import_too_large(request: Request, exc: ImportTooLarge) -> Any:
        if api_too_large is not None and request.url.path.startswith("/api/"):
            return api_too_large(request, exc)
        return error_page(request, UiError(413, "err.import_too_large", message=str(exc)))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from /static/vendor/swagger-ui (open, like /openapi.json: the schema is no secret)."""
        return _swagger_ui(app.openapi_url or "/openapi.json", app.title)


def _swagger_ui(openapi_url: str, title: str) -> HTMLResponse:
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} — API",
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
