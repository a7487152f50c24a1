"""The survey engine (firmware/lib/otk/survey.py) on the real MicroPython Unix port: the order of
the screens, one event per answer with its session and dwell time, show_if, choice options, the
critic's help offer, idle timeouts that keep the answers given, the lockout, a new survey
arriving mid-survey, and the negative bands held equal to the hub's. The runtime that stores the
events (flash outbox, end-to-end ack) is tested in test_outbox.py and test_console.py."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from tests.firmware.upy import run_micropython

SCRIPT = Path(__file__).parent / "scripts" / "survey_drive.py"

SURVEY = {
    "lang": "ru",
    "langs": ["ru", "en"],
    "lockout_ms": 10_000,
    "idle_s": 30,
    "critic_help": True,
    "welcome": {"ru": "Оцените нас", "en": "Rate us"},
    "thanks": {"ru": "Спасибо!", "en": "Thank you!"},
    "questions": [
        {"id": "csat", "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}, "scale": "csat5"},
        {
            "id": "wrong",
            "text": {"ru": "Что пошло не так?", "en": "What went wrong?"},
            "scale": "choice",
            "options": [
                {"id": "wait", "text": {"ru": "Долгое ожидание", "en": "Long wait"}},
                {"id": "rude", "text": {"ru": "Невежливость", "en": "Rudeness"}},
                {"id": "docs", "text": {"ru": "Не решили вопрос"}},
            ],
            "show_if": {"question": "csat", "values": [1, 2]},
        },
        {"id": "nps", "text": {"ru": "Порекомендуете нас?"}, "scale": "nps11"},
    ],
}


def drive(actions: list, config: dict = SURVEY) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(config), encoding="utf-8")
        Path(tmp, "actions.json").write_text(json.dumps(actions), encoding="utf-8")
        result = run_micropython(SCRIPT, cwd=Path(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    return lines[:-1], lines[-1]


def test_a_happy_visitor_answers_the_main_question_then_skips_the_critics_question():
    steps, totals = drive([
        ["begin", "en"], ["wait", 2500], ["answer", 5], ["wait", 4000], ["answer", 9], ["wait", 4000],
    ])  # fmt: skip
    assert [s["screen"] for s in steps] == [*["question"] * 4, "thanks", "welcome"]
    first = steps[0]["details"]
    assert first == {
        "id": "csat", "text": "How were you served?", "scale": "csat5", "values": [1, 2, 3, 4, 5],
        "labels": None, "number": 1, "total": 2,  # "what went wrong" is not asked of a 5
    }  # fmt: skip
    assert steps[2]["events"] == [
        {"type": "press", "question": "csat", "value": 5, "session": "s1", "dwell_ms": 2500, "repeat": False}
    ]
    assert steps[4]["details"] == {"text": "Thank you!"}
    assert steps[4]["events"][0]["question"] == "nps" and steps[4]["events"][0]["session"] == "s1"
    assert steps[4]["events"][0]["dwell_ms"] == 4000
    assert totals == {"completed": 1, "abandoned": 0}


def test_a_critic_gets_the_choice_question_and_the_help_offer():
    steps, _ = drive([["begin"], ["answer", 2], ["help", True], ["answer", 3], ["answer", 4]])
    assert steps[1]["screen"] == "help" and steps[1]["details"] == {"main": 2}
    assert steps[2]["events"][0] | {"dwell_ms": 0} == {
        "type": "press", "question": "help", "value": 1, "help": True, "session": "s1", "dwell_ms": 0,
        "repeat": False,
    }  # fmt: skip
    choice = steps[2]["details"]
    assert choice["scale"] == "choice" and choice["values"] == [1, 2, 3]
    assert choice["labels"] == ["Долгое ожидание", "Невежливость", "Не решили вопрос"]  # Russian by default
    assert (choice["number"], choice["total"]) == (2, 3)
    assert steps[3]["events"][0]["option"] == "docs" and steps[3]["events"][0]["value"] == 3
    assert steps[4]["screen"] == "thanks"


def test_an_english_visitor_sees_russian_where_a_text_has_no_english():
    steps, _ = drive([["begin", "en"], ["answer", 1], ["help", False], ["answer", 3]])
    assert steps[2]["details"]["labels"][2] == "Не решили вопрос"
    assert steps[2]["events"] == []  # no help wanted: nothing recorded
    assert steps[3]["details"]["text"] == "Порекомендуете нас?"


def test_a_visitor_who_walks_away_keeps_the_answers_given():
    steps, totals = drive([["begin"], ["answer", 4], ["wait", 29_999], ["wait", 1], ["answer", 9]])
    assert steps[1]["events"][0]["value"] == 4
    assert steps[2]["screen"] == "question"  # not yet
    assert steps[3]["screen"] == "welcome"
    assert steps[4]["ok"] is False and steps[4]["events"] == []  # the welcome screen takes no answer
    assert totals == {"completed": 0, "abandoned": 1}


def test_a_second_survey_within_the_lockout_is_marked_repeat():
    quick = [["begin"], ["answer", 5], ["answer", 10], ["wait", 4000]]
    steps, _ = drive([*quick, ["begin"], ["answer", 5], ["answer", 10], ["wait", 4000], ["wait", 10_000],
                      ["begin"], ["answer", 4]])  # fmt: skip
    events = [e for s in steps for e in s["events"]]
    assert [(e["session"], e["repeat"]) for e in events] == [
        ("s1", False), ("s1", False), ("s2", True), ("s2", True), ("s3", False),
    ]


def test_a_new_survey_mid_survey_takes_no_answer_to_a_question_the_visitor_did_not_read():
    new = {**SURVEY, "questions": [{"id": "ces", "text": {"ru": "Легко ли было?"}, "scale": "ces7"}]}
    steps, _ = drive([["begin"], ["config", new], ["answer", 5], ["wait", 4000], ["begin"], ["answer", 7]])
    assert steps[2]["events"][0]["question"] == "csat"  # the question on screen was answered
    assert steps[2]["screen"] == "thanks"  # and the old survey ended there
    assert steps[4]["details"]["id"] == "ces" and steps[5]["events"][0]["question"] == "ces"


def test_out_of_scale_answers_are_refused():
    steps, _ = drive([["begin"], ["answer", 0], ["answer", 6], ["answer", 3]])
    assert [s["ok"] for s in steps] == [True, False, False, True]
    assert [len(s["events"]) for s in steps] == [0, 0, 0, 1]


def test_a_button_console_config_without_a_survey_is_one_question():
    steps, _ = drive([["begin"], ["answer", 3]], {"question": "csat", "lockout_ms": 3000})
    assert steps[0]["details"]["id"] == "csat" and steps[1]["screen"] == "thanks"


def test_the_negative_bands_are_the_hubs():
    """The device decides who is a critic with the hub's own bands (edge_hub/metrics/formulas.py)."""
    from edge_hub.metrics.formulas import SCALES

    code = "from otk.survey import SCALES\nimport json\nprint(json.dumps(SCALES))\n"
    result = run_micropython(code)
    assert result.returncode == 0, result.stderr
    device = {k: (v[0], v[1], tuple(v[2])) for k, v in json.loads(result.stdout).items()}
    assert device == {name: (s.low, s.high, s.negative) for name, s in SCALES.items()}


def test_session_ids_are_what_the_contract_allows_and_do_not_repeat():
    code = "from otk.survey import new_session\nfor _ in range(500):\n    print(new_session())\n"
    result = run_micropython(code)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = result.stdout.split()
    assert len(ids) == 500 and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-z]{8}", s) for s in ids)
