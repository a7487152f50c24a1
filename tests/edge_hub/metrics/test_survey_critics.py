"""The survey report narrowed by department, window and operator, its critics (reasons, sessions,
each linked to its critic alert), the staff survey's anonymity rule, and the survey per question in
the CSV/XLSX export (edge_hub/metrics/survey_report.py, edge_hub/metrics/export.py, GET
/api/v1/survey/report, GET /api/v1/export?kind=survey) — answers fed through the real ingest path
into a real SQLite, alerts opened by the real rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from edge_hub.alerts import lifecycle
from edge_hub.alerts import rules as alert_rules
from edge_hub.app import create_app
from edge_hub.metrics import export, summary, survey_report
from edge_hub.metrics.formulas import NOT_ENOUGH_DATA
from edge_hub.office import scopes, shifts
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from tests.edge_hub.metrics.test_survey_report import SURVEY
from tests.helpers import SITE, FedHub

MIN = 60_000
H = 60 * MIN
DAY = 24 * H
# Monday 2026-11-23 10:00 Moscow (07:00 UTC): the office is open
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
PHONE = "+79161234567"
#: (window, department, operator, terminal)
PLACES = (
    ("w1", "d1", "op-a", "kiosk-01"),
    ("w2", "d1", "op-b", "kiosk-02"),
    ("w3", "d2", "op-c", "kiosk-03"),
)
#: per session: (terminal, [(question, value, extra)]); answers 10 s apart, sessions 2 min apart
SESSIONS = {
    "k1": ("kiosk-01", [("csat", 5, {}), ("nps", 10, {}), ("solved", 1, {})]),
    "k2": ("kiosk-01", [("csat", 1, {"dwell_ms": 4000}), ("what_wrong", 1, {"option": "queue"}),
                        ("help", 1, {"help": True}), ("nps", 3, {})]),
    "k3": ("kiosk-02", [("csat", 2, {}), ("what_wrong", 2, {"option": "staff"}),
                        ("callback", 1, {"callback": True, "phone": PHONE, "consent": True})]),
    "k4": ("kiosk-02", [("csat", 4, {})]),
    "k5": ("kiosk-03", [("csat", 1, {}), ("what_wrong", 1, {"option": "queue"})]),
    "k6": ("kiosk-03", [("csat", 5, {})]),
}  # fmt: skip
START = {s: MON_10 + k * 2 * MIN for k, s in enumerate(SESSIONS)}
END = MON_10 + H


@pytest.fixture
def office(tmp_path) -> FedHub:
    """Two departments, three windows with a terminal and an operator on shift each; six visitors:
    k2, k3 and k5 are critics (CSAT 1-2), k2 asked for an administrator, k3 for a call back."""
    hub = FedHub(tmp_path / "hub.db")
    settings = office_settings.load(hub.conn)
    office_settings.save(hub.conn, settings.model_copy(update={"min_n": 4}))
    office_survey.put(hub.conn, SURVEY)
    for department in ("d1", "d2"):
        scopes.put_department(hub.conn, department, f"Отдел {department}")
    for window, department, operator, device in PLACES:
        scopes.put_window(hub.conn, window, department, f"Окно {window}")
        scopes.put_operator(hub.conn, operator, f"Оператор {operator}")
        scopes.assign_device(hub.conn, device, window, MON_10 - DAY)
        shifts.add_shift(hub.conn, operator, window, MON_10 - H, MON_10 + 8 * H)
    items = []
    for session, (device, answers) in SESSIONS.items():
        for i, (question, value, extra) in enumerate(answers):
            items.append(
                (START[session] + i * 10_000, value, device, question, {"session": session, **extra})
            )
    hub.presses(items)
    alert_rules.evaluate(hub.conn, END)
    yield hub
    hub.store.close()


def _q(report: dict, qid: str) -> dict:
    return next(q for q in report["questions"] if q["id"] == qid)


def _alert_of(conn, session: str) -> int:
    """The critic alert opened for the session's help or call-back event."""
    (alert_id,) = conn.execute(
        "SELECT a.id FROM alerts a JOIN events e ON a.key = 'critic:' || e.id "
        "WHERE json_extract(e.payload, '$.session') = ?",
        (session,),
    ).fetchone()
    return alert_id


# --- filters ------------------------------------------------------------------------------------


def test_a_department_is_its_windows_and_an_operator_the_presses_credited_to_them(office):
    whole = survey_report.report(office.conn, MON_10, END)
    assert whole["funnel"]["started"] == 6
    d1 = survey_report.report(office.conn, MON_10, END, department="d1")
    assert (d1["department"], d1["funnel"]["started"]) == ("d1", 4)
    csat = _q(d1, "csat")  # 5, 1, 2, 4: 2 of 4 positive
    assert (csat["n"], csat["metric"]["value"]) == (4, 50.0)
    assert {d["value"]: d["count"] for d in csat["distribution"]} == {1: 1, 2: 1, 3: 0, 4: 1, 5: 1}
    assert survey_report.report(office.conn, MON_10, END, department="d2")["funnel"]["started"] == 2
    op_b = survey_report.report(office.conn, MON_10, END, operator="op-b")
    assert op_b["operator"] == "op-b" and op_b["funnel"]["started"] == 2
    assert op_b["callback_requests"] == 1 and op_b["help_requests"] == 0
    assert _q(op_b, "csat")["metric"]["reason"] == NOT_ENOUGH_DATA  # 2 answers < min_n 4
    # every filter given must hold
    assert (
        survey_report.report(office.conn, MON_10, END, department="d1", window="w3")["funnel"]["started"] == 0
    )
    assert (
        survey_report.report(office.conn, MON_10, END, window="w1", operator="op-a")["funnel"]["started"] == 2
    )
    assert (
        survey_report.report(office.conn, MON_10, END, window="w1", operator="op-b")["funnel"]["started"] == 0
    )
    assert survey_report.report(office.conn, MON_10, END, department="nope")["funnel"]["started"] == 0
    # the department is as the scopes say now, like summary.Scope
    scopes.put_window(office.conn, "w3", "d1", "Окно w3")
    assert survey_report.report(office.conn, MON_10, END, department="d1")["funnel"]["started"] == 6


# --- critics ------------------------------------------------------------------------------------


def test_the_critics_reasons_and_sessions_link_to_their_alerts_and_never_carry_the_phone(office):
    r = survey_report.report(office.conn, MON_10, END)
    critics = r["critics"]
    assert (critics["question"], critics["sessions"]) == ("csat", 3)
    (reasons,) = critics["reasons"]
    assert reasons["question"] == "what_wrong" and reasons["n"] == 3
    assert [(o["option"], o["count"]) for o in reasons["options"]] == [
        ("queue", 2),
        ("staff", 1),
        ("other", 0),
    ]
    assert reasons["text"]["en"] == "What went wrong?"
    latest = critics["latest"]
    assert [c["session"] for c in latest] == ["k5", "k3", "k2"]  # newest first
    k5, k3, k2 = latest
    assert (k2["ts"], k2["device"], k2["window"], k2["operator"], k2["value"]) == (
        START["k2"], "kiosk-01", "w1", "op-a", 1,
    )  # fmt: skip
    assert [(p["question"], p["option"], p["text"]["ru"]) for p in k2["reasons"]] == [
        ("what_wrong", "queue", "Очередь")
    ]
    assert (k2["help"], k2["callback"], k3["help"], k3["callback"]) == (True, False, False, True)
    assert k2["alerts"] == [{"id": _alert_of(office.conn, "k2"), "state": "open"}]
    assert k3["alerts"] == [{"id": _alert_of(office.conn, "k3"), "state": "open"}]
    assert k5["alerts"] == [] and not k5["help"] and not k5["callback"]
    assert PHONE not in orjson.dumps(r).decode()
    # the link follows the alert's state
    lifecycle.acknowledge(office.conn, k3["alerts"][0]["id"], "admin", "calling", END)
    again = survey_report.report(office.conn, MON_10, END, department="d1")
    assert [c["session"] for c in again["critics"]["latest"]] == ["k3", "k2"]
    assert again["critics"]["latest"][0]["alerts"][0]["state"] == "acknowledged"
    assert again["critics"]["reasons"][0]["options"][:2] == [
        {"value": 1, "option": "queue", "text": SURVEY["questions"][1]["options"][0]["text"], "count": 1},
        {"value": 2, "option": "staff", "text": SURVEY["questions"][1]["options"][1]["text"], "count": 1},
    ]


def test_a_flagged_main_answer_makes_no_critic_and_only_the_first_answer_counts(office):
    at = END + 10 * MIN
    office.presses([
        (at, 1, "kiosk-01", "csat", {"session": "r1", "repeat": True}),  # left out: a repeat
        (at + 2 * MIN, 4, "kiosk-01", "csat", {"session": "r2"}),
        (at + 2 * MIN + 5_000, 1, "kiosk-01", "csat", {"session": "r2"}),  # a second answer: not the main one
    ])  # fmt: skip
    r = survey_report.report(office.conn, at, at + H)
    assert r["critics"]["sessions"] == 0 and r["critics"]["latest"] == []


# --- the staff rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("narrower", [{"window": "w1"}, {"operator": "op-a"}, {"device": "kiosk-01"}])
def test_a_staff_report_refuses_filters_narrower_than_a_department(office, narrower):
    with pytest.raises(survey_report.SurveyReportError) as refused:
        survey_report.report(office.conn, MON_10, END, staff=True, department="d1", **narrower)
    english, russian = str(refused.value).split(" / ")
    assert "department" in english and "person" in english and "отдел" in russian


def test_a_staff_report_is_withheld_below_min_n_sessions(office):
    few = survey_report.report(office.conn, MON_10, END, staff=True, department="d2")  # 2 sessions < 4
    assert few["withheld"] is True and few["withheld_reason"] == survey_report.NOT_ENOUGH_PEOPLE
    assert few["needed"] == 4 and few["staff"] is True
    assert few["questions"] == [] and few["funnel"] is None and few["critics"] is None
    assert few["help_requests"] is None and few["callback_requests"] is None and few["revisions"] == []
    assert 2 not in few.values(), "not even how many sessions there were"
    enough = survey_report.report(office.conn, MON_10, END, staff=True, department="d1")  # 4 sessions
    assert enough["withheld"] is False and enough["funnel"]["started"] == 4
    assert _q(enough, "csat")["metric"]["value"] == 50.0
    # whole but for the list of critic sessions (a time and a terminal can name a person)
    assert enough["critics"]["latest"] is None and enough["critics"]["sessions"] == 2
    assert enough["critics"]["reasons"][0]["n"] == 2
    assert survey_report.report(office.conn, MON_10, END, staff=True)["withheld"] is False
    # a visitor survey (staff=False) is never withheld
    assert survey_report.report(office.conn, MON_10, END, department="d2")["withheld"] is False


# --- the export ---------------------------------------------------------------------------------


def test_the_survey_export_has_a_row_per_question_with_the_reports_numbers(office):
    table = export.build_survey(
        office.conn, MON_10, END, summary.Scope(department="d1"), step="total", lang="en"
    )
    assert table.headers == [
        "Period (Europe/Moscow)", "Scope", "Question id", "Question", "Scale", "Answers, n", "Metric",
        "Value", "Mean", "Distribution of answers", "Time on the question, median, s", "Sessions started",
        "Asked of (sessions)", "Answered it (sessions)", "Completed (sessions)",
    ]  # fmt: skip
    rows = {row.cells[0]: row.cells for row in table.rows}
    assert list(rows) == ["csat", "what_wrong", "nps", "solved"]
    assert rows["csat"] == (
        "csat", "How were you served?", "csat5", 4, "CSAT, %", 50.0, 3.0, "1: 1; 2: 1; 3: 0; 4: 1; 5: 1", 4.0,
        4, 4, 4, 1,
    )  # fmt: skip
    assert rows["what_wrong"][1:8] == (
        "What went wrong?",
        "choice",
        2,
        None,
        None,
        None,
        "The queue: 1; Staff: 1; Other: 0",
    )
    assert rows["what_wrong"][9:] == (4, 2, 2, 1)  # asked of k2 and k3 (CSAT 1-2), both answered
    assert rows["nps"][3:7] == (2, "NPS", None, None)  # 2 answers < min_n: empty, never 0
    assert rows["solved"][7] == "no: 0; yes: 1"
    report = survey_report.report(office.conn, MON_10, END, department="d1")
    assert [q["n"] for q in report["questions"]] == [r[3] for r in rows.values()]
    assert export.filename(table, "csv") == "otklik-survey-2026-11-23_2026-11-23-department-d1.csv"


def test_the_survey_export_per_day_and_hour_is_exact_and_staff_slots_are_withheld(office):
    day = export.build_survey(office.conn, MON_10 - 10 * H, MON_10 - 10 * H + 3 * DAY, step="day", lang="ru")
    assert len(day.rows) == 3 * 4  # three local days, four questions each
    assert [r.cells[3] for r in day.rows if r.cells[0] == "csat"] == [6, 0, 0]
    assert day.period_label(day.rows[0]) == "2026-11-23" and day.rows[0].cells[1] == "Как вас обслужили?"
    hours = export.build_survey(office.conn, MON_10 - H, MON_10 + H, step="hour")
    assert [r.cells[3] for r in hours.rows if r.cells[0] == "csat"] == [0, 6]
    staff = export.build_survey(office.conn, MON_10, END, summary.Scope(department="d2"), staff=True)
    (row,) = staff.rows
    assert row.cells[0] is None and "недостаточно людей" in row.cells[1] and set(row.cells[2:]) == {None}
    with pytest.raises(export.ExportError, match="person"):
        export.build_survey(office.conn, MON_10, END, summary.Scope(window="w1"), staff=True)
    with pytest.raises(export.ExportError, match=str(export.SURVEY_MAX_SLOTS)):
        export.build_survey(office.conn, MON_10, MON_10 + 50 * DAY, step="hour")


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(office) -> TestClient:
    return TestClient(create_app(Runtime(SITE, office.path, "mqtt://test")))


PERIOD = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}


def test_the_report_api_filters_by_department_and_operator_and_lists_the_critics(api, office):
    body = api.get("/api/v1/survey/report", params=PERIOD | {"department": "d1"}).json()
    expected = survey_report.report(office.conn, MON_10, END, department="d1")
    assert body["department"] == "d1" and body["funnel"] == expected["funnel"]
    assert body["critics"] == expected["critics"] and body["withheld"] is False
    assert PHONE not in orjson.dumps(body).decode()
    op = api.get("/api/v1/survey/report", params=PERIOD | {"operator": "op-b"}).json()
    assert op["operator"] == "op-b" and op["funnel"]["started"] == 2
    assert [c["session"] for c in op["critics"]["latest"]] == ["k3"]
    bad = api.get("/api/v1/survey/report", params=PERIOD | {"department": "Bad id!"})
    assert bad.status_code == 422


def test_the_export_api_gives_the_survey_per_question_and_keeps_the_metrics_by_default(api):
    params = {"from": "2026-11-23T00:00:00", "to": "2026-11-24T00:00:00", "lang": "ru"}
    r = api.get("/api/v1/export", params=params | {"kind": "survey", "format": "csv", "department": "d1"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == (
        'attachment; filename="otklik-survey-2026-11-23_2026-11-23-department-d1.csv"'
    )
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:4] == ["Период (Europe/Moscow)", "Срез", "Вопрос (id)", "Текст вопроса"]
    assert [row[2] for row in table[1:]] == ["csat", "what_wrong", "nps", "solved"]
    csat = dict(zip(table[0], table[1], strict=True))
    assert (csat["Срез"], csat["Ответов, n"], csat["Значение"], csat["Среднее"]) == (
        "отдел d1",
        "4",
        "50,0",
        "3,0",
    )
    assert csat["Время на вопрос, медиана, с"] == "4,0" and csat["Прошли до конца (сессий)"] == "1"
    xlsx = api.get("/api/v1/export", params=params | {"kind": "survey", "format": "xlsx", "step": "day"})
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Опрос", "Параметры"]
    rows = list(book["Опрос"].iter_rows(values_only=True))
    assert rows[0][2] == "Вопрос (id)" and [row[2] for row in rows[1:]] == [
        "csat",
        "what_wrong",
        "nps",
        "solved",
    ]
    assert rows[1][0] == datetime(2026, 11, 23) and rows[1][5] == 6 and book["Опрос"].freeze_panes == "D2"
    params_sheet = dict(book["Параметры"].iter_rows(values_only=True))
    assert params_sheet["Содержание"] == "опрос по вопросам"
    metrics = api.get("/api/v1/export", params=params | {"format": "csv"})
    assert metrics.content.decode("utf-8-sig").startswith("Период (Europe/Moscow);Срез;CSAT, %;")
    assert api.get("/api/v1/export", params=params | {"kind": "other"}).status_code == 422
