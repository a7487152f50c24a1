"""The web kiosk's page (/kiosk/{device}, edge_hub/WEBKIOSK.md "The page"): a tablet's browser running
the office's survey, in Chromium against a real hub process of its own (not the shared seeded one),
each scenario checked against what the hub stored.

1. visitors in Russian and in English: every answer stored once, one session per visitor;
2. offline (the browser, then the hub process itself down): answers kept in IndexedDB, the page
   reloaded from its service worker, everything stored exactly once when the hub is back;
3. a revoked token: the revoked screen, nothing accepted; no token at all: the "not set up" screen;
4. a survey changed on the hub reaches the open page within seconds (a visitor in the middle
   finishes the question on screen first, as on the touch kiosk);
5. the critic's path: help, call back, consent, keypad: one callback event with the number.

Screenshots of every screen go to build/screenshots/webkiosk-*.png.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from axe_playwright_python.base import AXE_SCRIPT

from edge_hub.db.store import Store
from edge_hub.ingest import webkiosk
from edge_hub.office import settings as office_settings
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import Broker, HubProcess, db_rows, wait_until
from tests.ui.conftest import assert_clean_log, shot

TABLETS = (
    "tablet-01", "tablet-02", "tablet-03", "tablet-04", "tablet-05", "tablet-06", "tablet-07", "tablet-08",
    "tablet-09",
)  # fmt: skip
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}
WHAT_WRONG = {
    "id": "what_wrong", "scale": "choice", "show_if": {"question": "csat", "values": [1, 2]},
    "text": {"ru": "Что пошло не так?", "en": "What went wrong?"},
    "options": [
        {"id": "queue", "text": {"ru": "Долго ждал(а) в очереди", "en": "Long wait in the queue"}},
        {"id": "staff", "text": {"ru": "Невежливый сотрудник", "en": "Impolite staff"}},
        {"id": "unsolved", "text": {"ru": "Вопрос не решён", "en": "My issue was not solved"}},
        {"id": "info", "text": {"ru": "Непонятно, какие нужны документы", "en": "Unclear which papers"}},
        {"id": "other", "text": {"ru": "Другое", "en": "Something else"}},
    ],
}  # fmt: skip
SURVEY = {
    "lang": "ru", "langs": ["ru", "en"], "critic_help": True, "callback": True, "idle_s": 60,
    "welcome": {"ru": "Оцените, пожалуйста, наше обслуживание", "en": "Please rate our service"},
    "thanks": {"ru": "Спасибо за ваш отзыв!", "en": "Thank you for your feedback!"},
    "questions": [
        {"id": "csat", "scale": "csat5",
         "text": {"ru": "Как вы оцениваете обслуживание?", "en": "How would you rate our service?"}},
        WHAT_WRONG,
        {"id": "nps", "scale": "nps11",
         "text": {"ru": "Порекомендуете ли вы нас друзьям?", "en": "Would you recommend us to a friend?"}},
    ],
}  # fmt: skip
#: the survey the office switches to in scenario 4: Russian only, the other scales
CHANGED = {
    "lang": "ru", "langs": ["ru"],
    "welcome": {"ru": "Расскажите, как прошёл визит"},
    "questions": [
        {"id": "ces", "text": {"ru": "Насколько легко вам было решить свой вопрос?"}, "scale": "ces7"},
        {"id": "fcr", "text": {"ru": "Ваш вопрос решён сегодня?"}, "scale": "yesno"},
        {"id": "clear_info", "text": {"ru": "Информация на сайте была понятной"}, "scale": "agree11"},
    ],
}  # fmt: skip
#: the fields a survey answer of the touch kiosk has (firmware/lib/otk/survey.py + otk/device.py)
FIRMWARE_FIELDS = {
    "v", "type", "device", "inc", "boot", "seq", "up", "ts", "question", "value", "session", "dwell_ms",
    "repeat", "sent_up", "option", "help", "callback", "phone", "consent",
}  # fmt: skip


@dataclass
class KioskHub:
    url: str
    hub: HubProcess
    tokens: dict[str, str]
    api_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}

    def link(self, device: str) -> str:
        return f"{self.url}/kiosk/{device}#t={self.tokens[device]}"

    def put_survey(self, survey: dict) -> int:
        response = httpx.put(self.url + "/api/v1/survey", json=survey, headers=self.auth, timeout=10)
        assert response.status_code == 200, response.text
        return response.json().get("rev", 0)

    def events(self, device: str) -> list[dict]:
        """The device's stored events (the payload as sent, the phone number included), in order."""
        rows = db_rows(
            self.hub.db, "SELECT payload FROM events WHERE device = ? ORDER BY boot, seq", (device,)
        )
        return [json.loads(row[0]) for row in rows]

    def wait_events(self, device: str, n: int, timeout: float = 20) -> list[dict]:
        wait_until(lambda: len(self.events(device)) >= n, timeout, f"{n} events of {device}", interval=0.2)
        time.sleep(0.3)  # nothing more arrives
        events = self.events(device)
        assert len(events) == n, events
        return events


@pytest.fixture(scope="module")
def kiosk_hub(tmp_path_factory) -> Iterator[KioskHub]:
    directory = tmp_path_factory.mktemp("webkiosk-hub")
    broker = Broker(directory / "broker").start()
    hub = HubProcess(broker, directory / "hub")
    store = Store.open(hub.db)
    try:
        settings = office_settings.load(store.conn)
        settings.trust.flag_after_hours = False  # answers at any hour count, whenever the tests run
        office_settings.save(store.conn, settings)
        api_token = sync_tokens.create_token(store.conn, sync_tokens.SCOPE_API_WRITE, "webkiosk-tests")
        tokens = {device: webkiosk.provision(store.conn, device) for device in TABLETS}
    finally:
        store.close()
    hub.start()
    site = KioskHub(f"http://127.0.0.1:{hub.port}", hub, tokens, api_token)
    site.put_survey(SURVEY)
    yield site
    hub.stop()
    broker.stop()
    assert_clean_log(hub)


@contextmanager
def tablet(chromium, viewport: dict = LANDSCAPE):
    """A fresh browser profile (its own IndexedDB and service workers), as a new tablet."""
    context = chromium.new_context(viewport=viewport, locale="ru-RU", has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"


def screen(page, kind: str, question: str | None = None, timeout: float = 10_000) -> None:
    selector = f"#kiosk[data-screen={kind}]" + (f"[data-question={question}]" if question else "")
    page.wait_for_selector(selector, timeout=timeout)


def tap(page, selector: str) -> None:
    page.locator("#kiosk " + selector).tap()


def visitor(page, lang: str | None, answers: list[tuple[str, int]], shots: str | None = None) -> None:
    """One visitor from the welcome screen to thanks: ``lang`` (None: a tap anywhere starts)."""
    screen(page, "welcome", timeout=8_000)
    if lang:
        tap(page, f"button[data-lang={lang}]")
    else:
        page.locator("#kiosk .welcome .title").tap()
    for question, value in answers:
        screen(page, "question", question)
        if shots:
            shot(page, f"{shots}-{question}")
        tap(page, f"button[data-value='{value}']")
    screen(page, "thanks")


def outbox(page) -> int:
    return int(page.get_attribute("#kiosk", "data-outbox") or 0)


def axe_violations(page) -> list[str]:
    page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    results = page.evaluate("options => axe.run(document, options)", options)
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in results["violations"]]


def check_answers(events: list[dict], device: str) -> None:
    """The identity the page gave each answer: one inc and boot numbering, seqs 1, 2, … per boot."""
    for event in events:
        assert set(event) <= FIRMWARE_FIELDS, set(event) - FIRMWARE_FIELDS
        assert event["device"] == device and event["type"] == "press" and event["v"] == 1
        assert 1 <= event["inc"] <= 4_294_967_295 and event["repeat"] is False
        assert isinstance(event["dwell_ms"], int) and 0 <= event["dwell_ms"] < 600_000
        assert isinstance(event["ts"], int) and abs(event["ts"] - time.time() * 1000) < 600_000
        assert len(event["session"]) == 8 and event["session"].isalnum() and event["session"].islower()
    keys = [(e["inc"], e["boot"], e["seq"]) for e in events]
    assert len(set(keys)) == len(keys)
    assert len({e["inc"] for e in events}) == 1
    for boot in {e["boot"] for e in events}:
        assert sorted(e["seq"] for e in events if e["boot"] == boot) == list(range(1, 1 + sum(
            e["boot"] == boot for e in events)))  # fmt: skip


def test_visitors_in_russian_and_english_each_answer_stored_once(kiosk_hub, chromium):
    device = TABLETS[0]
    with tablet(chromium) as page:
        page.goto(kiosk_hub.link(device))
        screen(page, "welcome")
        assert "#" not in page.url and "otkw_" not in page.url  # the token left the address bar
        page.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")
        assert page.text_content("#kiosk h1") == SURVEY["welcome"]["ru"]
        shot(page, "webkiosk-welcome")
        assert not axe_violations(page)
        visitor(page, "ru", [("csat", 5), ("nps", 9)], shots="webkiosk-ru")
        assert page.get_attribute("html", "lang") == "ru"
        assert page.text_content("#kiosk h1") == SURVEY["thanks"]["ru"]
        shot(page, "webkiosk-thanks")
        visitor(page, "en", [("csat", 4), ("nps", 10)])
        assert page.text_content("#kiosk h1") == SURVEY["thanks"]["en"]
        assert page.get_attribute("html", "lang") == "en"
        events = kiosk_hub.wait_events(device, 4)
        screen(page, "welcome", timeout=8_000)
        page.wait_for_selector("#kiosk[data-outbox='0']")
    check_answers(events, device)
    assert [(e["question"], e["value"]) for e in events] == [
        ("csat", 5),
        ("nps", 9),
        ("csat", 4),
        ("nps", 10),
    ]
    sessions = [e["session"] for e in events]
    assert sessions[0] == sessions[1] != sessions[2] == sessions[3]
    assert all("option" not in e and "phone" not in e for e in events)
    # the heartbeat: the devices page shows the tablet online with its config revision
    sql = "SELECT kind, state, fw, config_rev, outbox FROM devices WHERE device = ?"
    row = db_rows(kiosk_hub.hub.db, sql, (device,))[0]
    assert row[0] == "webkiosk" and row[1] == "online" and row[2].startswith("otk-web") and row[3] >= 1


def test_offline_answers_survive_reloads_and_are_stored_exactly_once(kiosk_hub, chromium):
    device = TABLETS[1]
    with tablet(chromium, PORTRAIT) as page:
        page.goto(kiosk_hub.link(device))
        screen(page, "welcome")
        page.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")  # the office's survey, not the default
        page.wait_for_selector("#kiosk[data-offline-ready='1']")  # the service worker holds the shell
        page.context.set_offline(True)
        visitor(page, "ru", [("csat", 5), ("nps", 8)])
        page.wait_for_selector("#kiosk[data-outbox='2']")
        response = page.reload()
        assert response is not None and response.ok and response.from_service_worker
        screen(page, "welcome")
        page.wait_for_selector("#kiosk[data-outbox='2']")
        visitor(page, "en", [("csat", 4), ("nps", 7)])
        page.wait_for_selector("#kiosk[data-outbox='4']")
        screen(page, "welcome", timeout=8_000)
        shot(page, "webkiosk-offline-portrait")
        assert kiosk_hub.events(device) == []
        page.context.set_offline(False)
        events = kiosk_hub.wait_events(device, 4)
        page.wait_for_selector("#kiosk[data-outbox='0']")

        # the hub process itself down: answers wait, a reload comes from the service worker's cache
        kiosk_hub.hub.stop()
        try:
            visitor(page, "ru", [("csat", 4), ("nps", 10)])
            page.wait_for_selector("#kiosk[data-outbox='2']")
            response = page.reload()
            assert response is not None and response.ok and response.from_service_worker
            screen(page, "welcome")
            page.wait_for_selector("#kiosk .footer .dot.off")  # the hub unreachable, said discreetly
            shot(page, "webkiosk-hub-down")
            visitor(page, "en", [("csat", 3), ("nps", 6)])
            page.wait_for_selector("#kiosk[data-outbox='4']")
        finally:
            kiosk_hub.hub.start()
        events = kiosk_hub.wait_events(device, 8, timeout=30)
        page.wait_for_selector("#kiosk[data-outbox='0']", timeout=15_000)
    check_answers(events, device)
    assert [(e["question"], e["value"]) for e in events] == [
        ("csat", 5), ("nps", 8), ("csat", 4), ("nps", 7), ("csat", 4), ("nps", 10), ("csat", 3), ("nps", 6),
    ]  # fmt: skip
    sessions = [e["session"] for e in events]
    assert len(set(sessions)) == 4 and all(sessions[k] == sessions[k + 1] for k in range(0, 8, 2))
    assert len({e["boot"] for e in events}) == 3  # three page loads: 2 + 2 (reload), 2 (reload) + 2
    # stored exactly once: the hub's dedup key and the page's drop of acked events agree
    sql = "SELECT count(*), count(DISTINCT boot || '/' || seq) FROM events WHERE device = ?"
    rows = db_rows(kiosk_hub.hub.db, sql, (device,))
    assert rows == [(8, 8)]


def test_a_revoked_kiosk_takes_no_more_answers_and_an_unset_one_says_so(kiosk_hub, chromium):
    device = TABLETS[2]
    with tablet(chromium) as page:
        page.goto(kiosk_hub.link(device))
        screen(page, "welcome")
        tap(page, "button[data-lang=ru]")
        screen(page, "question", "csat")
        store = Store.open(kiosk_hub.hub.db)
        try:
            assert webkiosk.revoke(store.conn, device)
        finally:
            store.close()
        if page.get_attribute("#kiosk", "data-screen") == "question":  # the config poll may be first
            tap(page, "button[data-value='5']")
        screen(page, "revoked")
        assert "отозван" in page.text_content("#kiosk h1") and "revoked" in page.text_content("#kiosk h1")
        shot(page, "webkiosk-revoked")
        kept = outbox(page)
        page.reload()
        screen(page, "revoked")  # remembered: no survey on a reload
        assert outbox(page) == kept  # the outbox is kept
        assert page.locator("#kiosk button").count() == 0
    assert kiosk_hub.events(device) == []
    quarantined = db_rows(
        kiosk_hub.hub.db, "SELECT count(*) FROM quarantine WHERE topic LIKE ?", (f"%{device}%",)
    )
    assert quarantined == [(0,)]

    with tablet(chromium, PORTRAIT) as page:  # a tablet opened without its link
        page.goto(f"{kiosk_hub.url}/kiosk/{TABLETS[5]}")
        screen(page, "notset")
        text = page.text_content("#kiosk")
        assert "QR" in text and "не настроен" in text and "not set up" in text
        shot(page, "webkiosk-not-set-up")
        assert not axe_violations(page)


def test_a_survey_changed_on_the_hub_reaches_the_open_page_within_seconds(kiosk_hub, chromium):
    device = TABLETS[3]
    try:
        with tablet(chromium) as page:
            page.goto(kiosk_hub.link(device))
            screen(page, "welcome")
            page.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")
            tap(page, "button[data-lang=ru]")
            screen(page, "question", "csat")
            changed_at = time.monotonic()
            kiosk_hub.put_survey(CHANGED)
            # a visitor in the middle answers the question on screen as they read it, then the new survey
            page.wait_for_selector("#kiosk[data-pending='1']", timeout=8_000)
            assert time.monotonic() - changed_at < 7
            tap(page, "button[data-value='5']")
            screen(page, "thanks")  # the old survey ends there: no question it did not read
            screen(page, "welcome", timeout=8_000)
            assert page.text_content("#kiosk h1") == CHANGED["welcome"]["ru"]
            assert page.locator("#kiosk button[data-lang]").count() == 1  # one language: a tap anywhere
            shot(page, "webkiosk-welcome-one-language")
            visitor(page, None, [("ces", 6), ("fcr", 1), ("clear_info", 10)], shots="webkiosk-scale")
            events = kiosk_hub.wait_events(device, 4)
            assert page.locator("#kiosk button[data-value]").count() == 0
    finally:
        kiosk_hub.put_survey(SURVEY)
    check_answers(events, device)
    assert [(e["question"], e["value"]) for e in events] == [
        ("csat", 5),
        ("ces", 6),
        ("fcr", 1),
        ("clear_info", 10),
    ]
    assert events[0]["session"] != events[1]["session"] == events[3]["session"]


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_the_critic_path_help_callback_consent_keypad_one_callback_event(kiosk_hub, chromium, orientation):
    device = TABLETS[4] if orientation == "portrait" else TABLETS[6]
    viewport = PORTRAIT if orientation == "portrait" else LANDSCAPE
    with tablet(chromium, viewport) as page:
        page.goto(kiosk_hub.link(device))
        screen(page, "welcome")
        page.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")  # the office's survey, not the default
        shot(page, f"webkiosk-welcome-{orientation}")
        tap(page, "button[data-lang=ru]")
        screen(page, "question", "csat")
        shot(page, f"webkiosk-csat-{orientation}")
        tap(page, "button[data-value='1']")
        screen(page, "help")
        shot(page, f"webkiosk-help-{orientation}")
        tap(page, "button[data-answer=yes]")
        screen(page, "callback")
        shot(page, f"webkiosk-callback-{orientation}")
        tap(page, "button[data-answer=yes]")
        screen(page, "consent")
        shot(page, f"webkiosk-consent-{orientation}")
        tap(page, "button[data-answer=yes]")
        screen(page, "phone")
        shot(page, f"webkiosk-phone-empty-{orientation}")
        page.locator("#kiosk button[data-action=done]").tap(force=True)  # no number yet: refused
        screen(page, "phone")
        for key in "891612345670":
            tap(page, f"button[data-key='{key}']")
        tap(page, "button[data-key=del]")
        assert page.text_content("#kiosk .number") == "8 (916) 123-45-67"
        assert "primary" in (page.get_attribute("#kiosk button[data-action=done]", "class") or "")
        shot(page, f"webkiosk-phone-{orientation}")
        assert not axe_violations(page)
        tap(page, "button[data-action=done]")
        screen(page, "question", "what_wrong")
        shot(page, f"webkiosk-choice-{orientation}")
        tap(page, "button[data-value='3']")
        screen(page, "question", "nps")
        shot(page, f"webkiosk-nps-{orientation}")
        tap(page, "button[data-value='0']")
        screen(page, "thanks")
        events = kiosk_hub.wait_events(device, 5)
        page.wait_for_selector("#kiosk[data-outbox='0']")
        # acked events leave the tablet: the number is nowhere in its storage
        stored = page.evaluate(
            """device => new Promise((resolve, reject) => {
                 const open = indexedDB.open('otklik-kiosk-' + device);
                 open.onerror = () => reject(open.error);
                 open.onsuccess = () => {
                   const tx = open.result.transaction(['meta', 'outbox']);
                   const out = {};
                   tx.objectStore('meta').getAll().onsuccess = (e) => { out.meta = e.target.result; };
                   tx.objectStore('outbox').getAll().onsuccess = (e) => { out.outbox = e.target.result; };
                   tx.oncomplete = () => resolve(JSON.stringify(out) + JSON.stringify(localStorage));
                 };
               })""",
            device,
        )
        assert "9161234567" not in stored and '"outbox":[]' in stored
    check_answers(events, device)
    assert [(e["question"], e["value"]) for e in events] == [
        ("csat", 1), ("help", 1), ("callback", 1), ("what_wrong", 3), ("nps", 0),
    ]  # fmt: skip
    assert len({e["session"] for e in events}) == 1
    assert events[1]["help"] is True
    callback = events[2]
    assert (
        callback["phone"] == "+79161234567" and callback["consent"] is True and callback["callback"] is True
    )
    assert events[3]["option"] == "unsolved"
    assert sum("phone" in e for e in events) == 1


def test_the_shell_and_its_service_worker_are_served_for_the_kiosk(kiosk_hub):
    page = httpx.get(f"{kiosk_hub.url}/kiosk/{TABLETS[0]}", timeout=10)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and 'id="kiosk"' in page.text
    sw = httpx.get(f"{kiosk_hub.url}/kiosk-sw.js", timeout=10)
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/kiosk/" and "/api/" in sw.text
    manifest = httpx.get(f"{kiosk_hub.url}/kiosk/{TABLETS[0]}/manifest.webmanifest", timeout=10)
    assert manifest.json()["start_url"] == f"/kiosk/{TABLETS[0]}"
    assert httpx.get(f"{kiosk_hub.url}/kiosk/Not%20an%20id", timeout=10).status_code == 404


#: the same visitors on the firmware's engine (MicroPython) and on the page's (Chromium)
DRIVE_JS = """async ([config, actions, phone]) => {
  let now = 1000, sessions = 0;
  const events = [];
  const survey = new window.otkKiosk.Survey(config, async (body) => { events.push(body); },
    { clock: () => now, session: () => 's' + (++sessions), phone });
  const out = [];
  for (const action of actions) {
    let ok = null;
    if (action[0] === 'wait') { now += action[1]; ok = survey.tick(); }
    else if (action[0] === 'config') survey.configure(action[1]);
    else ok = await survey.act(action);
    const [screen, details] = survey.screen();
    out.push({ ok, busy: survey.busy(), screen, details, events: events.splice(0) });
  }
  out.push({ completed: survey.completed, abandoned: survey.abandoned });
  return out;
}"""


def _keys(digits: str) -> list:
    return [["key", d] for d in digits]


PARITY = [
    # a happy visitor, then a critic answering the choice question, in English
    ([["begin", "ru"], ["wait", 2500], ["answer", 5], ["wait", 3000], ["answer", 9], ["wait", 4000],
      ["begin", "en"], ["wait", 900], ["answer", 2], ["help", False], ["callback", False], ["wait", 1200],
      ["answer", 3], ["answer", 11], ["answer", 0], ["wait", 4000]], True),
    # the whole critic's path: help, call back, consent, a number typed with mistakes, done
    ([["begin", "ru"], ["answer", 1], ["wait", 700], ["help", True], ["callback", True], ["consent", True],
      *_keys("8916"), ["key", "del"], ["phone", "done"], *_keys("6123456789012345"), ["key", "x"],
      ["wait", 5000], ["phone", "done"], ["answer", 1], ["answer", 0], ["wait", 4000]], True),
    # cancel on the keypad, decline the consent; the idle timeout mid-keypad; the lockout's repeat
    ([["begin", "en"], ["answer", 2], ["help", False], ["callback", True], ["consent", True], *_keys("123"),
      ["phone", "cancel"], ["answer", 2], ["answer", 6], ["wait", 4000],
      ["begin", "ru"], ["answer", 1], ["help", False], ["callback", True], ["consent", False],
      ["wait", 29_999], ["wait", 1], ["begin", "ru"], ["answer", 4], ["callback", True], ["wait", 30_000],
      ["wait", 10]], True),
    # a new survey arriving mid-survey (pending until the question on screen is answered); no keypad
    ([["begin", "ru"], ["answer", 2], ["config", {"questions": [{"id": "ces", "text": {"ru": "Легко?"},
      "scale": "ces7"}, {"id": "fcr", "text": {"ru": "Решён?"}, "scale": "yesno"}], "idle_s": 10}],
      ["help", True], ["wait", 4000], ["begin", "en"], ["answer", 8], ["answer", 3], ["answer", 1],
      ["answer", 0], ["wait", 9999], ["wait", 4001], ["begin"], ["answer", 7], ["wait", 10_000]], False),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(PARITY)))
def test_the_page_s_survey_engine_does_what_the_firmware_s_does(kiosk_hub, chromium, case):
    """firmware/lib/otk/survey.py on MicroPython and its port in kiosk.js, fed the same actions,
    show the same screens and record the same events (tests/firmware/scripts/survey_drive.py)."""
    from tests.firmware.test_survey import CALLBACK, drive

    actions, phone = PARITY[case]
    config = {**CALLBACK, "lockout_ms": 10_000}
    steps, totals = drive(actions, config, phone=phone)
    with tablet(chromium) as page:
        page.goto(f"{kiosk_hub.url}/kiosk/{TABLETS[5]}")
        screen(page, "notset")
        js = page.evaluate(DRIVE_JS, [config, actions, phone])
    assert js[-1] == totals
    for k, (fw, web) in enumerate(zip(steps, js[:-1], strict=True)):
        assert web == fw, f"after {actions[k]}"
    assert any(s["events"] for s in steps)


def test_an_admin_builds_a_survey_in_the_editor_assigns_it_and_the_tablet_shows_it(kiosk_hub, chromium):
    """Issue 15's whole path in the browser: the admin makes a survey from the question bank on the
    editor page, assigns it to one web kiosk, and that tablet (open all along on the main survey)
    shows it within seconds; a visitor's answers to it are stored once; the report of that survey
    counts them, the main survey's does not."""
    from edge_hub.api import auth
    from tests.ui.conftest import add_cookies, signed_in

    device = TABLETS[7]
    store = Store.open(kiosk_hub.hub.db)
    try:
        if not auth.users(store.conn):
            auth.create_first_admin(store.conn, "admin", "correct horse 15", "correct horse 15")
    finally:
        store.close()
    with tablet(chromium) as kiosk:
        kiosk.goto(kiosk_hub.link(device))
        screen(kiosk, "welcome")
        kiosk.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")
        before = kiosk.get_attribute("#kiosk", "data-rev")
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        try:
            with signed_in(kiosk_hub.url, "admin", "correct horse 15") as client:
                add_cookies(context, kiosk_hub.url, client)
            admin = context.new_page()
            admin.goto(kiosk_hub.url + "/survey/edit?new=1&lang=en")
            admin.fill("input[name=name]", "Tablet at the exit")
            admin.select_option("select[name='q1.source']", "bank:ces")
            admin.wait_for_selector("input[name='q1.id'][value=ces][readonly]")
            admin.check(f"#survey-assign input[name=devices][value='{device}']")
            admin.click("#editor-save")
            admin.wait_for_url("**/survey/edit?survey=*&saved=*")
            assert device in admin.locator("#survey-list").inner_text()
            sid = admin.url.split("survey=")[1].split("&")[0]
        finally:
            context.close()
        started = time.monotonic()
        kiosk.wait_for_selector(f"#kiosk:not([data-rev='{before}'])", timeout=15_000)
        assert time.monotonic() - started < 15
        visitor(kiosk, "en", [("csat", 4), ("ces", 6)])
        shot(kiosk, "webkiosk-assigned-thanks")
        events = kiosk_hub.wait_events(device, 2)
    assert [(e["question"], e["value"]) for e in events] == [("csat", 4), ("ces", 6)]
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    report = httpx.get(kiosk_hub.url + "/api/v1/survey/report", params={**period, "survey": sid},
                       headers=kiosk_hub.auth, timeout=10).json()  # fmt: skip
    assert [(q["id"], q["n"]) for q in report["questions"]] == [("csat", 1), ("ces", 1)]
    main = httpx.get(kiosk_hub.url + "/api/v1/survey/report", params={**period, "device": device},
                     headers=kiosk_hub.auth, timeout=10).json()  # fmt: skip
    assert all(q["n"] == 0 for q in main["questions"]), "another survey's answers stay out of main's"


def test_a_second_tab_of_the_same_kiosk_waits_for_the_first(kiosk_hub, chromium):
    """Two tabs of one kiosk would interleave their boots and heartbeats (the hub would alert an
    identity going backwards): the second says it is open elsewhere and starts once the first is
    closed; its answers then are stored once, under a new boot."""
    device = TABLETS[6]
    with tablet(chromium) as first:
        first.goto(kiosk_hub.link(device))
        screen(first, "welcome")
        second = first.context.new_page()
        second.goto(f"{kiosk_hub.url}/kiosk/{device}")
        second.wait_for_selector("#kiosk[data-screen=elsewhere]")
        shot(second, "webkiosk-elsewhere")
        before = len(kiosk_hub.events(device))
        first.close()
        screen(second, "welcome")
        second.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")
        visitor(second, "ru", [("csat", 5), ("nps", 9)])
        events = kiosk_hub.wait_events(device, before + 2)
    assert len({(e["inc"], e["boot"], e["seq"]) for e in events}) == len(events)


def test_a_tablet_whose_clock_is_a_day_off_sends_no_time_and_the_hub_dates_its_answers(kiosk_hub, chromium):
    """The hub's answers carry its clock (Date); a tablet a day off sends ts null (never a time the
    contract would quarantine, nor one in the wrong day's numbers), and the hub dates the answers
    by their sent_up on arrival."""
    from email.utils import formatdate

    from playwright.sync_api import Error as PlaywrightError

    device = TABLETS[8]
    with tablet(chromium) as page:
        def day_later(route):  # the hub's Date a day ahead of the tablet's clock
            try:
                response = route.fetch()
                headers = {**response.headers, "date": formatdate(time.time() + 86_400, usegmt=True)}
                route.fulfill(response=response, headers=headers)
            except PlaywrightError:  # the tablet closed under a request in flight
                pass

        page.route("**/api/v1/kiosk/**", day_later)
        page.goto(kiosk_hub.link(device))
        screen(page, "welcome")
        page.wait_for_selector("#kiosk[data-rev]:not([data-rev=''])")
        visitor(page, "ru", [("csat", 5), ("nps", 9)])
        events = kiosk_hub.wait_events(device, 2)
        page.unroute("**/api/v1/kiosk/**")
    assert all(e["ts"] is None and isinstance(e.get("sent_up"), int) for e in events), events
    rows = db_rows(kiosk_hub.hub.db, "SELECT ts, time_source FROM events WHERE device = ?", (device,))
    assert all(abs(ts - time.time() * 1000) < 120_000 for ts, _ in rows), rows
