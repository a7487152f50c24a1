"""The feedback terminals' firmware (firmware/kiosk/main.py) end to end on the MicroPython Unix port,
against the real Mosquitto and hub: the touch kiosk (the CYD's ILI9341 and XPT2046 emulated from
their datasheets, a scripted finger) and the button-survey terminal (scripted button pins, the
SSD1306 emulated). The survey comes from the hub's API as each terminal's retained config.

Scenarios of issue 14: a visitor completes a survey and every answer is stored once with its
session; an abandoned survey keeps its answers; a critic gets the follow-up and the hub raises the
alert; a survey config change reaches the kiosk and changes its screens; a power cut mid-survey
loses no answer given; the panel shows what the screens draw (Cyrillic included).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from edge_hub.app import Hub, create_app
from edge_hub.ingest.contract import Contract
from tests.firmware.consoles import Tap
from tests.firmware.kiosks import Terminal
from tests.helpers import SITE, db_rows, wait_until

REFERENCE = Path(__file__).parent / "reference"

CSAT = {"id": "csat", "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}, "scale": "csat5"}
WRONG = {
    "id": "what_wrong",
    "text": {"ru": "Что пошло не так?", "en": "What went wrong?"},
    "scale": "choice",
    "options": [
        {"id": "queue", "text": {"ru": "Долгая очередь", "en": "Long queue"}},
        {"id": "staff", "text": {"ru": "Невежливый сотрудник", "en": "Impolite staff"}},
        {"id": "unsolved", "text": {"ru": "Вопрос не решён", "en": "Issue not solved"}},
    ],
    "show_if": {"question": "csat", "values": [1, 2]},
}
NPS = {"id": "nps", "text": {"ru": "Порекомендуете нас?", "en": "Would you recommend us?"}, "scale": "nps11"}
SURVEY = {
    "lang": "ru",
    "langs": ["ru", "en"],
    "idle_s": 10,
    "critic_help": True,
    "welcome": {"ru": "Оцените нас, пожалуйста", "en": "Please rate us"},
    "thanks": {"ru": "Спасибо!", "en": "Thank you!"},
    "questions": [CSAT, WRONG, NPS],
}


@pytest.fixture
def office(make_hub, monkeypatch):
    """A hub whose housekeeping hands configs out (and whose alert engine looks) every 0.2 s, and
    its API client."""
    monkeypatch.setattr(Hub, "config_round_s", 0.2)
    hub = make_hub()
    hub.alerts.stop()
    hub.alerts.interval_s = 0.2
    hub.alerts.start()
    with TestClient(create_app(hub.runtime)) as client:
        # the suite runs at any hour: no press is flagged as out of the opening hours
        settings = client.get("/api/v1/settings").json()
        settings["trust"]["flag_after_hours"] = False
        answer = client.put("/api/v1/settings", json=settings)
        assert answer.status_code == 200, answer.text
        yield hub, client


@pytest.fixture
def terminal(tmp_path, broker):
    made = []

    def make(device="kiosk-01", display="ili9341", **provisioned) -> Terminal:
        t = Terminal(tmp_path / f"terminal{len(made)}", broker, device=device, display=display, **provisioned)
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop()


def put_survey(client, survey=SURVEY):
    answer = client.put("/api/v1/survey", json=survey)
    assert answer.status_code == 200, answer.text


def answers(db, device="kiosk-01"):
    return db_rows(
        db,
        "SELECT question, value, json_extract(payload, '$.session'), json_extract(payload, '$.option'), "
        "json_extract(payload, '$.dwell_ms'), repeat FROM events WHERE device = ? ORDER BY boot, seq",
        (device,),
    )


def started(t: Terminal, hub) -> None:
    """Power on, wait for the hub's survey to reach the terminal (its welcome screen in two languages)."""
    t.start()
    wait_until(lambda: any(s["kind"] == "welcome" and len(s.get("targets") or s.get("buttons") or []) >= 2
                           and _two_langs(s) for s in t.screens()), 30,
               f"the survey's welcome screen; device log:\n{t.log()[-3000:]}")  # fmt: skip


def _two_langs(s) -> bool:
    acts = s.get("targets") or [[0, 0, 0, 0, *a] if a else None for a in s.get("buttons") or []]
    return {a[5] for a in acts if a and a[4] == "begin"} == {"ru", "en"}


def test_a_visitor_completes_the_survey_on_the_touch_kiosk_and_every_answer_is_stored_once(
    office, terminal, broker
):
    hub, client = office
    tap = Tap(broker)
    put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    kiosk.tap("begin", "en")
    assert kiosk.screen()["id"] == "csat" and kiosk.screen()["lang"] == "en"
    kiosk.answer(5)
    assert kiosk.screen()["id"] == "nps", "a happy visitor skips the critic's question"
    kiosk.answer(9)
    assert kiosk.screen()["kind"] == "thanks"
    db = hub.settings.db_path
    wait_until(lambda: len(answers(db)) == 2, 20, f"two answers stored; log:\n{kiosk.log()[-2000:]}")
    time.sleep(1.5)  # a duplicate would land now
    rows = answers(db)
    assert [(q, v) for q, v, *_ in rows] == [("csat", 5), ("nps", 9)]
    sessions = {r[2] for r in rows}
    assert len(sessions) == 1 and None not in sessions
    assert all(r[4] is not None and r[4] >= 0 for r in rows)
    assert hub.ingestor.stats.duplicates == 0
    contract = Contract(site=SITE)
    for t_, p in tap.messages:
        if "/kiosk-01/" in t_ and t_.rsplit("/", 1)[1] in ("event", "status"):
            contract.parse(t_, p)  # raises on any payload outside the contract
    statuses = [orjson.loads(p) for t_, p in tap.messages if t_.endswith("/kiosk-01/status")]
    assert {s.get("kind") for s in statuses if s.get("state") == "online"} == {"kiosk"}
    tap.close()
    wait_until(lambda: kiosk.screen()["kind"] == "welcome", 10, "back to welcome after the thanks")


def test_a_critic_gets_the_choice_question_and_the_help_offer_and_the_hub_raises_the_alert(office, terminal):
    hub, client = office
    put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    kiosk.tap("begin", "ru")
    kiosk.answer(1)
    assert kiosk.screen()["kind"] == "help"
    kiosk.tap("help", True)
    assert kiosk.screen()["id"] == "what_wrong"
    kiosk.answer(2)
    kiosk.answer(3)
    assert kiosk.screen()["kind"] == "thanks"
    db = hub.settings.db_path
    wait_until(lambda: len(answers(db)) == 4, 20, "four events")
    rows = answers(db)
    assert [(q, v, o) for q, v, _, o, _, _ in rows] == [
        ("csat", 1, None), ("help", 1, None), ("what_wrong", 2, "staff"), ("nps", 3, None),
    ]  # fmt: skip
    assert len({r[2] for r in rows}) == 1
    wait_until(
        lambda: db_rows(db, "SELECT count(*) FROM alerts WHERE kind = 'critic'") == [(1,)],
        20,
        "the critic alert",
    )
    (title,) = db_rows(db, "SELECT title_en FROM alerts WHERE kind = 'critic'")[0]
    assert "administrator" in title and "rating 1 (csat)" in title


def test_an_abandoned_survey_keeps_its_answers_and_a_power_cut_mid_survey_loses_none(office, terminal):
    hub, client = office
    put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    kiosk.tap("begin", "ru")
    kiosk.answer(4)
    kiosk.wait_screen("question", "nps")
    # the visitor walks away: after idle_s (10 s) the kiosk is back on welcome
    count = len(kiosk.screens())
    kiosk.wait_screen("welcome", timeout=20, after=count)
    db = hub.settings.db_path
    wait_until(lambda: [(q, v) for q, v, *_ in answers(db)] == [("csat", 4)], 20, "the answer given")
    # a power cut right after an answer
    kiosk.tap("begin", "ru")
    kiosk.answer(2)
    kiosk.kill()
    kiosk.restart()
    wait_until(lambda: [(q, v) for q, v, *_ in answers(db)] == [("csat", 4), ("csat", 2)], 30,
               f"the answer given before the power cut; log:\n{kiosk.log()[-2000:]}")  # fmt: skip
    assert len({r[2] for r in answers(db)}) == 2, "two visitors, two sessions"


def test_a_power_cut_while_the_hub_is_away_keeps_the_answers_in_flash(
    make_hub, broker, terminal, monkeypatch
):
    monkeypatch.setattr(Hub, "config_round_s", 0.2)
    hub = make_hub()
    with TestClient(create_app(hub.runtime)) as client:
        put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    db = hub.settings.db_path
    broker.stop()  # the office's network is down
    kiosk.tap("begin", "ru")
    kiosk.answer(5)
    kiosk.answer(10)
    time.sleep(0.5)
    kiosk.kill()  # and then the power goes
    broker.start()
    kiosk.restart()
    wait_until(lambda: [(q, v) for q, v, *_ in answers(db)] == [("csat", 5), ("nps", 10)], 60,
               f"both answers after the outage; log:\n{kiosk.log()[-2000:]}")  # fmt: skip
    time.sleep(1.5)  # copies sent before the power cut may arrive again: stored once
    assert len(answers(db)) == 2


def test_a_survey_change_on_the_hub_changes_the_kiosks_screens(office, terminal):
    hub, client = office
    put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    count = len(kiosk.screens())
    ces = {"id": "ces", "text": {"ru": "Легко ли было?", "en": "Was it easy?"}, "scale": "ces7"}
    put_survey(client, {**SURVEY, "langs": ["ru"], "questions": [CSAT, ces]})
    shown = kiosk.wait_screen("welcome", after=count)
    assert [t[4:] for t in shown["targets"]] == [["begin", "ru"]], "one language: the whole screen starts"
    kiosk.tap("begin")
    kiosk.answer(5)
    assert kiosk.screen()["id"] == "ces"
    assert [t[5] for t in kiosk.screen()["targets"]] == list(range(1, 8))


def test_the_panel_shows_the_screens_with_cyrillic_as_the_references(office, terminal):
    _, client = office
    config = json.loads(
        (REFERENCE.parents[2] / "mqtt_schemas/examples/valid/config-kiosk-survey.json").read_text()
    )
    survey = {k: v for k, v in config["payload"].items() if k not in ("v", "device", "rev", "heartbeat_s")}
    put_survey(client, survey)
    kiosk = terminal(device="kiosk-02")
    kiosk.start(env={"OTK_TFT": "1"}, heapsize="512k")  # and the panel emulator's 153,600-byte memory
    kiosk.wait_screen("welcome")
    wait_until(lambda: _two_langs(kiosk.screen()), 30, "the survey's welcome")
    kiosk.tap("begin", "ru")
    got = Image.open(kiosk.shot("csat")).convert("RGB")
    want = Image.open(REFERENCE / "touch-ru-02-question-csat.png").convert("RGB")
    assert got.size == want.size == (320, 240)
    # the panel holds RGB565: compare at that depth
    diff = int((np.abs(np.asarray(got, dtype=int) - np.asarray(want, dtype=int)) > 8).any(axis=2).sum())
    assert diff == 0, f"{diff} pixels differ from the reference"


def test_the_button_survey_terminal_walks_the_same_survey_on_its_oled(office, terminal, broker):
    hub, client = office
    tap = Tap(broker)
    put_survey(client)
    oled = terminal(device="kiosk-03", display="ssd1306", buttons=[1, 2, 3, 4, 5])
    started(oled, hub)
    oled.push("begin", "ru")
    oled.answer(2)
    assert oled.screen()["kind"] == "help"
    oled.push("help", False)
    assert oled.screen()["id"] == "what_wrong"
    oled.answer(3)
    oled.answer(7)  # nps11 on 5 buttons: two steps
    assert oled.screen()["kind"] == "thanks"
    db = hub.settings.db_path
    wait_until(lambda: len(answers(db, "kiosk-03")) == 3, 20, "three answers")
    assert [(q, v, o) for q, v, _, o, _, _ in answers(db, "kiosk-03")] == [
        ("csat", 2, None), ("what_wrong", 3, "unsolved"), ("nps", 7, None),
    ]  # fmt: skip
    statuses = [orjson.loads(p) for t_, p in tap.messages if t_.endswith("/kiosk-03/status")]
    assert {s.get("kind") for s in statuses if s.get("state") == "online"} == {"survey"}
    shot = Image.open(oled.shot("thanks"))
    assert shot.size == (128, 64) and shot.convert("L").getextrema()[1] > 200, "the OLED shows something"
    tap.close()


def test_the_technician_calibrates_the_touch_panel_from_the_menu_and_it_is_kept_in_flash(office, terminal):
    """A panel whose raw range differs from the CYD's usual one (stubs/chips/board.py's panel
    model, OTK_TOUCH_PANEL) is calibrated from the technician's menu: four crosshairs and a check;
    touch.json then maps the panel's raw readings onto the screen within a pixel or two."""
    _, client = office
    put_survey(client)
    kiosk = terminal()
    panel = (3700, 420, 380, 3650, 0)  # a few per cent off the default on every edge
    kiosk.start(env={"OTK_TOUCH_PANEL": ",".join(map(str, panel))})
    wait_until(lambda: kiosk.screen() is not None and _two_langs(kiosk.screen()), 30, "the welcome")
    kiosk.tap_at(8, 8, hold_ms=5600)  # the top-left corner held for 5 s
    menu = kiosk.wait_screen("tech_menu")
    assert {t[5] for t in menu["targets"]} == {"calibrate", "status", "back"}
    kiosk.tap("tech", "status")
    assert kiosk.screen()["kind"] == "tech_status"
    kiosk.tap("tech", "menu")
    count = len(kiosk.screens())
    kiosk.tap("tech", "calibrate")
    for _ in range(5):  # four crosshairs, then the check in the middle
        shown = kiosk.wait_screen("calibrate", after=count)
        count = kiosk.screens().index(shown) + 1
        x, y, *_ = shown["targets"][0]
        kiosk.tap_at(x + 1, y + 1, hold_ms=200)
    kiosk.wait_screen("tech_menu", after=count)
    assert "calibration: Калибровка сохранена" in kiosk.log()
    saved = json.loads((kiosk.flash / "touch.json").read_text())
    a, b, c, d, e, f = saved["affine"]
    rx0, rx1, ry0, ry1, _ = panel
    for sx, sy in ((20, 20), (300, 30), (160, 120), (40, 220), (310, 230)):
        rx, ry = rx0 + (rx1 - rx0) * sx // 320, ry0 + (ry1 - ry0) * sy // 240
        assert abs(a * rx + b * ry + c - sx) <= 2 and abs(d * rx + e * ry + f - sy) <= 2
    kiosk.tap("tech", "back")
    assert kiosk.screen()["kind"] == "welcome"
    # after a reboot the kiosk maps touches through the saved calibration: a tap on a button's
    # edge (3 px inside) still hits it
    kiosk.kill()
    kiosk.start(env={"OTK_TOUCH_PANEL": ",".join(map(str, panel))})
    wait_until(lambda: kiosk.screen() is not None and _two_langs(kiosk.screen()), 30, "the welcome again")
    target = next(t for t in kiosk.screen()["targets"] if t[5] == "en")
    count = len(kiosk.screens())
    kiosk.tap_at(target[0] + target[2] - 3, target[1] + 3)
    shown = kiosk.wait_screen("question", "csat", after=count)
    assert shown["lang"] == "en"


def test_a_critic_leaves_a_number_for_a_call_back_only_after_the_consent_screen(office, terminal):
    hub, client = office
    put_survey(client, {**SURVEY, "callback": True})
    kiosk = terminal()
    started(kiosk, hub)
    kiosk.tap("begin", "ru")
    kiosk.answer(2)
    kiosk.tap("help", False)  # no administrator now
    assert kiosk.screen()["kind"] == "callback"
    kiosk.tap("callback", True)
    assert kiosk.screen()["kind"] == "consent"
    kiosk.tap("consent", True)
    for digit in "89161234567":
        kiosk.tap("key", digit)
    kiosk.tap("phone", "done")
    assert kiosk.screen()["id"] == "what_wrong", "the survey goes on after the number"
    db = hub.settings.db_path
    wait_until(lambda: len(answers(db)) == 2, 20, "the rating and the call-back request")
    (phone, consent, callback) = db_rows(
        db, "SELECT json_extract(payload, '$.phone'), json_extract(payload, '$.consent'), "
        "json_extract(payload, '$.callback') FROM events WHERE question = 'callback'",
    )[0]  # fmt: skip
    assert (phone, consent, callback) == ("+79161234567", 1, 1)
    critics = "SELECT count(*) FROM alerts WHERE kind = 'critic'"
    wait_until(lambda: db_rows(db, critics) == [(1,)], 20, "the alert")
    title, detail = db_rows(db, "SELECT title_en || title_ru, detail FROM alerts WHERE kind = 'critic'")[0]
    assert "call back" in title and "9161234567" not in title + (detail or "")
    assert "9161234567" not in kiosk.log(), "the number is never logged"


def test_a_survey_built_in_the_editor_and_assigned_reaches_the_kiosks_screens(office, terminal):
    """The office page's editor (issue 15): the admin makes a second survey from the bank, assigns
    it to this kiosk, and the MicroPython kiosk's screens change to it; retiring it brings the
    office's main survey back."""
    from edge_hub.api import auth
    from edge_hub.db.store import Store
    from tests.ui.conftest import form_token
    from tests.ui.test_security_limits import sign_in

    hub, client = office
    put_survey(client)
    kiosk = terminal()
    started(kiosk, hub)
    store = Store.writer(hub.runtime.db_path)
    try:
        auth.create_first_admin(store.conn, "admin", "correct horse", "correct horse")
    finally:
        store.close()
    assert sign_in(client, "admin", "correct horse").status_code == 303
    count = len(kiosk.screens())
    csrf = form_token(client, "/survey/edit?new=1")
    form = {
        "csrf": csrf, "action": "save", "count": "5", "survey_id": "s2", "name": "Staff room",
        "audience": "visitors", "langs": ["ru"], "lang": "ru", "devices": ["kiosk-01"],
        "q0.source": "bank:csat", "q1.source": "bank:ces",
    }  # fmt: skip
    saved = client.post("/survey/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303 and "survey=s2" in saved.headers["location"], saved.text[-2000:]
    shown = kiosk.wait_screen("welcome", after=count)
    assert [t[4:] for t in shown["targets"]] == [["begin", "ru"]], "the new survey: Russian only"
    kiosk.tap("begin")
    kiosk.answer(4)
    assert kiosk.screen()["id"] == "ces"
    count = len(kiosk.screens())
    csrf = form_token(client, "/survey/edit")
    assert client.post("/survey/s2/retire", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    kiosk.answer(6)  # the visitor on screen finishes the question read; then the main survey returns
    shown = kiosk.wait_screen("welcome", after=count)
    assert _two_langs(shown), "the main survey again (two languages)"
