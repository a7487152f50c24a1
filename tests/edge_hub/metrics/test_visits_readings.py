"""Camera visits and sensor readings in the metrics engine, through the real ingest path into real
SQLite: per-label visit buckets and the emotional NPS, sum/min/max/count reading buckets, served
clients from the visitor counter, and presses with no visitor in the camera's view flagged."""

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
from tests.helpers import SITE, FedHub

H = 3_600_000
S = 1000
# Monday 2026-11-23 10:00 Moscow (07:00 UTC)
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def hub(tmp_path) -> FedHub:
    h = FedHub(tmp_path / "hub.db")
    always = {d: [("00:00", "23:59")] for d in office_settings.WEEKDAYS}
    office_settings.save(h.conn, office_settings.OfficeSettings(opening_hours=always))
    yield h
    h.close()


def _bucket(hub: FedHub, device: str, question: str, window: str = "", operator: str = "") -> tuple:
    key = aggregates.bucket_key(MON_10, device, question, window, operator)
    row = hub.conn.execute(
        "SELECT kind, counts, n, revision FROM aggregates WHERE key = ?", (key,)
    ).fetchone()
    return row[0], orjson.loads(row[1]), row[2], row[3]


def test_visits_are_counted_per_label_per_hour_and_make_the_emotional_nps(hub):
    labels = ["happy", "happy", "surprise", "neutral", "sad", "angry", "happy"]
    for i, label in enumerate(labels):
        hub.visit(MON_10 + i * 60 * S, label)
    kind, counts, n, _ = _bucket(hub, "cam-01", aggregates.VISIT_QUESTION)
    assert kind == "visits" and n == 7
    assert counts == {"happy": 3, "surprise": 1, "neutral": 1, "sad": 1, "angry": 1}
    s = summary.summary(hub.conn, MON_10, MON_10 + H)
    # positive 4 (happy, surprise), negative 2 (sad, angry), neutral 1: (4 - 2) / 7
    assert s["metrics"]["emotional_nps"] == {"value": pytest.approx(200 / 7), "n": 7}
    assert s["visits"] == {"total": 7, "by_emotion": counts}
    assert s["ratings"] == 0, "visits are not ratings"


def test_too_few_visits_say_not_enough_data(hub):
    hub.visit(MON_10, "happy")
    r = summary.summary(hub.conn, MON_10, MON_10 + H)["metrics"]["emotional_nps"]
    assert r["value"] is None and r["n"] == 1 and r["reason"]


def test_a_camera_at_a_window_credits_its_visits_to_the_window_and_the_operator_on_shift(hub):
    conn = hub.conn
    scopes.put_department(conn, "d", "D")
    scopes.put_window(conn, "w1", "d", "W1")
    scopes.put_operator(conn, "ivanova", "Иванова")
    scopes.assign_device(conn, "cam-01", "w1")
    shift_rules.add_shift(conn, "ivanova", "w1", MON_10, MON_10 + H)
    for label in ("happy",) * 4 + ("fear",):
        hub.visit(MON_10 + 60 * S, label)
    assert _bucket(hub, "cam-01", "emotion", "w1", "ivanova")[1] == {"happy": 4, "fear": 1}
    by_window = summary.summary(conn, MON_10, MON_10 + H, summary.Scope(window="w1"))
    assert by_window["metrics"]["emotional_nps"]["value"] == pytest.approx(60.0)
    assert summary.summary(conn, MON_10, MON_10 + H, summary.Scope(window="w2"))["visits"]["total"] == 0


def test_emotions_series_per_hour(hub):
    for i in range(5):
        hub.visit(MON_10 + i * S, "happy")
    hub.visit(MON_10 + H, "sad")
    series = summary.emotions(hub.conn, MON_10, MON_10 + 2 * H, step="hour")
    assert [p["visits"] for p in series["points"]] == [5, 1]
    assert series["points"][0]["emotional_nps"] == {"value": 100.0, "n": 5}
    assert series["points"][1]["by_emotion"] == {"sad": 1}


def test_readings_keep_count_sum_min_max_and_merge_across_batches(hub):
    for i, value in enumerate((21.5, 23.0, 19.5)):
        hub.reading(MON_10 + i * 60 * S, "temperature", value)
    kind, st, n, rev = _bucket(hub, "sensor-01", "temperature")
    assert kind == "readings" and n == 3 and rev == 3
    assert st == {"count": 3, "sum": 64.0, "min": 19.5, "max": 23.0}
    series = summary.readings(hub.conn, MON_10, MON_10 + H, "temperature")
    assert series["points"] == [
        {
            "t": "2026-11-23T07:00:00Z",
            "n": 3,
            "sum": 64.0,
            "mean": pytest.approx(64 / 3),
            "min": 19.5,
            "max": 23.0,
        }
    ]
    # a rebuild of the hour from the events gives the same statistics
    aggregates.rebuild(hub.conn, MON_10, MON_10 + H)
    assert _bucket(hub, "sensor-01", "temperature")[1:3] == (st, 3)


def test_the_visitor_counter_gives_served_clients_unless_a_figure_was_entered(hub):
    conn = hub.conn
    for i, came in enumerate((7, 5, 8)):
        hub.reading(MON_10 + i * H, "visitors", came, device="door")
    for v in (5, 5, 4, 1, 5):
        hub.press(MON_10 + 10 * S, v)
    s = summary.summary(conn, MON_10, MON_10 + 3 * H)
    assert s["served"] == 20
    assert s["metrics"]["response_rate"]["value"] == pytest.approx(25.0)  # 5 ratings / 20 served
    # the next day has a counter too; the figure entered by hand for the first day wins over it
    hub.reading(MON_10 + 24 * H, "visitors", 30, device="door")
    served_counts.put_served(conn, "2026-11-23", "", 40, "manual")
    assert summary.summary(conn, MON_10, MON_10 + 25 * H)["served"] == 70


def test_presses_with_no_visitor_in_the_cameras_view_are_flagged_and_cleared_when_the_visit_arrives(hub):
    conn = hub.conn
    scopes.put_department(conn, "d", "D")
    scopes.put_window(conn, "w1", "d", "W1")
    scopes.assign_device(conn, "btn-01", "w1")
    scopes.assign_device(conn, "cam-01", "w1")
    hub.status("cam-01", MON_10, kind="camera", camera={"ok": True, "fps": 15, "faces_per_min": 2})
    # a visitor stood at the window from 10:00:00 to 10:00:40; the visit arrives when the track ends
    hub.press(MON_10 + 20 * S, 5)
    hub.press(MON_10 + 30 * 60 * S, 5)  # half an hour later, nobody in view
    flags = [f for (f,) in conn.execute("SELECT flag FROM events WHERE type = 'press' ORDER BY seq")]
    assert flags == ["no_visitor", "no_visitor"]
    assert summary.summary(conn, MON_10, MON_10 + H)["flagged"]["by_reason"] == {"no_visitor": 2}
    hub.visit(MON_10, "happy", duration_ms=40 * S)
    flags = [f for (f,) in conn.execute("SELECT flag FROM events WHERE type = 'press' ORDER BY seq")]
    assert flags == [None, "no_visitor"]
    s = summary.summary(conn, MON_10, MON_10 + H)
    assert s["ratings"] == 1 and s["flagged"]["by_reason"] == {"no_visitor": 1}
    assert _bucket(hub, "btn-01", "csat", "w1")[1] == {"5": 1}
    # a press during a visit that is already stored is not flagged at all
    hub.visit(MON_10 + 40 * 60 * S, "neutral", duration_ms=60 * S)
    hub.press(MON_10 + 40 * 60 * S + 90 * S, 4)  # 30 s after the visit ended: within the slack
    assert conn.execute("SELECT flag FROM events WHERE type = 'press' ORDER BY seq DESC").fetchone() == (
        None,
    )


def test_no_visitor_is_not_judged_when_the_camera_is_offline_or_its_source_fails(hub):
    conn = hub.conn
    scopes.put_department(conn, "d", "D")
    scopes.put_window(conn, "w1", "d", "W1")
    scopes.assign_device(conn, "btn-01", "w1")
    scopes.assign_device(conn, "cam-01", "w1")
    hub.status("cam-01", MON_10, kind="camera", camera={"ok": False, "fps": 0, "faces_per_min": 0})
    hub.press(MON_10, 5)
    hub.status("cam-01", MON_10, state="offline")
    hub.press(MON_10 + 60 * S, 5)
    assert [f for (f,) in conn.execute("SELECT flag FROM events WHERE type = 'press'")] == [None, None]


def test_the_api_serves_emotions_and_readings(hub):
    for label in ("happy", "happy", "sad", "neutral", "surprise"):
        hub.visit(MON_10, label)
    hub.reading(MON_10, "co2", 800)
    hub.reading(MON_10, "co2", 1200)
    app = create_app(Runtime(SITE, hub.path, "mqtt://test", None, None))
    with TestClient(app) as client:
        period = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}
        r = client.get("/api/v1/metrics/emotions", params=period | {"step": "hour"})
        assert r.status_code == 200
        assert r.json()["points"][0]["emotional_nps"] == {"value": 40.0, "n": 5}
        r = client.get("/api/v1/metrics/readings", params=period | {"metric": "co2"})
        assert r.json()["points"][0] | {} == {
            "t": "2026-11-23T07:00:00Z",
            "n": 2,
            "sum": 2000.0,
            "mean": 1000.0,
            "min": 800.0,
            "max": 1200.0,
        }
        assert client.get("/api/v1/metrics/readings", params=period | {"metric": "radon"}).status_code == 422
        summary_json = client.get("/api/v1/metrics/summary", params=period).json()
        assert summary_json["metrics"]["emotional_nps"]["n"] == 5


def test_visit_and_reading_buckets_reach_the_central_server_with_their_kind(hub, tmp_path):
    from edge_hub.sync import page as sync_page
    from edge_hub.sync import pull as sync_pull

    hub.visit(MON_10, "happy")
    hub.reading(MON_10, "co2", 900)
    hub.press(MON_10, 5)
    body = sync_page.page(hub.conn, 0, 100, SITE)
    central = sync_pull.open_central(tmp_path / "central.db")
    try:
        sync_pull.apply_page(central, body)
        kinds = dict(central.execute("SELECT kind, counts FROM central_buckets").fetchall())
    finally:
        central.close()
    assert {k: orjson.loads(v) for k, v in kinds.items()} == {
        "visits": {"happy": 1},
        "readings": {"count": 1, "sum": 900, "min": 900, "max": 900},
        "answers": {"5": 1},
    }
