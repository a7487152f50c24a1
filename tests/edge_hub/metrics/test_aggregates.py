"""Attribution, trust flags, hourly aggregates and the summary, through the real ingest path into
real SQLite (messages go through the contract and Ingestor.process, as from the broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.metrics import aggregates, summary
from edge_hub.office import scopes
from edge_hub.office import served as served_counts
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.runtime import Runtime
from edge_hub.transport.mqtt import Incoming
from tests.helpers import SITE, FedHub, press, topic

H = 3_600_000
MIN = 60_000
# Monday 2026-11-23 10:00 Moscow (07:00 UTC): the office is open (Mon-Fri 09-19 by default)
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)


class Office(FedHub):
    """A hub database fed through the real ingest path."""

    def buckets(self) -> dict[str, tuple]:
        return {
            r[0]: (orjson.loads(r[1]), orjson.loads(r[2]), r[3], r[4], r[5])
            for r in self.conn.execute("SELECT key, counts, flagged, n, revision, seq FROM aggregates")
        }


@pytest.fixture
def hub_db(tmp_path) -> Office:
    o = Office(tmp_path / "hub.db")
    yield o
    o.store.close()


def _always_open(o: Office, **changes) -> None:
    hours = {d: [("00:00", "23:59")] for d in office_settings.WEEKDAYS}
    s = office_settings.OfficeSettings(opening_hours=hours, **changes)
    office_settings.save(o.conn, s)


def test_an_hour_bucket_holds_a_mergeable_histogram_with_its_revision_and_sequence(hub_db):
    _always_open(hub_db)
    hub_db.presses([(MON_10 + i * 5 * MIN, v, "btn-01", "csat", {}) for i, v in enumerate((5, 4, 3, 1, 1))])
    hub_db.press(MON_10 + H, 5)  # the next hour: its own bucket
    b = hub_db.buckets()
    key = aggregates.bucket_key(MON_10, "btn-01", "csat", "", "")
    assert b[key][:4] == ({"1": 2, "3": 1, "4": 1, "5": 1}, {}, 5, 1)
    assert len(b) == 2 and sorted(x[4] for x in b.values()) == [1, 2]


def test_a_late_event_bumps_only_its_own_hour_and_a_redelivery_changes_nothing(hub_db):
    _always_open(hub_db)
    hub_db.press(MON_10, 5)
    hub_db.press(MON_10 + H, 4)
    before = hub_db.buckets()
    hub_db.press(MON_10 + 10 * MIN, 2)  # arrives late, belongs to the first hour
    after = hub_db.buckets()
    first = aggregates.bucket_key(MON_10, "btn-01", "csat", "", "")
    second = aggregates.bucket_key(MON_10 + H, "btn-01", "csat", "", "")
    assert after[second] == before[second]
    assert after[first][0] == {"2": 1, "5": 1} and after[first][3] == 2 and after[first][4] == 3
    # the same message again (seq 3 of boot 1): stored once, nothing changes
    body = press("btn-01", seq=3, ts=MON_10 + 10 * MIN, value=2)
    hub_db.ingestor.process([Incoming(topic("btn-01", "event"), orjson.dumps(body), 99, 1, False, MON_10)])
    assert hub_db.buckets() == after


def test_fake_looking_presses_are_flagged_with_a_reason_and_kept_apart(hub_db):
    rules = office_settings.TrustRules(burst_max=4, burst_window_s=60, self_run=3, self_gap_s=20)
    office_settings.save(hub_db.conn, office_settings.OfficeSettings(trust=rules))
    t = MON_10
    hub_db.press(t, 3)
    hub_db.press(t + 1000, 4, repeat=True)  # inside the lockout
    # staff: a run of top scores in quick succession after a visitor
    hub_db.presses([(t + 10 * MIN + i * 10_000, 5, "btn-01", "csat", {}) for i in range(3)])
    # a burst on another device: 6 presses in 30 s, beyond burst_max=4 per minute
    hub_db.presses([(t + 20 * MIN + i * 5_000, 2, "btn-02", "csat", {}) for i in range(6)])
    # after hours: 03:00 Moscow
    hub_db.press(t - 7 * H, 4, device="btn-03")
    flags = {(d, s): f for d, s, f in hub_db.conn.execute("SELECT device, seq, flag FROM events")}
    assert flags[("btn-01", 1)] is None
    assert flags[("btn-01", 2)] == "repeat"
    assert [flags[("btn-01", s)] for s in (3, 4, 5)] == [None, None, "self_rating"]
    assert [flags[("btn-02", s)] for s in range(1, 7)] == [None] * 4 + ["burst", "burst"]
    assert flags[("btn-03", 1)] == "after_hours"
    s = summary.summary(hub_db.conn, t - 8 * H, t + H)
    assert s["flagged"]["by_reason"] == {"repeat": 1, "self_rating": 1, "burst": 2, "after_hours": 1}
    assert s["ratings"] == 1 + 2 + 4  # trusted only
    with_flagged = summary.summary(hub_db.conn, t - 8 * H, t + H, include_flagged=True)
    assert with_flagged["ratings"] == 12


def test_a_survey_terminal_counts_visitors_towards_a_burst_not_answers(hub_db):
    rules = office_settings.TrustRules(burst_max=4, burst_window_s=60, self_run=3, self_gap_s=20)
    office_settings.save(hub_db.conn, office_settings.OfficeSettings(trust=rules))
    t = MON_10
    # two visitors within a minute, 3 answers and a help request each: 8 presses, 2 visitors
    for visitor, start in (("aaaa", t), ("bbbb", t + 25_000)):
        for i, (question, value) in enumerate((("csat", 2), ("help", 1), ("nps", 6), ("ces", 3))):
            hub_db.press(start + i * 4_000, value, device="kiosk-01", question=question, session=visitor)
    # then four more visitors in the same minute, one answer each: 6 visitors, beyond burst_max
    for k in range(4):
        hub_db.press(t + 45_000 + k * 2_000, 4, device="kiosk-01", session=f"c{k}")
    rows = hub_db.conn.execute("SELECT flag FROM events WHERE device = 'kiosk-01' ORDER BY ts")
    flags = [f for (f,) in rows]
    assert flags == [None] * 8 + [None, None, "burst", "burst"]


def test_presses_are_attributed_to_the_operator_on_shift_and_unstaffed_ones_flagged(hub_db):
    _always_open(hub_db)
    conn = hub_db.conn
    scopes.put_department(conn, "loans", "Кредиты")
    scopes.put_window(conn, "w1", "loans", "Окно 1")
    scopes.put_operator(conn, "ivanova", "Иванова А.")
    scopes.assign_device(conn, "btn-01", "w1")
    shift_rules.add_shift(conn, "ivanova", "w1", MON_10, MON_10 + H)
    hub_db.press(MON_10, 5)  # start: inclusive
    hub_db.press(MON_10 + H - 1, 4)
    hub_db.press(MON_10 + H, 3)  # end: exclusive -> nobody on shift at a staffed window
    rows = conn.execute("SELECT window, operator, flag FROM events ORDER BY seq").fetchall()
    assert rows == [("w1", "ivanova", None), ("w1", "ivanova", None), ("w1", None, "no_operator")]
    assert summary.summary(conn, MON_10, MON_10 + 2 * H, summary.Scope(operator="ivanova"))["ratings"] == 2


def test_a_rebuild_after_a_late_shift_moves_presses_to_the_operator_and_empties_the_old_bucket(hub_db):
    _always_open(hub_db)
    conn = hub_db.conn
    scopes.put_department(conn, "d", "D")
    scopes.put_window(conn, "w1", "d", "W1")
    scopes.put_operator(conn, "petrov", "Петров")
    scopes.assign_device(conn, "btn-01", "w1")
    hub_db.presses([(MON_10 + i * MIN, 5 - i % 2, "btn-01", "csat", {}) for i in range(4)])
    old_key = aggregates.bucket_key(MON_10, "btn-01", "csat", "w1", "")
    old = hub_db.buckets()[old_key]
    shift_rules.add_shift(conn, "petrov", "w1", MON_10 - H, MON_10 + 2 * H)  # entered after the fact
    assert aggregates.rebuild(conn, MON_10 - H, MON_10 + 2 * H) == 2
    b = hub_db.buckets()
    new_key = aggregates.bucket_key(MON_10, "btn-01", "csat", "w1", "petrov")
    assert b[new_key][0] == {"4": 2, "5": 2}
    assert b[old_key][0] == {} and b[old_key][2] == 0 and b[old_key][3] == old[3] + 1
    assert b[old_key][4] > old[4], "the emptied bucket is offered to the central puller again"


def test_the_summary_computes_every_metric_with_its_sample_size(hub_db):
    _always_open(hub_db)
    conn = hub_db.conn
    # CSAT: 5,5,4,3,1 -> 3 of 5 positive = 60 %, mean 3.6; NPS: 10,9,8,3 -> (2-1)/4 = 25 %, below min_n 5
    hub_db.presses([(MON_10 + i * MIN, v, "btn-01", "csat", {}) for i, v in enumerate((5, 5, 4, 3, 1))])
    hub_db.presses([(MON_10 + i * MIN, v, "kiosk-1", "nps", {}) for i, v in enumerate((10, 9, 8, 3))])
    served_counts.put_served(conn, "2026-11-23", "", 20, "manual")
    s = summary.summary(conn, MON_10, MON_10 + H)
    m = s["metrics"]
    assert m["csat"] == {"value": 60.0, "n": 5, "mean": 3.6}
    assert m["nps"]["value"] is None and m["nps"]["n"] == 4 and m["nps"]["reason"] == "not enough data"
    assert m["ces"] == {"value": None, "n": 0, "reason": "not enough data"}
    assert s["served"] == 20 and s["positive"] == 3 and s["negative"] == 1
    assert m["response_rate"]["value"] == 25.0 and m["support_index"]["value"] == 15.0
    assert m["criticality_index"]["value"] == 5.0
    hours = office_settings.OfficeSettings().opening_hours
    office_settings.save(conn, office_settings.OfficeSettings(opening_hours=hours, min_n=3))
    assert summary.summary(conn, MON_10, MON_10 + H)["metrics"]["nps"]["value"] == 25.0


def test_local_days_stay_right_across_a_dst_change(hub_db):
    conn = hub_db.conn
    _always_open(hub_db, timezone="Europe/Berlin")
    # one press every UTC hour from Sat 28 March 2026 00:00 Berlin time to Tue 31 March
    start = int(datetime(2026, 3, 27, 23, tzinfo=UTC).timestamp() * 1000)  # 00:00 CET
    end = int(datetime(2026, 3, 30, 22, tzinfo=UTC).timestamp() * 1000)  # 00:00 CEST on the 31st
    hub_db.presses([(t, 5, "btn-01", "csat", {}) for t in range(start, end, H)])
    series = summary.timeseries(conn, start, end, "csat", "day")
    assert [(p["t"], p["n"]) for p in series["points"]] == [
        ("2026-03-28", 24), ("2026-03-29", 23), ("2026-03-30", 24),  # the 29th has 23 hours in Berlin
    ]  # fmt: skip


def test_the_executor_league_ranks_by_the_wilson_lower_bound(hub_db):
    _always_open(hub_db, min_n=3)
    conn = hub_db.conn
    scopes.put_department(conn, "d", "D")
    for w, op in (("w1", "new"), ("w2", "old")):
        scopes.put_window(conn, w, "d", w)
        scopes.put_operator(conn, op, op)
        scopes.assign_device(conn, f"btn-{w}", w)
        shift_rules.add_shift(conn, op, w, MON_10, MON_10 + 8 * H)
    hub_db.presses([(MON_10 + i * MIN, 5, "btn-w1", "csat", {}) for i in range(3)])  # 3 of 3
    hub_db.presses([(MON_10 + i * 4 * MIN, 5 if i % 10 else 2, "btn-w2", "csat", {}) for i in range(100)])
    league = summary.executors(conn, MON_10, MON_10 + 8 * H)
    assert [(r["id"], r["rank"], r["n"]) for r in league] == [("old", 1, 100), ("new", 2, 3)]
    assert league[1]["share"] == 100.0 and league[1]["lower_bound"] < league[0]["lower_bound"]


def test_the_api_serves_the_summary_timeseries_and_flagged_presses(hub_db):
    _always_open(hub_db)
    hub_db.presses([(MON_10 + i * MIN, v, "btn-01", "csat", {}) for i, v in enumerate((5, 4, 4, 2, 1, 5))])
    hub_db.press(MON_10 + 10 * MIN, 5, repeat=True)
    client = TestClient(create_app(Runtime(SITE, hub_db.path, "mqtt://test")))
    period = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}
    got = client.get("/api/v1/metrics/summary", params=period).json()
    assert got == orjson.loads(orjson.dumps(summary.summary(hub_db.conn, MON_10, MON_10 + H)))
    assert got["metrics"]["csat"]["value"] == pytest.approx(100 * 4 / 6) and got["flagged"]["total"] == 1
    series = client.get("/api/v1/metrics/timeseries", params={**period, "step": "hour"}).json()
    assert [p["n"] for p in series["points"]] == [6]
    flagged = client.get("/api/v1/events", params={"flagged": "true"}).json()["items"]
    assert [(e["seq"], e["flag"]) for e in flagged] == [(7, "repeat")]
    bad = client.get("/api/v1/metrics/summary", params={"from": period["to"], "to": period["from"]})
    assert bad.status_code == 422


def test_shifts_and_windows_set_through_the_api_re_credit_presses_already_stored(hub_db):
    _always_open(hub_db)
    hub_db.presses([(MON_10 + i * MIN, 5, "btn-01", "csat", {}) for i in range(3)])
    client = TestClient(create_app(Runtime(SITE, hub_db.path, "mqtt://test")))
    assert client.put("/api/v1/departments/d", json={"name": "Отдел"}).status_code == 200
    assert client.put("/api/v1/windows/w1", json={"department": "d", "name": "Окно 1"}).status_code == 200
    assert client.put("/api/v1/operators/ivanova", json={"name": "Иванова"}).status_code == 200
    assert client.put("/api/v1/devices/btn-01/window", json={"window": "w1"}).status_code == 200
    shift = {"operator": "ivanova", "window": "w1", "start": "2026-11-23T09:00", "end": "2026-11-23T18:00"}
    assert client.post("/api/v1/shifts", json=shift).status_code == 201
    period = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}
    by_op = client.get("/api/v1/metrics/summary", params={**period, "operator": "ivanova"}).json()
    assert by_op["ratings"] == 3
    shift_id = client.get("/api/v1/shifts").json()[0]["id"]
    assert client.delete(f"/api/v1/shifts/{shift_id}").status_code == 204
    gone = client.get("/api/v1/metrics/summary", params={**period, "operator": "ivanova"}).json()
    assert gone["ratings"] == 0
    # no shift left at all at w1: the window is not staffed by shifts, so nothing is flagged
    at_window = client.get("/api/v1/metrics/summary", params={**period, "window": "w1"}).json()
    assert at_window["ratings"] == 3 and at_window["flagged"]["total"] == 0
