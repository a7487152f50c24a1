"""GET /api/v1/quarantine: messages that broke the contract, with the reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from edge_hub.api.deps import StoreDep, parse_cursor
from edge_hub.api.models import QuarantineOut, QuarantinePage, iso
from edge_hub.ingest import QUARANTINE_REASONS

router = APIRouter(tags=["quarantine"])


@router.get("/quarantine", response_model=QuarantinePage)
def list_quarantine(
    store: StoreDep,
    reason: Annotated[str | None, Query(description="Only this reason code")] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QuarantinePage:
    page = store.quarantine(reason=reason, cursor=parse_cursor(cursor), limit=limit)
    items = [
        QuarantineOut(
            **{**row, "received_at": iso(row["received_at"])},
            reason_text=QUARANTINE_REASONS.get(row["reason"], row["reason"]),
        )
        for row in page.items
    ]
    return QuarantinePage(items=items, next_cursor=page.next_cursor)
