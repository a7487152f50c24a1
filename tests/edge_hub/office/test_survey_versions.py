"""Survey versions (edge_hub/office/survey.py, edge_hub/metrics/survey_report.py): every saved
survey is a revision, every terminal's config revision records the survey revision it carried, an
answer (device, ts) maps to the revision on its terminal then, and the report never mixes two
wordings of a question silently — on a real SQLite fed through the real ingest path."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.metrics import survey_report
from edge_hub.office import question_bank as bank
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from tests.helpers import SITE, FedHub

MIN = 60_000
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
CSAT_1 = {"id": "csat", "text": {"ru": "Как вас обслужили?"}, "scale": "csat5"}
CSAT_2 = {"id": "csat", "text": {"ru": "Оцените, пожалуйста, общее впечатление"}, "scale": "csat5"}
NPS = {"id": "nps", "text": {"ru": "Порекомендуете нас?"}, "scale": "nps11"}


def _terminal(conn, device: str) -> None:
    conn.execute(
        "INSERT INTO devices (device, kind, first_seen, last_seen) VALUES (?, 'kiosk', 0, 0)", (device,)
    )
    conn.commit()


def _sent(conn, device: str, rev: int, at: int) -> None:
    """Say when the hub sent a config revision (the test's clock, not the wall clock)."""
    conn.execute("UPDATE device_config_revs SET sent_at = ? WHERE device = ? AND rev = ?", (at, device, rev))
    conn.commit()


@pytest.fixture
def office(tmp_path):
    hub = FedHub(tmp_path / "hub.db")
    yield hub
    hub.store.close()


def test_every_save_is_a_revision_and_each_config_says_which(office):
    conn = office.conn
    _terminal(conn, "kiosk-01")
    assert office_survey.revision(conn) is None
    office_survey.put(conn, {"questions": [CSAT_1, NPS]}, by="admin")
    _terminal(conn, "kiosk-02")
    (k1, k2) = office_survey.put(conn, {"questions": [CSAT_2, NPS]}, by="anna")
    assert (k1["device"], k1["rev"], k2["device"], k2["rev"]) == ("kiosk-01", 2, "kiosk-02", 1)
    assert office_survey.revision(conn) == 2
    history = office_survey.revisions(conn)
    assert [(r["rev"], r["saved_by"]) for r in history] == [(2, "anna"), (1, "admin")]
    assert office_survey.survey_at(conn, 1)["questions"][0]["text"]["ru"] == "Как вас обслужили?"
    rows = conn.execute(
        "SELECT device, rev, survey_rev FROM device_config_revs ORDER BY device, rev"
    ).fetchall()
    assert rows == [("kiosk-01", 1, 1), ("kiosk-01", 2, 2), ("kiosk-02", 1, 2)]
    _sent(conn, "kiosk-01", 1, MON_10)
    _sent(conn, "kiosk-01", 2, MON_10 + 60 * MIN)
    assert office_survey.revision_at(conn, "kiosk-01", MON_10 - 1) is None  # before any config
    assert office_survey.revision_at(conn, "kiosk-01", MON_10 + 5 * MIN) == 1
    assert office_survey.revision_at(conn, "kiosk-01", MON_10 + 60 * MIN) == 2
    # a terminal seen later gets the current revision
    _terminal(conn, "kiosk-03")
    assert office_survey.ensure_config(conn, "kiosk-03")["rev"] == 1
    assert conn.execute("SELECT survey_rev FROM device_config_revs WHERE device = 'kiosk-03'").fetchone() == (
        2,
    )


def test_a_survey_saved_before_revisions_becomes_revision_1(office):
    conn = office.conn
    old = {"questions": [CSAT_1]}
    conn.execute(
        "INSERT INTO office_settings (key, value) VALUES ('survey', ?)", (orjson.dumps(old).decode(),)
    )
    conn.execute("INSERT INTO device_configs VALUES ('kiosk-01', 4, '{}', 1)")
    conn.commit()
    assert office_survey.revision(conn) == 1 and office_survey.revisions(conn)[0]["survey"] == old
    _terminal(conn, "kiosk-01")
    office_survey.put(conn, {"questions": [CSAT_2]})
    rows = conn.execute(
        "SELECT device, rev, survey_rev, sent_at > 0 FROM device_config_revs ORDER BY rev"
    ).fetchall()
    assert rows == [("kiosk-01", 4, 1, 0), ("kiosk-01", 5, 2, 1)]
    assert office_survey.revision_at(conn, "kiosk-01", 1000) == 1  # older answers: the old wording


def _answers(office, start: int, sessions: dict[str, list[tuple[str, int]]]) -> None:
    items = []
    for k, (session, answers) in enumerate(sessions.items()):
        for i, (question, value) in enumerate(answers):
            items.append(
                (start + k * 2 * MIN + i * 10_000, value, "kiosk-01", question, {"session": session})
            )
    office.presses(items)


def test_the_report_shows_two_wordings_apart_and_filters_by_revision(office):
    conn = office.conn
    _terminal(conn, "kiosk-01")
    office_survey.put(conn, {"questions": [CSAT_1, NPS]})
    _sent(conn, "kiosk-01", 1, MON_10)
    _answers(office, MON_10 + MIN, {"a": [("csat", 5), ("nps", 9)], "b": [("csat", 2), ("nps", 3)]})
    office_survey.put(conn, {"questions": [CSAT_2, NPS]})
    _sent(conn, "kiosk-01", 2, MON_10 + 30 * MIN)
    _answers(office, MON_10 + 31 * MIN, {"c": [("csat", 4), ("nps", 10)]})

    both = survey_report.report(conn, MON_10, MON_10 + 60 * MIN)
    assert both["mixed"] == ["csat"]  # nps kept its wording: no warning
    assert both["revisions"] == [{"rev": 1, "answers": 4}, {"rev": 2, "answers": 2}]
    csat = next(q for q in both["questions"] if q["id"] == "csat")
    assert csat["mixed"] is True
    assert [(w["revs"], w["n"], w["text"]["ru"]) for w in csat["wordings"]] == [
        ([1], 2, "Как вас обслужили?"),
        ([2], 1, "Оцените, пожалуйста, общее впечатление"),
    ]
    nps = next(q for q in both["questions"] if q["id"] == "nps")
    assert nps["mixed"] is False and nps["wordings"][0]["revs"] == [1, 2] and nps["n"] == 3

    first = survey_report.report(conn, MON_10, MON_10 + 60 * MIN, revision=1)
    csat1 = next(q for q in first["questions"] if q["id"] == "csat")
    assert first["revision"] == 1 and first["mixed"] == [] and first["funnel"]["started"] == 2
    assert csat1["text"]["ru"] == "Как вас обслужили?" and csat1["n"] == 2 and not csat1["mixed"]
    second = survey_report.report(conn, MON_10, MON_10 + 60 * MIN, revision=2)
    assert second["funnel"]["started"] == 1
    assert next(q for q in second["questions"] if q["id"] == "csat")["text"]["ru"].startswith("Оцените")
    assert survey_report.report(conn, MON_10, MON_10 + 60 * MIN, revision=9)["funnel"]["started"] == 0


def test_a_bank_yes_no_question_that_is_no_fcr_is_reported_as_the_share_of_yes(office):
    conn = office.conn
    _terminal(conn, "kiosk-01")
    office_survey.put(
        conn, {"questions": [bank.question("csat"), bank.question("cci.3.booking"), bank.question("fcr")]}
    )
    _sent(conn, "kiosk-01", 1, MON_10)
    _answers(office, MON_10 + MIN, {"a": [("csat", 5), ("cci.3.booking", 1), ("fcr", 1)]})
    report = survey_report.report(conn, MON_10, MON_10 + 60 * MIN)
    names = {q["id"]: (q["metric"] or {}).get("name") for q in report["questions"]}
    assert names == {"csat": "csat", "cci.3.booking": "yes", "fcr": "fcr"}


def test_the_api_report_takes_a_revision_and_names_the_mixed_questions(office):
    conn = office.conn
    _terminal(conn, "kiosk-01")
    office_survey.put(conn, {"questions": [CSAT_1]})
    _sent(conn, "kiosk-01", 1, MON_10)
    _answers(office, MON_10 + MIN, {"a": [("csat", 5)]})
    office_survey.put(conn, {"questions": [CSAT_2]})
    _sent(conn, "kiosk-01", 2, MON_10 + 30 * MIN)
    _answers(office, MON_10 + 31 * MIN, {"b": [("csat", 1)]})
    api = TestClient(create_app(Runtime(SITE, office.path, "mqtt://test")))
    params = {"from": "2026-11-23T07:00:00Z", "to": "2026-11-23T08:00:00Z"}
    body = api.get("/api/v1/survey/report", params=params).json()
    assert body["mixed"] == ["csat"] and body["revision"] is None
    assert [w["revs"] for w in body["questions"][0]["wordings"]] == [[1], [2]]
    one = api.get("/api/v1/survey/report", params=params | {"revision": 2}).json()
    assert one["revision"] == 2 and one["mixed"] == [] and one["funnel"]["started"] == 1
