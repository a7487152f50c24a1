"""Several surveys per office: ``/api/v1/surveys`` (the editor's page does the same from a form).

A terminal runs the survey assigned to it, else the one assigned to its department, else the main
survey (``main``: what ``GET``/``PUT /api/v1/survey`` read and write). Every save is a revision;
every change of what a terminal runs sends it its next config at once (edge_hub/office/survey.py).
Refusals (422) carry an "English / Russian" ``detail``; an unknown survey is 404. Changes are the
admins' (a signed-in manager gets 403, as on the editor page) or an ``api:write`` token's.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from edge_hub.api.access import admins_change
from edge_hub.api.deps import RuntimeDep, StoreDep, WriterDep
from edge_hub.api.models import API_REFUSALS, refusals
from edge_hub.api.routes import Route
from edge_hub.api.routes.survey import contract_refusal
from edge_hub.office import survey as office_survey
from edge_hub.runtime import NotConnected, Runtime

router = APIRouter(
    prefix="/surveys", tags=["survey"], route_class=Route, responses=API_REFUSALS,
    dependencies=[Depends(admins_change)],
)  # fmt: skip

SurveyId = Path(pattern="^" + office_survey.SURVEY_ID + "$", description="The survey's id, e.g. main, s2")


class Assigned(BaseModel):
    devices: list[str] = Field(default_factory=list, description="Terminals assigned this survey themselves")
    departments: list[str] = Field(
        default_factory=list,
        description="Departments whose terminals run it (a device's own assignment wins)",
    )


class SurveyCard(BaseModel):
    id: str
    name: str
    audience: Literal["visitors", "staff"] = Field(
        description="visitors, or staff: an anonymous eNPS reported only for groups of at least min_n"
    )
    rev: int | None = Field(description="Its current revision (null: never saved)")
    saved_at: int | None = Field(description="When its current revision was saved (epoch ms)")
    retired_at: int | None = Field(description="When it was retired (epoch ms); null: in use")
    assigned: Assigned
    terminals: list[str] = Field(description="The terminals running it now")
    survey: dict[str, Any] | None = Field(
        None, description="Its current definition (the config's survey part)"
    )


class SurveyIn(BaseModel):
    name: str | None = Field(None, max_length=80, description="Its name (default: as it was, or its id)")
    audience: Literal["visitors", "staff"] | None = Field(None, description="Default: as it was, or visitors")
    survey: dict[str, Any] = Field(description="The definition, in the contract's config format")


def _card(conn: Any, sid: str, with_survey: bool = False) -> SurveyCard:
    found = next((s for s in office_survey.surveys(conn) if s["id"] == sid), None)
    if found is None or (sid != office_survey.MAIN and found["rev"] is None):
        raise HTTPException(404, detail=f"no survey {sid!r} / опроса {sid!r} нет")
    survey = office_survey.get(conn, sid) if with_survey else None
    return SurveyCard(**found, survey=survey)


def _publish(runtime: Runtime, payloads: list[dict[str, Any]]) -> None:
    for payload in {p["device"]: p for p in payloads}.values():
        with suppress(NotConnected):  # an API without a hub (tests): the hub sends them when it starts
            runtime.publish_config(payload)


@router.get("", response_model=list[SurveyCard])
def list_surveys(store: StoreDep) -> list[SurveyCard]:
    """Every survey, the main one first, retired ones included."""
    return [SurveyCard(**s) for s in office_survey.surveys(store.conn) if s["id"] == "main" or s["rev"]]


@router.get("/{survey_id}", response_model=SurveyCard, responses=refusals(404))
def get_survey(store: StoreDep, survey_id: str = SurveyId) -> SurveyCard:
    return _card(store.conn, survey_id, with_survey=True)


@router.put("/{survey_id}", response_model=SurveyCard, responses=refusals(400, 404, 422))
def put_survey(
    runtime: RuntimeDep, writer: WriterDep, body: SurveyIn, survey_id: str = SurveyId
) -> SurveyCard:
    """Save a survey as a new revision (a new id makes a new survey, assigned nowhere yet) and send
    it to the terminals running it."""
    extra = sorted(set(body.survey) - set(office_survey.SURVEY_FIELDS))
    if extra:
        raise HTTPException(422, detail=f"unknown fields {extra} / неизвестные поля {extra}")
    refusal = contract_refusal(runtime.site, body.survey)
    if refusal is not None:
        raise HTTPException(422, detail=refusal)
    try:
        payloads = office_survey.put(
            writer.conn, body.survey, by="api", survey_id=survey_id, name=body.name, audience=body.audience
        )
    except office_survey.SurveyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    _publish(runtime, payloads)
    return _card(writer.conn, survey_id, with_survey=True)


@router.put("/{survey_id}/assignments", response_model=SurveyCard, responses=refusals(400, 404, 422))
def put_assignments(
    runtime: RuntimeDep, writer: WriterDep, body: Assigned, survey_id: str = SurveyId
) -> SurveyCard:
    """Run the survey on exactly these devices and departments' terminals (its other assignments end)."""
    _card(writer.conn, survey_id)
    try:
        payloads = office_survey.assign(
            writer.conn, survey_id, devices=body.devices, departments=body.departments
        )
    except office_survey.SurveyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    _publish(runtime, payloads)
    return _card(writer.conn, survey_id)


@router.post("/{survey_id}/retire", response_model=SurveyCard, responses=refusals(404, 422))
def retire_survey(runtime: RuntimeDep, writer: WriterDep, survey_id: str = SurveyId) -> SurveyCard:
    """Retire a survey (not main): its terminals go back to their department's or the main survey;
    its revisions and answers stay for the reports."""
    _card(writer.conn, survey_id)
    try:
        payloads = office_survey.retire(writer.conn, survey_id)
    except office_survey.SurveyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    _publish(runtime, payloads)
    return _card(writer.conn, survey_id)
