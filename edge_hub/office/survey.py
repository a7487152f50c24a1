"""The office's survey for its feedback terminals, and the config each terminal is sent.

One survey per office (its editor and several surveys are issue 15's): at most five questions,
the main one first, in the MQTT contract's config format (``questions``, ``welcome``, ``thanks``,
``langs``, ``lang``, ``idle_s``, ``critic_help``, ``callback``, ``lockout_ms``;
mqtt_schemas/schemas/config.schema.json). The contract checks the shape (the API runs it before
:func:`put`); this module adds the rules a schema cannot say: unique question ids, a ``show_if``
that names an earlier question and values that question can take, a main question that is a
rating and has no condition, a starting ``lang`` among ``langs``, every text shown (question,
option, welcome, thanks) in each language of ``langs``, and a scale that agrees with the office's
metrics (``OfficeSettings.questions``: a question id keeps its scale, so
the numbers stay comparable; a new rating question is added there).

Each terminal (a device whose status says kind ``kiosk`` or ``survey``) gets its config as a
retained message on ``otk/v1/{site}/{device}/config`` with its own revision, which only grows
(table ``device_configs``): the device applies a config whose ``rev`` is above the one it has.
Refusals raise :class:`SurveyError` with an "English / Russian" message.

Versions: every saved survey is a revision (table ``survey_revisions``: rev, the survey, when, by
whom), and every config revision a terminal is sent records the survey revision it carried and
when it was sent (``device_config_revs``), so an answer (device, ts) maps to the survey revision
on that device then (:data:`REVISION_OF_EVENT`: the last config sent to the device at or before
the answer's time; a terminal that was offline applies it later, so its first answers after a
change may be counted under the new revision). A survey saved before revisions existed becomes
revision 1, and the configs already sent carry it from time 0.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from edge_hub.db.tx import immediate as _write
from edge_hub.db.tx import now_ms
from edge_hub.errors import OtklikError
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import settings as office_settings

#: the device kinds that run the survey (the touch kiosk, the button-survey terminal, the web
#: kiosk: a tablet's browser, edge_hub/WEBKIOSK.md)
TERMINAL_KINDS = ("kiosk", "survey", "webkiosk")
#: the survey's fields in a device's config (all of them optional but ``questions``)
SURVEY_FIELDS = (
    "questions", "welcome", "thanks", "langs", "lang", "idle_s", "critic_help", "callback", "lockout_ms",
)  # fmt: skip
#: the languages a terminal starts in when the survey names none (config.schema.json's default)
DEFAULT_LANGS = ("ru",)
_LANG_NAMES = {"ru": ("Russian", "русском"), "en": ("English", "английском")}
_KEY = "survey"
#: the questions of a visitor's follow-ups: events of their own in the session after a negative
#: main answer (an administrator now, a call back), no ratings; no survey question may take them
HELP_QUESTION = "help"
CALLBACK_QUESTION = "callback"
FOLLOW_UPS = (HELP_QUESTION, CALLBACK_QUESTION)


class SurveyError(OtklikError, ValueError):
    """The survey was refused; the message is "English / Russian"."""


def _values(question: dict[str, Any]) -> range:
    if question["scale"] == "choice":
        return range(1, len(question.get("options") or ()) + 1)
    scale = SCALES[question["scale"]]
    return range(scale.low, scale.high + 1)


def check(survey: dict[str, Any], settings: office_settings.OfficeSettings) -> None:
    """The rules the contract's schema cannot say (see the module's doc)."""
    questions = survey.get("questions") or []
    if not questions:
        raise SurveyError("a survey needs at least one question / в опросе нужен хотя бы один вопрос")
    seen: dict[str, dict[str, Any]] = {}
    for number, q in enumerate(questions, 1):
        qid = q["id"]
        if qid in seen:
            raise SurveyError(f"question id {qid!r} is used twice / вопрос {qid!r} указан дважды")
        if qid in FOLLOW_UPS:
            raise SurveyError(
                f"question id {qid!r} is taken by the visitor's follow-up event: choose another / "
                f"id {qid!r} занят событием посетителя после ответа: выберите другой"
            )
        cond = q.get("show_if")
        if number == 1:
            if q["scale"] not in SCALES:
                raise SurveyError(
                    "the main (first) question must be a rating, not a choice / "
                    "главный (первый) вопрос должен быть оценкой, а не выбором"
                )
            if cond:
                raise SurveyError("the main question is always asked / главный вопрос задаётся всегда")
        if cond:
            earlier = seen.get(cond["question"])
            if earlier is None:
                raise SurveyError(
                    f"question {number} depends on {cond['question']!r}, which is not an earlier "
                    f"question / вопрос {number} зависит от {cond['question']!r}, но такого вопроса нет "
                    "выше"
                )
            wrong = [v for v in cond["values"] if v not in _values(earlier)]
            if wrong:
                raise SurveyError(
                    f"question {number}: {cond['question']!r} cannot be answered {wrong} / "
                    f"вопрос {number}: у {cond['question']!r} нет ответов {wrong}"
                )
        known = settings.questions.get(qid)
        if known is not None and q["scale"] != known:
            raise SurveyError(
                f"question {qid!r} is measured on {known} in this office, not {q['scale']}: give the "
                f"new question another id / вопрос {qid!r} в этом офисе измеряется по шкале {known}, "
                f"а не {q['scale']}: дайте новому вопросу другой id"
            )
        seen[qid] = q
    _check_languages(survey)


def _check_languages(survey: dict[str, Any]) -> None:
    """``lang`` is one of ``langs``; every text a visitor may see has each language of ``langs``
    (a terminal would otherwise show Russian to a visitor who chose English)."""
    langs = survey.get("langs") or list(DEFAULT_LANGS)
    lang = survey.get("lang")
    if lang is not None and "langs" in survey and lang not in langs:
        raise SurveyError(
            f"the starting language {lang!r} is not one of langs {langs} / язык {lang!r}, с которого "
            f"начинается опрос, не входит в langs {langs}"
        )
    texts: list[tuple[str, str, dict[str, str]]] = []
    for key, ru in (("welcome", "приветствия"), ("thanks", "экрана благодарности")):
        if key in survey:
            texts.append((f"the {key} text", ru, survey[key]))
    for number, q in enumerate(survey.get("questions") or [], 1):
        texts.append((f"question {number} ({q['id']!r})", f"вопроса {number} ({q['id']!r})", q["text"]))
        for option in q.get("options") or ():
            texts.append(
                (f"option {option['id']!r} of question {number}",
                 f"варианта {option['id']!r} вопроса {number}", option["text"])
            )  # fmt: skip
    for lang in langs:
        en_name, ru_name = _LANG_NAMES.get(lang, (lang, lang))
        for what_en, what_ru, text in texts:
            if not text.get(lang):
                raise SurveyError(
                    f"{what_en} has no {en_name} text, but langs offers {en_name} / у {what_ru} нет текста "
                    f"на {ru_name} языке, а langs его предлагает"
                )


def get(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The office's survey, or None while none was set."""
    row = conn.execute("SELECT value FROM office_settings WHERE key = ?", (_KEY,)).fetchone()
    return orjson.loads(row[0]) if row else None


def put(conn: sqlite3.Connection, survey: dict[str, Any], *, by: str | None = None) -> list[dict[str, Any]]:
    """Check and save the survey as a new revision (``by``: who saved it), register its rating
    questions' scales with the office's metrics, and give every terminal its next config
    revision; returns the configs to publish (one per terminal, in the contract's format)."""
    survey = {k: survey[k] for k in SURVEY_FIELDS if k in survey}
    with _write(conn):
        settings = office_settings.load(conn)
        check(survey, settings)
        _history(conn)
        (survey_rev,) = conn.execute("SELECT coalesce(max(rev), 0) + 1 FROM survey_revisions").fetchone()
        conn.execute(
            "INSERT INTO survey_revisions (rev, survey, saved_at, saved_by) VALUES (?, ?, ?, ?)",
            (survey_rev, orjson.dumps(survey).decode(), now_ms(), by),
        )
        conn.execute(
            "INSERT INTO office_settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_KEY, orjson.dumps(survey).decode()),
        )
        new = {q["id"]: q["scale"] for q in survey["questions"] if q["scale"] in SCALES}
        if any(qid not in settings.questions for qid in new):
            wider = settings.model_copy(update={"questions": {**new, **settings.questions}})
            office_settings.save(conn, wider)  # inside this transaction
        return [_next_config(conn, device, survey, survey_rev) for device in terminals(conn)]


#: SQL: the survey revision an answer of ``events`` was given under (the last config sent to its
#: device at or before its time); NULL when its device had no config yet
REVISION_OF_EVENT = (
    "(SELECT c.survey_rev FROM device_config_revs c WHERE c.device = events.device "
    "AND c.sent_at <= events.ts ORDER BY c.sent_at DESC, c.rev DESC LIMIT 1)"
)


def revision(conn: sqlite3.Connection) -> int | None:
    """The current survey's revision (None while no survey was saved)."""
    (rev,) = conn.execute("SELECT max(rev) FROM survey_revisions").fetchone()
    if rev is None and get(conn) is not None:  # saved before revisions existed
        return 1
    return rev


def revisions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every survey revision, newest first: ``{rev, survey, saved_at, saved_by}``."""
    rows = conn.execute("SELECT rev, survey, saved_at, saved_by FROM survey_revisions ORDER BY rev DESC")
    found = [{"rev": r, "survey": orjson.loads(s), "saved_at": at, "saved_by": by} for r, s, at, by in rows]
    if not found and (survey := get(conn)) is not None:
        found = [{"rev": 1, "survey": survey, "saved_at": None, "saved_by": None}]
    return found


def survey_at(conn: sqlite3.Connection, rev: int) -> dict[str, Any] | None:
    """The survey of revision ``rev`` (None: no such revision)."""
    return next((r["survey"] for r in revisions(conn) if r["rev"] == rev), None)


def revision_at(conn: sqlite3.Connection, device: str, ts: int) -> int | None:
    """The survey revision on ``device`` at ``ts`` (epoch ms): the one its last config sent at or
    before then carried; None when it had none."""
    row = conn.execute(
        "SELECT " + REVISION_OF_EVENT.replace("events.device", "?").replace("events.ts", "?"), (device, ts)
    ).fetchone()
    return row[0] if row else None


def _history(conn: sqlite3.Connection) -> None:
    """A survey saved before revisions existed becomes revision 1, carried by every config already
    sent (from time 0: the hub kept no older wording). Inside the caller's transaction."""
    if conn.execute("SELECT 1 FROM survey_revisions LIMIT 1").fetchone() is not None:
        return
    survey = get(conn)
    if survey is None:
        return
    conn.execute(
        "INSERT INTO survey_revisions (rev, survey, saved_at, saved_by) VALUES (1, ?, 0, NULL)",
        (orjson.dumps(survey).decode(),),
    )
    conn.execute(
        "INSERT OR IGNORE INTO device_config_revs (device, rev, survey_rev, sent_at) "
        "SELECT device, rev, 1, 0 FROM device_configs"
    )


def terminals(conn: sqlite3.Connection) -> list[str]:
    """The devices that run the survey, by the kind their status reports."""
    marks = ", ".join("?" * len(TERMINAL_KINDS))
    rows = conn.execute(f"SELECT device FROM devices WHERE kind IN ({marks}) ORDER BY device", TERMINAL_KINDS)
    return [device for (device,) in rows]


def config_for(conn: sqlite3.Connection, device: str) -> dict[str, Any] | None:
    """A terminal's current config (the retained message's payload), or None."""
    row = conn.execute("SELECT payload FROM device_configs WHERE device = ?", (device,)).fetchone()
    return orjson.loads(row[0]) if row else None


def configs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored device config (republished when the hub starts: retained messages are the
    broker's, and a broker can lose them)."""
    return [orjson.loads(p) for (p,) in conn.execute("SELECT payload FROM device_configs ORDER BY device")]


def ensure_config(conn: sqlite3.Connection, device: str) -> dict[str, Any] | None:
    """The config of a terminal that has none yet while the office has a survey (a terminal seen
    for the first time after the survey was set); None when there is nothing to send."""
    survey = get(conn)
    if survey is None or config_for(conn, device) is not None:
        return None
    with _write(conn):
        _history(conn)
        return _next_config(conn, device, survey, revision(conn) or 1)


def _next_config(
    conn: sqlite3.Connection, device: str, survey: dict[str, Any], survey_rev: int
) -> dict[str, Any]:
    (rev,) = conn.execute(
        "SELECT coalesce(max(rev), 0) + 1 FROM device_configs WHERE device = ?", (device,)
    ).fetchone()
    payload = {"v": 1, "device": device, "rev": rev, **survey}
    now = now_ms()
    conn.execute(
        "INSERT OR REPLACE INTO device_config_revs (device, rev, survey_rev, sent_at) VALUES (?, ?, ?, ?)",
        (device, rev, survey_rev, now),
    )
    conn.execute(
        "INSERT INTO device_configs (device, rev, payload, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(device) DO UPDATE SET rev = excluded.rev, payload = excluded.payload, "
        "updated_at = excluded.updated_at",
        (device, rev, orjson.dumps(payload).decode(), now),
    )
    return payload
