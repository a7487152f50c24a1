"""Alerts: the rules, their de-duplication and auto-resolution, the lifecycle and its API.

Presses and statuses go through the contract and Ingestor.process into a real SQLite, as from the
broker; :func:`alerts.evaluate` runs with an explicit ``now_ms``.
"""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from edge_hub.alerts import engine as alert_engine
from edge_hub.alerts import lifecycle as alerts
from edge_hub.alerts import rules as alert_rules
from edge_hub.api.routes import alerts as alert_routes
from edge_hub.app import create_app
from edge_hub.db.store import Store
from edge_hub.metrics import aggregates, summary
from edge_hub.office import privacy, scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.runtime import Runtime
from tests.helpers import SITE, FedHub, topic, wait_until

MIN = 60_000
H = 60 * MIN
# Monday 2026-11-23 10:00 Moscow (07:00 UTC): the office is open (Mon-Fri 09-19 by default)
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
MON_09 = MON_10 - H


class Office(FedHub):
    """A hub database fed through the real ingest path: presses and statuses."""

    def presses_from(self, ts: int, values, device: str = "btn-01", gap: int = MIN) -> None:
        for i, value in enumerate(values):
            self.press(ts + i * gap, value, device)

    def status(self, at: int, device: str = "btn-01", state: str = "online", **fields) -> None:
        self.send(topic(device, "status"), {"v": 1, "device": device, "state": state, **fields}, at)

    def evaluate(self, now: int) -> list[int]:
        return alert_rules.evaluate(self.conn, now)

    def alerts(self, kind: str | None = None, state: str | None = None) -> list[dict]:
        return alerts.list_alerts(self.conn, kind=kind, state=state)


@pytest.fixture
def hub_db(tmp_path) -> Office:
    o = Office(tmp_path / "hub.db")
    yield o
    o.store.close()


def _scopes(o: Office, window: str, *devices: str) -> None:
    scopes.put_department(o.conn, "d", "Отдел")
    scopes.put_window(o.conn, window, "d", window)
    for device in devices:
        scopes.assign_device(o.conn, device, window)


# --- critics --------------------------------------------------------------------------------


def test_a_negative_press_with_a_comment_opens_one_critic_alert(hub_db):
    _scopes(hub_db, "w1", "kiosk-01")
    hub_db.press(MON_10, 1, device="kiosk-01", comment="Очень долго ждала")
    (new,) = hub_db.evaluate(MON_10 + MIN)
    (alert,) = hub_db.alerts()
    assert alert["id"] == new and alert["kind"] == "critic" and alert["state"] == "open"
    assert (alert["device"], alert["window"]) == ("kiosk-01", "w1")
    assert alert["detail"]["comment"] == "Очень долго ждала" and alert["detail"]["callback"] is False
    assert alert["detail"]["value"] == 1 and alert["detail"]["question"] == "csat"
    assert "оставил комментарий" in alert["title_ru"] and "left a comment" in alert["title_en"]
    assert [(e["who"], e["action"]) for e in alert["log"]] == [("system", "opened")]
    assert hub_db.evaluate(MON_10 + 2 * MIN) == []
    hub_db.evaluate(MON_10 + 30 * 24 * H)  # (the kiosk is silent by now: another kind)
    (critic,) = hub_db.alerts(kind="critic")
    assert critic["id"] == new, "a critic press gets one alert, ever"
    assert critic["state"] == "open", "a critic alert waits for a person"


def test_a_callback_request_on_a_negative_answer_is_a_critic_on_any_scale(hub_db):
    hub_db.press(MON_10, 2, device="kiosk-01", callback=True)  # csat 2: negative
    hub_db.press(MON_10 + MIN, 6, device="kiosk-02", question="nps", callback=True)  # detractor
    hub_db.press(MON_10 + 2 * MIN, 7, device="kiosk-03", question="nps", callback=True)  # passive
    assert len(hub_db.evaluate(MON_10 + 5 * MIN)) == 2
    assert sorted(a["device"] for a in hub_db.alerts(kind="critic")) == ["kiosk-01", "kiosk-02"]
    assert all(a["detail"]["callback"] is True for a in hub_db.alerts())


def test_a_survey_visitor_asking_for_an_administrator_opens_a_critic_alert_with_the_rating(hub_db):
    """The kiosk's help offer (firmware/lib/otk/survey.py): the main answer, then a help event of
    the same session; the alert names the window and the rating, and nothing personal."""
    _scopes(hub_db, "w2", "kiosk-01")
    survey = {"session": "k7x2", "dwell_ms": 2100}
    hub_db.press(MON_10, 2, device="kiosk-01", **survey)
    hub_db.press(MON_10 + 5_000, 1, device="kiosk-01", question="help", help=True, **survey)
    hub_db.press(MON_10 + MIN, 1, device="kiosk-01", session="other1")  # negative, asked for nothing
    assert len(hub_db.evaluate(MON_10 + 2 * MIN)) == 1
    (alert,) = hub_db.alerts(kind="critic")
    assert alert["window"] == "w2" and alert["detail"]["help"] is True
    assert (alert["detail"]["question"], alert["detail"]["value"]) == ("csat", 2)
    assert "администратора" in alert["title_ru"] and "оценка 2" in alert["title_ru"]
    assert "administrator now" in alert["title_en"]
    assert hub_db.evaluate(MON_10 + 3 * MIN) == []


PHONE = "+79161234567"
CALLBACK = {"callback": True, "phone": PHONE, "consent": True}


def test_a_survey_visitor_asking_for_a_call_back_opens_a_critic_alert_without_the_number(hub_db):
    """The kiosk's call-back offer (config callback): the main answer, then a callback event of the
    same session with the number; the alert names the window and the rating, never the number,
    which stays in the event for the alerts page; and the event counts in no metric."""
    _scopes(hub_db, "w3", "kiosk-01")
    hub_db.press(MON_10, 2, device="kiosk-01", session="cb1", dwell_ms=2100)
    hub_db.press(MON_10 + 20_000, 1, device="kiosk-01", question="callback", session="cb1", dwell_ms=18_000,
                 **CALLBACK)  # fmt: skip
    assert len(hub_db.evaluate(MON_10 + MIN)) == 1
    (alert,) = hub_db.alerts(kind="critic")
    assert (
        alert["title_ru"] == "Посетитель просит перезвонить: оценка 2 (csat), окно w3 (устройство kiosk-01)"
    )
    assert alert["title_en"] == "A visitor asks for a call back: rating 2 (csat), window w3 (device kiosk-01)"
    assert (
        alert["window"] == "w3" and alert["detail"]["callback"] is True and alert["detail"]["help"] is False
    )
    assert (alert["detail"]["question"], alert["detail"]["value"]) == ("csat", 2)
    stored = orjson.dumps(alert).decode()
    assert PHONE not in stored and PHONE[1:] not in stored, "the number is in the alert"
    assert privacy.phone_of(hub_db.conn, alert["detail"]["event"]) == PHONE  # the page's source
    assert hub_db.evaluate(MON_10 + 2 * MIN) == [], "one alert, ever"
    day = summary.summary(hub_db.conn, MON_10 - 60 * MIN, MON_10 + 60 * MIN)
    assert day["ratings"] == 1 and day["metrics"]["csat"]["n"] == 1 and "callback" not in day["metrics"]


def test_a_call_back_without_a_session_or_a_rating_still_opens_its_alert(hub_db):
    hub_db.press(MON_10, 1, device="kiosk-02", question="callback", session="lone", **CALLBACK)
    assert len(hub_db.evaluate(MON_10 + MIN)) == 1
    (alert,) = hub_db.alerts()
    assert (
        alert["title_en"] == "A visitor asks for a call back, device kiosk-02"
        and alert["detail"]["value"] is None
    )
    # a flagged one (inside the lockout) opens none
    hub_db.press(
        MON_10 + 2 * MIN, 1, device="kiosk-03", question="callback", session="rep", repeat=True, **CALLBACK
    )
    assert hub_db.evaluate(MON_10 + 3 * MIN) == []


@pytest.mark.parametrize(
    ("value", "extra"),
    [
        (5, {"comment": "Спасибо, всё быстро!"}),  # positive with a comment
        (3, {"comment": "Так себе", "callback": True}),  # neutral
        (1, {}),  # negative, no comment, no callback
        (1, {"callback": False}),
        (1, {"comment": "   "}),  # a comment of blanks says nothing
    ],
    ids=["positive-comment", "neutral", "negative-bare", "callback-false", "blank-comment"],
)
def test_not_a_critic(hub_db, value, extra):
    hub_db.press(MON_10, value, device="kiosk-01", **extra)
    assert hub_db.evaluate(MON_10 + MIN) == []
    assert hub_db.alerts() == []


def test_a_flagged_critic_press_opens_no_alert(hub_db):
    hub_db.press(MON_09 - 2 * H, 1, device="kiosk-01", comment="ночью")  # 07:00: after hours
    hub_db.press(MON_10, 1, device="kiosk-02", comment="раз")
    hub_db.press(MON_10 + 1000, 1, device="kiosk-02", comment="два", repeat=True)  # inside the lockout
    flags = [f for (f,) in hub_db.conn.execute("SELECT flag FROM events ORDER BY id")]
    assert flags == ["after_hours", None, "repeat"]
    hub_db.evaluate(MON_10 + MIN)
    assert [a["detail"]["comment"] for a in hub_db.alerts()] == ["раз"]


def test_a_critic_press_trusted_after_a_rebuild_gets_its_alert(hub_db):
    _scopes(hub_db, "w1", "kiosk-01")
    scopes.put_operator(hub_db.conn, "ivanova", "Иванова")
    shift_rules.add_shift(hub_db.conn, "ivanova", "w1", MON_09, MON_10)  # staffed, but not at 10:30
    hub_db.press(MON_10 + 30 * MIN, 1, device="kiosk-01", callback=True)
    assert hub_db.conn.execute("SELECT flag FROM events").fetchone() == ("no_operator",)
    assert hub_db.evaluate(MON_10 + 31 * MIN) == []
    shift_rules.add_shift(hub_db.conn, "ivanova", "w1", MON_10, MON_10 + 8 * H)  # entered after the fact
    aggregates.rebuild(hub_db.conn, MON_09, MON_10 + 8 * H)
    (new,) = hub_db.evaluate(MON_10 + 2 * H)
    assert alerts.get(hub_db.conn, new)["detail"]["operator"] == "ivanova"


def test_comment_and_callback_are_stored_in_the_payload_and_checked_by_the_contract(hub_db):
    hub_db.press(MON_10, 1, device="kiosk-01", comment="я" * 500, callback=True)
    hub_db.press(MON_10 + MIN, 1, device="kiosk-01", comment="")  # empty: breaks the schema
    hub_db.press(MON_10 + 2 * MIN, 1, device="kiosk-01", comment="я" * 501)
    (payload,) = [orjson.loads(p) for (p,) in hub_db.conn.execute("SELECT payload FROM events")]
    assert payload["comment"] == "я" * 500 and payload["callback"] is True
    assert [r for (r,) in hub_db.conn.execute("SELECT reason FROM quarantine")] == ["schema", "schema"]


# --- negative spike -------------------------------------------------------------------------


def test_a_negative_spike_opens_at_the_threshold_and_not_below(hub_db):
    hub_db.presses_from(MON_10, (5, 1, 4, 2), device="btn-01")  # 2 of 4 = 50 %: a spike
    hub_db.presses_from(MON_10, (5, 1, 4, 3), device="btn-02")  # 1 of 4 = 25 %
    hub_db.presses_from(MON_10, (1, 2, 4), device="btn-03")  # 2 of 3: too few ratings
    now = MON_10 + 5 * MIN
    (new,) = hub_db.evaluate(now)
    (alert,) = hub_db.alerts()
    assert alert["id"] == new and alert["kind"] == "negative_spike"
    assert alert["key"] == "negative_spike:device:btn-01" and alert["device"] == "btn-01"
    assert alert["detail"] | {"share": 0.5} == {
        "question": "csat", "n": 4, "negative": 2, "share": 0.5, "minutes": 15, "threshold": 0.5, "min_n": 4,
    }  # fmt: skip
    assert "2 из 4" in alert["title_ru"] and "2 of 4" in alert["title_en"]
    assert hub_db.evaluate(now + MIN) == [], "one open alert per scope"
    assert len(hub_db.alerts()) == 1


def test_a_spike_counts_per_window_across_its_devices(hub_db):
    _scopes(hub_db, "w1", "btn-01", "btn-02")
    hub_db.presses_from(MON_10, (5, 1), device="btn-01")
    hub_db.presses_from(MON_10, (4, 2), device="btn-02")
    (_,) = hub_db.evaluate(MON_10 + 5 * MIN)
    (alert,) = hub_db.alerts()
    assert (alert["key"], alert["window"], alert["device"]) == ("negative_spike:window:w1", "w1", None)


def test_a_spike_ignores_flagged_presses_and_other_questions(hub_db):
    hub_db.presses_from(MON_10, (5, 4, 1), device="btn-01")
    hub_db.press(MON_10 + 3 * MIN + 500, 1, device="btn-01", repeat=True)  # flagged: not counted
    hub_db.press(MON_10 + 4 * MIN, 0, device="btn-01", question="nps")  # not the main question
    assert hub_db.evaluate(MON_10 + 5 * MIN) == []
    hub_db.press(MON_10 + 5 * MIN, 2, device="btn-01")  # a trusted one: 2 of 4
    assert len(hub_db.evaluate(MON_10 + 6 * MIN)) == 1


def test_a_spike_resolves_itself_when_it_is_over_even_if_acknowledged(hub_db):
    hub_db.presses_from(MON_10, (1, 1, 5, 5), device="btn-01")
    (new,) = hub_db.evaluate(MON_10 + 4 * MIN)
    alerts.acknowledge(hub_db.conn, new, "Петров", "смотрю", now_ms=MON_10 + 5 * MIN)
    hub_db.press(MON_10 + 6 * MIN, 5)  # 2 of 5 = 40 %: below the threshold
    assert hub_db.evaluate(MON_10 + 7 * MIN) == []
    (alert,) = hub_db.alerts()
    assert alert["state"] == "resolved" and alert["resolved_by"] == "system"
    assert alert["resolved_at"] == MON_10 + 7 * MIN and " / " in alert["resolved_comment"]
    assert [(e["who"], e["action"]) for e in alert["log"]] == [
        ("system", "opened"), ("Петров", "acknowledged"), ("system", "resolved"),
    ]  # fmt: skip
    # a new spike later is a new alert
    hub_db.presses_from(MON_10 + H, (1, 2, 1, 1), device="btn-01")
    assert len(hub_db.evaluate(MON_10 + H + 4 * MIN)) == 1
    assert [a["state"] for a in hub_db.alerts()] == ["open", "resolved"]


def test_the_spike_thresholds_come_from_the_office_settings(hub_db):
    rules = office_settings.AlertRules(spike_share=0.75, spike_min_n=3, spike_minutes=5)
    office_settings.save(hub_db.conn, office_settings.OfficeSettings(alerts=rules))
    hub_db.presses_from(MON_10, (1, 1, 5), device="btn-01")  # 2 of 3 = 67 % < 75 %
    hub_db.presses_from(MON_10, (1, 1, 1), device="btn-02")  # 3 of 3
    hub_db.evaluate(MON_10 + 3 * MIN)
    assert [a["device"] for a in hub_db.alerts()] == ["btn-02"]
    assert hub_db.evaluate(MON_10 + 8 * MIN) == []  # older than 5 minutes now: over
    assert hub_db.alerts()[0]["state"] == "resolved"


# --- device health --------------------------------------------------------------------------


def test_a_silent_device_during_opening_hours(hub_db):
    hub_db.press(MON_10, 5)
    hub_db.status(MON_10, device="btn-09")  # never pressed: never silent
    assert hub_db.evaluate(MON_10 + 119 * MIN) == []
    (_,) = hub_db.evaluate(MON_10 + 120 * MIN)
    (alert,) = hub_db.alerts()
    assert (alert["kind"], alert["device"], alert["detail"]["last_press"]) == (
        "device_silent",
        "btn-01",
        MON_10,
    )
    assert hub_db.evaluate(MON_10 + 3 * H) == []
    hub_db.press(MON_10 + 3 * H, 4)
    hub_db.evaluate(MON_10 + 3 * H + MIN)
    assert hub_db.alerts()[0]["state"] == "resolved" and hub_db.alerts()[0]["resolved_by"] == "system"


def test_closed_hours_do_not_count_as_silence(hub_db):
    hub_db.press(MON_10 + 7 * H + 30 * MIN, 5)  # Monday 17:30
    assert hub_db.evaluate(MON_10 + 12 * H) == []  # 22:00: closed, and only 90 open minutes
    assert hub_db.evaluate(MON_09 + 24 * H + 29 * MIN) == []  # Tuesday 09:29: 119 open minutes
    assert len(hub_db.evaluate(MON_09 + 24 * H + 30 * MIN)) == 1  # 09:30: 120


def test_a_silence_reached_while_closed_opens_no_alert_until_the_office_opens(hub_db):
    hub_db.press(MON_10, 5)
    assert hub_db.evaluate(MON_10 + 12 * H) == []  # Monday 22:00: silent, but the office is closed
    assert hub_db.evaluate(MON_09 + 24 * H - 1) == []
    assert len(hub_db.evaluate(MON_09 + 24 * H)) == 1  # Tuesday 09:00


def test_offline_after_the_delay_but_asleep_is_not_offline(hub_db):
    hub_db.status(MON_10, device="btn-01", kind="button", battery_mv=3900)
    hub_db.status(MON_10, device="btn-02", kind="button", battery_mv=3900)
    hub_db.status(MON_10 + MIN, device="btn-01", state="offline")  # its last will
    hub_db.status(MON_10 + MIN, device="btn-02", state="asleep", battery_mv=3900, wake_in_s=21600)
    assert hub_db.evaluate(MON_10 + 10 * MIN) == []
    (_,) = hub_db.evaluate(MON_10 + 11 * MIN)
    (alert,) = hub_db.alerts()
    assert (alert["kind"], alert["device"], alert["detail"]["since"]) == (
        "device_offline",
        "btn-01",
        MON_10 + MIN,
    )
    assert hub_db.evaluate(MON_10 + 5 * H) == [], "btn-02 sleeps; btn-01 already has its alert"
    hub_db.status(MON_10 + 6 * H, device="btn-01")  # back online
    hub_db.evaluate(MON_10 + 6 * H)
    assert hub_db.alerts()[0]["state"] == "resolved"


def test_low_battery_from_a_status_resolves_above_the_threshold_with_hysteresis(hub_db):
    hub_db.status(MON_10, device="btn-01", battery_mv=3250)
    hub_db.status(MON_10, device="btn-02", battery_mv=3300)  # at the threshold: not below it
    hub_db.status(MON_10, device="kiosk-01", battery_mv=None)  # wired
    (_,) = hub_db.evaluate(MON_10)
    (alert,) = hub_db.alerts()
    assert (alert["kind"], alert["device"], alert["detail"]["battery_mv"]) == ("low_battery", "btn-01", 3250)
    hub_db.status(MON_10 + H, device="btn-01", battery_mv=3350)  # above, within the hysteresis
    assert hub_db.evaluate(MON_10 + H) == [] and hub_db.alerts()[0]["state"] == "open"
    hub_db.status(MON_10 + 2 * H, device="btn-01", battery_mv=4100)  # a new battery
    hub_db.evaluate(MON_10 + 2 * H)
    assert hub_db.alerts()[0]["state"] == "resolved"


# --- the lifecycle --------------------------------------------------------------------------


def test_the_lifecycle_refuses_what_its_states_do_not_allow(hub_db):
    hub_db.press(MON_10, 1, device="kiosk-01", callback=True)
    hub_db.press(MON_10 + MIN, 2, device="kiosk-02", callback=True)
    first, second = hub_db.evaluate(MON_10 + 2 * MIN)
    alerts.resolve(hub_db.conn, second, "Иванова", None)  # open -> resolved directly
    alerts.acknowledge(hub_db.conn, first, "Иванова", "звоню")
    with pytest.raises(alerts.AlertConflict, match=r"acknowledged / .*принято"):
        alerts.acknowledge(hub_db.conn, first, "Иванова", "ещё раз")
    with pytest.raises(alerts.AlertConflict, match=r"resolved: it cannot be resolved / .*закрыто"):
        alerts.resolve(hub_db.conn, second, "Иванова")
    with pytest.raises(alerts.AlertConflict):
        alerts.acknowledge(hub_db.conn, second, "Иванова")
    with pytest.raises(alerts.AlertNotFound, match="no alert 99 / "):
        alerts.resolve(hub_db.conn, 99, "Иванова")
    with pytest.raises(alerts.AlertError, match="say who you are"):
        alerts.resolve(hub_db.conn, first, "  ")
    assert not hub_db.conn.in_transaction


def test_the_lifecycle_through_the_api(hub_db):
    client = TestClient(create_app(Runtime(SITE, hub_db.path, "mqtt://test")))
    hub_db.press(MON_10, 1, device="kiosk-01", comment="Нахамили в окне", callback=True)
    new = client.post("/api/v1/alerts/evaluate").json()["new"]
    (critic,) = client.get("/api/v1/alerts", params={"kind": "critic"}).json()
    assert critic["id"] in new and critic["state"] == "open"
    assert critic["detail"]["comment"] == "Нахамили в окне"
    assert client.post("/api/v1/alerts/evaluate").json() == {"new": []}
    url = f"/api/v1/alerts/{critic['id']}"

    acked = client.post(f"{url}/ack", json={"who": "Иванова", "comment": "перезвоню до 12:00"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged" and acked.json()["ack_by"] == "Иванова"
    assert client.post(f"{url}/ack", json={"who": "Иванова"}).status_code == 409
    done = client.post(f"{url}/resolve", json={"who": "Иванова", "comment": "извинились, записали на завтра"})
    assert done.status_code == 200 and done.json()["resolved_comment"] == "извинились, записали на завтра"
    again = client.post(f"{url}/resolve", json={"who": "Петров", "comment": "ещё раз"})
    assert again.status_code == 409 and " / " in again.json()["detail"]

    got = client.get(url).json()
    assert got["state"] == "resolved" and got["resolved_by"] == "Иванова"
    assert [(e["who"], e["action"], e["comment"]) for e in got["log"]] == [
        ("system", "opened", None),
        ("Иванова", "acknowledged", "перезвоню до 12:00"),
        ("Иванова", "resolved", "извинились, записали на завтра"),
    ]
    assert got["opened_at"].endswith("Z") or got["opened_at"].endswith("+00:00")
    assert (
        client.get("/api/v1/alerts", params={"state": "resolved", "kind": "critic"}).json()[0]["id"]
        == got["id"]
    )
    assert client.get("/api/v1/alerts", params={"state": "active", "kind": "critic"}).json() == []
    assert client.get("/api/v1/alerts/999").status_code == 404
    assert client.post("/api/v1/alerts/999/ack", json={"who": "x"}).status_code == 404
    assert client.post(f"{url}/ack", json={"who": ""}).status_code == 422
    assert client.get("/api/v1/alerts", params={"state": "closed"}).status_code == 422


def test_alerts_are_listed_newest_first(hub_db):
    for i in range(3):
        hub_db.press(MON_10 + i * MIN, 1, device="kiosk-01", callback=True)
        hub_db.evaluate(MON_10 + i * MIN + 1000)
    listed = hub_db.alerts()
    assert [a["detail"]["ts"] for a in listed] == [MON_10 + 2 * MIN, MON_10 + MIN, MON_10]
    assert len(alerts.list_alerts(hub_db.conn, limit=2)) == 2


def test_one_unresolved_alert_per_key_is_guarded_by_the_database(hub_db):
    hub_db.presses_from(MON_10, (1, 1, 1, 1))
    hub_db.evaluate(MON_10 + 5 * MIN)
    with pytest.raises(Exception, match="UNIQUE"):
        hub_db.conn.execute(
            "INSERT INTO alerts (kind, state, key, opened_at, title_ru, title_en, detail, updated_at) "
            "VALUES ('negative_spike', 'open', 'negative_spike:device:btn-01', 0, '', '', '{}', 0)"
        )
    hub_db.conn.rollback()
    Store.open(hub_db.path).close()  # migrating again is harmless


def test_the_api_kinds_are_the_library_kinds():
    assert typing.get_args(alert_routes.Kind) == alerts.KINDS
    assert typing.get_args(alert_routes.State) == alerts.STATES


# --- the engine -----------------------------------------------------------------------------


def test_the_engine_evaluates_on_its_own_connection_until_stopped(hub_db):
    hub_db.press(MON_10, 1, device="kiosk-01", callback=True)
    engine = alert_engine.AlertEngine(hub_db.path, interval_s=0.02, clock=lambda: MON_10 + MIN)
    engine.start()
    try:
        wait_until(lambda: hub_db.alerts(kind="critic"), 5, "the engine to open the critic alert")
        wait_until(lambda: engine.rounds >= 3, 5, "a few more rounds")
    finally:
        engine.stop()
    assert engine.last_error is None
    assert len(hub_db.alerts(kind="critic")) == 1
    rounds = engine.rounds
    assert engine._thread is None and engine.rounds == rounds
