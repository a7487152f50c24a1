"""Scopes through the real API of a running hub (real broker, real SQLite): departments, windows,
operators, devices on windows, shifts and their CSV import, served clients, office settings."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.office import scopes
from edge_hub.office import shifts as shift_rules
from tests.helpers import DeviceClient, press, wait_until

MOSCOW = ZoneInfo("Europe/Moscow")  # the default office time zone


def ms(local: str, zone: ZoneInfo = MOSCOW) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=zone).timestamp() * 1000)


@pytest.fixture
def api(hub) -> TestClient:
    return TestClient(create_app(hub.runtime))


@pytest.fixture
def db(hub):
    """A read-only connection to the hub's database, beside the hub's own writer."""
    conn = sqlite3.connect(f"file:{hub.runtime.db_path}?mode=ro", uri=True, timeout=5)
    yield conn
    conn.close()


@pytest.fixture
def office(api) -> TestClient:
    """Department 'loans' with windows w1 and w2; operators ivanova and petrov."""
    assert api.put("/api/v1/departments/loans", json={"name": "Кредиты"}).status_code == 200
    for window in ("w1", "w2"):
        body = {"department": "loans", "name": f"Окно {window[1]}"}
        assert api.put(f"/api/v1/windows/{window}", json=body).status_code == 200
    for operator, name in (("ivanova", "Иванова А."), ("petrov", "Петров П.")):
        assert api.put(f"/api/v1/operators/{operator}", json={"name": name}).status_code == 200
    return api


def shift(api: TestClient, operator: str, window: str, start: str, end: str):
    return api.post(
        "/api/v1/shifts", json={"operator": operator, "window": window, "start": start, "end": end}
    )


def bilingual(response) -> str:
    """The error message of a refusal, checked to be "English / Russian"."""
    detail = response.json()["detail"]
    assert isinstance(detail, str) and " / " in detail, detail
    assert any("а" <= ch <= "я" for ch in detail.split(" / ", 1)[1].lower()), detail
    return detail


def test_departments_windows_and_operators_are_created_listed_and_renamed(office):
    api = office
    assert api.get("/api/v1/departments").json() == [{"id": "loans", "name": "Кредиты"}]
    assert api.put("/api/v1/departments/loans", json={"name": "Кредиты и вклады"}).json()["name"] == (
        "Кредиты и вклады"
    )
    assert api.get("/api/v1/departments/loans").json() == {"id": "loans", "name": "Кредиты и вклады"}
    assert [w["id"] for w in api.get("/api/v1/windows", params={"department": "loans"}).json()] == [
        "w1",
        "w2",
    ]
    assert api.get("/api/v1/windows/w2").json() == {
        "id": "w2",
        "department": "loans",
        "name": "Окно 2",
        "devices": [],
    }
    assert [o["name"] for o in api.get("/api/v1/operators").json()] == ["Иванова А.", "Петров П."]
    # unknown ids in the path: 404; ids that break the pattern or unknown references in the body: 422
    bilingual(not_found := api.get("/api/v1/windows/w9"))
    assert not_found.status_code == 404
    assert api.get("/api/v1/operators/nobody").status_code == 404
    assert api.put("/api/v1/windows/W-1", json={"department": "loans", "name": "x"}).status_code == 422
    assert api.put("/api/v1/operators/ivanova", json={"name": ""}).status_code == 422
    unknown_dep = api.put("/api/v1/windows/w3", json={"department": "cards", "name": "Окно 3"})
    assert unknown_dep.status_code == 422 and "cards" in bilingual(unknown_dep)
    assert api.get("/api/v1/windows/w3").status_code == 404


def test_a_device_is_put_on_a_window_before_or_after_it_was_seen(office, broker, db):
    api = office
    # btn-01 has pressed already; btn-05 has never been seen: its row is created
    device = DeviceClient(broker, "btn-01")
    device.send(press("btn-01", seq=1))
    device.wait_acked({(1, 1)})
    assert api.put("/api/v1/devices/btn-01/window", json={"window": "w1"}).json() == {
        "device": "btn-01",
        "window": "w1",
    }
    assert api.put("/api/v1/devices/btn-05/window", json={"window": "w1"}).status_code == 200
    assert api.get("/api/v1/windows/w1").json()["devices"] == ["btn-01", "btn-05"]
    registry = {d["device"]: d for d in api.get("/api/v1/devices").json()}
    assert registry["btn-05"]["first_seen"] and registry["btn-05"]["last_seen"]
    # the next press of btn-01 is attributed to its window and to the operator on shift then
    t = press("btn-01", seq=2)["ts"]
    assert shift_rules.operator_at(db, "w1", t) is None
    start = datetime.fromtimestamp((t - 60_000) / 1000, MOSCOW).isoformat()
    end = datetime.fromtimestamp((t + 60_000) / 1000, MOSCOW).isoformat()
    assert shift(api, "petrov", "w1", start, end).status_code == 201
    device.send(press("btn-01", seq=2))
    device.wait_acked({(1, 2)})
    event = wait_until(
        lambda: next((e for e in api.get("/api/v1/events").json()["items"] if e["seq"] == 2), None),
        10,
        "the second press",
    )
    assert (event["window"], event["operator"]) == ("w1", "petrov")
    # moving and taking off; refusals
    assert api.put("/api/v1/devices/btn-05/window", json={"window": "w2"}).json()["window"] == "w2"
    assert api.put("/api/v1/devices/btn-01/window", json={"window": None}).json()["window"] is None
    assert api.get("/api/v1/windows/w1").json()["devices"] == []
    assert api.put("/api/v1/devices/btn-01/window", json={"window": "w9"}).status_code == 422
    assert api.put("/api/v1/devices/btn-77/window", json={"window": None}).status_code == 404
    assert api.put("/api/v1/devices/BTN 1/window", json={"window": "w1"}).status_code == 422
    device.close()


def test_operator_at_counts_the_start_in_and_the_end_out(office, db):
    api = office
    first = shift(api, "ivanova", "w1", "2026-11-23T09:00", "2026-11-23T13:00")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["start"] == "2026-11-23T09:00:00+03:00" and body["end"] == "2026-11-23T13:00:00+03:00"
    # a shift that starts when the other ends does not overlap it
    second = shift(api, "petrov", "w1", "2026-11-23T13:00", "2026-11-23T18:00")
    assert second.status_code == 201, second.text
    nine, one, six = ms("2026-11-23T09:00"), ms("2026-11-23T13:00"), ms("2026-11-23T18:00")
    assert shift_rules.operator_at(db, "w1", nine - 1) is None
    assert shift_rules.operator_at(db, "w1", nine) == "ivanova"
    assert shift_rules.operator_at(db, "w1", one - 1) == "ivanova"
    assert shift_rules.operator_at(db, "w1", one) == "petrov"
    assert shift_rules.operator_at(db, "w1", six - 1) == "petrov"
    assert shift_rules.operator_at(db, "w1", six) is None
    assert shift_rules.operator_at(db, "w2", nine) is None
    # an explicit offset wins over the office zone
    utc = shift(api, "ivanova", "w2", "2026-11-24T06:00:00Z", "2026-11-24T07:00:00Z").json()
    assert utc["start"] == "2026-11-24T09:00:00+03:00"
    listed = api.get(
        "/api/v1/shifts", params={"window": "w1", "from": "2026-11-23T12:00", "to": "2026-11-23T13:00"}
    )
    assert [s["operator"] for s in listed.json()] == ["ivanova"]  # [from, to) overlaps the first only
    assert [s["window"] for s in api.get("/api/v1/shifts", params={"operator": "ivanova"}).json()] == [
        "w1",
        "w2",
    ]
    assert api.delete(f"/api/v1/shifts/{second.json()['id']}").status_code == 204
    assert shift_rules.operator_at(db, "w1", one) is None
    assert api.delete(f"/api/v1/shifts/{second.json()['id']}").status_code == 404


def test_overlapping_and_invalid_shifts_are_refused(office, db):
    api = office
    assert shift(api, "ivanova", "w1", "2026-11-23T09:00", "2026-11-23T13:00").status_code == 201
    same_window = shift(api, "petrov", "w1", "2026-11-23T12:59", "2026-11-23T15:00")
    assert same_window.status_code == 409
    assert "ivanova" in bilingual(same_window) and "09:00" in same_window.json()["detail"]
    same_operator = shift(api, "ivanova", "w2", "2026-11-23T08:00", "2026-11-23T09:01")
    assert same_operator.status_code == 409 and bilingual(same_operator)
    inside = shift(api, "petrov", "w1", "2026-11-23T10:00", "2026-11-23T11:00")
    assert inside.status_code == 409
    backwards = shift(api, "petrov", "w2", "2026-11-23T13:00", "2026-11-23T13:00")
    assert backwards.status_code == 422 and bilingual(backwards)
    assert shift(api, "nobody", "w2", "2026-11-23T14:00", "2026-11-23T15:00").status_code == 422
    assert shift(api, "petrov", "w9", "2026-11-23T14:00", "2026-11-23T15:00").status_code == 422
    assert db.execute("SELECT count(*) FROM shifts").fetchone()[0] == 1


def test_csv_import_with_english_or_russian_headers(office):
    api = office
    english = (
        "operator,window,start,end\n"
        "ivanova,w1,2026-11-23 09:00,2026-11-23 13:00\n"
        "petrov,w1,2026-11-23 13:00,2026-11-23 18:00\n"
        "\n"
        "petrov,w2,2026-11-24T06:00:00+00:00,2026-11-24T10:00:00+00:00\n"
    )
    done = api.post("/api/v1/shifts/import", content=english, headers={"content-type": "text/csv"})
    assert done.status_code == 201, done.text
    assert done.json() == {"added": 3}
    # as Excel saves it in a Russian locale: ';' between fields, day.month.year, Windows-1251
    russian = (
        "Оператор;Окно;Начало;Конец;Комментарий\r\n"
        "ivanova;w2;25.11.2026 09:00;25.11.2026 18:00;полный день\r\n"
    )
    done = api.post(
        "/api/v1/shifts/import", content=russian.encode("cp1251"), headers={"content-type": "text/csv"}
    )
    assert done.status_code == 201, done.text
    assert done.json() == {"added": 1}
    utf8 = "\ufeffоператор,окно,начало,конец\npetrov,w1,2026-11-26 09:00,2026-11-26 12:00\n"
    assert api.post(
        "/api/v1/shifts/import", content=utf8.encode(), headers={"content-type": "text/csv"}
    ).json() == {"added": 1}
    got = [(s["operator"], s["window"], s["start"], s["end"]) for s in api.get("/api/v1/shifts").json()]
    assert got == [
        ("ivanova", "w1", "2026-11-23T09:00:00+03:00", "2026-11-23T13:00:00+03:00"),
        ("petrov", "w1", "2026-11-23T13:00:00+03:00", "2026-11-23T18:00:00+03:00"),
        ("petrov", "w2", "2026-11-24T09:00:00+03:00", "2026-11-24T13:00:00+03:00"),
        ("ivanova", "w2", "2026-11-25T09:00:00+03:00", "2026-11-25T18:00:00+03:00"),
        ("petrov", "w1", "2026-11-26T09:00:00+03:00", "2026-11-26T12:00:00+03:00"),
    ]


def test_csv_import_is_all_or_nothing_and_lists_every_bad_line(office, db):
    api = office
    assert shift(api, "ivanova", "w1", "2026-11-23T09:00", "2026-11-23T13:00").status_code == 201
    text = (
        "operator,window,start,end\n"  # 1
        "petrov,w2,2026-11-23 09:00,2026-11-23 13:00\n"  # 2 fine
        "sidorov,w2,2026-11-24 09:00,2026-11-24 13:00\n"  # 3 unknown operator
        "petrov,w9,2026-11-25 09:00,2026-11-25 13:00\n"  # 4 unknown window
        "petrov,w2,2026-11-26 13:00,2026-11-26 09:00\n"  # 5 ends before it starts
        "petrov,w1,2026-11-23 12:00,2026-11-23 14:00\n"  # 6 overlaps ivanova's stored shift at w1
        "ivanova,w2,2026-11-23 12:00,2026-11-23 14:00\n"  # 7 overlaps line 2 (same window w2)
        "petrov,w2,tomorrow,2026-11-27 13:00\n"  # 8 not a date-time
        "petrov,w2\n"  # 9 too few fields
        "petrov,w2,2026-11-28 09:00,2026-11-28 13:00\n"  # 10 fine
    )
    refused = api.post("/api/v1/shifts/import", content=text, headers={"content-type": "text/csv"})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert " / " in detail["message"]
    lines = sorted({e["line"] for e in detail["errors"]})
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    by_line = {e["line"]: e["message"] for e in detail["errors"]}
    assert (
        "sidorov" in by_line[3] and "w9" in by_line[4] and "line 2" in by_line[7] and "tomorrow" in by_line[8]
    )
    assert all(" / " in e["message"] for e in detail["errors"])
    assert db.execute("SELECT operator FROM shifts").fetchall() == [("ivanova",)], "nothing was written"
    no_header = api.post(
        "/api/v1/shifts/import", content="who,where\nx,y\n", headers={"content-type": "text/csv"}
    )
    assert no_header.status_code == 422 and [e["line"] for e in no_header.json()["detail"]["errors"]] == [1]
    empty = api.post("/api/v1/shifts/import", content="", headers={"content-type": "text/csv"})
    assert empty.status_code == 422


def test_deleting_is_refused_while_in_use(office):
    api = office
    sid = shift(api, "ivanova", "w1", "2026-11-23T09:00", "2026-11-23T13:00").json()["id"]
    assert api.put("/api/v1/devices/btn-02/window", json={"window": "w2"}).status_code == 200
    for path, word in (
        ("/api/v1/windows/w1", "shift"),
        ("/api/v1/operators/ivanova", "shift"),
        ("/api/v1/windows/w2", "btn-02"),
        ("/api/v1/departments/loans", "w1"),
    ):
        refused = api.delete(path)
        assert refused.status_code == 409, path
        assert word in bilingual(refused)
    assert api.delete(f"/api/v1/shifts/{sid}").status_code == 204
    assert api.put("/api/v1/devices/btn-02/window", json={"window": None}).status_code == 200
    for path in (
        "/api/v1/windows/w1",
        "/api/v1/windows/w2",
        "/api/v1/operators/ivanova",
        "/api/v1/departments/loans",
    ):
        assert api.delete(path).status_code == 204, path
        assert api.get(path).status_code == 404
    assert api.delete("/api/v1/departments/loans").status_code == 404


def test_settings_round_trip_and_an_unknown_time_zone_is_refused(office):
    api = office
    settings = api.get("/api/v1/settings").json()
    assert settings["timezone"] == "Europe/Moscow" and settings["min_n"] == 5
    settings.update(timezone="Asia/Yekaterinburg", min_n=7)
    settings["opening_hours"]["sat"] = [["10:00", "16:00"]]
    settings["trust"]["burst_max"] = 9
    saved = api.put("/api/v1/settings", json=settings)
    assert saved.status_code == 200, saved.text
    assert api.get("/api/v1/settings").json() == settings
    for bad in ({"timezone": "Mars/Olympus"}, {"min_n": 0}, {"main_question": "nope"}):
        refused = api.put("/api/v1/settings", json={**settings, **bad})
        assert refused.status_code == 422, bad
    assert "Mars/Olympus" in api.put("/api/v1/settings", json={**settings, "timezone": "Mars/Olympus"}).text
    assert api.get("/api/v1/settings").json() == settings, "a refused update changes nothing"
    # times without an offset now mean Yekaterinburg time (+05:00)
    created = shift(api, "petrov", "w2", "2026-11-23T09:00", "2026-11-23T10:00").json()
    assert created["start"] == "2026-11-23T09:00:00+05:00"


def test_served_clients_per_day_are_upserted(office):
    api = office
    put = api.put("/api/v1/served", json={"day": "2026-11-23", "window": "", "count": 40})
    assert put.status_code == 200 and put.json()["source"] == "manual"
    api.put("/api/v1/served", json={"day": "2026-11-23", "window": "", "count": 42, "source": "queue"})
    api.put("/api/v1/served", json={"day": "2026-11-23", "window": "w1", "count": 17, "source": "counter"})
    api.put("/api/v1/served", json={"day": "2026-11-24", "window": "", "count": 0})
    got = api.get("/api/v1/served", params={"from": "2026-11-23", "to": "2026-11-23"}).json()
    assert got == [
        {"day": "2026-11-23", "window": "", "count": 42, "source": "queue"},
        {"day": "2026-11-23", "window": "w1", "count": 17, "source": "counter"},
    ]
    assert [r["count"] for r in api.get("/api/v1/served", params={"from": "2026-11-24"}).json()] == [0]
    for bad in (
        {"day": "2026-11-23", "window": "", "count": -1},
        {"day": "2026-11-23", "window": "", "count": 1, "source": "guess"},
        {"day": "23.11.2026", "window": "", "count": 1},
        {"day": "2026-11-23", "window": "W 1", "count": 1},
    ):
        assert api.put("/api/v1/served", json=bad).status_code == 422, bad
    unknown = api.put("/api/v1/served", json={"day": "2026-11-23", "window": "w9", "count": 1})
    assert unknown.status_code == 422 and "w9" in bilingual(unknown)
    assert len(api.get("/api/v1/served").json()) == 3


def test_every_scope_route_is_documented(api):
    paths = api.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/departments", "/api/v1/departments/{dep_id}", "/api/v1/windows",
        "/api/v1/windows/{window_id}", "/api/v1/operators", "/api/v1/operators/{operator_id}",
        "/api/v1/shifts", "/api/v1/shifts/{shift_id}", "/api/v1/shifts/import",
        "/api/v1/devices/{device}/window", "/api/v1/served", "/api/v1/settings",
    } <= set(paths)  # fmt: skip
    assert "text/csv" in paths["/api/v1/shifts/import"]["post"]["requestBody"]["content"]


def test_the_shift_csv_import_from_the_command_line_credits_stored_presses(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edge_hub.cli import cli
    from tests.helpers import FedHub

    monkeypatch.delenv("OTK_CONFIG", raising=False)
    hub = FedHub(tmp_path / "hub.db")
    try:
        conn = hub.conn
        scopes.put_department(conn, "loans", "Кредиты")
        scopes.put_window(conn, "w1", "loans", "Окно 1")
        scopes.put_operator(conn, "ivanova", "Иванова А.")
        scopes.assign_device(conn, "btn-01", "w1")
        hub.press(ms("2026-11-23T10:00"), 5)  # stored before the shifts are known
    finally:
        hub.close()
    good = tmp_path / "shifts.csv"
    good.write_bytes(
        "Оператор;Окно;Начало;Конец\r\nivanova;w1;23.11.2026 09:00;23.11.2026 18:00\r\n".encode("cp1251")
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["shifts", "import", str(good), "--db", str(tmp_path / "hub.db")])
    assert done.exit_code == 0, done.output
    assert "imported 1 shift(s)" in done.stdout and "загружено смен: 1" in done.stdout
    conn = sqlite3.connect(tmp_path / "hub.db")
    try:
        assert conn.execute("SELECT operator FROM events").fetchall() == [("ivanova",)]
        assert conn.execute("SELECT sum(n) FROM aggregates WHERE operator = 'ivanova'").fetchone() == (1,)
    finally:
        conn.close()
    bad = tmp_path / "bad.csv"
    bad.write_text("operator,window,start,end\nsidorov,w1,2026-11-24 09:00,2026-11-24 13:00\n")
    refused = runner.invoke(cli, ["shifts", "import", str(bad), "--db", str(tmp_path / "hub.db")])
    assert refused.exit_code == 1
    assert (
        f"{bad}:2:" in refused.stderr
        and "sidorov" in refused.stderr
        and "ничего не загружено" in refused.stderr
    )
    missing = runner.invoke(cli, ["shifts", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
