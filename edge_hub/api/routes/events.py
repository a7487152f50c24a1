"""GET /api/v1/events: stored events, newest first, with filters and cursor pagination."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from edge_hub.api.deps import StoreDep, parse_cursor, to_ms
from edge_hub.api.models import EventOut, EventPage

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventPage)
def list_events(
    store: StoreDep,
    device: Annotated[str | None, Query(description="Only this device")] = None,
    type: Annotated[str | None, Query(description="Only this event type, e.g. press")] = None,
    since: Annotated[datetime | None, Query(description="Event time from (ISO 8601, inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Event time to (ISO 8601, exclusive)")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
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
        cursor=parse_cursor(cursor),
        limit=limit,
        flagged=flagged,
    )
    return EventPage(items=[EventOut.from_row(r) for r in page.items], next_cursor=page.next_cursor)
