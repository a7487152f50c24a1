"""GET /api/v1/quarantine: messages that broke the contract, with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from edge_hub.api.deps import StoreDep, parse_cursor
from edge_hub.api.models import (
    API_REFUSALS,
    CURSOR_SCHEMA,
    SQL_INT_MAX,
    QuarantineOut,
    QuarantinePage,
    iso,
    refusals,
)
from edge_hub.api.routes import Route
from edge_hub.ingest.rows import QUARANTINE_REASONS

router = APIRouter(tags=["quarantine"], route_class=Route, responses=API_REFUSALS)


@router.get("/quarantine", response_model=QuarantinePage, responses=refusals(400))
def list_quarantine(
    store: StoreDep,
    reason: Annotated[str | None, Query(description="Only this reason code")] = None,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", json_schema_extra=CURSOR_SCHEMA)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QuarantinePage:
    cursor_id = parse_cursor(cursor)
    cursor_id = None if cursor_id is None else min(cursor_id, SQL_INT_MAX)
    page = store.quarantine(reason=reason, cursor=cursor_id, limit=limit)
    items = [
        QuarantineOut(
            **{**row, "received_at": iso(row["received_at"])},
            reason_text=QUARANTINE_REASONS.get(row["reason"], row["reason"]),
        )
        for row in page.items
    ]
    return QuarantinePage(items=items, next_cursor=page.next_cursor)
