"""`edge-hub simulate --kiosks N --survey-terminals M`: feedback terminals running the real firmware on
the MicroPython Unix port, whose visitors tap through the office's survey at the points the
terminals' screen logs name, beside a button console, into the real broker and hub.

What it prints is checked against the hub's database: answers made (confirmed by the screen that
followed), delivered (acked end to end by the hub) and left in the terminals' flash outboxes."""

from __future__ import annotations

import random
import re

from edge_hub.tools.simulate import RESTART_KINDS, Tally
from edge_hub.tools.simulate_kiosk import DEFAULT_SURVEY, TerminalTally, choose
from tests.edge_hub.tools.test_simulate import simulate, summary
from tests.helpers import db_rows

ANSWERS = r"made (\d+) answers? on 1 {}: (\d+) delivered to the hub, (\d+) left in outboxes"


def answers(stdout: str, name: str) -> tuple[int, int, int]:
    found = re.search(ANSWERS.format(name), stdout)
    assert found, f"no figures for the {name} in:\n{stdout}"
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def test_visitors_answer_mostly_content_and_runs_of_critics_answer_poorly():
    rng = random.Random(3)
    content = [choose(rng, list(range(1, 6)), False, "csat5") for _ in range(500)]
    unhappy = [choose(rng, list(range(0, 11)), True, "nps11") for _ in range(500)]
    assert sum(v >= 4 for v in content) > 400 and sum(v <= 6 for v in unhappy) > 350
    assert {choose(rng, [1, 2, 3, 4], True, "choice") for _ in range(100)} == {1, 2, 3, 4}


def test_the_summary_counts_answers_made_and_delivered_per_kind_of_terminal():
    kiosks = TerminalTally("ili9341", 1, 0, 12, 12, 0, 0, 5, 3, 1, 1)
    surveys = TerminalTally("ssd1306", 2, 0, 9, 7, 2, 2, 4, 4, 0, 0)
    lines = Tally(0, 0, 0, 0, 0, 0, dict.fromkeys(RESTART_KINDS, 0), terminals=(kiosks, surveys)).summary()
    assert lines.splitlines() == [
        "made 12 answers on 1 touch kiosk: 12 delivered to the hub, 0 left in outboxes",
        "  5 visitors: 3 completed the survey, 1 walked away mid-survey, 1 asked for an administrator",
        "made 9 answers on 2 button-survey terminals: 7 delivered to the hub, 2 left in outboxes",
        "  4 visitors: 4 completed the survey, 0 walked away mid-survey, 0 asked for an administrator",
        "  2 of 9 answers did not reach the hub; 2 still wait in the terminals' flash outboxes "
        "(see device.log in their folders)",
        "console restarts: 0",
    ]


def test_simulated_terminals_walk_through_the_survey_and_every_answer_is_stored_once(
    make_hub, broker, tmp_path
):
    # the hub's data folder holds its database and (the test broker's) broker folder: the
    # simulator gives the terminals logins there and the office, which has none, a survey
    hub = make_hub(data_dir=tmp_path)
    result = simulate(
        broker, tmp_path / "sim", "--devices", "1", "--rate", "20", "--kiosks", "1",
        "--survey-terminals", "1", "--visit-rate", "30", "--duration", "24", "--hub-data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "the office had no survey: set the default one" in result.stderr
    made, delivered, left = summary(result.stdout)
    assert delivered == made and left == 0, said[-3000:]
    db = hub.settings.db_path
    for device, name in (("kiosk-01", "touch kiosk"), ("survey-01", "button-survey terminal")):
        made, delivered, left = answers(result.stdout, name)
        assert made >= 2 and delivered == made and left == 0, said[-3000:]
        rows = db_rows(
            db,
            "SELECT question, value, json_extract(payload, '$.session'), inc, boot, seq FROM events "
            "WHERE device = ?",
            (device,),
        )
        assert len(rows) == made, "every answer stored once"
        assert len({r[3:] for r in rows}) == made
        assert all(r[2] for r in rows), "each answer with its visitor's session"
        questions = {q["id"] for q in DEFAULT_SURVEY["questions"]} | {"help"}
        assert {r[0] for r in rows} <= questions and "csat" in {r[0] for r in rows}
    kinds = dict(db_rows(db, "SELECT device, kind FROM devices WHERE device IN ('kiosk-01', 'survey-01')"))
    assert kinds == {"kiosk-01": "kiosk", "survey-01": "survey"}
    assert "console restarts: 0" in result.stdout
