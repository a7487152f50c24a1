"""The FastAPI application: routers under /api/v1, /healthz at the root, the office page at /."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from edge_hub import __version__
from edge_hub.api.routes import alerts, devices, events, export, health, metrics, quarantine, scopes, sync
from edge_hub.runtime import Runtime
from hub_ui import web
from hub_ui.core import api_session


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Otklik edge hub",
        version=__version__,
        description="Office hub of the Otklik feedback devices: stored events, devices, quarantine, health.",
    )
    app.state.runtime = runtime
    # Open as before to callers without a cookie; a UI session cookie is accepted too, and then
    # state-changing calls need its CSRF token (hub_ui/README.md, "The JSON API").
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(api_session)])
    for module in (alerts, devices, events, metrics, export, quarantine, scopes, sync):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    web.install(app)
    return app
