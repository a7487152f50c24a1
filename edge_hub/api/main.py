"""The FastAPI application: routers under /api/v1, /healthz at the root, the office page at /."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from edge_hub import __version__
from edge_hub.api.routes import alerts, devices, events, export, health, metrics, quarantine, scopes, sync
from edge_hub.runtime import Runtime
from hub_ui import web
from hub_ui.core import api_access, static_url

TITLE = "Otklik edge hub"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


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
    return app


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
