"""The survey report (edge_hub/metrics/survey_report.py, GET /api/v1/survey/report): each question's
trusted answers, metric, distribution and median time on screen, the completion funnel under the
survey's show_if rules, help and call-back requests apart — from presses fed through the real
ingest path into a real SQLite, as from the broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.metrics import survey_report
from edge_hub.metrics.formulas import NOT_ENOUGH_DATA
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from tests.helpers import SITE, FedHub

MIN = 60_000
# Monday 2026-11-23 10:00 Moscow (07:00 UTC): the office is open
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
OPTIONS = [
    {"id": "queue", "text": {"ru": "Очередь", "en": "The queue"}},
    {"id": "staff", "text": {"ru": "Сотрудник", "en": "Staff"}},
    {"id": "other", "text": {"ru": "Другое", "en": "Other"}},
]
SURVEY = {
    "langs": ["ru", "en"],
    "lang": "ru",
    "questions": [
        {"id": "csat", "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}, "scale": "csat5"},
        {"id": "what_wrong", "text": {"ru": "Что не так?", "en": "What went wrong?"}, "scale": "choice",
         "options": OPTIONS, "show_if": {"question": "csat", "values": [1, 2]}},
        {"id": "nps", "text": {"ru": "Порекомендуете?", "en": "Recommend us?"}, "scale": "nps11"},
        {"id": "solved", "text": {"ru": "Вопрос решён?", "en": "Solved?"}, "scale": "yesno"},
    ],
}  # fmt: skip
#: per session: (device, [(question, value, extra)]); answers 10 s apart, sessions 2 min apart
SESSIONS = {
    "s1": ("kiosk-01", [("csat", 5, {"dwell_ms": 3000}), ("nps", 10, {}), ("solved", 1, {})]),
    "s2": ("kiosk-01", [("csat", 1, {"dwell_ms": 4000}),
                        ("what_wrong", 1, {"option": "queue", "dwell_ms": 6000}),
                        ("help", 1, {"help": True}), ("nps", 3, {}), ("solved", 0, {})]),
    "s3": ("kiosk-01", [("csat", 2, {"dwell_ms": 2000}), ("nps", 6, {}),
                        ("callback", 1, {"callback": True, "phone": "+79161234567", "consent": True})]),
    "s4": ("kiosk-01", [("csat", 4, {"dwell_ms": 1000})]),  # walked away: not completed
    "s5": ("kiosk-02", [("csat", 5, {"dwell_ms": 5000}), ("csat", 5, {"repeat": True}), ("nps", 9, {}),
                        ("solved", 1, {})]),
    "s6": ("kiosk-01", [("queue_time", 3, {"dwell_ms": 700})]),  # a question the survey does not ask
}  # fmt: skip


@pytest.fixture
def office(tmp_path) -> FedHub:
    hub = FedHub(tmp_path / "hub.db")
    settings = office_settings.load(hub.conn)
    office_settings.save(hub.conn, settings.model_copy(update={"min_n": 4}))
    office_survey.put(hub.conn, SURVEY)
    scopes.put_department(hub.conn, "d", "Отдел")
    scopes.put_window(hub.conn, "w1", "d", "Окно 1")
    scopes.assign_device(hub.conn, "kiosk-02", "w1")
    items = []
    for k, (session, (device, answers)) in enumerate(SESSIONS.items()):
        for i, (question, value, extra) in enumerate(answers):
            items.append(
                (MON_10 + k * 2 * MIN + i * 10_000, value, device, question, {"session": session, **extra})
            )
    items.append((MON_10, 1, "btn-01", "csat", {}))  # a button console's press: no session, no survey answer
    hub.presses(items)
    yield hub
    hub.store.close()


def _question(report: dict, qid: str) -> dict:
    return next(q for q in report["questions"] if q["id"] == qid)


def test_each_question_in_survey_order_with_its_metric_distribution_and_time(office):
    r = survey_report.report(office.conn, MON_10, MON_10 + 60 * MIN)
    assert [q["id"] for q in r["questions"]] == ["csat", "what_wrong", "nps", "solved", "queue_time"]
    csat = _question(r, "csat")
    assert (csat["n"], csat["flagged"], csat["position"], csat["in_survey"]) == (5, 1, 1, True)
    assert csat["metric"]["name"] == "csat" and csat["metric"]["value"] == pytest.approx(60.0)  # 5, 5, 4 of 5
    assert csat["metric"]["mean"] == pytest.approx(3.4) and csat["metric"]["n"] == 5
    assert {d["value"]: d["count"] for d in csat["distribution"]} == {1: 1, 2: 1, 3: 0, 4: 1, 5: 2}
    assert csat["dwell_median_ms"] == 3000 and csat["dwell_n"] == 5
    nps = _question(r, "nps")  # 10, 9 promoters; 3, 6 detractors: 0 points from 4 answers (min_n 4)
    assert (nps["metric"]["name"], nps["metric"]["value"], nps["n"]) == ("nps", 0.0, 4)
    solved = _question(r, "solved")  # 3 answers < min_n 4
    assert solved["metric"] == {"name": "fcr", "value": None, "n": 3, "mean": None, "reason": NOT_ENOUGH_DATA}
    choice = _question(r, "what_wrong")
    assert choice["metric"] is None and choice["show_if"] == {"question": "csat", "values": [1, 2]}
    assert [(d["option"], d["value"], d["count"], d["text"]["en"]) for d in choice["distribution"]] == [
        ("queue", 1, 1, "The queue"), ("staff", 2, 0, "Staff"), ("other", 3, 0, "Other"),
    ]  # fmt: skip
    other = _question(r, "queue_time")
    assert (other["in_survey"], other["position"], other["scale"], other["metric"]) == (
        False,
        None,
        None,
        None,
    )
    assert other["n"] == 1 and other["dwell_median_ms"] == 700
    # help and call back are no questions, and no metric counts them
    assert not {"help", "callback"} & {q["id"] for q in r["questions"]}
    assert (r["help_requests"], r["callback_requests"]) == (1, 1)


def test_the_funnel_follows_the_show_if_rules(office):
    r = survey_report.report(office.conn, MON_10, MON_10 + 60 * MIN)
    funnel = r["funnel"]
    assert funnel["started"] == 6
    assert [(s["question"], s["answered"], s["applied"]) for s in funnel["steps"]] == [
        ("csat", 5, 6), ("what_wrong", 1, 2), ("nps", 4, 6), ("solved", 3, 6),
    ]  # fmt: skip
    # s1 (no what_wrong: csat 5), s2 (all four), s5 (its repeat left out); s3 lacks what_wrong and
    # solved, s4 walked away, s6 answered only a question the survey does not ask
    assert funnel["completed"] == 3


def test_a_device_a_window_and_the_period_narrow_it(office):
    one = survey_report.report(office.conn, MON_10, MON_10 + 60 * MIN, device="kiosk-02")
    assert one["funnel"]["started"] == 1 and _question(one, "csat")["n"] == 1
    assert one["funnel"]["completed"] == 1 and one["help_requests"] == 0
    window = survey_report.report(office.conn, MON_10, MON_10 + 60 * MIN, window="w1")
    assert window["funnel"] == one["funnel"]
    first = survey_report.report(office.conn, MON_10, MON_10 + 2 * MIN)  # s1 only, [from, to)
    assert first["funnel"]["started"] == 1 and _question(first, "nps")["metric"]["reason"] == NOT_ENOUGH_DATA
    empty = survey_report.report(office.conn, MON_10 - 60 * MIN, MON_10)
    assert empty["funnel"] == {
        "started": 0,
        "steps": [{"question": q["id"], "answered": 0, "applied": 0} for q in SURVEY["questions"]],
        "completed": 0,
    }
    assert all(q["n"] == 0 and q["dwell_median_ms"] is None for q in empty["questions"])


def test_a_choice_answer_is_counted_by_its_option_or_its_position(office):
    at = MON_10 + 50 * MIN
    office.presses([
        (at, 2, "kiosk-03", "csat", {"session": "c1"}),
        (at + 10_000, 2, "kiosk-03", "what_wrong", {"session": "c1"}),  # no option id: position 2, staff
        (at + 2 * MIN, 1, "kiosk-03", "csat", {"session": "c2"}),
        (at + 2 * MIN + 10_000, 1, "kiosk-03", "what_wrong", {"session": "c2", "option": "gone"}),  # removed
        (at + 4 * MIN, 1, "kiosk-03", "csat", {"session": "c3"}),
        (at + 4 * MIN + 10_000, 5, "kiosk-03", "what_wrong", {"session": "c3"}),  # no such position
    ])  # fmt: skip
    r = survey_report.report(office.conn, at, at + 10 * MIN)
    rows = [(d["option"], d["value"], d["count"]) for d in _question(r, "what_wrong")["distribution"]]
    assert rows == [("queue", 1, 0), ("staff", 2, 1), ("other", 3, 0), ("gone", None, 1), (None, 5, 1)]
    assert _question(r, "what_wrong")["n"] == 3


def test_without_a_survey_only_the_questions_seen(tmp_path):
    hub = FedHub(tmp_path / "hub.db")
    try:
        hub.press(MON_10, 4, device="kiosk-01", session="a1", dwell_ms=1500)
        r = survey_report.report(hub.conn, MON_10, MON_10 + MIN)
        assert r["survey"] is False and r["funnel"] == {"started": 1, "steps": [], "completed": None}
        (csat,) = r["questions"]
        assert (csat["id"], csat["scale"], csat["metric"]["reason"]) == ("csat", "csat5", NOT_ENOUGH_DATA)
    finally:
        hub.store.close()


def test_the_api_answers_with_the_report_and_refuses_a_bad_period(office):
    api = TestClient(create_app(Runtime(SITE, office.path, "mqtt://test")))
    params = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}
    body = api.get("/api/v1/survey/report", params=params).json()
    assert body["from"] == "2026-11-23T07:00:00Z" and body["to"] == "2026-11-23T08:00:00Z"
    assert body["funnel"]["completed"] == 3 and body["min_n"] == 4
    expected = survey_report.report(office.conn, MON_10, MON_10 + 60 * MIN)
    assert body["questions"] == expected["questions"] and body["funnel"] == expected["funnel"]
    assert (
        api.get("/api/v1/survey/report", params=params | {"device": "kiosk-02"}).json()["funnel"]["started"]
        == 1
    )
    backwards = api.get("/api/v1/survey/report", params={"from": params["to"], "to": params["from"]})
    assert backwards.status_code == 422 and "after" in backwards.json()["detail"]
    long = api.get(
        "/api/v1/survey/report", params={"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    )
    assert long.status_code == 422 and "400" in long.json()["detail"]
    schema = api.get("/openapi.json").json()["paths"]["/api/v1/survey/report"]["get"]
    assert schema["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "SurveyReportOut"
    )
