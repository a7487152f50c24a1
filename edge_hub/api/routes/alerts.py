"""Alerts under /api/v1/alerts: list and read them, acknowledge and resolve them, evaluate now.

Refusals carry an "English / Russian" ``detail``: 404 an unknown alert id, 409 a change the
alert's state does not allow (acknowledging twice, resolving a resolved alert), 422 invalid
input. Times are UTC. The rules are in ``edge_hub/ALERTS.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from edge_hub.alerts import lifecycle as alerts
from edge_hub.alerts import rules as alert_rules
from edge_hub.alerts.lifecycle import COMMENT_MAX, WHO_MAX, AlertConflict, AlertError, AlertNotFound
from edge_hub.api.deps import StoreDep, WriterDep
from edge_hub.api.models import API_REFUSALS, BODY_REFUSALS, NOT_ONLY_SPACES, SQL_INT_MAX, iso, refusals
from edge_hub.api.routes import Route

router = APIRouter(tags=["alerts"], route_class=Route, responses=API_REFUSALS)

Kind = Literal[
    "critic", "negative_spike", "device_silent", "device_offline", "low_battery", "safe_mode",
    "identity_reset", "identity_backwards", "identity_conflict",
]  # fmt: skip
State = Literal["open", "acknowledged", "resolved"]
AlertId = Annotated[int, Path(ge=1, le=SQL_INT_MAX)]


class AlertLogOut(BaseModel):
    at: datetime
    who: str = Field(description="The person, or 'system' for the hub itself")
    action: Literal["opened", "acknowledged", "resolved"]
    comment: str | None


class AlertOut(BaseModel):
    id: int
    kind: Kind
    state: State
    device: str | None = Field(description="The device it concerns, if one")
    window: str | None = Field(description="The window it concerns, if one")
    key: str = Field(description="De-duplication key: one unresolved alert per key")
    opened_at: datetime
    title_ru: str
    title_en: str
    detail: dict[str, Any] = Field(description="The facts behind the alert (a critic's comment, the counts)")
    ack_by: str | None
    ack_at: datetime | None
    ack_comment: str | None
    resolved_by: str | None = Field(description="Who resolved it; 'system' when the condition cleared")
    resolved_at: datetime | None
    resolved_comment: str | None
    updated_at: datetime
    log: list[AlertLogOut] = Field(description="Every change, oldest first")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertOut:
        times = ("opened_at", "ack_at", "resolved_at", "updated_at")
        log = [AlertLogOut(**{**entry, "at": iso(entry["at"])}) for entry in row["log"]]
        return cls(**{**row, **{k: iso(row[k]) for k in times}, "log": log})


class AlertAction(BaseModel):
    who: str = Field(
        min_length=1,
        max_length=WHO_MAX,
        pattern=NOT_ONLY_SPACES,
        description="Who acknowledges / resolves it (kept without the spaces around it)",
    )
    comment: str | None = Field(None, max_length=COMMENT_MAX, description="What was done, or will be")


class Evaluated(BaseModel):
    new: list[int] = Field(description="Ids of the alerts this evaluation opened")


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal of :mod:`edge_hub.alerts.engine` as the HTTP error it stands for."""
    try:
        yield
    except AlertNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except AlertConflict as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except AlertError as exc:
        raise HTTPException(422, detail=str(exc)) from None


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    store: StoreDep,
    state: Annotated[
        State | Literal["active"] | None, Query(description="Only this state; 'active': not resolved")
    ] = None,
    kind: Annotated[Kind | None, Query(description="Only this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """Alerts newest first, each with its log."""
    return [AlertOut.from_row(r) for r in alerts.list_alerts(store.conn, state=state, kind=kind, limit=limit)]


@router.post("/alerts/evaluate", response_model=Evaluated)
def evaluate(store: WriterDep) -> Evaluated:
    """Run the rules now (the hub also runs them on a timer); returns the ids of new alerts."""
    return Evaluated(new=alert_rules.evaluate(store.conn))


@router.get("/alerts/{alert_id:int}", response_model=AlertOut, responses=refusals(404))
def get_alert(store: StoreDep, alert_id: AlertId) -> AlertOut:
    row = alerts.get(store.conn, alert_id)
    if row is None:
        raise HTTPException(404, detail=f"no alert {alert_id} / оповещения {alert_id} нет")
    return AlertOut.from_row(row)


@router.post(
    "/alerts/{alert_id:int}/ack", response_model=AlertOut, responses={**refusals(404, 409), **BODY_REFUSALS}
)
def acknowledge(store: WriterDep, alert_id: AlertId, body: AlertAction) -> AlertOut:
    """open → acknowledged: someone is on it."""
    with _refusals():
        return AlertOut.from_row(alerts.acknowledge(store.conn, alert_id, body.who, body.comment))


@router.post(
    "/alerts/{alert_id:int}/resolve",
    response_model=AlertOut,
    responses={**refusals(404, 409), **BODY_REFUSALS},
)
def resolve(store: WriterDep, alert_id: AlertId, body: AlertAction) -> AlertOut:
    """open or acknowledged → resolved: handled."""
    with _refusals():
        return AlertOut.from_row(alerts.resolve(store.conn, alert_id, body.who, body.comment))
