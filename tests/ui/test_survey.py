"""The survey page (/survey), a button-survey terminal on the devices page and a call-back
request on the alerts page, on the real app (TestClient) and real SQLite fed through the real
ingest path; in Russian and English. The page's accessibility and its links are the crawl's
(tests/ui/test_crawl.py, where /survey is in the nav)."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from edge_hub.alerts import rules as alert_rules
from edge_hub.api import auth
from edge_hub.app import create_app
from edge_hub.metrics import survey_report
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from tests.edge_hub.metrics.test_survey_report import SURVEY
from tests.helpers import SITE, Broker, FedHub, HubProcess, topic
from tests.ui.conftest import ADMIN, Site, add_cookies, assert_clean_log, seed_office, shot, signed_in
from tests.ui.test_security_limits import sign_in

PASSWORD = "correct horse"
PHONE = "+79161234567"
DAY_MS = 86_400_000


def _local_noon(settings: office_settings.OfficeSettings, days_ago: int) -> int:
    today = settings.local(int(time.time() * 1000)).date()
    return settings.at(today - timedelta(days=days_ago), "12:00")


@pytest.fixture
def hub(tmp_path):
    """(FedHub, signed-in admin client): a survey, a kiosk and a button-survey terminal, and
    visitors in the last days (one asked for a call back) and 40 days ago (outside the default)."""
    fed = FedHub(tmp_path / "hub.db")
    conn = fed.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False
    office_settings.save(conn, settings.model_copy(update={"min_n": 2}))
    office_survey.put(conn, SURVEY)
    scopes.put_department(conn, "d", "Отдел")
    scopes.put_window(conn, "w1", "d", "Окно 1")
    scopes.assign_device(conn, "survey-01", "w1")
    for device, kind in (("kiosk-01", "kiosk"), ("survey-01", "survey")):
        fed.send(topic(device, "status"), {"v": 1, "device": device, "state": "online", "kind": kind}, 0)
    recent, old = _local_noon(settings, 1), _local_noon(settings, 40)
    items = [
        (recent, 5, "kiosk-01", "csat", {"session": "a1", "dwell_ms": 2000}),
        (recent + 10_000, 9, "kiosk-01", "nps", {"session": "a1", "dwell_ms": 4000}),
        (recent + 20_000, 1, "kiosk-01", "solved", {"session": "a1"}),
        (recent + 300_000, 1, "survey-01", "csat", {"session": "b2", "dwell_ms": 3000}),
        (recent + 310_000, 2, "survey-01", "what_wrong", {"session": "b2", "option": "staff"}),
        (recent + 330_000, 1, "survey-01", "callback",
         {"session": "b2", "callback": True, "phone": PHONE, "consent": True}),
        (old, 2, "kiosk-01", "csat", {"session": "c3"}),
    ]  # fmt: skip
    fed.presses(items)
    auth.create_first_admin(conn, "admin", PASSWORD, PASSWORD)
    client = TestClient(create_app(Runtime(SITE, fed.path, "mqtt://test", None, None)))
    assert sign_in(client, "admin", PASSWORD).status_code == 303
    yield fed, client
    client.close()
    fed.store.close()


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(table|section|ol|p)>', html, re.S)
    assert match, element_id
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_survey_page_lists_the_questions_and_the_last_30_days_report(hub, lang):
    _, client = hub
    response = client.get("/survey", params={"lang": lang})
    assert response.status_code == 200
    html = response.text
    nav = re.search(r'<nav class="main-nav".*?</nav>', html, re.S).group(0)
    assert 'href="/survey"' in nav and ("Опрос" if lang == "ru" else "Survey") in nav
    questions = _text(html, "survey-questions")
    assert ("Что не так?" if lang == "ru" else "What went wrong?") in questions
    assert ("Сотрудник" if lang == "ru" else "Staff") in questions
    assert (
        "только если «Как вас обслужили?»: 1, 2" if lang == "ru" else "only if “How were you served?” is 1, 2"
    ) in questions
    period = re.search(r'id="period"[^>]*data-period="(\w+)"', html)
    assert period and period.group(1) == "days30"
    # the funnel: two visitors in the last 30 days (the one 40 days ago is outside); a1 completed
    # (csat 5: no what_wrong), b2 left after what_wrong and its call back (no nps, no solved)
    funnel = re.search(r'id="survey-funnel" data-started="(\d+)" data-completed="(\d*)"', html)
    assert funnel.groups() == ("2", "1")
    assert 'data-step="what_wrong" data-answered="1" data-applied="1"' in html
    assert 'data-help="0" data-callback="1"' in html
    report = _text(html, "survey-report")
    # csat: 5 and 1 -> 50 %; nps: one answer < min_n 2 -> not enough data; the callback is no question
    assert re.search(r'data-question="csat" data-n="2"', html)
    assert 'data-metric="csat" data-value="50.0" data-n="2"' in html
    assert ("недостаточно данных" if lang == "ru" else "not enough data") in report
    assert 'data-question="callback"' not in html and PHONE not in html
    assert 'data-option="staff" data-count="1"' in html
    assert ("2,5\u00a0с" if lang == "ru" else "2.5\u00a0s") in report  # the median of 2 s and 3 s


def test_the_page_equals_the_api_for_its_period_and_narrows_to_a_window(hub):
    fed, client = hub
    html = client.get("/survey").text
    frm, to = re.search(r'id="period"[^>]*data-from="([^"]+)" data-to="([^"]+)"', html).groups()
    api = client.get("/api/v1/survey/report", params={"from": frm, "to": to}).json()
    assert f'data-started="{api["funnel"]["started"]}"' in html
    for q in api["questions"]:
        assert f'data-question="{q["id"]}" data-n="{q["n"]}"' in html
    window = client.get("/survey", params={"window": "w1"}).text
    assert 'data-started="1"' in window and 'data-step="csat" data-answered="1"' in window
    older = client.get("/survey", params={"period": "custom", "from": "2000-01-01", "to": "2000-01-31"}).text
    assert 'data-started="0"' in older
    bad = client.get("/survey", params={"period": "custom", "from": "nonsense", "to": "2000-01-31"}).text
    assert 'id="period-error"' in bad and 'data-period="days30"' in bad
    report = survey_report.report(fed.conn, 0, 2**41)
    assert report["funnel"]["started"] == 3  # all time: the visitor of 40 days ago too


def test_without_a_survey_the_page_says_how_to_set_one(tmp_path):
    fed = FedHub(tmp_path / "hub.db")
    auth.create_first_admin(fed.conn, "admin", PASSWORD, PASSWORD)
    client = TestClient(create_app(Runtime(SITE, fed.path, "mqtt://test", None, None)))
    try:
        assert sign_in(client, "admin", PASSWORD).status_code == 303
        html = client.get("/survey").text
        assert 'id="survey-none"' in html and "PUT /api/v1/survey" in html
        assert 'data-started="0" data-completed=""' in html
    finally:
        client.close()
        fed.store.close()


def test_a_technician_may_not_open_it(hub):
    fed, client = hub
    auth.create_user(fed.conn, "tech", PASSWORD, auth.TECHNICIAN, by="admin")
    other = TestClient(client.app)
    assert sign_in(other, "tech", PASSWORD).status_code == 303
    assert other.get("/survey").status_code == 403


@pytest.mark.parametrize(("lang", "label"), [("ru", "анкетёр"), ("en", "survey terminal")])
def test_a_button_survey_terminal_is_named_on_the_devices_and_settings_pages(hub, lang, label):
    _, client = hub
    card = re.search(
        r'id="device-survey-01".*?</article>', client.get("/devices", params={"lang": lang}).text, re.S
    )
    assert card and 'data-kind="survey"' in card.group(0)
    assert f'<span class="badge kind">{label}</span>' in card.group(0)
    settings = client.get("/settings", params={"lang": lang}).text
    row = re.search(r'<tr data-device="survey-01".*?</tr>', settings, re.S)
    assert row and f"<td>{label}</td>" in row.group(0)


def test_the_call_back_alert_shows_the_number_on_its_card_only(hub):
    fed, client = hub
    alert_rules.evaluate(fed.conn, int(time.time() * 1000))
    (alert,) = [a for a in client.get("/api/v1/alerts", params={"kind": "critic"}).json()]
    assert PHONE not in orjson.dumps(alert).decode(), "the API's alert carries no number"
    assert "call back: rating 1 (csat)" in alert["title_en"]
    card = re.search(rf'id="alert-{alert["id"]}".*?</article>', client.get("/alerts").text, re.S).group(0)
    assert f'href="tel:{PHONE}"' in card and "перезвонить" in card


# --- in the browser: filters by department and operator, critics, the export per question --------


@pytest.fixture(scope="module")
def survey_site(tmp_path_factory):
    """The office of the shared ``site`` (seed_office: department d1, windows w1-w3, op-1..op-3 on
    shift) plus a department d2 with window w4 and op-4, the survey, and visitors at two kiosks
    today: kiosk-01 on w1 (op-1), kiosk-02 on w4 (op-4); critics with help / call back alerts."""
    directory = tmp_path_factory.mktemp("survey-hub")
    broker = Broker(directory / "broker").start()
    now = int(time.time() * 1000)
    hub = HubProcess(broker, directory / "hub")
    seed_office(hub.db, now)
    fed = FedHub(hub.db)
    conn = fed.conn
    office_survey.put(conn, SURVEY)
    scopes.put_department(conn, "d2", "Выдача")
    scopes.put_window(conn, "w4", "d2", "Окно 4")
    scopes.put_operator(conn, "op-4", "Дмитрий Орлов")
    scopes.assign_device(conn, "kiosk-01", "w1", now - 40 * DAY_MS)
    scopes.assign_device(conn, "kiosk-02", "w4", now - 40 * DAY_MS)
    shift_rules.add_shift(conn, "op-4", "w4", now - 40 * DAY_MS, now + 2 * DAY_MS)
    visitors = {  # session: (kiosk, answers)
        "v1": ("kiosk-01", [("csat", 5, {}), ("nps", 10, {}), ("solved", 1, {})]),
        "v2": ("kiosk-01", [("csat", 1, {}), ("what_wrong", 1, {"option": "queue"}),
                            ("help", 1, {"help": True})]),
        "v3": ("kiosk-01", [("csat", 4, {}), ("nps", 8, {})]),
        "v4": ("kiosk-02", [("csat", 2, {}), ("what_wrong", 2, {"option": "staff"}),
                            ("callback", 1, {"callback": True, "phone": PHONE, "consent": True})]),
        "v5": ("kiosk-02", [("csat", 5, {}), ("nps", 9, {})]),
    }  # fmt: skip
    items = []
    for k, (session, (device, answers)) in enumerate(visitors.items()):
        for i, (question, value, extra) in enumerate(answers):
            ts = now - 3 * 3_600_000 + k * 300_000 + i * 30_000
            items.append((ts, value, device, question, {"session": session, **extra}))
    fed.presses(items)
    alert_rules.evaluate(conn, now)
    auth.create_first_admin(conn, ADMIN[0], ADMIN[1], ADMIN[1])
    fed.close()
    hub.start()
    yield Site(f"http://127.0.0.1:{hub.port}", broker, hub, now)
    hub.stop()
    broker.stop()
    assert_clean_log(hub)


def test_in_the_browser_the_page_filters_by_department_and_operator_and_the_export_has_a_row_per_question(
    survey_site, context, page
):
    url = survey_site.url
    with signed_in(url, *ADMIN) as client:
        add_cookies(context, url, client)
    page.goto(url + "/survey")

    def started() -> int:
        return int(page.get_attribute("#survey-funnel", "data-started"))

    assert started() == 5
    page.select_option("#survey-scope select[name=department]", "d2")
    page.click("#survey-scope button[type=submit]")
    page.wait_for_url("**department=d2**")
    assert started() == 2  # kiosk-02 on w4, the only window of d2
    assert page.get_attribute("#survey-report tr[data-question=csat]", "data-n") == "2"
    critic = page.locator("#survey-critic-sessions tr[data-session]")
    assert critic.count() == 1 and critic.get_attribute("data-session") == "v4"
    assert critic.get_attribute("data-callback") == "1" and PHONE not in page.content()
    shot(page, "survey-department")
    page.select_option("#survey-scope select[name=department]", "")
    page.select_option("#survey-scope select[name=operator]", "op-1")
    page.click("#survey-scope button[type=submit]")
    page.wait_for_url("**operator=op-1**")
    assert started() == 3  # kiosk-01 on w1, op-1 on shift
    assert page.locator("#survey-critics").get_attribute("data-sessions") == "1"
    assert page.get_attribute("ul[data-reasons=what_wrong] li[data-option=queue]", "data-count") == "1"
    shot(page, "survey-operator")
    link = page.locator("#survey-critic-sessions a[data-alert]")
    alert_id = link.get_attribute("data-alert")
    link.click()
    page.wait_for_url("**/alerts**")
    assert page.locator(f"#alert-{alert_id}").is_visible()
    assert "администратор" in page.inner_text(f"#alert-{alert_id}")

    # the export page: the survey per question for department d2, the survey page's 30 days
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    page.goto(url + "/export")
    page.fill("#export-form input[name=from]", (today - timedelta(days=29)).isoformat())
    page.fill("#export-form input[name=to]", today.isoformat())
    page.check("#export-kind input[value=survey]")
    page.select_option("#export-form select[name=scope]", "department:d2")
    page.check("input[name=format][value=xlsx]")
    page.select_option("#export-form select[name=step]", "total")
    shot(page, "export-survey")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    download = info.value
    assert download.suggested_filename.startswith("otklik-survey-")
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    rows = list(book["Опрос"].iter_rows(values_only=True))
    header = rows[0]
    by_question = {row[2]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert list(by_question) == [q["id"] for q in SURVEY["questions"]]
    assert by_question["csat"]["Ответов, n"] == 2 and by_question["csat"]["Срез"] == "отдел d2"
    assert by_question["what_wrong"]["Распределение ответов"] == "Очередь: 0; Сотрудник: 1; Другое: 0"
    assert by_question["csat"]["Начали опрос (сессий)"] == 2
