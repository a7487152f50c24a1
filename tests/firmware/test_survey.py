"""The survey engine (firmware/lib/otk/survey.py) on the real MicroPython Unix port: the order of
the screens, one event per answer with its session and dwell time, show_if, choice options, the
critic's help offer, the call back with its consent screen and keypad, idle timeouts that keep
the answers given, the lockout, a new survey arriving mid-survey, the actions the screens return
(Survey.act), the import's heap, and the negative bands held equal to the hub's. The runtime that stores the
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


def drive(actions: list, config: dict = SURVEY, phone: bool = True) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(config), encoding="utf-8")
        Path(tmp, "actions.json").write_text(json.dumps(actions), encoding="utf-8")
        Path(tmp, "options.json").write_text(json.dumps({"phone": phone}), encoding="utf-8")
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


# --- the actions the screens return ---------------------------------------------------------------


def test_act_hands_each_action_to_the_survey_and_says_when_the_screen_changed():
    steps, _ = drive([
        ["answer", 3], ["begin", "en"], ["view", [0, 3]], ["nonsense"], ["answer", 9], ["answer", 1],
        ["help", False], ["key", "1"], ["answer", 2], ["answer", 10], ["wait", 4000],
    ])  # fmt: skip
    assert [s["ok"] for s in steps] == [False, True, False, False, False, True, True, False, True, True, True]
    assert [s["screen"] for s in steps] == [
        "welcome", "question", "question", "question", "question", "help", "question", "question",
        "question", "thanks", "welcome",
    ]  # fmt: skip
    assert [s["busy"] for s in steps] == [False, *[True] * 8, False, False]


# --- the call back ---------------------------------------------------------------------------------

CALLBACK = {**SURVEY, "callback": True}
PHONE_PATTERN = r"\+?[0-9]{7,15}"  # the contract's (mqtt_schemas/schemas/event-press.schema.json)


def keys(digits: str) -> list:
    return [["key", d] for d in digits]


def test_a_critic_leaves_a_number_to_be_called_back_on_in_one_event():
    steps, totals = drive([
        ["begin", "en"], ["answer", 1], ["help", False], ["callback", True], ["consent", True],
        *keys("916123456"), ["wait", 5000], ["key", "7"], ["phone", "done"], ["answer", 2], ["answer", 3],
    ], CALLBACK)  # fmt: skip
    screens = [s["screen"] for s in steps]
    assert screens[:5] == ["question", "help", "callback", "consent", "phone"]
    assert steps[2]["details"] == {} and steps[3]["details"] == {}
    assert steps[4]["details"] == {"digits": "", "ok": False}
    assert steps[10]["details"] == {"digits": "916123", "ok": False}  # six digits: not yet
    assert steps[11]["details"] == {"digits": "9161234", "ok": True}
    assert steps[15]["details"] == {"digits": "9161234567", "ok": True}
    done = steps[16]
    events = [e for s in steps for e in s["events"]]
    assert [e["question"] for e in events] == ["csat", "callback", "wrong", "nps"]
    assert done["events"] == [{
        "type": "press", "question": "callback", "value": 1, "callback": True, "phone": "+79161234567",
        "consent": True, "session": "s1", "dwell_ms": 5000, "repeat": False,
    }]  # fmt: skip
    assert re.fullmatch(PHONE_PATTERN, done["events"][0]["phone"])
    # the survey goes on with its next question ("what went wrong", asked after a 1)
    assert done["screen"] == "question" and done["details"]["id"] == "wrong"
    assert steps[-1]["screen"] == "thanks" and totals == {"completed": 1, "abandoned": 0}
    # the number appears in that one event and nowhere else
    assert sum(json.dumps(s).count("9161234567") for s in steps) == 2  # the event, the keypad's digits
    assert "9161234567" not in json.dumps(steps[17:])


def test_without_the_help_offer_the_call_back_follows_the_negative_answer():
    steps, _ = drive([["begin"], ["answer", 2], ["callback", True]], {**CALLBACK, "critic_help": False})
    assert [s["screen"] for s in steps] == ["question", "callback", "consent"]


def test_the_help_offer_then_the_call_back_whatever_the_reply():
    steps, _ = drive([["begin"], ["answer", 1], ["help", True]], CALLBACK)
    assert steps[2]["screen"] == "callback" and steps[2]["events"][0]["help"] is True


def test_a_content_visitor_is_never_offered_a_call_back():
    steps, _ = drive([["begin"], ["answer", 3], ["answer", 6]], CALLBACK)
    assert [s["screen"] for s in steps] == ["question", "question", "thanks"]


def test_declining_records_nothing_and_goes_on():
    for decline in (
        [["callback", False]],
        [["callback", True], ["consent", False]],
        [["callback", True], ["consent", True], *keys("9161234567"), ["phone", "cancel"]],
    ):
        steps, _ = drive([["begin"], ["answer", 1], ["help", False], *decline, ["answer", 1]], CALLBACK)
        after = steps[3 + len(decline) - 1]
        assert after["ok"] is True and after["screen"] == "question" and after["details"]["id"] == "wrong"
        assert [e["question"] for s in steps for e in s["events"]] == ["csat", "wrong"], decline


def test_a_bad_number_cannot_be_sent():
    to_phone = [["begin"], ["answer", 1], ["help", False], ["callback", True], ["consent", True]]
    steps, _ = drive([*to_phone, ["phone", "done"], *keys("123456"), ["phone", "done"], ["key", "x"],
                      ["key", "12"], ["key", 3], *keys("789012345"), ["key", "6"], ["phone", "done"]],
                     CALLBACK)  # fmt: skip
    after = steps[len(to_phone) :]
    assert after[0]["ok"] is False and after[0]["screen"] == "phone"  # no digits
    assert after[7]["ok"] is False and after[7]["details"] == {"digits": "123456", "ok": False}
    assert [s["ok"] for s in after[8:11]] == [False] * 3  # not a digit
    assert after[19]["details"]["digits"] == "123456789012345"  # 15 digits, the most
    assert after[20]["ok"] is False and after[20]["details"]["digits"] == "123456789012345"
    assert after[21]["ok"] is True and after[21]["events"][0]["phone"] == "+123456789012345"
    assert all(s["events"] == [] for s in after[:21])


def test_del_takes_the_last_digit_off():
    steps, _ = drive([["begin"], ["answer", 1], ["help", False], ["callback", True], ["consent", True],
                      ["key", "del"], *keys("8916"), ["key", "del"], ["key", "del"], ["key", "5"]],
                     CALLBACK)  # fmt: skip
    assert steps[5]["ok"] is False  # nothing to delete
    assert [s["details"]["digits"] for s in steps[-3:]] == ["891", "89", "895"]


def test_walking_away_from_the_keypad_keeps_nothing_of_the_number():
    to_phone = [["begin"], ["answer", 1], ["help", False], ["callback", True], ["consent", True]]
    steps, totals = drive([
        *to_phone, *keys("91612"), ["wait", 20_000], ["key", "3"], ["wait", 29_999],  # typing is not idling
        ["wait", 1], ["begin"], ["answer", 1], ["help", False], ["callback", True], ["consent", True],
    ], CALLBACK)  # fmt: skip
    assert steps[12]["screen"] == "phone" and steps[12]["details"]["digits"] == "916123"
    assert steps[13]["screen"] == "welcome" and steps[13]["ok"] is True
    assert [e["question"] for s in steps for e in s["events"]] == ["csat", "csat"]  # no number sent
    assert steps[-1]["screen"] == "phone" and steps[-1]["details"] == {"digits": "", "ok": False}
    assert totals == {"completed": 0, "abandoned": 1}


def test_the_other_screens_of_the_call_back_time_out_too():
    for extra in ([], [["callback", True]]):
        steps, _ = drive([["begin"], ["answer", 1], ["help", False], *extra, ["wait", 30_000]], CALLBACK)
        assert steps[-2]["screen"] in ("callback", "consent") and steps[-1]["screen"] == "welcome"


def test_a_new_survey_arriving_at_the_keypad_waits_for_the_number():
    new = {**SURVEY, "questions": [{"id": "ces", "text": {"ru": "Легко ли было?"}, "scale": "ces7"}]}
    steps, _ = drive([["begin"], ["answer", 1], ["help", False], ["callback", True], ["consent", True],
                      ["config", new], *keys("9161234567"), ["phone", "done"]], CALLBACK)  # fmt: skip
    assert steps[5]["screen"] == "phone"
    assert steps[-1]["events"][0]["phone"] == "+79161234567" and steps[-1]["screen"] == "thanks"


def test_the_button_survey_terminal_never_offers_the_call_back():
    """oled.py cannot type a number with 3-5 buttons: the app builds its Survey with phone=False."""
    steps, _ = drive([
        ["begin"], ["answer", 1], ["callback", True], ["consent", True], ["key", "9"], ["help", True],
        ["callback", True], ["answer", 1], ["answer", 5],
    ], CALLBACK, phone=False)  # fmt: skip
    assert [s["screen"] for s in steps] == [
        "question", "help", "help", "help", "help", "question", "question", "question", "thanks",
    ]  # fmt: skip
    assert [s["ok"] for s in steps[2:5]] == [False] * 3
    assert [e["question"] for s in steps for e in s["events"]] == ["csat", "help", "wrong", "nps"]
    no_help = {**CALLBACK, "critic_help": False}
    steps, _ = drive([["begin"], ["answer", 1], ["answer", 1]], no_help, phone=False)
    assert [s["screen"] for s in steps] == ["question", "question", "question"]


def test_the_number_sent_is_the_contracts_and_a_russian_one_gets_plus_7():
    cases = {
        "9161234567": "+79161234567", "89161234567": "+79161234567", "79161234567": "+79161234567",
        "4951234567": "+74951234567", "1234567": "+71234567", "8123456": "8123456",
        "375291234567": "+375291234567", "8916123456": "8916123456",
    }  # fmt: skip
    code = (
        "import json\nfrom otk.survey import phone_number\n"
        f"print(json.dumps([phone_number(d) for d in {list(cases)!r}]))\n"
    )
    result = run_micropython(code)
    assert result.returncode == 0, result.stdout + result.stderr
    got = dict(zip(cases, json.loads(result.stdout), strict=True))
    assert got == cases
    assert all(re.fullmatch(PHONE_PATTERN, n) for n in got.values())


def test_the_device_checks_the_callback_key():
    code = (
        "import json\nfrom otk.survey_config import survey_error\n"
        "print(json.dumps([survey_error({'callback': True}), survey_error({'callback': False}),"
        " survey_error({'callback': 1})]))\n"
    )
    result = run_micropython(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [None, None, "callback must be true or false"]


# --- heap ------------------------------------------------------------------------------------------


def test_the_engine_takes_little_heap():
    """Importing otk/survey.py (compiled to .mpy, as on a board) and a visitor leaving a number:
    6,304 B of import before the call back, 7,872 B with it (64-bit Unix port; ~30 % less on a
    board), and no garbage per key."""
    code = """
import gc, json
import otk.compat
gc.collect()
free = gc.mem_free()
import otk.survey
gc.collect()
imported = free - gc.mem_free()
config = json.loads(open("config.json").read())
s = otk.survey.Survey(config, lambda body: None, clock=lambda: 0, session=lambda: "s1")
s.act(("begin", "ru")); s.act(("answer", 1)); s.act(("help", False)); s.act(("callback", True))
s.act(("consent", True))
presses = [("key", k) for k in "9161234567"] + [("key", "del")] * 10  # the screen's targets' actions
i = 0  # a new global would grow the module's dict in the loop
gc.collect()
free = gc.mem_free()
for i in range(20):  # compiled to a counter: no iterator
    s.act(presses[i])
keys = free - gc.mem_free()
print(json.dumps([imported, keys]))
"""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(CALLBACK), encoding="utf-8")
        result = run_micropython(code, cwd=Path(tmp))
    assert result.returncode == 0, result.stdout + result.stderr
    imported, keys = json.loads(result.stdout)
    print("import:", imported, "keys:", keys)
    assert imported < 8_500
    assert keys == 0
