"""The FastAPI application: routers under /api/v1, /healthz at the root, the office page at /."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from edge_hub import __version__
from edge_hub.api.routes import alerts, devices, events, export, health, metrics, quarantine, scopes, sync
from edge_hub.runtime import Runtime
from hub_ui import web
from hub_ui.core import api_access


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Otklik edge hub",
        version=__version__,
        description="Office hub of the Otklik feedback devices: stored events, devices, quarantine, health.",
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
    web.install(app)
    return app
