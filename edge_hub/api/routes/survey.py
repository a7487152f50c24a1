"""The office's survey for its feedback terminals: ``GET`` and ``PUT /api/v1/survey``.

The body is the survey part of a device config in the MQTT contract (``questions``, ``welcome``,
``thanks``, ``langs``, ``lang``, ``idle_s``, ``critic_help``, ``lockout_ms``); it is checked
against the contract's config schema and :func:`edge_hub.office.survey.check`, saved, and sent
to every terminal as its retained config with the next revision. Refusals (422) carry an
"English / Russian" ``detail``.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache
from typing import Any

import orjson
from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, Field

import mqtt_schemas
from edge_hub.api.deps import RuntimeDep, StoreDep, WriterDep
from edge_hub.api.models import API_REFUSALS, refusals
from edge_hub.api.routes import Route
from edge_hub.errors import ContractError
from edge_hub.ingest.contract import Contract
from edge_hub.office import survey as office_survey
from edge_hub.runtime import NotConnected

router = APIRouter(tags=["survey"], route_class=Route, responses=API_REFUSALS)

#: the survey is checked as the config of the longest device id with the largest revision, so a
#: survey that passes (the 4096-byte limit included) passes for every terminal it is sent to
_CHECK_DEVICE = "survey-check-" + "x" * 19  # 32 characters, the id pattern's longest
_CHECK_REV = 2**31 - 1  # config.schema.json: rev's maximum


class SurveyOut(BaseModel):
    survey: dict[str, Any] | None = Field(description="The office's survey; null while none was set")
    terminals: list[str] = Field(description="Devices that run it (status kind kiosk or survey)")
    revs: dict[str, int] = Field(description="Each terminal's config revision")


@cache
def _contract() -> Contract:
    return Contract()


def _out(conn: Any) -> SurveyOut:
    revs = {c["device"]: c["rev"] for c in office_survey.configs(conn)}
    return SurveyOut(survey=office_survey.get(conn), terminals=office_survey.terminals(conn), revs=revs)


@router.get("/survey", response_model=SurveyOut)
def get_survey(store: StoreDep) -> SurveyOut:
    return _out(store.conn)


@router.put("/survey", response_model=SurveyOut, responses=refusals(400, 422))
def put_survey(
    runtime: RuntimeDep,
    writer: WriterDep,
    body: dict[str, Any] = Body(  # noqa: B008 - FastAPI's way to declare a body
        description="The survey, in the contract's config format (mqtt_schemas/schemas/config.schema.json)",
        examples=[{"questions": [{"id": "csat", "text": {"ru": "Как вас обслужили?"}, "scale": "csat5"}]}],
    ),
) -> SurveyOut:
    """Set the survey and send it to every terminal (retained, with each one's next revision)."""
    extra = sorted(set(body) - set(office_survey.SURVEY_FIELDS))
    if extra:
        raise HTTPException(422, detail=f"unknown fields {extra} / неизвестные поля {extra}")
    sample = {"v": 1, "device": _CHECK_DEVICE, "rev": _CHECK_REV, **body}
    try:
        _contract().parse(mqtt_schemas.topic(runtime.site, _CHECK_DEVICE, "config"), orjson.dumps(sample))
    except ContractError as exc:
        raise HTTPException(
            422, detail=f"not a valid survey: {exc.detail or exc.reason} / опрос не по контракту"
        ) from None
    try:
        payloads = office_survey.put(writer.conn, body)
    except office_survey.SurveyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    for payload in payloads:
        with suppress(NotConnected):  # an API without a hub (tests): the hub sends them when it starts
            runtime.publish_config(payload)
    return _out(writer.conn)
