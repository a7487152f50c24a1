"""The survey report: each question of the office's survey, the completion funnel and the time
spent per question, for a period and optionally a department, a window, an operator and / or a
device (all given must hold: ``department`` is the windows the scopes put in it, as
:class:`edge_hub.metrics.summary.Scope` reads it; window and operator are the ones the press was
credited to at ingest).

A survey answer is a press with a ``session`` (the terminal's random id of one visitor's pass);
the follow-ups ``help`` (an administrator now) and ``callback`` (a call back) are events of the
session too, but no questions: they are counted apart and never in a metric. Only trusted answers
count (``flag`` NULL and not a ``repeat``); flagged ones are counted apart per question.

Unlike :mod:`edge_hub.metrics.summary`, the report reads the stored events, not the hourly
aggregates: sessions, time on screen and the chosen option live only in an event's payload. The
period is therefore exact, [from, to) by the press time, not widened to whole hours. Every metric
is a formula of :mod:`edge_hub.metrics.formulas` (CSAT for ``csat5``, NPS for ``nps11``, CES for
``ces7``, FCR, the share of yes, for ``yesno`` (named ``yes`` for the question bank's yes / no
questions that are no FCR), the agreement share for ``agree11``; a ``choice`` question has its
distribution only), each with its ``n`` and withheld below the office's
``min_n`` ("not enough data").

The funnel: sessions started (at least one answer), sessions that answered each question of the
survey, sessions to which a question applied (its ``show_if`` met by the session's answers; all
of them for an unconditional question), and sessions completed: every question whose ``show_if``
applied to it answered. It is judged against the office's current survey; a session of an older
survey may fall short of it.

Wordings: each answer is mapped to the survey revision on its terminal at its time
(:data:`edge_hub.office.survey.REVISION_OF_EVENT`). ``revision=`` keeps one revision's answers
only, and then judges them against that revision's survey. Without it, a question answered under
two wordings in the period (its text, scale or options differ between the revisions its answers
came from) is never mixed silently: its ``wordings`` list each wording with its revisions and
answers, ``mixed`` is true, and the report's ``mixed`` names the question.

Critics: a session whose trusted answer to the main question (the survey's first; without a
survey the office's ``main_question``) is negative on its scale (CSAT 1–2, NPS 0–6, …) is a
critic's. ``critics`` gives their number, their reasons (per choice question, how many critics
picked each option) and the newest :data:`CRITICS_SHOWN` critic sessions (``latest``, newest
first): time, device, window, operator, the main answer, the options picked, whether help or a
call back was asked (never the number: it stays in its event, for the alerts page) and the
critic alerts of the session's events (``alerts.key = 'critic:<event id>'``,
edge_hub/alerts/rules.py), to link to.

Staff mode (an anonymous eNPS of the office's own employees), ``staff=True``: **the rule lives
here**, so every caller (the API, the Survey page, the export) gets it by asking for the report.
A filter narrower than a department (device, window, operator) is refused with
:class:`SurveyReportError` ("English / Russian": a window or a terminal can name one person).
Unless the group answering has at least ``min_n`` distinct sessions, the report is withheld
entirely: ``withheld`` is true, ``withheld_reason`` "not enough people", ``needed`` the sessions
required, and no question, distribution, metric, time, funnel, request count, revision count or
critic is given (not even how many sessions there were). Above it the report is whole but for the
critic sessions' list (``critics.latest`` is None: a time and a terminal can name a person); the
reasons' counts stay. Elsewhere the same rule: a staff survey's questions are never shown per
window, operator or device by the office's metrics (edge_hub/metrics/summary.py), and an
employee's answer is stored with no operator (edge_hub/metrics/aggregates.py).

Limits, said plainly: ``min_n`` counts sessions (passes through the survey), not people: the
terminal cannot tell one employee answering twice from two (the lockout marks a quick second pass
as a repeat, which is left out); and two reports of overlapping periods or of the office and one
department can be subtracted. An office that needs more should run the staff survey on its own
terminal for fixed periods (a month) and read it for the whole office only.

Long: one report, its critics and the staff rule belong together; the page and the export only
read what it returns.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge_hub.errors import OtklikError
from edge_hub.metrics import formulas as f
from edge_hub.office import question_bank as bank
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.office.settings import OfficeSettings

#: a session's follow-up events, not questions: counted apart, never in a metric
FOLLOW_UPS = office_survey.FOLLOW_UPS
#: the metric of each rating scale (``choice`` has none: its distribution is the answer)
METRICS = {
    "csat5": ("csat", f.csat),
    "nps11": ("nps", f.nps),
    "ces7": ("ces", f.ces),
    "yesno": ("fcr", f.fcr),
    "agree11": ("agreement", f.agreement),
}
#: the newest critic sessions listed (all of them are counted)
CRITICS_SHOWN = 100
#: why a staff survey's report is withheld
NOT_ENOUGH_PEOPLE = "not enough people"
#: the filters a staff survey's report refuses: each can narrow the group to one person
STAFF_REFUSED = ("device", "window", "operator")


class SurveyReportError(OtklikError, ValueError):
    """The report was refused; the message is "English / Russian"."""


@dataclass(frozen=True, slots=True)
class _Answer:
    event: int
    ts: int
    device: str
    window: str | None
    operator: str | None
    session: str
    question: str
    value: int | None
    trusted: bool
    dwell_ms: int | None
    option: str | None
    rev: int | None
    comment: str | None = None


@dataclass(slots=True)
class _Session:
    """What the critics' list needs of one session: where and when, its events, its picks."""

    ts: int
    device: str
    window: str | None
    operator: str | None
    events: list[int] = field(default_factory=list)
    picks: list[tuple[str, str]] = field(default_factory=list)  # (question, option) of choice answers
    help: bool = False
    callback: bool = False
    comments: list[str] = field(default_factory=list)  # what the visitor wrote (a press's comment)


def _answers(
    conn: sqlite3.Connection, from_ms: int, to_ms: int, filters: dict[str, str | None]
) -> list[_Answer]:
    where, args = "", [from_ms, to_ms]
    for column in ("device", "window", "operator"):
        if filters.get(column) is not None:
            where += f" AND {column} = ?"
            args.append(filters[column])
    if filters.get("department") is not None:
        where += " AND window IN (SELECT id FROM windows WHERE department = ?)"
        args.append(filters["department"])
    rows = conn.execute(
        "SELECT id, ts, device, window, operator, json_extract(payload, '$.session'), "
        "coalesce(question, 'csat'), value, flag IS NULL AND NOT repeat, "
        "json_extract(payload, '$.dwell_ms'), "
        f"json_extract(payload, '$.option'), {office_survey.REVISION_OF_EVENT}, "
        "json_extract(payload, '$.comment') "
        "FROM events WHERE type = 'press' AND ts >= ? AND ts < ? "
        f"AND json_extract(payload, '$.session') IS NOT NULL{where} ORDER BY ts, id",
        args,
    )
    return [
        _Answer(
            event, ts, device, window, operator, str(session), question,
            int(value) if isinstance(value, int | float) else None, bool(trusted),
            dwell if isinstance(dwell, int) else None, option if isinstance(option, str) else None, rev,
            comment if isinstance(comment, str) and comment.strip() else None,
        )
        for (event, ts, device, window, operator, session, question, value, trusted, dwell, option, rev,
             comment) in rows
    ]  # fmt: skip


def _metric(
    scale: str | None, hist: dict[int, int], min_n: int, qid: str = ""
) -> tuple[dict[str, Any] | None, int]:
    """The question's metric as ``{name, value, n, mean?, reason?}`` (None for a choice or an
    unknown scale), and how many answers were off its scale (left out of it)."""
    if scale not in METRICS:
        return None, 0
    name, formula = METRICS[scale]
    if scale == "yesno" and getattr(bank.BY_ID.get(qid), "metric", "fcr") == "yes_share":
        name = "yes"  # a yes / no question of the bank that is no FCR ("have you used pre-booking?")
    s = f.SCALES[scale]
    kept = {v: n for v, n in hist.items() if s.contains(v)}
    r = formula(kept, min_n=min_n)
    out: dict[str, Any] = {"name": name, "value": r.value, "n": r.n, "mean": r.mean, "reason": r.reason}
    return out, sum(hist.values()) - sum(kept.values())


def _distribution(
    q: dict[str, Any] | None, scale: str | None, hist: dict[int, int], picked: dict[str, int]
) -> list[dict[str, Any]]:
    """Rows ``{value, count, option, text}``: for a choice question every option of the survey (in
    its order), then options answered that it no longer has, then values answered without an
    option id; every value of a rating scale; else the values seen."""
    if scale == "choice":
        options = list((q or {}).get("options") or ())
        rows = [
            {"value": i, "option": o["id"], "text": o["text"], "count": picked.pop(o["id"], 0)}
            for i, o in enumerate(options, 1)
        ]
        rows += [{"value": None, "option": o, "text": None, "count": n} for o, n in sorted(picked.items())]
        rows += [{"value": v, "option": None, "text": None, "count": n} for v, n in sorted(hist.items())]
        return rows
    if scale in f.SCALES:
        s = f.SCALES[scale]
        values = sorted(set(range(s.low, s.high + 1)) | set(hist))
    else:
        values = sorted(hist)
    return [{"value": v, "option": None, "text": None, "count": hist.get(v, 0)} for v in values]


def _option_at(q: dict[str, Any] | None, value: int | None) -> str | None:
    """The survey's option a choice answer without an option id names by its 1-based position."""
    options = (q or {}).get("options") or ()
    if q is None or q["scale"] != "choice" or value is None or not 1 <= value <= len(options):
        return None
    return options[value - 1]["id"]


def _wording(q: dict[str, Any] | None) -> str | None:
    """What makes two versions of a question the same wording: its texts, scale and options."""
    if q is None:
        return None
    return orjson.dumps(
        {k: q.get(k) for k in ("text", "scale", "options")}, option=orjson.OPT_SORT_KEYS
    ).decode()


def _applies(q: dict[str, Any], given: dict[str, int | None]) -> bool:
    cond = q.get("show_if")
    return not cond or given.get(cond["question"]) in cond["values"]


def report(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    *,
    device: str | None = None,
    window: str | None = None,
    settings: OfficeSettings | None = None,
    revision: int | None = None,
    department: str | None = None,
    operator: str | None = None,
    staff: bool = False,
    survey_id: str | None = None,
) -> dict[str, Any]:
    """The survey report of [from, to) (epoch ms), for a department, a window, an operator and / or
    a device if given, and for the answers of one survey revision if ``revision`` is given;
    ``staff``: a staff survey's report, under the rule of the module's doc (refuses a device, a
    window or an operator with :class:`SurveyReportError`).

    ``survey_id``: the report of that survey (its answers: those given under its revisions; a
    staff survey always under the staff rule). Without it, the main survey's; the main survey's
    report has the answers of no known revision too (given before the hub kept revisions), never
    another survey's."""
    sid = survey_id or office_survey.MAIN
    main_survey = sid == office_survey.MAIN
    card = office_survey.info(conn, sid)
    if card is None:
        raise SurveyReportError(f"no survey {sid!r} / опроса {sid!r} нет")
    staff = staff or card["audience"] == office_survey.STAFF
    own = {r["rev"] for r in office_survey.revisions(conn, sid)}
    filters = {"department": department, "window": window, "operator": operator, "device": device}
    if staff and any(filters[k] is not None for k in STAFF_REFUSED):
        raise SurveyReportError(
            "a staff survey is reported for the whole office or a department only, not per device, window "
            "or operator: it could name a person / опрос сотрудников показывается только по всему офису или "
            "отделу, не по терминалу, окну или оператору: так можно узнать человека"
        )
    settings = settings or office_settings.load(conn)
    history = {r["rev"]: r["survey"] for r in office_survey.revisions(conn)}
    if revision is not None:
        survey = history.get(revision) if revision in own else None
    else:
        survey = office_survey.get(conn, sid)
    asked = list((survey or {}).get("questions") or ())
    by_id = {q["id"]: q for q in asked}
    answers = _answers(conn, from_ms, to_ms, filters)
    if revision is not None:
        answers = [a for a in answers if a.rev == revision]
    answers = [a for a in answers if a.rev in own or (main_survey and a.rev is None)]
    revs_seen: dict[int | None, int] = defaultdict(int)
    # question -> wording -> {"revs": set, "n": trusted answers, "question": its definition}
    wordings: dict[str, dict[str | None, dict[str, Any]]] = defaultdict(dict)

    hists: dict[str, dict[int, int]] = defaultdict(dict)
    picked: dict[str, dict[str, int]] = defaultdict(dict)
    answered: dict[str, int] = defaultdict(int)
    dwell: dict[str, list[int]] = defaultdict(list)
    flagged: dict[str, int] = defaultdict(int)
    follow_ups = dict.fromkeys(FOLLOW_UPS, 0)
    sessions: dict[str, dict[str, int | None]] = {}  # session -> question -> its first trusted answer
    about: dict[str, _Session] = {}  # session -> where, when, its events and picks
    seen: list[str] = []
    for a in answers:
        info = about.setdefault(a.session, _Session(a.ts, a.device, a.window, a.operator))
        info.events.append(a.event)
        if a.comment is not None:
            info.comments.append(a.comment)
        if a.question in FOLLOW_UPS:
            follow_ups[a.question] += a.trusted
            if a.trusted:
                info.help |= a.question == office_survey.HELP_QUESTION
                info.callback |= a.question == office_survey.CALLBACK_QUESTION
            continue
        if a.question not in by_id and a.question not in seen:
            seen.append(a.question)
        revs_seen[a.rev] += 1
        if not a.trusted:
            flagged[a.question] += 1
            continue
        then = next(
            (q for q in (history.get(a.rev) or {}).get("questions") or () if q["id"] == a.question), None
        )
        w = wordings[a.question].setdefault(_wording(then), {"revs": set(), "n": 0, "question": then})
        w["revs"].add(a.rev)
        w["n"] += 1
        q = by_id.get(a.question)
        option = None if q is not None and q["scale"] != "choice" else a.option or _option_at(q, a.value)
        if option is not None:  # a choice: counted by its option (its value is only a position)
            picked[a.question][option] = picked[a.question].get(option, 0) + 1
            answered[a.question] += 1
            if a.question not in sessions.get(a.session, {}):
                info.picks.append((a.question, option))
        elif a.value is not None:
            hists[a.question][a.value] = hists[a.question].get(a.value, 0) + 1
            answered[a.question] += 1
        if a.dwell_ms is not None:
            dwell[a.question].append(a.dwell_ms)
        sessions.setdefault(a.session, {}).setdefault(a.question, a.value)

    base = {
        "from_ms": from_ms, "to_ms": to_ms, **filters, "min_n": settings.min_n,
        "survey": survey is not None, "survey_id": sid, "survey_name": card["name"],
        "audience": card["audience"], "revision": revision, "staff": staff,
    }  # fmt: skip
    if staff and len(sessions) < settings.min_n:
        return {
            **base, "withheld": True, "withheld_reason": NOT_ENOUGH_PEOPLE, "needed": settings.min_n,
            "questions": [], "funnel": None, "help_requests": None, "callback_requests": None,
            "revisions": [], "mixed": [], "critics": None, "csi": None,
        }  # fmt: skip

    questions = []
    for position, qid in enumerate([*by_id, *seen], 1):
        q = by_id.get(qid)
        scale = q["scale"] if q else settings.scale_of(qid)
        hist = hists.get(qid, {})
        metric, off_scale = _metric(scale, hist, settings.min_n, qid)
        times = dwell.get(qid, [])
        questions.append({
            "id": qid, "position": position if q else None, "in_survey": q is not None, "scale": scale,
            "text": q["text"] if q else None, "show_if": q.get("show_if") if q else None,
            "n": answered.get(qid, 0), "flagged": flagged.get(qid, 0), "off_scale": off_scale,
            "metric": metric, "distribution": _distribution(q, scale, hist, dict(picked.get(qid, {}))),
            "dwell_median_ms": statistics.median(times) if times else None, "dwell_n": len(times),
            "wordings": _wordings(wordings.get(qid, {})), "mixed": len(wordings.get(qid, {})) > 1,
        })  # fmt: skip

    steps = []
    for q in asked:
        steps.append({
            "question": q["id"],
            "answered": sum(1 for given in sessions.values() if q["id"] in given),
            "applied": sum(1 for given in sessions.values() if _applies(q, given)),
        })  # fmt: skip
    completed = (
        sum(1 for given in sessions.values() if all(q["id"] in given for q in asked if _applies(q, given)))
        if asked else None
    )  # fmt: skip
    main = asked[0]["id"] if asked else settings.main_question
    main_scale = by_id[main]["scale"] if main in by_id else settings.scale_of(main)
    return {
        **base,
        "withheld": False,
        "withheld_reason": None,
        "needed": None,
        "questions": questions,
        "funnel": {"started": len(sessions), "steps": steps, "completed": completed},
        "help_requests": follow_ups[office_survey.HELP_QUESTION],
        "callback_requests": follow_ups[office_survey.CALLBACK_QUESTION],
        "revisions": [
            {"rev": r, "answers": n} for r, n in sorted(revs_seen.items(), key=lambda i: (i[0] is None, i[0]))
        ],
        "mixed": [q["id"] for q in questions if q["mixed"]],
        "critics": _critics(conn, main, main_scale, by_id, sessions, about, listed=not staff),
        "csi": _csi(hists, settings.min_n),
    }


def _csi(hists: dict[str, dict[int, int]], min_n: int) -> dict[str, Any] | None:
    """The CSI of the question bank's importance / satisfaction pairs (``csi.<param>.imp`` and
    ``csi.<param>.sat``, csat5) answered in the period: each parameter's satisfaction scaled to
    0-100, weighted by its mean importance (:func:`edge_hub.metrics.formulas.csi`; domain.md's
    "CSI"); a parameter whose importance has fewer than ``min_n`` answers gets no weight. None when
    no pair was answered; ``value`` None below ``min_n`` (the thinnest weighted parameter's n)."""
    params = sorted(
        qid[4:-4] for qid in hists if qid.startswith("csi.") and qid.endswith(".sat")
        and f"csi.{qid[4:-4]}.imp" in hists
    )  # fmt: skip
    if not params:
        return None
    scale = f.SCALES["csat5"]
    sat = {p: {v: n for v, n in hists[f"csi.{p}.sat"].items() if scale.contains(v)} for p in params}
    weights: dict[str, float] = {}
    for p in params:
        imp = {v: n for v, n in hists[f"csi.{p}.imp"].items() if scale.contains(v)}
        total = sum(imp.values())
        weights[p] = sum(v * n for v, n in imp.items()) / total if total >= min_n else 0.0
    out: dict[str, Any] = {"params": params, "weights": weights, "value": None, "n": 0, "parts": {}}
    if not any(weights.values()):
        out["reason"] = f.NOT_ENOUGH_DATA
        return out
    r = f.csi(sat, weights, "csat5", min_n=min_n)
    out.update(value=r.value, n=r.n, parts=dict(r.parts), reason=r.reason)
    return out


def _critics(
    conn: sqlite3.Connection,
    main: str,
    scale: str | None,
    by_id: dict[str, dict[str, Any]],
    sessions: dict[str, dict[str, int | None]],
    about: dict[str, _Session],
    *,
    listed: bool,
) -> dict[str, Any]:
    """The critics' sessions (a negative trusted main answer): their number, their reasons per
    choice question and option, and (``listed``) the newest :data:`CRITICS_SHOWN` of them."""
    bands = f.SCALES.get(scale or "")
    critics = [
        s for s, given in sessions.items()
        if bands is not None and isinstance(given.get(main), int) and bands.contains(given[main])
        and bands.is_negative(given[main])  # type: ignore[arg-type]
    ]  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for s in critics:
        for qid, option in about[s].picks:
            counts.setdefault(qid, {})
            counts[qid][option] = counts[qid].get(option, 0) + 1
    choice_ids = [qid for qid, q in by_id.items() if q["scale"] == "choice"]
    reasons = []
    for qid in [*choice_ids, *sorted(set(counts) - set(choice_ids))]:
        q = by_id.get(qid)
        options = _distribution(q, "choice", {}, dict(counts.get(qid, {})))
        reasons.append({
            "question": qid, "text": q["text"] if q else None,
            "n": sum(o["count"] for o in options), "options": options,
        })  # fmt: skip
    out: dict[str, Any] = {"question": main, "sessions": len(critics), "reasons": reasons, "latest": None}
    if not listed:
        return out
    newest = sorted(critics, key=lambda s: about[s].ts, reverse=True)[:CRITICS_SHOWN]
    alerts = _alerts_of(conn, [e for s in newest for e in about[s].events])
    texts = {
        (qid, o["id"]): o["text"] for qid, q in by_id.items() for o in q.get("options") or () if "id" in o
    }
    out["latest"] = [
        {
            "session": s, "ts": about[s].ts, "device": about[s].device, "window": about[s].window,
            "operator": about[s].operator, "question": main, "value": sessions[s][main],
            "reasons": [
                {"question": qid, "option": o, "text": texts.get((qid, o))} for qid, o in about[s].picks
            ],
            "help": about[s].help, "callback": about[s].callback, "comments": about[s].comments,
            "alerts": [alerts[e] for e in about[s].events if e in alerts],
        }
        for s in newest
    ]  # fmt: skip
    return out


def _alerts_of(conn: sqlite3.Connection, events: list[int]) -> dict[int, dict[str, Any]]:
    """event id -> its critic alert ``{id, state}`` (key ``critic:<event id>``), newest if several."""
    found: dict[int, dict[str, Any]] = {}
    for i in range(0, len(events), 500):
        keys = [f"critic:{e}" for e in events[i : i + 500]]
        marks = ",".join("?" * len(keys))
        rows = conn.execute(
            f"SELECT id, state, key FROM alerts WHERE kind = 'critic' AND key IN ({marks}) ORDER BY id", keys
        )
        for alert_id, state, key in rows:
            found[int(key.partition(":")[2])] = {"id": alert_id, "state": state}
    return found


def _wordings(found: dict[str | None, dict[str, Any]]) -> list[dict[str, Any]]:
    """A question's wordings in the period, oldest revision first: ``{revs, n, text, scale,
    options}`` (text None: answers of no known revision, or of one that did not ask it)."""
    rows = []
    for w in found.values():
        q = w["question"] or {}
        revs = sorted(r for r in w["revs"] if r is not None)
        rows.append({"revs": revs, "unknown_rev": None in w["revs"], "n": w["n"], "text": q.get("text"),
                     "scale": q.get("scale"), "options": q.get("options")})  # fmt: skip
    return sorted(rows, key=lambda r: r["revs"][:1] or [0])
