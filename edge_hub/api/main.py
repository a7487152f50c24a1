"""The FastAPI application: routers under /api/v1, /healthz at the root, the page at /."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse

import hub_ui
from edge_hub import __version__
from edge_hub.api.routes import alerts, devices, events, export, health, metrics, quarantine, scopes, sync
from edge_hub.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Otklik edge hub",
        version=__version__,
        description="Office hub of the Otklik feedback devices: stored events, devices, quarantine, health.",
    )
    app.state.runtime = runtime
    api = APIRouter(prefix="/api/v1")
    for module in (alerts, devices, events, metrics, export, quarantine, scopes, sync):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(hub_ui.STATIC_DIR / "index.html")

    return app
