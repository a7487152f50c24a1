"""The web kiosk (/kiosk/{device}): the office's survey in a tablet's browser (edge_hub/WEBKIOSK.md).

A public page: a tablet never holds an admin session. The page is a shell (no data of the office in
it); ``static/kiosk/kiosk.js`` does everything else with the tablet's own token (from the
provisioning link's fragment ``#t=…``, kept in IndexedDB) against ``/api/v1/kiosk/{device}/…``:
the survey engine (a port of ``firmware/lib/otk/survey.py``), the IndexedDB outbox, the sender,
the heartbeat and the config poll. ``/kiosk-sw.js`` is its service worker (scope ``/kiosk/``):
the shell, the script and the stylesheet come from the network, or from its cache when the hub
cannot be reached, so a reload with the hub down still shows the kiosk. ``/kiosk/{device}/
manifest.webmanifest`` lets the tablet's browser install the page full screen.
"""

from __future__ import annotations

import re

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from edge_hub import __version__
from edge_hub.office.scopes import ID_PATTERN
from hub_ui import STATIC_DIR, i18n
from hub_ui.core import UiError, pick_lang, render, secure, static_url

router = APIRouter()

#: the service worker's URL: outside /static (its own route) so that its scope may be /kiosk/
SW_PATH = "/kiosk-sw.js"
SW_SCOPE = "/kiosk/"
#: the firmware version the page reports in its status (status.schema.json: fw, 32 characters)
FW = f"otk-web {__version__}"[:32]
_ID = re.compile(ID_PATTERN)

i18n.register({
    "kiosk.bad_id": (
        "Такого адреса киоска нет: проверьте ссылку.", "There is no kiosk at this address: check the link.",
    ),
})  # fmt: skip


def _device(device: str) -> str:
    if not _ID.fullmatch(device):
        raise UiError(404, "kiosk.bad_id")
    return device


@router.get("/kiosk/{device}", include_in_schema=False)
def kiosk_page(request: Request, device: str) -> HTMLResponse:
    """The kiosk's shell: no login, no nav, no office data (the survey comes from the API)."""
    html = render(
        "kiosk.html",
        device=_device(device),
        lang=pick_lang(request),
        fw=FW,
        sw=SW_PATH,
        sw_scope=SW_SCOPE,
        shell=[static_url("kiosk/kiosk.css"), static_url("kiosk/kiosk.js"), static_url("favicon.svg")],
    )
    return secure(HTMLResponse(html))  # type: ignore[return-value]


@router.get(SW_PATH, include_in_schema=False)
def kiosk_service_worker() -> Response:
    """The web kiosk's service worker (from static/kiosk/sw.js); browsers check it for updates."""
    response = Response(
        (STATIC_DIR / "kiosk" / "sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": SW_SCOPE},
    )
    return secure(response)


@router.get("/kiosk/{device}/manifest.webmanifest", include_in_schema=False)
def kiosk_manifest(device: str) -> Response:
    """A web app manifest: "add to home screen" opens the kiosk full screen, in landscape or portrait."""
    manifest = {
        "name": "Otklik — kiosk",
        "short_name": "Otklik",
        "start_url": f"/kiosk/{_device(device)}",
        "scope": SW_SCOPE,
        "display": "fullscreen",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": "#174ea6",
        "icons": [{"src": static_url("favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    response = Response(orjson.dumps(manifest), media_type="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return secure(response)
