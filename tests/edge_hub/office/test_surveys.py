"""Several surveys per office (edge_hub/office/survey.py): a terminal runs the survey assigned to
it, else its department's, else the main one; saving, assigning, retiring and moving a terminal
to another window each give exactly the terminals whose survey changed their next config; a staff
survey stays anonymous and its questions never mix with the visitors' — on a real SQLite."""

from __future__ import annotations

import pytest

from edge_hub.office import question_bank as bank
from edge_hub.office import scopes
from edge_hub.office import survey as office_survey
from tests.helpers import FedHub

CSAT = {"questions": [bank.question("csat")]}
EXIT = {"questions": [bank.question("csat"), bank.question("nps")]}
STAFF = {"questions": [bank.question("enps")]}


@pytest.fixture
def office(tmp_path):
    hub = FedHub(tmp_path / "hub.db")
    conn = hub.conn
    for device, kind in (("kiosk-01", "kiosk"), ("kiosk-02", "kiosk"), ("tablet-01", "webkiosk")):
        conn.execute(
            "INSERT INTO devices (device, kind, first_seen, last_seen) VALUES (?, ?, 0, 0)", (device, kind)
        )
    conn.commit()
    scopes.put_department(conn, "hall", "Зал")
    scopes.put_department(conn, "back", "Служебные помещения")
    scopes.put_window(conn, "w1", "hall", "Окно 1")
    scopes.put_window(conn, "s1", "back", "Комната персонала")
    yield hub
    hub.store.close()


def _runs(conn) -> dict[str, str]:
    return {d: office_survey.effective(conn, d) for d in office_survey.terminals(conn)}


def _questions(payload) -> list[str]:
    return [q["id"] for q in payload["questions"]]


def test_the_main_survey_runs_everywhere_until_another_is_assigned(office):
    conn = office.conn
    sent = office_survey.put(conn, CSAT)
    assert sorted(p["device"] for p in sent) == ["kiosk-01", "kiosk-02", "tablet-01"]
    sid = office_survey.new_id(conn)
    assert sid == "s2"
    assert office_survey.put(conn, EXIT, survey_id=sid, name="На выходе") == []  # assigned nowhere yet
    assert _runs(conn) == dict.fromkeys(["kiosk-01", "kiosk-02", "tablet-01"], "main")
    moved = office_survey.assign(conn, sid, devices=["kiosk-02"])
    assert [(p["device"], _questions(p), p["rev"]) for p in moved] == [("kiosk-02", ["csat", "nps"], 2)]
    listing = {s["id"]: s for s in office_survey.surveys(conn)}
    assert listing["s2"]["terminals"] == ["kiosk-02"] and listing["s2"]["name"] == "На выходе"
    assert listing["s2"]["assigned"] == {"devices": ["kiosk-02"], "departments": []}
    assert listing["main"]["terminals"] == ["kiosk-01", "tablet-01"]
    # a new revision of s2 goes to its terminal only; of main, to the others only
    assert [p["device"] for p in office_survey.put(conn, EXIT | {"langs": ["ru", "en"]}, survey_id=sid)] == [
        "kiosk-02"
    ]
    assert [p["device"] for p in office_survey.put(conn, CSAT | {"idle_s": 40})] == ["kiosk-01", "tablet-01"]
    # the answer's revision maps to its survey
    revs = {r["rev"]: r["survey_id"] for r in office_survey.revisions(conn)}
    assert revs == {1: "main", 2: "s2", 3: "s2", 4: "main"}
    assert office_survey.revision(conn, sid) == 3 and office_survey.revision(conn) == 4


def test_a_department_runs_its_survey_and_a_device_assignment_wins(office):
    conn = office.conn
    office_survey.put(conn, CSAT)
    office_survey.put(conn, EXIT, survey_id="hall-exit", name="Зал")
    scopes.assign_device(conn, "kiosk-01", "w1")
    scopes.assign_device(conn, "kiosk-02", "w1")
    sent = office_survey.assign(conn, "hall-exit", departments=["hall"])
    assert sorted(p["device"] for p in sent) == ["kiosk-01", "kiosk-02"]
    office_survey.put(conn, STAFF, survey_id="staff", name="eNPS", audience="staff")
    assert [p["device"] for p in office_survey.assign(conn, "staff", devices=["kiosk-02"])] == ["kiosk-02"]
    assert _runs(conn) == {"kiosk-01": "hall-exit", "kiosk-02": "staff", "tablet-01": "main"}
    # a terminal moved to the staff room's window: the next housekeeping round sends it main's survey
    scopes.assign_device(conn, "kiosk-01", "s1")
    payload = office_survey.ensure_config(conn, "kiosk-01")
    assert payload is not None and _questions(payload) == ["csat"]
    assert office_survey.ensure_config(conn, "kiosk-01") is None  # up to date: nothing (read only)
    # assigning a department to another survey moves it; the first survey keeps no assignment there
    office_survey.assign(conn, "staff", devices=["kiosk-02"], departments=["hall"])
    assert office_survey.surveys(conn)[1]["assigned"]["departments"] == []


def test_retiring_sends_the_terminals_back_and_keeps_the_history(office):
    conn = office.conn
    office_survey.put(conn, CSAT)
    office_survey.put(conn, EXIT, survey_id="s2", name="Exit")
    office_survey.assign(conn, "s2", devices=["kiosk-01", "tablet-01"])
    back = office_survey.retire(conn, "s2")
    assert sorted((p["device"], tuple(_questions(p))) for p in back) == [
        ("kiosk-01", ("csat",)), ("tablet-01", ("csat",)),
    ]  # fmt: skip
    card = next(s for s in office_survey.surveys(conn) if s["id"] == "s2")
    assert card["retired_at"] is not None and card["terminals"] == [] and card["rev"] == 2
    assert [s["id"] for s in office_survey.surveys(conn, retired=False)] == ["main"]
    with pytest.raises(office_survey.SurveyError, match="retired"):
        office_survey.put(conn, EXIT, survey_id="s2")
    with pytest.raises(office_survey.SurveyError, match="retired"):
        office_survey.assign(conn, "s2", devices=["kiosk-01"])
    with pytest.raises(office_survey.SurveyError, match="main survey"):
        office_survey.retire(conn, "main")
    assert office_survey.get(conn, "s2") == EXIT  # its wording stays for the reports
    assert office_survey.new_id(conn) == "s3"


def test_a_staff_survey_is_anonymous_and_never_mixes_with_the_visitors(office):
    conn = office.conn
    office_survey.put(conn, CSAT)
    for survey, words in (
        (STAFF | {"callback": True}, "anonymous"),
        (STAFF | {"critic_help": True}, "anonymous"),
        (CSAT, "visitors' surveys"),  # employees' csat would count in the visitors' CSAT
    ):
        with pytest.raises(office_survey.SurveyError, match=words):
            office_survey.put(conn, survey, survey_id="staff", audience="staff")
    with pytest.raises(office_survey.SurveyError, match="staff surveys"):
        office_survey.put(conn, {"questions": [bank.question("csat"), bank.question("enps")]})
    own = {"id": "team_mood", "text": {"ru": "Как настроение в команде?"}, "scale": "csat5"}
    office_survey.put(conn, {"questions": [bank.question("enps"), own]}, survey_id="staff", audience="staff")
    with pytest.raises(office_survey.SurveyError, match="staff surveys"):  # a written id of the staff's
        office_survey.put(conn, {"questions": [bank.question("csat"), own]})


def test_bad_ids_and_targets_are_refused(office):
    conn = office.conn
    office_survey.put(conn, CSAT)
    for sid in ("Main", "a b", "-x", "x" * 33):
        with pytest.raises(office_survey.SurveyError, match="survey id"):
            office_survey.put(conn, CSAT, survey_id=sid)
    with pytest.raises(office_survey.SurveyError, match="no survey"):
        office_survey.assign(conn, "nope", devices=["kiosk-01"])
    with pytest.raises(office_survey.SurveyError, match="no device"):
        office_survey.assign(conn, "main", devices=["ghost"])
    with pytest.raises(office_survey.SurveyError, match="no department"):
        office_survey.assign(conn, "main", departments=["ghost"])


def test_the_api_assigns_and_retires_and_the_terminals_get_it_over_mqtt(make_hub, broker, monkeypatch):
    """Against a real hub and Mosquitto: /api/v1/surveys makes a second survey, assigns it to a
    department, and the kiosk placed on that department's window receives it within a
    housekeeping round; retiring it sends the kiosk back to the main survey."""
    from fastapi.testclient import TestClient

    from edge_hub.app import Hub, create_app
    from edge_hub.db.store import Store
    from tests.helpers import TopicListener, publish_status, wait_until

    monkeypatch.setattr(Hub, "config_round_s", 0.2)
    hub = make_hub()
    publish_status(broker, "kiosk-01", "kiosk")
    wait_until(lambda: hub.runtime._known("kiosk-01"), 10, "the kiosk in the registry")
    listener = TopicListener(broker, "kiosk-01", "config")
    try:
        with TestClient(create_app(hub.runtime)) as client:
            assert client.put("/api/v1/survey", json=CSAT).status_code == 200
            wait_until(lambda: [b["rev"] for b in listener.bodies()] == [1], 10, "main's config")
            made = client.put("/api/v1/surveys/exit", json={"name": "Выход", "survey": EXIT})
            assert made.status_code == 200, made.text
            assert made.json()["terminals"] == [] and made.json()["rev"] == 2
            store = Store.writer(hub.runtime.db_path)
            try:
                scopes.put_department(store.conn, "hall", "Зал")
                scopes.put_window(store.conn, "w1", "hall", "Окно 1")
            finally:
                store.close()
            put = client.put("/api/v1/surveys/exit/assignments", json={"departments": ["hall"]})
            assert put.status_code == 200 and put.json()["terminals"] == []  # no terminal in the hall yet
            store = Store.writer(hub.runtime.db_path)
            try:
                scopes.assign_device(store.conn, "kiosk-01", "w1")
            finally:
                store.close()
            wait_until(lambda: [b["rev"] for b in listener.bodies()] == [1, 2], 10, "the hall's survey")
            assert _questions(listener.bodies()[-1]) == ["csat", "nps"]
            listing = {s["id"]: s for s in client.get("/api/v1/surveys").json()}
            assert listing["exit"]["terminals"] == ["kiosk-01"] and listing["main"]["terminals"] == []
            assert client.get("/api/v1/surveys/exit").json()["survey"] == EXIT
            assert client.get("/api/v1/surveys/nope").status_code == 404
            assert client.post("/api/v1/surveys/main/retire").status_code == 422
            retired = client.post("/api/v1/surveys/exit/retire")
            assert retired.status_code == 200 and retired.json()["retired_at"] is not None
            wait_until(lambda: [b["rev"] for b in listener.bodies()] == [1, 2, 3], 10, "back to main")
            assert _questions(listener.bodies()[-1]) == ["csat"]
            refused = client.put("/api/v1/surveys/staff", json={"audience": "staff", "survey": CSAT})
            assert refused.status_code == 422 and "visitors' surveys" in refused.json()["detail"]
    finally:
        listener.close()


def test_each_survey_has_its_report_and_a_staff_one_is_withheld_under_min_n(office):
    """Answers through the real ingest path: the main survey's report never counts another
    survey's answers; a staff survey's report follows the staff rule by its audience alone."""
    from edge_hub.metrics import survey_report
    from edge_hub.office import settings as office_settings

    conn = office.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False
    office_settings.save(conn, settings)
    office_survey.put(conn, CSAT)
    office_survey.put(conn, STAFF, survey_id="staff", name="eNPS", audience="staff")
    office_survey.assign(conn, "staff", devices=["kiosk-02"])
    conn.execute("UPDATE device_config_revs SET sent_at = 0")  # the configs were there before the answers
    conn.commit()
    now = 1_795_000_000_000
    items = [(now + k * 60_000, 4, "kiosk-01", "csat", {"session": f"v{k}"}) for k in range(6)]
    items += [(now + k * 60_000, 9, "kiosk-02", "enps", {"session": f"s{k}"}) for k in range(3)]
    office.presses(items)
    lo, hi = now - 1, now + 3_600_000
    main = survey_report.report(conn, lo, hi)
    assert [(q["id"], q["n"]) for q in main["questions"]] == [("csat", 6)]  # no enps among the visitors'
    assert main["survey_id"] == "main" and not main["staff"]
    staff = survey_report.report(conn, lo, hi, survey_id="staff")
    assert staff["staff"] and staff["withheld"] and staff["needed"] == settings.min_n
    assert staff["questions"] == [] and staff["funnel"] is None
    with pytest.raises(survey_report.SurveyReportError, match="name a person"):
        survey_report.report(conn, lo, hi, survey_id="staff", device="kiosk-02")
    office.presses([(now + (10 + k) * 60_000, 7, "kiosk-02", "enps", {"session": f"t{k}"})
                    for k in range(settings.min_n)])  # fmt: skip
    shown = survey_report.report(conn, lo, hi, survey_id="staff")
    assert not shown["withheld"] and shown["questions"][0]["n"] == 3 + settings.min_n
    assert shown["critics"]["latest"] is None, "no list of single answers in a staff survey"
    with pytest.raises(survey_report.SurveyReportError, match="no survey"):
        survey_report.report(conn, lo, hi, survey_id="nope")


def test_the_csi_of_the_banks_importance_and_satisfaction_pairs(office):
    """CSI = Σ wᵢ·sᵢ / Σ wᵢ with sᵢ the satisfaction scaled to 0..100 and wᵢ the mean importance
    (domain.md), from answers through the real ingest path, withheld below min_n."""
    from edge_hub.metrics import survey_report
    from edge_hub.office import settings as office_settings

    conn = office.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False
    office_settings.save(conn, settings)
    pairs = [bank.question(q) for q in ("csi.wait.imp", "csi.wait.sat", "csi.staff.imp", "csi.staff.sat")]
    office_survey.put(conn, {"questions": [bank.question("csat"), *pairs]})
    now = 1_795_000_000_000
    n = settings.min_n
    items = []
    for k in range(n):  # wait: important 5, satisfied 2 (25); staff: important 3, satisfied 5 (100)
        for j, (qid, value) in enumerate((("csat", 4), ("csi.wait.imp", 5), ("csi.wait.sat", 2),
                                          ("csi.staff.imp", 3), ("csi.staff.sat", 5))):  # fmt: skip
            items.append((now + k * 60_000 + j * 1000, value, "kiosk-01", qid, {"session": f"v{k}"}))
    office.presses(items[: 5 * (n - 1)])
    thin = survey_report.report(conn, now - 1, now + 86_400_000)["csi"]
    assert thin["value"] is None and thin["params"] == ["staff", "wait"]
    office.presses(items[5 * (n - 1):])
    csi = survey_report.report(conn, now - 1, now + 86_400_000)["csi"]
    assert csi["weights"] == {"staff": 3.0, "wait": 5.0} and csi["n"] == n
    assert csi["value"] == pytest.approx((5 * 25 + 3 * 100) / 8)


def test_answers_given_on_the_old_screens_after_a_reassignment_stay_with_the_old_survey(office):
    """A terminal applies a new config later than the hub sends it (a visitor on screen finishes
    the old survey; a tablet polls; one offline applies it when back): its answers meanwhile are
    the old survey's, never counted in the new one's report (the review's staff / visitor leak)."""
    from edge_hub.metrics import survey_report
    from edge_hub.office import settings as office_settings

    conn = office.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False
    office_settings.save(conn, settings)
    now = 1_795_000_000_000
    office_survey.put(conn, CSAT)
    office_survey.put(conn, STAFF, survey_id="staff", audience="staff")
    conn.execute("UPDATE device_config_revs SET sent_at = ?", (now - 3_600_000,))
    conn.commit()
    office_survey.assign(conn, "staff", devices=["kiosk-01"])  # sent now: after every answer below
    conn.execute("UPDATE device_config_revs SET sent_at = ? WHERE sent_at > ?", (now, now - 3_600_000))
    conn.commit()
    # after the switch was sent: two visitors still on the old screens, then employees
    items = [(now + 1000 * k, 5, "kiosk-01", "csat", {"session": f"late{k}"}) for k in range(2)]
    items += [(now + 60_000 + 1000 * k, 8, "kiosk-01", "enps", {"session": f"e{k}"}) for k in range(3)]
    office.presses(items)
    lo, hi = now - 1, now + 3_600_000
    assert office_survey.revision_at(conn, "kiosk-01", now + 1000, "csat") == 1
    assert office_survey.revision_at(conn, "kiosk-01", now + 60_000, "enps") == 2
    main = survey_report.report(conn, lo, hi)
    assert [(q["id"], q["n"]) for q in main["questions"]] == [("csat", 2)]
    staff = survey_report.report(conn, lo, hi, survey_id="staff")
    assert staff["withheld"], "3 employees: under min_n, and the visitors' 2 sessions do not count"


def test_a_surveys_audience_stays_and_retired_staff_questions_stay_the_staffs(office):
    conn = office.conn
    office_survey.put(conn, CSAT)
    with pytest.raises(office_survey.SurveyError, match="audience stays"):
        office_survey.put(conn, STAFF, audience="staff")  # main is the visitors'
    own = {"id": "team_mood", "text": {"ru": "Как настроение в команде?"}, "scale": "csat5"}
    office_survey.put(conn, {"questions": [bank.question("enps"), own]}, survey_id="t", audience="staff")
    with pytest.raises(office_survey.SurveyError, match="audience stays"):
        office_survey.put(conn, {"questions": [bank.question("csat")]}, survey_id="t", audience="visitors")
    office_survey.retire(conn, "t")
    with pytest.raises(office_survey.SurveyError, match="staff surveys"):
        office_survey.put(conn, {"questions": [bank.question("csat"), own]}, survey_id="v2")


def test_the_metrics_never_show_staff_answers_per_window_operator_or_device(office):
    """The review's finding: eNPS answers at a staff-room terminal went into the hourly buckets per
    window and operator, so the operator page showed one employee's answers. The office's and a
    department's numbers keep them; a window's, an operator's or a device's never."""
    from edge_hub.metrics import summary
    from edge_hub.office import settings as office_settings
    from edge_hub.office import shifts

    conn = office.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False
    office_settings.save(conn, settings)
    own = {"id": "team_mood", "text": {"ru": "Как настроение в команде?"}, "scale": "csat5"}
    office_survey.put(conn, CSAT)
    office_survey.put(conn, {"questions": [bank.question("enps"), own]}, survey_id="staff", audience="staff")
    office_survey.assign(conn, "staff", devices=["kiosk-02"])
    now = 1_795_000_000_000
    scopes.put_operator(conn, "op-a", "Анна")
    scopes.assign_device(conn, "kiosk-02", "s1", now - 86_400_000)
    shifts.add_shift(conn, "op-a", "s1", now - 86_400_000, now + 86_400_000)
    office.presses([(now + k * 60_000, v, "kiosk-02", q, {"session": f"e{k}"})
                    for k in range(6) for q, v in (("enps", 9), ("team_mood", 4))])  # fmt: skip
    lo, hi = now - 3_600_000, now + 3_600_000
    office_wide = summary.summary(conn, lo, hi)["metrics"]
    assert office_wide["enps"]["n"] == 6 and office_wide["team_mood"]["n"] == 6
    assert summary.summary(conn, lo, hi, summary.Scope(department="back"))["metrics"]["enps"]["n"] == 6
    narrow = (summary.Scope(operator="op-a"), summary.Scope(window="s1"), summary.Scope(device="kiosk-02"))
    for scope in narrow:
        shown = summary.summary(conn, lo, hi, scope)["metrics"]
        assert shown["enps"] == shown["team_mood"] == {"value": None, "n": 0, "reason": summary.STAFF_ONLY}
        with pytest.raises(ValueError, match="staff survey"):
            summary.timeseries(conn, lo, hi, "enps", "hour", scope)


def test_an_employees_answer_has_no_operator_and_no_visitor_trust_flags(office):
    """At night, on a window with an operator on shift: a visitor's csat is flagged after hours;
    an employee's eNPS at the same terminal and time is stored trusted and with no operator (so
    no bucket holds one person's answers), yet still counted once."""
    from edge_hub.office import shifts

    conn = office.conn
    office_survey.put(conn, CSAT)
    office_survey.put(conn, STAFF, survey_id="staff", audience="staff")
    night = 1_795_000_000_000 + 12 * 3_600_000  # 02:06 in Moscow: the office is closed
    scopes.put_operator(conn, "op-a", "Анна")
    scopes.assign_device(conn, "kiosk-01", "w1", night - 86_400_000)
    shifts.add_shift(conn, "op-a", "w1", night - 86_400_000, night + 86_400_000)
    office.presses([(night, 4, "kiosk-01", "csat", {"session": "v1"}),
                    (night + 5000, 9, "kiosk-01", "enps", {"session": "e1"})])  # fmt: skip
    sql = "SELECT question, operator, flag FROM events WHERE device = 'kiosk-01'"
    rows = {q: (op, flag) for q, op, flag in conn.execute(sql)}
    assert rows == {"csat": ("op-a", "after_hours"), "enps": (None, None)}


def test_a_survey_cannot_be_retired_while_its_terminals_would_have_none(office):
    conn = office.conn
    office_survey.put(conn, EXIT, survey_id="s2")
    office_survey.assign(conn, "s2", devices=["kiosk-01"])
    with pytest.raises(office_survey.SurveyError, match="save the main survey first"):
        office_survey.retire(conn, "s2")
    office_survey.put(conn, CSAT)
    assert [p["device"] for p in office_survey.retire(conn, "s2")] == ["kiosk-01"]
