"""The office's survey for its feedback terminals: ``GET`` and ``PUT /api/v1/survey``.

The body is the survey part of a device config in the MQTT contract (``questions``, ``welcome``,
``thanks``, ``langs``, ``lang``, ``idle_s``, ``critic_help``, ``callback``, ``lockout_ms``); it is checked
against the contract's config schema and :func:`edge_hub.office.survey.check`, saved, and sent
to every terminal as its retained config with the next revision. Refusals (422) carry an
"English / Russian" ``detail``.

``GET /api/v1/survey/report`` is the survey's report for a period (each question's answers,
metric, distribution and time on screen; the completion funnel; help and call-back requests),
from :mod:`edge_hub.metrics.survey_report`; any caller that reads may call it. It narrows to a
``department`` (its windows), a ``window``, an ``operator`` and / or a ``device``, and lists the
critics (sessions with a negative main answer): their reasons and sessions, each with its critic
alerts. A staff survey's report (``staff``) is withheld below ``min_n`` sessions and refuses the
filters narrower than a department (422).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, Field

import mqtt_schemas
from edge_hub.api.access import admins_change
from edge_hub.api.deps import RuntimeDep, StoreDep, WriterDep, to_ms
from edge_hub.api.models import API_REFUSALS, IsoDateTime, iso, refusals
from edge_hub.api.routes import Route
from edge_hub.errors import ContractError
from edge_hub.ingest.contract import Contract
from edge_hub.metrics import survey_report
from edge_hub.office import survey as office_survey
from edge_hub.office.scopes import ID_PATTERN
from edge_hub.runtime import NotConnected

router = APIRouter(tags=["survey"], route_class=Route, responses=API_REFUSALS)

#: the survey is checked as the config of the longest device id with the largest revision, so a
#: survey that passes (the 4096-byte limit included) passes for every terminal it is sent to
_CHECK_DEVICE = "survey-check-" + "x" * 19  # 32 characters, the id pattern's longest
_CHECK_REV = 2**31 - 1  # config.schema.json: rev's maximum
#: the longest period of a report, in days (it reads the stored answers themselves)
REPORT_MAX_DAYS = 400
_DAY_MS = 86_400_000


class SurveyOut(BaseModel):
    survey: dict[str, Any] | None = Field(description="The office's survey; null while none was set")
    terminals: list[str] = Field(description="Devices that run it (status kind kiosk or survey)")
    revs: dict[str, int] = Field(description="Each terminal's config revision")


@cache
def _contract() -> Contract:
    return Contract()


def contract_refusal(site: str, survey: dict[str, Any]) -> str | None:
    """Why the contract's config schema refuses ``survey`` as a terminal's config ("English /
    Russian"), or None when it takes it (the office page's editor asks the same)."""
    sample = {"v": 1, "device": _CHECK_DEVICE, "rev": _CHECK_REV, **survey}
    try:
        _contract().parse(mqtt_schemas.topic(site, _CHECK_DEVICE, "config"), orjson.dumps(sample))
    except ContractError as exc:
        return f"not a valid survey: {exc.detail or exc.reason} / опрос не по контракту"
    return None


def _out(conn: Any) -> SurveyOut:
    revs = {c["device"]: c["rev"] for c in office_survey.configs(conn)}
    return SurveyOut(survey=office_survey.get(conn), terminals=office_survey.terminals(conn), revs=revs)


@router.get("/survey", response_model=SurveyOut)
def get_survey(store: StoreDep) -> SurveyOut:
    return _out(store.conn)


@router.put(
    "/survey", response_model=SurveyOut, responses=refusals(400, 422), dependencies=[Depends(admins_change)]
)
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
    refusal = contract_refusal(runtime.site, body)
    if refusal is not None:
        raise HTTPException(422, detail=refusal)
    try:
        payloads = office_survey.put(writer.conn, body, by="api")
    except office_survey.SurveyError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    for payload in payloads:
        with suppress(NotConnected):  # an API without a hub (tests): the hub sends them when it starts
            runtime.publish_config(payload)
    return _out(writer.conn)


# --- the report ---------------------------------------------------------------------------------


class Text(BaseModel):
    ru: str
    en: str | None = None


class ReportMetric(BaseModel):
    name: str = Field(
        description="csat (csat5), nps (nps11), ces (ces7), fcr (yesno: % yes; 'yes' for the question bank's "
        "yes / no questions that are no FCR), agreement (agree11)"
    )
    value: float | None = Field(description="% (csat, ces, fcr, agreement) or points (nps); null: see reason")
    n: int = Field(description="Trusted answers on the scale")
    mean: float | None = Field(None, description="The mean answer, where the metric shows one")
    reason: str | None = Field(None, description="Why value is null, e.g. 'not enough data' (n < min_n)")


class ReportValue(BaseModel):
    value: int | None = Field(description="The answer value (a choice: the option's 1-based index)")
    option: str | None = Field(None, description="A choice question's option id")
    text: Text | None = Field(None, description="The option's text in the current survey")
    count: int


class ShowIf(BaseModel):
    question: str
    values: list[int]


class Wording(BaseModel):
    revs: list[int] = Field(description="The survey revisions whose answers had this wording")
    unknown_rev: bool = Field(description="Some answers came from a terminal with no known revision")
    n: int = Field(description="Trusted answers given under this wording")
    text: Text | None = Field(description="The question's text then; null: not known")
    scale: str | None
    options: list[dict[str, Any]] | None


class RevisionCount(BaseModel):
    rev: int | None = Field(description="A survey revision; null: answers of no known revision")
    answers: int


class ReportQuestion(BaseModel):
    id: str
    position: int | None = Field(description="1-based place in the current survey; null: not in it")
    in_survey: bool
    scale: str | None = Field(description="The question's scale; null when the office does not know it")
    text: Text | None
    show_if: ShowIf | None
    n: int = Field(description="Trusted answers (not flagged, not repeats)")
    flagged: int = Field(description="Answers left out as flagged or repeated")
    off_scale: int = Field(description="Trusted answers outside the scale, left out of the metric")
    metric: ReportMetric | None = Field(description="Null for a choice question or an unknown scale")
    distribution: list[ReportValue]
    dwell_median_ms: float | None = Field(description="Median time the question was on screen, ms")
    dwell_n: int = Field(description="Answers that said how long it was on screen")
    wordings: list[Wording] = Field(description="The question's wordings among the period's answers")
    mixed: bool = Field(description="Answered under more than one wording in the period: see wordings")


class FunnelStep(BaseModel):
    question: str
    answered: int = Field(description="Sessions that answered it")
    applied: int = Field(description="Sessions whose answers met its show_if (all, without one)")


class Funnel(BaseModel):
    started: int = Field(description="Sessions with at least one trusted answer")
    steps: list[FunnelStep] = Field(description="The current survey's questions, in order")
    completed: int | None = Field(
        description="Sessions that answered every question whose show_if applied to them; null: no survey"
    )


class CriticOption(BaseModel):
    value: int | None = Field(description="The option's 1-based position (null: no longer in the survey)")
    option: str | None
    text: Text | None
    count: int = Field(description="Critics who picked it")


class CriticReason(BaseModel):
    question: str = Field(description="A choice question answered by critics")
    text: Text | None
    n: int = Field(description="Critics who answered it")
    options: list[CriticOption]


class CriticPick(BaseModel):
    question: str
    option: str
    text: Text | None


class CriticAlert(BaseModel):
    id: int = Field(description="The critic alert (GET /api/v1/alerts/{id})")
    state: str = Field(description="open, acknowledged or resolved")


class CriticSession(BaseModel):
    session: str
    ts: int = Field(description="The session's first answer, epoch ms")
    device: str
    window: str | None
    operator: str | None
    question: str = Field(description="The main question")
    value: int | None = Field(description="The main answer (negative on its scale)")
    reasons: list[CriticPick] = Field(description="The options the visitor picked")
    help: bool = Field(description="Asked for an administrator now")
    callback: bool = Field(description="Asked for a call back (the number is never in a report)")
    comments: list[str] = Field(default_factory=list, description="What the visitor wrote, if anything")
    alerts: list[CriticAlert] = Field(description="The critic alerts of the session's events")


class Critics(BaseModel):
    question: str = Field(description="The main question: the survey's first (else the office's)")
    sessions: int = Field(description="Sessions whose trusted main answer is negative on its scale")
    reasons: list[CriticReason] = Field(description="Per choice question, the critics' picks")
    latest: list[CriticSession] | None = Field(
        description=f"The newest {survey_report.CRITICS_SHOWN} critic sessions, newest first; null for a "
        "staff survey"
    )


class Csi(BaseModel):
    params: list[str] = Field(description="The parameters (csi.<param>.imp and .sat both answered)")
    weights: dict[str, float] = Field(description="Each one's mean importance (0: fewer than min_n answers)")
    value: float | None = Field(description="0..100; null: not enough data")
    n: int = Field(description="The thinnest weighted parameter's satisfaction answers")
    parts: dict[str, float | int | None] = Field(description="Each parameter's satisfaction, 0..100")
    reason: str | None = None


class SurveyReportOut(BaseModel):
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    department: str | None = Field(None, description="Only the windows of this department")
    window: str | None
    operator: str | None = None
    device: str | None
    min_n: int = Field(description="Fewer answers than this: 'not enough data'")
    survey: bool = Field(description="Whether the office has a survey (else only questions seen)")
    survey_id: str = Field("main", description="The survey reported (main: the office's main survey)")
    survey_name: str = Field("main", description="Its name")
    audience: str = Field("visitors", description="visitors, or staff (then the staff rule holds)")
    staff: bool = Field(False, description="A staff survey's report (anonymity rule, see withheld)")
    withheld: bool = Field(False, description="Staff survey with fewer than min_n sessions: nothing is given")
    withheld_reason: str | None = Field(None, description="'not enough people' when withheld")
    needed: int | None = Field(None, description="When withheld: the sessions needed to show the report")
    questions: list[ReportQuestion]
    funnel: Funnel | None = Field(description="Null when withheld")
    help_requests: int | None = Field(description="Visitors who asked for an administrator now (trusted)")
    callback_requests: int | None = Field(description="Visitors who asked to be called back (trusted)")
    revision: int | None = Field(description="Only the answers of this survey revision; null: all")
    revisions: list[RevisionCount] = Field(description="The survey revisions the period's answers came from")
    mixed: list[str] = Field(description="Questions answered under more than one wording in the period")
    critics: Critics | None = Field(None, description="Negative main answers; null when withheld")
    csi: Csi | None = Field(
        None, description="The CSI of the bank's importance / satisfaction pairs answered; null: none"
    )


@router.get(
    "/survey/report", response_model=SurveyReportOut, response_model_by_alias=True, responses=refusals(422)
)
def get_survey_report(
    store: StoreDep,
    from_: Annotated[IsoDateTime, Query(alias="from", description="Period start, ISO 8601 (inclusive)")],
    to: Annotated[IsoDateTime, Query(description="Period end, ISO 8601 (exclusive)")],
    device: Annotated[str | None, Query(description="Only this device")] = None,
    window: Annotated[str | None, Query(description="Only this window")] = None,
    revision: Annotated[int | None, Query(description="Only the answers of this survey revision")] = None,
    department: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only the windows of this department")
    ] = None,
    operator: Annotated[str | None, Query(pattern=ID_PATTERN, description="Only this operator")] = None,
    survey: Annotated[
        str | None,
        Query(
            pattern="^" + office_survey.SURVEY_ID + "$",
            description="This survey's report (its answers only; a staff survey under the staff rule); "
            "default: the main survey",
        ),
    ] = None,
) -> dict[str, Any]:
    """Each question of the survey (and any other answered in a session), the funnel, the time per
    question, help and call-back requests; at most ``REPORT_MAX_DAYS`` (400) days."""
    lo, hi = to_ms(from_), to_ms(to)
    assert lo is not None and hi is not None
    if hi <= lo:
        raise HTTPException(422, detail="'to' must be after 'from' / 'to' должно быть позже 'from'")
    if hi - lo > REPORT_MAX_DAYS * _DAY_MS:
        raise HTTPException(
            422,
            detail=f"a report covers at most {REPORT_MAX_DAYS} days: choose a shorter period / "
            f"отчёт — не больше {REPORT_MAX_DAYS} дней: сократите период",
        )
    try:
        out = survey_report.report(
            store.conn, lo, hi, device=device, window=window, revision=revision, department=department,
            operator=operator, survey_id=survey,
        )  # fmt: skip
    except survey_report.SurveyReportError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return {**out, "from": iso(lo), "to": iso(hi)}
