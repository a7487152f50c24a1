"""The dashboard (/), the TV board (/board) and their live stream (/ui/stream, server-sent events).

Every number comes from :mod:`hub_ui.numbers`, which only calls :mod:`edge_hub.metrics.summary`. The
stream polls the database every :data:`POLL_S` for events newer than the last one sent; new
presses go out as table rows (event ``presses``, dashboard only) and the numbers as a fresh
fragment (event ``numbers``) at most every :data:`NUMBERS_EVERY_S`. Rows and fragments are
rendered by the same autoescaping templates as the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from edge_hub.api import auth
from edge_hub.api.deps import RuntimeDep
from edge_hub.db.store import Store
from edge_hub.metrics import summary
from edge_hub.office import settings as office_settings
from hub_ui import core, i18n, numbers
from hub_ui.core import SESSION_COOKIE, Ui, UiDep, UiError, base_context, nav, page, render, require

router = APIRouter()

DASHBOARD = nav("/", "nav.dashboard", auth.ALL_ROLES, order=10)
BOARD = nav("/board", "nav.board", auth.ALL_ROLES, order=20)

POLL_S = 0.3
NUMBERS_EVERY_S = 1.0
PING_S = 15
SHUTDOWN_GRACE_S = 2.0
#: board tiles: (metric key, label key, unit)
BOARD_TILES = (
    ("csat", "metric.csat", "%"),
    ("nps", "metric.nps", "pts"),
    ("emotional_nps", "metric.emotional_nps", "pts"),
)


@router.get("/", include_in_schema=False)
def dashboard(ui: Annotated[Ui, Depends(require(DASHBOARD.roles))]) -> HTMLResponse:
    settings = office_settings.load(ui.conn)
    now = auth.now_ms()
    last_id = numbers.last_event_id(ui.conn)
    heat_lo, heat_hi = numbers.heatmap_period(settings, now)
    return page(
        ui, "dashboard.html", "dash.title",
        board=numbers.scoreboard(ui.conn, settings, now),
        presses=numbers.latest_presses(ui.conn, settings, now),
        max_rows=numbers.LATEST_ROWS,
        trend=numbers.trend(ui.conn, settings, now),
        heat=numbers.unhappy_heatmap(ui.conn, settings, heat_lo, heat_hi),
        heat_days=numbers.HEATMAP_DAYS,
        stream_url="/ui/stream?" + urlencode({"view": "dashboard", "after": last_id}),
    )  # fmt: skip


def board_numbers(conn: Any, now: int) -> dict[str, Any]:
    """The board's context: today's tiles and the league (operators, or windows)."""
    settings = office_settings.load(conn)
    lo, hi = numbers.periods(settings, now)["today"]
    s = summary.summary(conn, lo, hi, settings=settings)
    tiles = [
        {"key": key, "label": label, "unit": unit, **s["metrics"][key]}
        for key, label, unit in BOARD_TILES
        if key in s["metrics"]
    ]
    tiles.append(
        {"key": "ratings", "label": "board.ratings", "unit": None, "value": s["ratings"], "n": s["ratings"]}
    )
    return {
        "tiles": tiles,
        "league": numbers.league(conn, settings, lo, hi),
        "today": settings.local(now).strftime("%d.%m.%Y"),
        "period_from": numbers.iso(lo),
        "period_to": numbers.iso(hi),
    }


@router.get("/board", include_in_schema=False)
def board(ui: UiDep, token: Annotated[str | None, Query()] = None) -> Response:
    """Any signed-in user, or anyone with the board link (``?token=``, see /users)."""
    if token is None or ui.session is not None:
        require(BOARD.roles)(ui)
    elif not auth.board_token_ok(ui.conn, token):
        raise UiError(403, "err.board_token")
    query = {"view": "board", "after": numbers.last_event_id(ui.conn)}
    if token is not None and ui.session is None:
        query["token"] = token
    return page(
        ui, "board.html", "board.title", stream_url="/ui/stream?" + urlencode(query),
        **board_numbers(ui.conn, auth.now_ms()),
    )  # fmt: skip


@router.get("/ui/stream", include_in_schema=False)
async def stream(
    request: Request,
    runtime: RuntimeDep,
    view: Annotated[str, Query(pattern="^(dashboard|board)$")] = "dashboard",
    after: Annotated[int | None, Query(ge=0)] = None,
    token: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Server-sent events for the dashboard (signed in) or the board (signed in, or its token)."""
    store = Store.reader(runtime.db_path)
    try:
        session = auth.session_for(store.conn, request.cookies.get(SESSION_COOKIE))
        allowed = session is not None or (view == "board" and auth.board_token_ok(store.conn, token))
    finally:
        store.close()
    if not allowed:
        return PlainTextResponse("sign in first / сначала войдите", status_code=401)
    last_header = request.headers.get("last-event-id", "")
    if last_header.isdigit():
        after = int(last_header)
    lang = i18n.pick(request.query_params.get("lang"), request.cookies.get(i18n.LANG_COOKIE))
    ui_context = {"lang": lang, "session": session}
    # On shutdown the stream ends itself (a complete response) instead of being cut off.
    stopping = anyio.Event()
    return EventSourceResponse(
        _events(request, str(runtime.db_path), view, after, ui_context, stopping, token), ping=PING_S,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        shutdown_event=stopping, shutdown_grace_period=SHUTDOWN_GRACE_S,
    )  # fmt: skip


async def _events(
    request: Request, db_path: str, view: str, after: int | None, ctx: dict[str, Any], stopping: anyio.Event,
    token: str | None = None,
) -> AsyncIterator[ServerSentEvent]:
    store = Store.reader(db_path)
    conn = store.conn
    ui = Ui(request, conn, ctx["lang"], ctx["session"], "")
    common = base_context(ui, None)

    def changes(last: int) -> tuple[int, str | None]:
        top = numbers.last_event_id(conn)
        if top <= last or view != "dashboard":
            return top, None
        rows = numbers.latest_presses(conn, office_settings.load(conn), auth.now_ms(), after_id=last)
        return top, render("_press_rows.html", **common, presses=rows) if rows else None

    def numbers_html() -> str:
        now = auth.now_ms()
        if view == "board":
            return render("_board_numbers.html", **common, **board_numbers(conn, now))
        board = numbers.scoreboard(conn, office_settings.load(conn), now)
        return render("_scoreboard.html", **common, board=board)

    try:
        last = after if after is not None else await anyio.to_thread.run_sync(numbers.last_event_id, conn)
        dirty, next_numbers = False, 0.0
        recheck = time.monotonic() + core.STREAM_RECHECK_S
        while not stopping.is_set():
            if time.monotonic() >= recheck:  # signed out, disabled, a new board link: the stream ends
                if not await anyio.to_thread.run_sync(core.stream_allowed, conn, request, view, token):
                    return
                recheck = time.monotonic() + core.STREAM_RECHECK_S
            top, rows = await anyio.to_thread.run_sync(changes, last)
            if top > last:
                last, dirty = top, True
                if rows:
                    yield ServerSentEvent(rows, event="presses", id=str(last))
            if dirty and time.monotonic() >= next_numbers:
                html = await anyio.to_thread.run_sync(numbers_html)
                yield ServerSentEvent(html, event="numbers", id=str(last))
                dirty, next_numbers = False, time.monotonic() + NUMBERS_EVERY_S
            await asyncio.sleep(POLL_S)
    finally:
        store.close()
