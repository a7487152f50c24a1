"""The office's survey (edge_hub/office/survey.py, PUT /api/v1/survey): the rules the contract's
schema cannot say, the scales registered with the metrics, and the config each terminal gets as
a retained message with a revision that only grows — on real SQLite, a real Mosquitto and the
in-process hub; the terminal is a raw paho client with its own device login."""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.testclient import TestClient

import mqtt_schemas
from edge_hub.app import Hub, create_app
from edge_hub.db.store import Store
from edge_hub.ingest.contract import Contract
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from tests.helpers import SITE, TopicListener, publish_status, wait_until

CSAT = {"id": "csat", "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}, "scale": "csat5"}
NPS = {"id": "nps", "text": {"ru": "Порекомендуете нас?"}, "scale": "nps11"}
SURVEY = {"questions": [CSAT, NPS], "lockout_ms": 10_000, "lang": "ru"}


@pytest.fixture
def conn(tmp_path):
    store = Store.open(tmp_path / "hub.db")
    yield store.conn
    store.close()


def _terminal(conn, device: str, kind: str = "kiosk") -> None:
    sql = "INSERT INTO devices (device, kind, first_seen, last_seen) VALUES (?, ?, 0, 0)"
    conn.execute(sql, (device, kind))
    conn.commit()


@pytest.mark.parametrize(
    ("questions", "refusal"),
    [
        ([CSAT, CSAT], "used twice"),
        ([{**CSAT, "show_if": {"question": "nps", "values": [1]}}], "always asked"),
        ([CSAT, {**NPS, "show_if": {"question": "ces", "values": [1]}}], "not an earlier question"),
        ([NPS, {**CSAT, "show_if": {"question": "nps", "values": [11]}}], "cannot be answered [11]"),
        ([{**CSAT, "scale": "nps11"}], "measured on csat5"),  # csat keeps its scale in this office
    ],
)
def test_the_rules_a_schema_cannot_say(conn, questions, refusal):
    with pytest.raises(office_survey.SurveyError, match=refusal.replace("[", r"\[").replace("]", r"\]")):
        office_survey.put(conn, {"questions": questions})
    assert office_survey.get(conn) is None  # nothing saved


def test_a_follow_up_event_name_is_no_question_id(conn):
    for taken in ("help", "callback"):
        with pytest.raises(office_survey.SurveyError, match=r"follow-up.* / id .* занят"):
            office_survey.put(conn, {"questions": [CSAT, {**NPS, "id": taken}]})


CSAT_EN = {**CSAT, "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}}
NPS_EN = {**NPS, "text": {"ru": "Порекомендуете нас?", "en": "Would you recommend us?"}}
WRONG = {
    "id": "what_wrong", "text": {"ru": "Что не так?", "en": "What went wrong?"}, "scale": "choice",
    "options": [{"id": "queue", "text": {"ru": "Очередь", "en": "The queue"}},
                {"id": "staff", "text": {"ru": "Сотрудник"}}],
}  # fmt: skip


@pytest.mark.parametrize(
    ("survey", "refusal"),
    [
        ({"langs": ["ru"], "lang": "en"}, "starting language 'en' is not one of langs ['ru'] / язык 'en'"),
        ({"langs": ["en"], "lang": "ru"}, "starting language 'ru' is not one of langs"),
        ({"langs": ["ru", "en"], "questions": [CSAT_EN, NPS]},
         "question 2 ('nps') has no English text, but langs offers English / у вопроса 2 ('nps') нет текста "
         "на английском языке"),
        ({"langs": ["ru", "en"], "questions": [CSAT_EN, WRONG]},
         "option 'staff' of question 2 has no English text, but langs offers English / у варианта 'staff' "
         "вопроса 2"),
        ({"langs": ["en", "ru"], "welcome": {"ru": "Здравствуйте"}}, "the welcome text has no English text"),
        ({"langs": ["ru", "en"], "thanks": {"ru": "Спасибо"}}, "у экрана благодарности нет текста"),
    ],
)  # fmt: skip
def test_languages_offered_are_the_languages_written(conn, survey, refusal):
    body = {"questions": [CSAT_EN, NPS_EN], **survey}
    with pytest.raises(office_survey.SurveyError, match=re.escape(refusal)):
        office_survey.put(conn, body)
    assert office_survey.get(conn) is None


@pytest.mark.parametrize(
    "survey",
    [
        {"questions": [CSAT, NPS]},  # langs missing: Russian only, English is optional
        {"questions": [CSAT, NPS], "lang": "en"},  # lang without langs: the contract's business
        {"questions": [CSAT, NPS], "langs": ["ru"], "lang": "ru"},
        {"questions": [CSAT_EN, NPS_EN], "langs": ["ru", "en"], "lang": "en",
         "welcome": {"ru": "Здравствуйте", "en": "Hello"}, "thanks": {"ru": "Спасибо", "en": "Thank you"}},
        {"questions": [CSAT_EN, {**WRONG, "options": WRONG["options"][:1]}], "langs": ["en", "ru"]},
    ],
)  # fmt: skip
def test_surveys_whose_languages_agree_are_taken(conn, survey):
    office_survey.put(conn, survey)
    assert office_survey.get(conn) == survey


def test_the_call_back_offer_is_part_of_the_survey_and_its_config(conn):
    _terminal(conn, "kiosk-01")
    (config,) = office_survey.put(conn, {**SURVEY, "callback": True, "critic_help": True})
    assert config["callback"] is True and office_survey.get(conn)["callback"] is True
    Contract().parse(mqtt_schemas.topic(SITE, "kiosk-01", "config"), orjson.dumps(config))


def test_a_new_rating_question_is_registered_with_the_metrics(conn):
    ease = {"id": "ease", "text": {"ru": "Легко ли было?"}, "scale": "ces7"}
    office_survey.put(conn, {"questions": [CSAT, ease]})
    assert office_settings.load(conn).questions["ease"] == "ces7"
    assert office_settings.load(conn).questions["csat"] == "csat5"


def test_each_terminal_gets_its_next_revision_and_other_devices_none(conn):
    _terminal(conn, "kiosk-01")
    _terminal(conn, "btn-01", "button")
    first = office_survey.put(conn, SURVEY)
    assert [(p["device"], p["rev"]) for p in first] == [("kiosk-01", 1)]
    _terminal(conn, "kiosk-02")
    second = office_survey.put(conn, {**SURVEY, "questions": [CSAT]})
    assert [(p["device"], p["rev"]) for p in second] == [("kiosk-01", 2), ("kiosk-02", 1)]
    contract = Contract()
    for payload in second:  # every config the hub sends is one the contract accepts
        contract.parse(mqtt_schemas.topic(SITE, payload["device"], "config"), orjson.dumps(payload))
    assert office_survey.ensure_config(conn, "kiosk-02") is None  # it has one
    _terminal(conn, "kiosk-03")
    assert office_survey.ensure_config(conn, "kiosk-03")["rev"] == 1


def _revs(listener: TopicListener) -> list[int]:
    return [body["rev"] for body in listener.bodies()]


def test_the_survey_reaches_terminals_as_their_retained_config(make_hub, broker, monkeypatch):
    monkeypatch.setattr(Hub, "config_round_s", 0.2)
    hub: Hub = make_hub()
    publish_status(broker, "kiosk-01", "kiosk")
    wait_until(lambda: hub.runtime._known("kiosk-01"), 10, "the kiosk in the registry")
    with TestClient(create_app(hub.runtime)) as client:
        answer = client.put("/api/v1/survey", json=SURVEY)
        assert answer.status_code == 200, answer.text
        assert answer.json()["revs"] == {"kiosk-01": 1}
        first = TopicListener(broker, "kiosk-01", "config")  # it may come before or after the publish
        wait_until(lambda: _revs(first) == [1], 10, "the config rev 1")
        first.close()
        listener = TopicListener(broker, "kiosk-01", "config")  # a terminal connecting later: retained
        try:
            wait_until(lambda: _revs(listener) == [1], 10, "the retained config rev 1")
            assert listener.retained[0] is True
            assert listener.bodies()[0]["questions"] == SURVEY["questions"]
            client.put("/api/v1/survey", json={**SURVEY, "questions": [CSAT]})
            wait_until(lambda: _revs(listener) == [1, 2], 10, "the new config rev 2")
            # a terminal seen after the survey was set gets it within a round
            publish_status(broker, "kiosk-02", "kiosk")
            second = TopicListener(broker, "kiosk-02", "config")
            try:
                wait_until(lambda: _revs(second) == [1], 10, "kiosk-02's first config")
            finally:
                second.close()
            refused = client.put("/api/v1/survey", json={"questions": [{**CSAT, "scale": "stars"}]})
            assert refused.status_code == 422 and "контракт" in refused.json()["detail"]
            unknown = client.put("/api/v1/survey", json={**SURVEY, "colour": "red"})
            assert unknown.status_code == 422
            assert client.get("/api/v1/survey").json()["revs"] == {"kiosk-01": 2, "kiosk-02": 1}
        finally:
            listener.close()
