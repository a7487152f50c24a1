"""The web kiosk's endpoints, under /api/v1/kiosk/{device} (edge_hub/WEBKIOSK.md).

A tablet's page calls them with its own bearer token (``Authorization: Bearer otkw_…``, from the
provisioning link; :mod:`edge_hub.ingest.webkiosk`), never with a session; they are outside the
JSON API's access rule, like the sync routes. A missing, unknown or revoked token is 401 with
``WWW-Authenticate: Bearer`` (``error="invalid_token"`` when one was given); a token of another
web kiosk than the path's is 403. Refusals carry an "English / Russian" ``detail``.

- ``POST …/events``: 1..100 events of the MQTT contract, stored through the MQTT ingest path;
  the answer (after the commit) is the end-to-end acks and each refused event's reason.
- ``POST …/status``: the contract's status (a heartbeat), stored like an MQTT status.
- ``GET …/config``: the terminal's config (the office's survey) with its ``rev``; ``ETag`` and
  ``If-None-Match`` give 304 while it is unchanged.
"""

from __future__ import annotations

import hashlib
import sqlite3
from functools import cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from edge_hub.api.access import REALM
from edge_hub.api.deps import RuntimeDep, StoreDep, WriterDep
from edge_hub.api.models import BODY_REFUSALS, refusals
from edge_hub.api.routes import Route
from edge_hub.ingest import webkiosk
from edge_hub.ingest.batch import IngestStats
from edge_hub.ingest.contract import Contract
from edge_hub.office import survey as office_survey
from edge_hub.office.scopes import ID_PATTERN
from edge_hub.runtime import Runtime

router = APIRouter(
    prefix="/kiosk/{device}", tags=["web kiosk"], route_class=Route,
    responses={**refusals(401, 403, 422, 503), **BODY_REFUSALS},
)  # fmt: skip

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="web kiosk token",
    description="The web kiosk's own token, from its provisioning link (/kiosk/{device}#t=TOKEN)",
)
_BUSY = "the hub's database is busy: send again / база данных хаба занята: отправьте ещё раз"

DeviceId = Annotated[str, Path(pattern=ID_PATTERN, description="The web kiosk's device id")]


class Ack(BaseModel):
    """An end-to-end ack, as the hub publishes it on otk/v1/{site}/{device}/ack."""

    v: int = Field(description="Schema version: 1")
    device: str
    inc: int = Field(description="The incarnation id of the acked events (0 when they had none)")
    boot: int
    seqs: list[int] = Field(description="The seqs of this (inc, boot) now stored: drop them from the outbox")


class RefusedEvent(BaseModel):
    index: int = Field(description="Its position in the request's array")
    boot: int | None = Field(description="Its boot, when it had a plain integer one")
    seq: int | None = Field(description="Its seq, when it had a plain integer one")
    reason: str = Field(description="The quarantine's reason code (edge_hub/ingest/rows.py)")
    detail: str


class EventsAnswer(BaseModel):
    device: str
    acks: list[Ack] = Field(description="Events stored (now or before): the outbox may drop them")
    refused: list[RefusedEvent] = Field(
        description="Events the contract refused: kept in the hub's quarantine, never acked"
    )
    stored: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Copies of events stored before (acked again, stored once)")
    conflicts: int = Field(
        description="Events whose (device, inc, boot, seq) is stored with other content: quarantined "
        "as identity_conflict and acked, like over MQTT"
    )


class StatusAnswer(BaseModel):
    device: str
    config_rev: int | None = Field(description="The rev of the web kiosk's current config (null: none yet)")


@cache
def _own_contract(site: str) -> Contract:
    return Contract(site=site)


def _contract(runtime: Runtime) -> Contract:
    ingestor = runtime.ingestor
    return ingestor.contract if ingestor is not None else _own_contract(runtime.site)


def _stats(request: Request) -> IngestStats:
    state = request.app.state
    if getattr(state, "webkiosk_stats", None) is None:
        state.webkiosk_stats = IngestStats()
    return state.webkiosk_stats


def _refuse(status: int, detail: str, error: str | None) -> HTTPException:
    challenge = REALM + (f', error="{error}"' if error else "")
    return HTTPException(status, detail=detail, headers={"WWW-Authenticate": challenge})


def require_kiosk(
    store: StoreDep,
    device: DeviceId,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The path's web kiosk, when the caller holds its live token."""
    if credentials is None or not credentials.credentials:
        raise _refuse(401, "a web kiosk token is required / нужен токен веб-киоска (Bearer)", None)
    owner = webkiosk.device_for(store.conn, credentials.credentials)
    if owner is None:
        raise _refuse(
            401, "this web kiosk's token is unknown or was revoked / токен веб-киоска неизвестен или отозван",
            "invalid_token",
        )  # fmt: skip
    if owner != device:
        raise _refuse(
            403, f"the token is {owner!r}'s, not {device!r}'s / это токен {owner!r}, а не {device!r}",
            "insufficient_scope",
        )  # fmt: skip
    return device


KioskDep = Annotated[str, Depends(require_kiosk)]


@router.post("/events", response_model=EventsAnswer)
def post_events(
    request: Request,
    runtime: RuntimeDep,
    writer: WriterDep,
    device: KioskDep,
    events: Annotated[
        list[Any],
        Body(
            min_length=1,
            max_length=webkiosk.MAX_EVENTS,
            description="1..100 events in the MQTT contract's format "
            "(mqtt_schemas/schemas/event-*.schema.json), each with its identity (device, inc, boot, seq) "
            "made by the page",
        ),
    ],
) -> dict[str, Any]:
    """Store a web kiosk's events exactly once, through the MQTT ingest path; answer the
    end-to-end acks after the commit. A resend is acked again and stored once."""
    try:
        outcome = webkiosk.post(writer.conn, _contract(runtime), runtime.site, device, "event", events,
                                _stats(request))  # fmt: skip
    except sqlite3.OperationalError:
        raise HTTPException(503, detail=_BUSY) from None
    return webkiosk.events_answer(device, events, outcome)


@router.post("/status", response_model=StatusAnswer)
def post_status(
    request: Request,
    runtime: RuntimeDep,
    writer: WriterDep,
    device: KioskDep,
    status: Annotated[
        dict[str, Any],
        Body(description="A status in the MQTT contract's format (status.schema.json), kind webkiosk"),
    ],
) -> StatusAnswer:
    """A web kiosk's heartbeat, stored like an MQTT status (the devices page shows it online; a
    web kiosk silent for 3 minutes is marked offline). 422: refused (and quarantined) with the
    contract's reason, or a kind other than webkiosk."""
    kind = status.get("kind")
    if kind is not None and kind != webkiosk.KIND:
        raise HTTPException(
            422, detail=f"a web kiosk's status says kind {webkiosk.KIND!r}, not {kind!r} / "
            f"статус веб-киоска должен говорить kind {webkiosk.KIND!r}, а не {kind!r}",
        )  # fmt: skip
    try:
        outcome = webkiosk.post(writer.conn, _contract(runtime), runtime.site, device, "status", [status],
                                _stats(request))  # fmt: skip
    except sqlite3.OperationalError:
        raise HTTPException(503, detail=_BUSY) from None
    if outcome.refused:
        reason, detail = outcome.refused[0]
        raise HTTPException(
            422, detail=f"status refused: {reason} ({detail}) / статус отклонён: {reason} ({detail})"
        )
    payload = office_survey.config_for(writer.conn, device)
    return StatusAnswer(device=device, config_rev=payload["rev"] if payload else None)


@router.get(
    "/config",
    response_model=dict[str, Any],
    responses={
        304: {"description": "Not modified: the config the page holds (its ETag) is the current one"},
        **refusals(404),
    },
)
def get_config(
    writer: WriterDep,
    device: KioskDep,
    if_none_match: Annotated[str | None, Header(description="The ETag of the config the page holds")] = None,
) -> Response:
    """The web kiosk's config in the contract's format (config.schema.json: the office's survey,
    ``rev``), with an ``ETag``; poll it with ``If-None-Match`` (304 while unchanged). 404 while
    the office has no survey."""
    try:
        conn = writer.conn
        payload = office_survey.config_for(conn, device) or office_survey.ensure_config(conn, device)
    except sqlite3.OperationalError:
        raise HTTPException(503, detail=_BUSY) from None
    if payload is None:
        raise HTTPException(404, detail="the office has no survey yet / у офиса ещё нет опроса")
    raw = orjson.dumps(payload)
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(raw, media_type="application/json", headers=headers)
