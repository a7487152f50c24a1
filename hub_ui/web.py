"""The office page's web layer: one router with every page, the static files, the error answers.

``edge_hub/api/main.py`` calls :func:`install`. Every route of :data:`router` depends on
:func:`hub_ui.core.csrf_protect`, so no state-changing page request escapes the CSRF check.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from hub_ui import STATIC_DIR
from hub_ui.core import Redirect, UiError, csrf_protect, error_page, redirect
from hub_ui.pages import MODULES

router = APIRouter(dependencies=[Depends(csrf_protect)])
for _module in MODULES:
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    """Mount the pages at /, the assets at /static, and the UI's error handlers."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(Redirect)
    async def _redirect(request: Request, exc: Redirect) -> Response:
        return redirect(None, exc.location)

    @app.exception_handler(UiError)
    def _ui_error(request: Request, exc: UiError) -> Response:
        return error_page(request, exc)
