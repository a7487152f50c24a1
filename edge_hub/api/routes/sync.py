"""GET /api/v1/sync/aggregates: the central server pulls the hourly buckets by change sequence.

Bearer-token auth (``Authorization: Bearer otk_…``, tokens from ``edge-hub token create``): a
missing, unknown or revoked token is 401 with ``WWW-Authenticate: Bearer``; a token without the
``sync:read`` scope is 403. Refusals carry an "English / Russian" ``detail``. See edge_hub/SYNC.md.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from edge_hub.api.access import REALM
from edge_hub.api.deps import RuntimeDep, StoreDep, WriterDep, parse_cursor
from edge_hub.api.models import CURSOR_SCHEMA, refusals
from edge_hub.api.routes import Route
from edge_hub.sync import page as sync_page
from edge_hub.sync import tokens as sync_tokens
from edge_hub.sync.page import PAGE_DEFAULT, PAGE_MAX
from edge_hub.sync.tokens import SCOPE_READ

_LOGGER = logging.getLogger(__name__)

router = APIRouter(prefix="/sync", tags=["sync"], route_class=Route, responses=refusals(400, 401, 403, 422))

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="sync token",
    description="A token from `edge-hub token create --scope sync:read`",
)

_MAX_SEQ = 2**63 - 1  # SQLite's largest integer


class SyncItem(BaseModel):
    key: str = Field(description="The bucket's key: hour|device|question|window|operator")
    seq: int = Field(description="The bucket's change sequence number (unique; grows with every change)")
    revision: int = Field(description="Grows by one with every change of this bucket")
    hour: str = Field(description="Start of the hour, ISO 8601 UTC")
    device: str
    question: str
    window: str = Field(description="The device's window at the presses ('' = none)")
    operator: str = Field(description="The operator on shift ('' = none)")
    kind: str = Field(description="answers: a histogram of answer values")
    counts: dict[str, int] = Field(description="Trusted answers: value -> count")
    flagged: dict[str, dict[str, int]] = Field(description="Flagged presses: reason -> value -> count")
    n: int = Field(description="Number of trusted answers (the sum of counts)")


class SyncPage(BaseModel):
    hub_id: str = Field(description="This hub's database id (stable; a new database gets a new one)")
    site: str | None
    items: list[SyncItem] = Field(description="Buckets in seq order")
    next_cursor: str | None = Field(description="'after' of the next page; null when no more")
    high_water: int = Field(description="The highest seq at the time of the read")


def _refuse(status: int, detail: str, error: str | None) -> HTTPException:
    challenge = REALM + (f', error="{error}"' if error else "")
    if status == 403:
        challenge += f', scope="{sync_tokens.SCOPE_READ}"'
    return HTTPException(status, detail=detail, headers={"WWW-Authenticate": challenge})


def require_sync_read(
    writer: WriterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> sync_tokens.TokenInfo:
    """The caller's live token with the ``sync:read`` scope; records its use."""
    if credentials is None or not credentials.credentials:
        raise _refuse(401, "a bearer token is required / нужен токен доступа (Bearer)", None)
    info = sync_tokens.find_token(writer.conn, credentials.credentials)
    if info is None or info.revoked:
        raise _refuse(401, "invalid or revoked token / токен неверен или отозван", "invalid_token")
    if sync_tokens.SCOPE_READ not in info.scope.split():
        raise _refuse(
            403,
            f"the token lacks the {SCOPE_READ} scope / у токена нет права {SCOPE_READ}",
            "insufficient_scope",
        )
    try:
        sync_tokens.touch_token(writer.conn, info.id)
    except sqlite3.OperationalError as exc:  # the database is busy: the pull matters more
        _LOGGER.warning("could not record the use of token %d: %s", info.id, exc)
    return info


SyncReadDep = Annotated[sync_tokens.TokenInfo, Depends(require_sync_read)]


@router.get("/aggregates", response_model=SyncPage)
def get_aggregates(
    runtime: RuntimeDep,
    store: StoreDep,
    token: SyncReadDep,
    after: Annotated[
        str | None,
        Query(
            description="Cursor: the next_cursor of the previous page, or the last seq held",
            json_schema_extra=CURSOR_SCHEMA,
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Items per page")] = PAGE_DEFAULT,
) -> dict:
    """Buckets changed after the cursor, in change-sequence order.

    Store each item by (hub_id, key) only when its revision is greater than the one held; keep
    the last seq of each stored page as the cursor. Pulling twice or out of order is harmless.
    """
    cursor = parse_cursor(after) or 0
    if cursor > _MAX_SEQ:
        raise HTTPException(400, detail="invalid cursor / неверный курсор")
    return sync_page.page(store.conn, cursor, limit, site=runtime.site)
