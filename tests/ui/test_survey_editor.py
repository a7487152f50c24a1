"""The survey editor (/survey/edit, hub_ui/pages/survey_editor.py) on the real app: an admin builds
a survey from the question bank and saves it (a new revision, the terminals get their next config
revision over a real Mosquitto from the in-process hub), a sixth question and a choice as the main
question are refused with the rule's message, the preview shows each screen, and a non-admin gets
403. Its accessibility is the crawl's (tests/ui/test_crawl.py visits it)."""

from __future__ import annotations

import re
import time
from html import unescape

import httpx
import pytest
from fastapi.testclient import TestClient

from edge_hub.api import auth
from edge_hub.app import Hub, create_app
from edge_hub.db.store import Store
from edge_hub.office import question_bank as bank
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from tests.helpers import SITE, FedHub, TopicListener, publish_status, wait_until
from tests.ui.conftest import add_cookies, form_token, shot, signed_in
from tests.ui.test_security_limits import sign_in

PASSWORD = "correct horse"
HOUR = 3_600_000


def _form(csrf: str, questions: list[dict], **extra) -> dict:
    """The editor's fields: ``questions`` as slots (``source``, ``condition``, ... per slot)."""
    data: dict = {"csrf": csrf, "count": str(max(5, len(questions))), "action": "save", "lang": "ru"}
    for i, q in enumerate(questions):
        data |= {f"q{i}.{k}": v for k, v in q.items()}
    data["langs"] = extra.pop("langs", ["ru", "en"])
    return data | extra


def _error(html: str) -> str:
    match = re.search(r'id="form-error">(.*?)</p>', html, re.S)
    return unescape(match.group(1)) if match else ""


@pytest.fixture
def office(tmp_path):
    """(FedHub, signed-in admin client, the app) without a broker: a terminal known, no survey."""
    fed = FedHub(tmp_path / "hub.db")
    fed.conn.execute(
        "INSERT INTO devices (device, kind, first_seen, last_seen) VALUES ('kiosk-01', 'kiosk', 0, 0)"
    )
    fed.conn.commit()
    auth.create_first_admin(fed.conn, "admin", PASSWORD, PASSWORD)
    client = TestClient(create_app(Runtime(SITE, fed.path, "mqtt://test", None, None)))
    assert sign_in(client, "admin", PASSWORD).status_code == 303
    yield fed, client
    client.close()
    fed.store.close()


BANKED = [
    {"source": "bank:csat"},
    {"source": "bank:ces"},
    {"source": "custom", "id": "what_wrong", "scale": "choice", "ru": "Что не так?", "en": "What went wrong?",
     "options": "queue | Очередь | The queue\nstaff | Сотрудник | Staff", "condition": "negative"},
    {"source": "bank:nps"},
    {"source": "bank:fcr"},
]  # fmt: skip


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_an_admin_builds_a_survey_from_the_bank_and_saves_a_new_revision(office, lang):
    fed, client = office
    page = client.get("/survey", params={"lang": lang}).text
    assert 'id="survey-edit" href="/survey/edit"' in page
    editor = client.get("/survey/edit")
    assert editor.status_code == 200
    assert ("Редактор опроса" if lang == "ru" else "Survey editor") in editor.text
    assert 'value="bank:cci.1.competence"' in editor.text and 'value="bank:enps"' in editor.text
    csrf = form_token(client, "/survey/edit")
    saved = client.post("/survey/edit", data=_form(csrf, BANKED), follow_redirects=False)
    assert saved.status_code == 303, _error(saved.text)
    # no broker here: sent when it connects
    assert saved.headers["location"] == "/survey/edit?survey=main&saved=1&sent=0"
    survey = office_survey.get(fed.conn)
    assert [q["id"] for q in survey["questions"]] == ["csat", "ces", "what_wrong", "nps", "fcr"]
    assert survey["questions"][0] == bank.question("csat")  # the bank's wording, id and scale
    assert survey["questions"][2]["show_if"] == {"question": "csat", "values": [1, 2]}
    assert survey["langs"] == ["ru", "en"] and survey["lang"] == "ru"
    assert office_survey.revisions(fed.conn)[0]["saved_by"] == "admin"
    assert office_survey.config_for(fed.conn, "kiosk-01")["rev"] == 1
    notice = client.get(saved.headers["location"]).text
    assert 'id="editor-saved" data-rev="1"' in notice
    assert ("версия опроса 1" if lang == "ru" else "survey version 1") in notice
    # "copy": the editor opens on the survey saved, and saving again makes revision 2
    again = client.get("/survey/edit").text
    assert 'value="bank:csat" selected' in again and 'name="q2.id" value="what_wrong"' in again
    assert '<option value="negative" selected>' in again
    csrf = form_token(client, "/survey/edit")
    copied = _form(csrf, [{"source": "bank:csat"}, {"source": "bank:nps"}], langs=["ru"])
    assert client.post("/survey/edit", data=copied, follow_redirects=False).status_code == 303
    assert (
        office_survey.revision(fed.conn) == 2 and office_survey.config_for(fed.conn, "kiosk-01")["rev"] == 2
    )
    actions = [a for (a,) in fed.conn.execute("SELECT action FROM ui_audit WHERE action LIKE 'survey.%'")]
    assert actions == ["survey.save", "survey.save"]


@pytest.mark.parametrize(
    ("questions", "ru", "en"),
    [
        ([*BANKED, {"source": "bank:csi"}], "не больше пяти вопросов", "at most five questions"),
        ([{"source": "bank:cci.3.channel"}, {"source": "bank:nps"}],
         "главный (первый) вопрос должен быть оценкой", "the main (first) question must be a rating"),
        ([{"source": "bank:csat", "condition": "negative"}], "главный вопрос задаётся всегда",
         "the main question is always asked"),
        ([{"source": "custom", "id": "csat", "scale": "nps11", "ru": "Оцените"}], "измеряется по шкале csat5",
         "is measured on csat5"),
        ([{"source": "custom", "id": "x", "scale": "choice", "ru": "Что?",
           "options": "\n".join(f"o{k} | Вариант {k}" for k in range(7))}, {"source": "bank:nps"}],
         "не больше шести", "at most six"),
    ],
)  # fmt: skip
def test_refusals_keep_the_form_and_say_why(office, questions, ru, en):
    fed, client = office
    for lang, words in (("ru", ru), ("en", en)):
        csrf = form_token(client, f"/survey/edit?lang={lang}")
        answer = client.post("/survey/edit", data=_form(csrf, questions, langs=["ru"]))
        assert answer.status_code == 422
        assert words in _error(answer.text), _error(answer.text)
        assert 'name="q0.source"' in answer.text  # the form again, with what was typed
    assert office_survey.get(fed.conn) is None and office_survey.revision(fed.conn) is None


def test_a_sixth_question_can_be_added_to_the_form_but_not_saved(office):
    _, client = office
    csrf = form_token(client, "/survey/edit")
    more = client.post("/survey/edit", data=_form(csrf, BANKED) | {"action": "add"})
    assert more.status_code == 200 and 'data-slot="5"' in more.text and 'data-slot="6"' not in more.text


def test_the_preview_shows_each_screen_with_its_buttons(office):
    _, client = office
    csrf = form_token(client, "/survey/edit")
    data = _form(csrf, BANKED, welcome_ru="Здравствуйте", welcome_en="Hello", critic_help="on")
    html = client.post("/survey/edit/preview", data=data, headers={"X-CSRF-Token": csrf}).text
    screens = re.findall(r'data-screen="(\w+)"', html)
    assert screens == ["welcome", "question", "question", "question", "question", "question", "thanks"]
    nps = re.search(
        r'data-question="nps".*?</li>\s*</ol>|data-question="nps".*?(?=<li class="screen")', html, re.S
    )
    assert nps and all(f"<li>{v}</li>" in nps.group(0) for v in range(11))
    assert "<li>The queue</li>" in html and "<li>Очередь</li>" in html and "<li>Yes</li>" in html
    assert "Hello" in html and 'id="preview-offers"' in html
    bad = client.post("/survey/edit/preview", data=_form(csrf, [*BANKED, {"source": "bank:csi"}]),
                      headers={"X-CSRF-Token": csrf}).text  # fmt: skip
    assert "не больше пяти вопросов" in bad
    # the editor page itself renders the preview of the survey it opens on
    assert 'data-screen="question"' in client.get("/survey/edit?new=1").text


def test_only_admins_may_edit(office):
    fed, client = office
    for name, role in (("manager", auth.MANAGER), ("tech", auth.TECHNICIAN)):
        auth.create_user(fed.conn, name, PASSWORD, role, by="admin")
        other = TestClient(client.app)
        assert sign_in(other, name, PASSWORD).status_code == 303
        assert other.get("/survey/edit").status_code == 403
        assert 'id="survey-edit"' not in other.get("/survey").text
        csrf = form_token(other, "/account")
        assert other.post("/survey/edit", data=_form(csrf, BANKED)).status_code == 403
        assert other.post("/survey/edit/preview", data=_form(csrf, BANKED)).status_code == 403
        assert other.post("/survey/main/retire", data={"csrf": csrf}).status_code == 403
        # nor through the JSON API with the page's session (an api:write token may, as everywhere)
        api = {"X-CSRF-Token": csrf}
        body = {"questions": [bank.question("csat")]}
        refused = other.put("/api/v1/survey", json=body, headers=api)
        assert refused.status_code == 403
        assert ("only an admin" if role == auth.MANAGER else "your role") in refused.json()["detail"]
        assert other.put("/api/v1/surveys/s2", json={"survey": body}, headers=api).status_code == 403
        assert other.post("/api/v1/surveys/s2/retire", headers=api).status_code == 403
        assert other.get("/api/v1/surveys").status_code == 200  # reading is anyone's
    assert office_survey.get(fed.conn) is None


def test_the_terminals_get_the_survey_saved_in_the_editor(make_hub, broker, monkeypatch):
    monkeypatch.setattr(Hub, "config_round_s", 0.2)
    hub: Hub = make_hub()
    publish_status(broker, "kiosk-01", "kiosk")
    wait_until(lambda: hub.runtime._known("kiosk-01"), 10, "the kiosk in the registry")
    store = Store.writer(hub.runtime.db_path)
    try:
        auth.create_first_admin(store.conn, "admin", PASSWORD, PASSWORD)
    finally:
        store.close()
    listener = TopicListener(broker, "kiosk-01", "config")
    try:
        with TestClient(create_app(hub.runtime)) as client:
            assert sign_in(client, "admin", PASSWORD).status_code == 303
            for rev, questions in ((1, BANKED), (2, [{"source": "bank:csat"}, {"source": "bank:nps"}])):
                csrf = form_token(client, "/survey/edit")
                saved = client.post("/survey/edit", data=_form(csrf, questions), follow_redirects=False)
                assert saved.headers["location"] == f"/survey/edit?survey=main&saved={rev}&sent=1"
                wait_until(
                    lambda rev=rev: [b["rev"] for b in listener.bodies()][-1:] == [rev], 10, f"config {rev}"
                )
            body = listener.bodies()[-1]
            assert [q["id"] for q in body["questions"]] == ["csat", "nps"]
            assert body["questions"][0]["text"]["ru"] == bank.BY_ID["csat"].ru
    finally:
        listener.close()


def test_the_survey_page_warns_of_two_wordings_and_shows_one_version(office):
    fed, client = office
    settings = office_settings.load(fed.conn)
    settings.trust.flag_after_hours = False
    office_settings.save(fed.conn, settings)
    now = int(time.time() * 1000)
    first = {"questions": [{"id": "csat", "text": {"ru": "Как вас обслужили?"}, "scale": "csat5"}]}
    office_survey.put(fed.conn, first)
    office_survey.put(fed.conn, {"questions": [bank.question("csat")], "langs": ["ru", "en"]})
    for rev, at in ((1, now - 3 * HOUR), (2, now - HOUR)):
        fed.conn.execute("UPDATE device_config_revs SET sent_at = ? WHERE rev = ?", (at, rev))
    fed.conn.commit()
    fed.presses([(now - 2 * HOUR, 5, "kiosk-01", "csat", {"session": "a"}),
                 (now - 30 * 60_000, 1, "kiosk-01", "csat", {"session": "b"})])  # fmt: skip
    html = client.get("/survey").text
    warning = re.search(r'id="survey-mixed">(.*?)</div>', html, re.S)
    assert warning and 'data-question="csat"' in warning.group(1)
    text = unescape(warning.group(1))
    assert "«Как вас обслужили?» — версии: 1; ответов: 1" in text and "— версии: 2; ответов: 1" in text
    assert 'id="survey-revision" data-rev="2"' in html
    one = client.get("/survey", params={"revision": "1"}).text
    assert 'id="survey-mixed"' not in one and 'data-started="1"' in one
    assert '<option value="1" selected>' in one and "Как вас обслужили?" in one


def test_in_chromium_an_admin_picks_from_the_bank_previews_and_saves(fresh_site, context, page):
    """Against a real `edge-hub run` and Mosquitto: a new survey from the bank, the preview follows
    the form (htmx), Save is a plain form post, and the kiosk it is assigned to gets the new config
    revision as its retained message."""
    site = fresh_site
    with httpx.Client(base_url=site.url, timeout=10) as client:
        token = form_token(client, "/setup")
        setup = {"username": "admin", "password": PASSWORD, "password2": PASSWORD, "csrf": token}
        assert client.post("/setup", data=setup).status_code == 303
    publish_status(site.broker, "kiosk-01", "kiosk")
    listener = TopicListener(site.broker, "kiosk-01", "config")
    try:
        with signed_in(site.url, "admin", PASSWORD) as client:
            wait_until(
                lambda: "kiosk-01" in client.get("/api/v1/survey").json()["terminals"], 10, "the kiosk"
            )
            add_cookies(context, site.url, client)
        page.goto(site.url + "/survey/edit?new=1&lang=en")
        assert page.locator("select[name='q0.source']").input_value() == "bank:csat"
        page.select_option("select[name='q1.source']", "bank:nps")
        page.wait_for_selector("#preview [data-question=nps] .keys li >> nth=10")
        page.wait_for_selector("input[name='q1.id'][value=nps][readonly]")  # the slot drawn again, filled
        page.select_option("select[name='q2.source']", "bank:cci.3.booking")
        page.wait_for_selector("input[name='q2.id'][value='cci.3.booking'][readonly]")
        page.select_option("select[name='q2.condition']", "negative")
        page.wait_for_selector("#preview [data-question='cci.3.booking'] >> text=Yes")
        page.fill("input[name=name]", "Exit survey")
        page.check("#survey-assign input[name=devices][value='kiosk-01']")  # a new survey runs where assigned
        shot(page, "survey-editor-en")
        page.click("#editor-save")
        page.wait_for_url("**/survey/edit?survey=s2&saved=1&sent=1")
        assert "Exit survey" in page.locator("#survey-s2").inner_text()
        assert "kiosk-01" in page.locator("#survey-s2").inner_text()
        assert "survey version 1" in page.locator("#form-notice").inner_text()
        wait_until(lambda: [b["rev"] for b in listener.bodies()] == [1], 10, "the kiosk's config rev 1")
        body = listener.bodies()[0]
        assert [q["id"] for q in body["questions"]] == ["csat", "nps", "cci.3.booking"]
        assert body["questions"][2]["show_if"] == {"question": "csat", "values": [1, 2]}
    finally:
        listener.close()


def test_a_condition_the_form_cannot_say_is_kept_and_a_garbled_one_refused(office):
    fed, client = office
    wrong = {
        "id": "what_wrong",
        "text": {"ru": "Что не так?"},
        "scale": "choice",
        "options": [{"id": "queue", "text": {"ru": "Очередь"}}, {"id": "staff", "text": {"ru": "Сотрудник"}}],
    }
    queue = {"id": "queue_ok", "text": {"ru": "Очередь была долгой?"}, "scale": "yesno",
             "show_if": {"question": "what_wrong", "values": [1]}}  # fmt: skip
    office_survey.put(fed.conn, {"questions": [bank.question("csat"), wrong, queue]})
    html = client.get("/survey/edit").text
    assert '<option value="kept" selected>' in html and 'name="q2.show_if"' in html
    csrf = form_token(client, "/survey/edit")
    kept = {"source": "custom", "id": "queue_ok", "scale": "yesno", "ru": "Очередь была долгой?",
            "condition": "kept", "show_if": '{"question":"what_wrong","values":[1]}'}  # fmt: skip
    custom_wrong = {"source": "custom", "id": "what_wrong", "scale": "choice", "ru": "Что не так?",
                    "options": "queue | Очередь\nstaff | Сотрудник"}  # fmt: skip
    data = _form(csrf, [{"source": "bank:csat"}, custom_wrong, kept], langs=["ru"])
    assert client.post("/survey/edit", data=data, follow_redirects=False).status_code == 303
    assert office_survey.get(fed.conn)["questions"][2]["show_if"] == queue["show_if"]
    garbled = _form(csrf, [{"source": "bank:csat"}, custom_wrong, kept | {"show_if": "[1]"}], langs=["ru"])
    answer = client.post("/survey/edit", data=garbled)
    assert answer.status_code == 422 and "Вопрос 3: форма пришла искажённой" in _error(answer.text)


def test_the_survey_page_picks_a_survey_and_a_staff_one_is_withheld(office):
    """Several surveys: the Survey page offers them, each with its own report; the staff survey's
    report says it is withheld below min_n, and its export is the staff survey's."""
    fed, client = office
    office_survey.put(fed.conn, {"questions": [bank.question("csat")]})
    office_survey.put(fed.conn, {"questions": [bank.question("enps")]}, survey_id="staff", name="Команда",
                      audience="staff")  # fmt: skip
    office_survey.assign(fed.conn, "staff", devices=["kiosk-01"])
    html = client.get("/survey").text
    assert 'id="survey-pick"' in html and '<option value="staff">Команда' in html
    staff = client.get("/survey", params={"survey": "staff"}).text
    assert 'id="survey-withheld"' in staff and 'href="/survey/edit?survey=staff"' in staff
    link = unescape(re.search(r'href="(/export/file\?[^"]+)"', html).group(1))
    assert "kind=survey" in link and "survey=" not in link  # the main survey's file
    answer = client.get(link + "&survey=staff")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/vnd.openxml")
    form = client.get("/export").text
    assert 'id="export-survey"' in form and '<option value="staff">Команда</option>' in form
    editor = client.get("/survey/edit").text  # the list names both, the staff one by its audience
    assert 'id="survey-staff"' in editor and "сотрудники (анонимный eNPS)" in editor
    assert client.get("/survey", params={"survey": "nope"}).status_code == 200  # unknown: the main one


def test_a_save_and_its_assignment_stand_or_fall_together_and_new_never_overwrites(office):
    fed, client = office
    office_survey.put(fed.conn, {"questions": [bank.question("csat")]})
    csrf = form_token(client, "/survey/edit?new=1")
    new = _form(csrf, [{"source": "bank:csat"}, {"source": "bank:ces"}], survey_id="s2", is_new="1",
                name="Выход", audience="visitors", devices=["ghost"])  # fmt: skip
    refused = client.post("/survey/edit", data=new)
    assert refused.status_code == 422 and "ghost" in _error(refused.text)
    assert office_survey.info(fed.conn, "s2") is None, "nothing saved"
    assert office_survey.revision(fed.conn) == 1
    office_survey.put(fed.conn, {"questions": [bank.question("csat")]}, survey_id="s2", name="Чужой")
    saved = client.post("/survey/edit", data=new | {"devices": ["kiosk-01"]}, follow_redirects=False)
    assert saved.status_code == 303 and "survey=s3" in saved.headers["location"], "another admin's s2 kept"
    assert office_survey.info(fed.conn, "s2")["name"] == "Чужой"
    assert office_survey.effective(fed.conn, "kiosk-01") == "s3"
    html = client.get("/survey/edit?survey=s3").text
    assert 'id="survey-audience" data-audience="visitors"' in html
    assert 'name="audience" value="visitors"' in html
    retired = client.post("/survey/s3/retire", data={"csrf": csrf}, follow_redirects=False)
    assert retired.headers["location"].startswith("/survey/edit?retired=s3")
    notice = client.get(retired.headers["location"]).text
    assert "Опрос «Выход» снят" in unescape(notice)
    assert "Опрос «<b>" not in client.get("/survey/edit?retired=<b>x</b>").text
