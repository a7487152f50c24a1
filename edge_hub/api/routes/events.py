"""GET /api/v1/events: stored events, newest first, with filters and cursor pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from edge_hub.api.deps import StoreDep, parse_cursor, to_ms
from edge_hub.api.models import (
    API_REFUSALS,
    CURSOR_SCHEMA,
    SQL_INT_MAX,
    EventOut,
    EventPage,
    IsoDateTime,
    refusals,
)
from edge_hub.api.routes import Route

router = APIRouter(tags=["events"], route_class=Route, responses=API_REFUSALS)


@router.get("/events", response_model=EventPage, responses=refusals(400))
def list_events(
    store: StoreDep,
    device: Annotated[str | None, Query(description="Only this device")] = None,
    type: Annotated[str | None, Query(description="Only this event type, e.g. press")] = None,
    since: Annotated[IsoDateTime | None, Query(description="Event time from (ISO 8601, inclusive)")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Event time to (ISO 8601, exclusive)")] = None,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", json_schema_extra=CURSOR_SCHEMA)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    flagged: Annotated[
        bool | None, Query(description="true: only presses flagged as untrustworthy; false: only trusted")
    ] = None,
) -> EventPage:
    page = store.events(
        device=device,
        type_=type,
        since_ms=to_ms(since),
        until_ms=to_ms(until),
        cursor=_cursor(cursor),
        limit=limit,
        flagged=flagged,
    )
    return EventPage(items=[EventOut.from_row(r) for r in page.items], next_cursor=page.next_cursor)


def _cursor(cursor: str | None) -> int | None:
    """The cursor (400 when not digits); one beyond any id is the same as the largest id."""
    value = parse_cursor(cursor)
    return None if value is None else min(value, SQL_INT_MAX)
