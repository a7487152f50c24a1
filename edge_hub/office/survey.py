"""The office's surveys for its feedback terminals, and the config each terminal is sent.

A survey has at most five questions,
the main one first, in the MQTT contract's config format (``questions``, ``welcome``, ``thanks``,
``langs``, ``lang``, ``idle_s``, ``critic_help``, ``callback``, ``lockout_ms``;
mqtt_schemas/schemas/config.schema.json). The contract checks the shape (the API runs it before
:func:`put`); this module adds the rules a schema cannot say: unique question ids, a ``show_if``
that names an earlier question and values that question can take, a main question that is a
rating and has no condition, a starting ``lang`` among ``langs``, every text shown (question,
option, welcome, thanks) in each language of ``langs``, and a scale that agrees with the office's
metrics (``OfficeSettings.questions``: a question id keeps its scale, so
the numbers stay comparable; a new rating question is added there).

Several surveys (table ``surveys``: id, name, audience, retired): the main one (id ``main``, what
``GET``/``PUT /api/v1/survey`` read and write) runs on every terminal with no other; a survey
assigned to a department (``survey_assignments``) runs on the terminals of its windows, and one
assigned to a device on that device (a device's own assignment wins). :func:`effective` says which
survey a terminal runs; every save, assignment or retirement gives exactly the terminals whose
survey changed their next config (:func:`_refresh`), and the hub's housekeeping round catches a
terminal moved to another department's window (:func:`ensure_config`). A retired survey keeps its
revisions for the reports but runs nowhere and cannot be edited (copy it). A survey's audience is
``visitors`` or ``staff``: a staff survey (the anonymous eNPS) offers no call back and no
administrator, and a question id belongs to one audience only, so employees' answers never count
in the visitors' numbers (:func:`_check_audience`); its report is withheld for groups under
``min_n`` (edge_hub/metrics/survey_report.py).

Each terminal (a device whose status says kind ``kiosk``, ``survey`` or ``webkiosk``) gets its config as a
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

Long: the survey's rules, its revisions, several surveys and their assignments are one model
with one write path (:func:`put`, :func:`assign`, :func:`retire` all end in :func:`_refresh`);
split, the rule "every change sends exactly the terminals whose survey changed" would be in three
places.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import orjson

from edge_hub.db.tx import immediate as _write
from edge_hub.db.tx import now_ms
from edge_hub.errors import OtklikError
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import question_bank as bank
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
#: the main survey: every terminal runs it unless it or its department is assigned another
MAIN = "main"
MAIN_NAME = "main"
VISITORS, STAFF = "visitors", "staff"
#: who answers a survey: visitors, or employees (an anonymous eNPS, reported only for groups of
#: at least min_n: edge_hub/metrics/survey_report.py)
AUDIENCES = (VISITORS, STAFF)
SURVEY_ID = r"[a-z0-9][a-z0-9_-]{0,31}"
#: SQL: a revision's survey id (revisions saved before there were several surveys are the main one's)
_SID = "coalesce(survey_id, 'main')"
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


def check(
    survey: dict[str, Any],
    settings: office_settings.OfficeSettings,
    *,
    audience: str = "visitors",
    others: set[str] | frozenset[str] = frozenset(),
) -> None:
    """The rules the contract's schema cannot say (see the module's doc); ``audience`` staff adds
    the staff survey's (:func:`_check_audience`), ``others`` are the question ids the surveys of
    the other audience ask."""
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
    _check_audience(survey, audience, others)


def _check_audience(survey: dict[str, Any], audience: str, others: set[str] | frozenset[str]) -> None:
    """A staff survey is anonymous: no call back (a phone number) and no "call an administrator";
    and a question measures one audience: the bank's staff questions (eNPS) only in staff surveys,
    its visitor questions only in visitor surveys, and no question id of a survey of the other
    audience (employees' answers never count in the visitors' numbers, nor the reverse)."""
    staff = audience == STAFF
    if staff and (survey.get("callback") or survey.get("critic_help")):
        raise SurveyError(
            "a staff survey is anonymous: no call back and no call for an administrator / опрос "
            "сотрудников анонимный: без обратного звонка и без вызова администратора"
        )
    for q in survey.get("questions") or ():
        known = bank.BY_ID.get(q["id"])
        if (known is not None and known.staff != staff) or q["id"] in others:
            whose = ("сотрудников", "staff") if not staff else ("посетителей", "visitors'")
            raise SurveyError(
                f"question {q['id']!r} belongs to {whose[1]} surveys: its answers would be mixed into "
                f"their numbers / вопрос {q['id']!r} — из опросов {whose[0]}: его ответы смешались бы "
                "с их цифрами"
            )


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


def get(conn: sqlite3.Connection, survey_id: str | None = None) -> dict[str, Any] | None:
    """A survey's current definition (default: the main one), or None while none was saved."""
    sid = survey_id or MAIN
    row = conn.execute(
        f"SELECT survey FROM survey_revisions WHERE {_SID} = ? ORDER BY rev DESC LIMIT 1", (sid,)
    ).fetchone()
    if row is not None:
        return orjson.loads(row[0])
    if sid != MAIN:
        return None
    row = conn.execute("SELECT value FROM office_settings WHERE key = ?", (_KEY,)).fetchone()
    return orjson.loads(row[0]) if row else None  # saved before revisions existed


def info(conn: sqlite3.Connection, survey_id: str) -> dict[str, Any] | None:
    """A survey's card: ``{id, name, audience, created_at, retired_at}`` (None: no such survey;
    the main one always exists, named by the office or "main")."""
    row = conn.execute(
        "SELECT id, name, audience, created_at, retired_at FROM surveys WHERE id = ?", (survey_id,)
    ).fetchone()
    if row is not None:
        return dict(zip(("id", "name", "audience", "created_at", "retired_at"), row, strict=True))
    if survey_id == MAIN:
        return {"id": MAIN, "name": MAIN_NAME, "audience": VISITORS, "created_at": 0, "retired_at": None}
    return None


def surveys(conn: sqlite3.Connection, *, retired: bool = True) -> list[dict[str, Any]]:
    """Every survey, the main one first: its card, ``rev`` (its current revision, None: never
    saved), ``saved_at``, ``assigned`` (``{"devices": [...], "departments": [...]}``) and
    ``terminals`` (the terminals running it now)."""
    ids = [MAIN] + [
        sid
        for (sid,) in conn.execute("SELECT id FROM surveys WHERE id != ? ORDER BY created_at, id", (MAIN,))
    ]
    running: dict[str, list[str]] = {}
    for device in terminals(conn):
        running.setdefault(effective(conn, device), []).append(device)
    found = []
    for sid in ids:
        card = info(conn, sid)
        assert card is not None
        if card["retired_at"] is not None and not retired:
            continue
        row = conn.execute(
            f"SELECT rev, saved_at FROM survey_revisions WHERE {_SID} = ? ORDER BY rev DESC LIMIT 1", (sid,)
        ).fetchone()
        rev, saved_at = row if row else ((1, None) if sid == MAIN and get(conn) is not None else (None, None))
        assigned: dict[str, list[str]] = {"devices": [], "departments": []}
        for kind, target in conn.execute(
            "SELECT target_kind, target FROM survey_assignments WHERE survey_id = ? "
            "ORDER BY target_kind, target",
            (sid,),
        ):
            assigned["devices" if kind == "device" else "departments"].append(target)
        found.append({**card, "rev": rev, "saved_at": saved_at, "assigned": assigned,
                      "terminals": running.get(sid, [])})  # fmt: skip
    return found


def new_id(conn: sqlite3.Connection) -> str:
    """A free id for a new survey: s2, s3, …"""
    taken = {sid for (sid,) in conn.execute("SELECT id FROM surveys")}
    taken |= {sid for (sid,) in conn.execute("SELECT DISTINCT survey_id FROM survey_revisions")}
    n = 2
    while f"s{n}" in taken:
        n += 1
    return f"s{n}"


def _check_id(survey_id: str) -> None:
    if not isinstance(survey_id, str) or not re.fullmatch(SURVEY_ID, survey_id):
        raise SurveyError(
            f"a survey id is 1 to 32 of a-z, 0-9, _ and -, not {survey_id!r} / id опроса — от 1 до 32 "
            f"символов a-z, 0-9, _ и -, а не {survey_id!r}"
        )


def put(
    conn: sqlite3.Connection,
    survey: dict[str, Any],
    *,
    by: str | None = None,
    survey_id: str | None = None,
    name: str | None = None,
    audience: str | None = None,
) -> list[dict[str, Any]]:
    """Check and save a survey (default: the main one; another id makes or edits that survey) as
    a new revision (``by``: who saved it), register its rating questions' scales with the office's
    metrics, and give every terminal running it its next config revision; returns the configs to
    publish (one per terminal, in the contract's format). ``name`` and ``audience`` (visitors or
    staff) name a new survey or change them; a retired survey is refused (copy it instead)."""
    sid = survey_id or MAIN
    _check_id(sid)
    survey = {k: survey[k] for k in SURVEY_FIELDS if k in survey}
    with _write(conn):
        settings = office_settings.load(conn)
        card = info(conn, sid) or {"id": sid, "name": sid, "audience": VISITORS, "retired_at": None}
        if card["retired_at"] is not None:
            raise SurveyError(
                f"survey {sid!r} is retired: copy it to use it again / опрос {sid!r} снят с "
                "использования: сделайте копию, чтобы пользоваться им снова"
            )
        saved = sid in {r["survey_id"] for r in revisions(conn, sid)}
        if audience is not None and audience != card["audience"] and (saved or sid == MAIN):
            raise SurveyError(
                f"survey {sid!r} is answered by {card['audience']}: its audience stays (the answers given "
                "must keep their rule); copy it into a new survey for the other audience / у опроса "
                f"{sid!r} аудитория {card['audience']}: она не меняется (ответы сохраняют своё правило); "
                "скопируйте его в новый опрос для другой аудитории"
            )
        audience = audience or card["audience"]
        if audience not in AUDIENCES:
            raise SurveyError(
                f"audience is visitors or staff, not {audience!r} / аудитория — visitors или staff"
            )
        name = (name if name is not None else card["name"]).strip() or sid
        if len(name) > 80:
            raise SurveyError(
                "a survey's name is at most 80 characters / название опроса — не длиннее 80 символов"
            )
        check(survey, settings, audience=audience, others=_other_audience_ids(conn, sid, audience))
        _history(conn)
        (survey_rev,) = conn.execute("SELECT coalesce(max(rev), 0) + 1 FROM survey_revisions").fetchone()
        conn.execute(
            "INSERT INTO survey_revisions (rev, survey, saved_at, saved_by, survey_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (survey_rev, orjson.dumps(survey).decode(), now_ms(), by, sid),
        )
        if sid == MAIN:  # read by older code paths and kept as the office's survey
            conn.execute(
                "INSERT INTO office_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_KEY, orjson.dumps(survey).decode()),
            )
        conn.execute(
            "INSERT INTO surveys (id, name, audience, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name, audience = excluded.audience",
            (sid, name, audience, now_ms()),
        )
        new = {q["id"]: q["scale"] for q in survey["questions"] if q["scale"] in SCALES}
        if any(qid not in settings.questions for qid in new):
            wider = settings.model_copy(update={"questions": {**new, **settings.questions}})
            office_settings.save(conn, wider)  # inside this transaction
        return _refresh(conn)


def _audiences(conn: sqlite3.Connection) -> dict[str, str]:
    """Each saved survey's audience (retired ones too; the main one is the visitors' when it has
    no row yet): a read of one small table, where :func:`surveys` also resolves every terminal."""
    return {MAIN: VISITORS, **dict(conn.execute("SELECT id, audience FROM surveys"))}


def _other_audience_ids(conn: sqlite3.Connection, sid: str, audience: str) -> set[str]:
    """The question ids every revision of the other audience's surveys asked, retired ones too (a
    question id measures one audience only: employees' answers never count in the visitors'
    numbers, nor the reverse)."""
    audiences = _audiences(conn)
    return {
        q["id"]
        for r in revisions(conn)
        if r["survey_id"] != sid and audiences.get(r["survey_id"], VISITORS) != audience
        for q in r["survey"].get("questions") or ()
    }


def assign(
    conn: sqlite3.Connection, survey_id: str, *, devices: list[str] = (), departments: list[str] = ()
) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """Run ``survey_id`` on exactly these devices and on the terminals of these departments (a
    device or department assigned to another survey before moves to this one; the survey's other
    assignments end). A device's own assignment wins over its department's; a terminal with
    neither runs the main survey. Returns the configs to publish to the terminals whose survey
    changed."""
    with _write(conn):
        card = info(conn, survey_id)
        if card is None or (survey_id != MAIN and get(conn, survey_id) is None):
            raise SurveyError(f"no survey {survey_id!r} / опроса {survey_id!r} нет")
        if card["retired_at"] is not None:
            raise SurveyError(f"survey {survey_id!r} is retired / опрос {survey_id!r} снят с использования")
        check_targets(conn, devices, departments)
        conn.execute("DELETE FROM survey_assignments WHERE survey_id = ?", (survey_id,))
        now = now_ms()
        conn.executemany(
            "INSERT OR REPLACE INTO survey_assignments (target_kind, target, survey_id, assigned_at) "
            "VALUES (?, ?, ?, ?)",
            [("device", d, survey_id, now) for d in sorted(set(devices))]
            + [("department", d, survey_id, now) for d in sorted(set(departments))],
        )
        return _refresh(conn)


def staff_questions(conn: sqlite3.Connection) -> set[str]:
    """The question ids that are employees' answers: the bank's staff questions (eNPS) and every
    question a staff survey asked (any revision, retired ones too). The metrics never show them
    per window, operator or device (edge_hub/metrics/summary.py)."""
    ids = {q.id for q in bank.BANK if q.staff}
    staff = {sid for sid, audience in _audiences(conn).items() if audience == STAFF}
    for r in revisions(conn):
        if r["survey_id"] in staff:
            ids |= {q["id"] for q in r["survey"].get("questions") or ()}
    return ids


def check_targets(conn: sqlite3.Connection, devices: list[str] = (), departments: list[str] = ()) -> None:  # type: ignore[assignment]
    """Refuse an assignment to a device or a department that does not exist (before anything is
    saved: the editor checks its ticks first, so a save and its assignment stand or fall together)."""
    known = {d for (d,) in conn.execute("SELECT device FROM devices")}
    for device in devices:
        if device not in known:
            raise SurveyError(f"no device {device!r} / устройства {device!r} нет")
    deps = {d for (d,) in conn.execute("SELECT id FROM departments")}
    for dep in departments:
        if dep not in deps:
            raise SurveyError(f"no department {dep!r} / отдела {dep!r} нет")


def retire(conn: sqlite3.Connection, survey_id: str) -> list[dict[str, Any]]:
    """Retire a survey: its assignments end (its terminals go back to the main survey or their
    department's) and it can no longer be edited or assigned; its revisions and answers stay for
    the reports. The main survey cannot be retired. Returns the configs to publish."""
    if survey_id == MAIN:
        raise SurveyError(
            "the main survey runs on every terminal with no other: edit it instead / основной опрос "
            "идёт на всех терминалах без другого опроса: измените его"
        )
    with _write(conn):
        card = info(conn, survey_id)
        if card is None:
            raise SurveyError(f"no survey {survey_id!r} / опроса {survey_id!r} нет")
        running = [d for d in terminals(conn) if effective(conn, d) == survey_id]
        if running and revision(conn) is None:
            raise SurveyError(
                f"{', '.join(running)} would be left with no survey: save the main survey first / "
                f"{', '.join(running)} остались бы без опроса: сначала сохраните основной опрос"
            )
        conn.execute(
            "UPDATE surveys SET retired_at = coalesce(retired_at, ?) WHERE id = ?", (now_ms(), survey_id)
        )
        conn.execute("DELETE FROM survey_assignments WHERE survey_id = ?", (survey_id,))
        return _refresh(conn)


def effective(conn: sqlite3.Connection, device: str) -> str:
    """The survey a terminal runs: its own assignment, else its department's (by its window),
    else the main survey."""
    row = conn.execute(
        "SELECT a.survey_id FROM survey_assignments a JOIN surveys s ON s.id = a.survey_id "
        "AND s.retired_at IS NULL WHERE a.target_kind = 'device' AND a.target = ?",
        (device,),
    ).fetchone()
    if row is None:
        row = conn.execute(
            'SELECT a.survey_id FROM devices d JOIN windows w ON w.id = d."window" '
            "JOIN survey_assignments a ON a.target_kind = 'department' AND a.target = w.department "
            "JOIN surveys s ON s.id = a.survey_id AND s.retired_at IS NULL WHERE d.device = ?",
            (device,),
        ).fetchone()
    return row[0] if row else MAIN


def _revision_sql(device: str, ts: str, question: str) -> str:
    return (
        "(SELECT c.survey_rev FROM device_config_revs c WHERE c.device = " + device + " "
        "AND c.sent_at <= " + ts + " AND (" + question + " IN ('help', 'callback') OR EXISTS ("
        "SELECT 1 FROM survey_revisions r, json_each(r.survey, '$.questions') q WHERE r.rev = c.survey_rev "
        "AND json_extract(q.value, '$.id') = " + question + ")) "
        "ORDER BY c.sent_at DESC, c.rev DESC LIMIT 1)"
    )


#: SQL: the survey revision an answer of ``events`` was given under: the last config sent to its
#: device at or before its time whose survey asks its question (a terminal applies a new config
#: later than the hub sends it: a visitor on screen finishes the old survey, a tablet polls, one
#: offline applies it when it is back; the answers it gives meanwhile are the old survey's, and
#: a question id belongs to one audience, so a staff answer never lands in a visitors' survey or
#: the reverse); the follow-ups (help, call back) go with the last config sent. NULL when its
#: device had no such config (answers of no known revision).
REVISION_OF_EVENT = _revision_sql("events.device", "events.ts", "coalesce(events.question, 'csat')")


def revision(conn: sqlite3.Connection, survey_id: str | None = None) -> int | None:
    """A survey's current revision (default: the main one; None while it was never saved)."""
    sid = survey_id or MAIN
    (rev,) = conn.execute(f"SELECT max(rev) FROM survey_revisions WHERE {_SID} = ?", (sid,)).fetchone()
    if rev is None and sid == MAIN and get(conn) is not None:  # saved before revisions existed
        return 1
    return rev


def revisions(conn: sqlite3.Connection, survey_id: str | None = None) -> list[dict[str, Any]]:
    """Every survey revision (of one survey if given), newest first: ``{rev, survey, saved_at,
    saved_by, survey_id}``."""
    where, args = ("", ()) if survey_id is None else (f" WHERE {_SID} = ?", (survey_id,))
    rows = conn.execute(
        f"SELECT rev, survey, saved_at, saved_by, {_SID} FROM survey_revisions{where} ORDER BY rev DESC", args
    )
    found = [
        {"rev": r, "survey": orjson.loads(s), "saved_at": at, "saved_by": by, "survey_id": sid}
        for r, s, at, by, sid in rows
    ]
    if not found and survey_id in (None, MAIN) and (survey := get(conn)) is not None:
        found = [{"rev": 1, "survey": survey, "saved_at": None, "saved_by": None, "survey_id": MAIN}]
    return found


def survey_at(conn: sqlite3.Connection, rev: int) -> dict[str, Any] | None:
    """The survey of revision ``rev`` (None: no such revision)."""
    return next((r["survey"] for r in revisions(conn) if r["rev"] == rev), None)


def revision_at(conn: sqlite3.Connection, device: str, ts: int, question: str = "csat") -> int | None:
    """The survey revision an answer to ``question`` on ``device`` at ``ts`` (epoch ms) was given
    under (:data:`REVISION_OF_EVENT`); None when there is none."""
    row = conn.execute(
        "SELECT " + _revision_sql(":device", ":ts", ":question"),
        {"device": device, "ts": ts, "question": question},
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
    """The next config of a terminal whose config does not carry its survey's current revision:
    one seen for the first time since a survey was set, or moved to a window of a department that
    runs another survey. None when there is nothing to send (read only, then: the hub asks this
    of every terminal at every housekeeping round)."""
    if not _stale(conn, device):
        return None
    with _write(conn):
        _history(conn)
        found = _refresh(conn, [device])
        return found[0] if found else None


def _stale(conn: sqlite3.Connection, device: str) -> bool:
    rev = revision(conn, effective(conn, device))
    if rev is None:
        return False
    row = conn.execute(
        "SELECT survey_rev FROM device_config_revs WHERE device = ? ORDER BY rev DESC LIMIT 1", (device,)
    ).fetchone()
    return row is None or row[0] != rev


def _refresh(conn: sqlite3.Connection, devices: list[str] | None = None) -> list[dict[str, Any]]:
    """The next config of each terminal (of ``devices`` if given) whose config does not carry the
    current revision of the survey it should run. Inside the caller's transaction."""
    payloads = []
    for device in terminals(conn) if devices is None else devices:
        if _stale(conn, device):
            sid = effective(conn, device)
            rev = revision(conn, sid)
            survey = get(conn, sid)
            assert rev is not None and survey is not None
            payloads.append(_next_config(conn, device, survey, rev))
    return payloads


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
