"""The numbers the office sees, from the hourly aggregates through :mod:`edge_hub.metrics`.

Every figure here is a formula of ``edge_hub/metrics/formulas.py`` applied to histograms
merged from the ``aggregates`` table: nothing is computed from raw events, and nothing is a
stored percentage. A period is widened to whole hours (the bucket size): ``from`` down, ``to``
up. Days are the office's local days (its time zone), so a day across a DST change has 23 or
25 hourly buckets.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from edge_hub.metrics import aggregates
from edge_hub.metrics import formulas as f
from edge_hub.metrics.aggregates import HOUR_MS, KIND_ANSWERS, KIND_READINGS, KIND_VISITS, hour_of
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.office.settings import OfficeSettings

#: the metric for each scale of a question
_BY_SCALE = {"csat5": f.csat, "nps11": f.nps, "ces7": f.ces, "yesno": f.fcr, "agree11": None}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which presses: the whole office, or one window / operator / device / department."""

    window: str | None = None
    operator: str | None = None
    device: str | None = None
    department: str | None = None

    def names_a_person(self) -> bool:
        """A scope narrower than a department (a window, an operator, a device): the staff
        surveys' answers are never shown in one (edge_hub/office/survey.py, the staff rule)."""
        return self.window is not None or self.operator is not None or self.device is not None

    def sql(self) -> tuple[str, list[Any]]:
        where, args = [], []
        for column, value in (("window", self.window), ("operator", self.operator), ("device", self.device)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if self.department is not None:
            where.append("window IN (SELECT id FROM windows WHERE department = ?)")
            args.append(self.department)
        return "".join(f" AND {w}" for w in where), args


@dataclass(slots=True)
class Tally:
    """Merged histograms of one period and scope: per question, plus the flagged presses."""

    hists: dict[str, dict[int, int]]
    flagged: dict[str, int]
    flagged_hists: dict[str, dict[int, int]]

    def merged(self, include_flagged: bool) -> dict[str, dict[int, int]]:
        if not include_flagged:
            return self.hists
        out = {q: dict(h) for q, h in self.hists.items()}
        for q, h in self.flagged_hists.items():
            for v, n in h.items():
                out.setdefault(q, {})[v] = out.get(q, {}).get(v, 0) + n
        return out


def hour_range(from_ms: int, to_ms: int) -> tuple[int, int]:
    """[from, to) widened to whole hours."""
    return hour_of(from_ms), hour_of(to_ms + HOUR_MS - 1)


def tally(conn: sqlite3.Connection, from_ms: int, to_ms: int, scope: Scope = Scope()) -> Tally:
    lo, hi = hour_range(from_ms, to_ms)
    where, args = scope.sql()
    hists: dict[str, dict[int, int]] = defaultdict(dict)
    flagged_hists: dict[str, dict[int, int]] = defaultdict(dict)
    flagged: dict[str, int] = defaultdict(int)
    for question, counts, flags in conn.execute(
        f"SELECT question, counts, flagged FROM aggregates WHERE kind = ? AND hour >= ? AND hour < ?{where}",
        [KIND_ANSWERS, lo, hi, *args],
    ):
        _add(hists[question], orjson.loads(counts))
        for reason, hist in orjson.loads(flags).items():
            flagged[reason] += sum(hist.values())
            _add(flagged_hists[question], hist)
    return Tally(dict(hists), dict(flagged), dict(flagged_hists))


def _add(into: dict[int, int], counts: dict[str, int]) -> None:
    for value, n in counts.items():
        into[int(value)] = into.get(int(value), 0) + n


def _on_scale(hist: dict[int, int], scale: str) -> tuple[dict[int, int], int]:
    """The answers inside the scale, and how many were not (a device asking on another scale)."""
    s = f.SCALES[scale]
    kept = {v: n for v, n in hist.items() if s.contains(v)}
    return kept, sum(hist.values()) - sum(kept.values())


#: a staff survey's question asked of a window, an operator or a device
STAFF_ONLY = "staff survey: office or department only"


def result_json(r: f.Result) -> dict[str, Any]:
    """``{value, n}``, plus ``mean`` where the metric has one and ``reason`` when value is null."""
    out: dict[str, Any] = {"value": r.value, "n": r.n}
    if r.mean is not None:
        out["mean"] = r.mean
    if r.reason:
        out["reason"] = r.reason
    return out


def served_total(
    conn: sqlite3.Connection, settings: OfficeSettings, from_ms: int, to_ms: int, window: str | None
) -> int | None:
    """Served clients over the local days of [from, to) for the office or one window; None if unknown.

    A day's figure entered through the API (or imported from the queue system) wins; a day
    without one takes the visitor counter's readings of that day: for the office, counters not
    assigned to a window (the entrance); for a window, the counters assigned to it.
    """
    first, last = local_day(settings, from_ms), local_day(settings, max(from_ms, to_ms - 1))
    entered = dict(
        conn.execute(
            "SELECT day, count FROM served WHERE window = ? AND day >= ? AND day <= ?",
            (window or "", first.isoformat(), last.isoformat()),
        )
    )
    counted: dict[str, float] = defaultdict(float)
    for hour, counts in conn.execute(
        "SELECT hour, counts FROM aggregates WHERE kind = ? AND question = 'visitors' AND window = ? "
        "AND hour >= ? AND hour < ?",
        (
            KIND_READINGS,
            window or "",
            settings.at(first, "00:00"),
            settings.at(last + timedelta(days=1), "00:00"),
        ),
    ):
        counted[local_day(settings, hour).isoformat()] += orjson.loads(counts)["sum"]
    days = entered.keys() | counted.keys()
    if not days:
        return None
    return sum(entered[d] if d in entered else round(counted[d]) for d in days)


def visit_counts(
    conn: sqlite3.Connection, from_ms: int, to_ms: int, scope: Scope = Scope()
) -> dict[str, int]:
    """Camera visits of the period and scope by their dominant emotion (per-label counts)."""
    lo, hi = hour_range(from_ms, to_ms)
    where, args = scope.sql()
    out: dict[str, int] = defaultdict(int)
    for (counts,) in conn.execute(
        f"SELECT counts FROM aggregates WHERE kind = ? AND hour >= ? AND hour < ?{where}",
        [KIND_VISITS, lo, hi, *args],
    ):
        for label, n in orjson.loads(counts).items():
            out[label] += n
    return dict(out)


def local_day(settings: OfficeSettings, ts_ms: int) -> date:
    return settings.local(ts_ms).date()


def summary(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    scope: Scope = Scope(),
    *,
    include_flagged: bool = False,
    settings: OfficeSettings | None = None,
) -> dict[str, Any]:
    """Every metric of the period and scope as ``{value, n}`` (value null: not enough data)."""
    settings = settings or office_settings.load(conn)
    t = tally(conn, from_ms, to_ms, scope)
    hists = t.merged(include_flagged)
    min_n = settings.min_n
    metrics: dict[str, Any] = {}
    off_scale = 0
    staff = office_survey.staff_questions(conn) if scope.names_a_person() else set()
    for question, scale in settings.questions.items():
        formula = _BY_SCALE.get(scale)
        if formula is None:
            continue
        if question in staff:  # an employee's answer per window, operator or device could name them
            metrics[question] = {"value": None, "n": 0, "reason": STAFF_ONLY}
            continue
        hist, off = _on_scale(hists.get(question, {}), scale)
        off_scale += off
        metrics[question] = result_json(formula(hist, min_n=min_n))
    main_scale = settings.questions[settings.main_question]
    main, _ = _on_scale(hists.get(settings.main_question, {}), main_scale)
    ratings = sum(main.values())
    positive = f.positive_count(main, main_scale)
    negative = f.negative_count(main, main_scale)
    served = served_total(conn, settings, from_ms, to_ms, scope.window)
    metrics["response_rate"] = result_json(f.response_rate(ratings, served, min_n=min_n))
    metrics["support_index"] = result_json(f.support_index(positive, served, min_n=min_n))
    metrics["criticality_index"] = result_json(f.criticality_index(negative, served, min_n=min_n))
    visits = visit_counts(conn, from_ms, to_ms, scope)
    metrics["emotional_nps"] = result_json(f.emotional_nps(visits, min_n=min_n))
    return {
        "from": _iso(from_ms),
        "to": _iso(to_ms),
        "min_n": min_n,
        "main_question": settings.main_question,
        "ratings": ratings,
        "positive": positive,
        "negative": negative,
        "served": served,
        "visits": {"total": sum(visits.values()), "by_emotion": visits},
        "metrics": metrics,
        "flagged": {"total": sum(t.flagged.values()), "by_reason": t.flagged, "included": include_flagged},
        "off_scale": off_scale,
    }


def timeseries(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    question: str,
    step: str = "day",
    scope: Scope = Scope(),
    *,
    settings: OfficeSettings | None = None,
) -> dict[str, Any]:
    """One question's metric per hour or per local day of the period, each with its n."""
    settings = settings or office_settings.load(conn)
    scale = settings.scale_of(question)
    if scale is None or _BY_SCALE.get(scale) is None:
        raise ValueError(f"unknown question {question!r} / неизвестный вопрос")
    if step not in ("hour", "day"):
        raise ValueError("step must be hour or day / шаг: hour или day")
    if scope.names_a_person() and question in office_survey.staff_questions(conn):
        raise ValueError(
            f"{question!r} is a staff survey's question: shown for the office or a department only / "
            f"{question!r} — вопрос опроса сотрудников: показывается только по офису или отделу"
        )
    lo, hi = hour_range(from_ms, to_ms)
    where, args = scope.sql()
    per: dict[Any, dict[int, int]] = defaultdict(dict)
    for hour, counts in conn.execute(
        "SELECT hour, counts FROM aggregates WHERE kind = ? AND question = ? AND hour >= ? AND hour < ?"
        + where,
        [KIND_ANSWERS, question, lo, hi, *args],
    ):
        slot = hour if step == "hour" else local_day(settings, hour)
        _add(per[slot], orjson.loads(counts))
    formula = _BY_SCALE[scale]
    points = []
    for slot in _slots(settings, lo, hi, step):
        hist, _ = _on_scale(per.get(slot, {}), scale)
        r = formula(hist, min_n=settings.min_n)
        points.append({"t": _iso(slot) if step == "hour" else slot.isoformat(), **result_json(r)})
    return {"question": question, "scale": scale, "step": step, "points": points}


def emotions(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    step: str = "day",
    scope: Scope = Scope(),
    *,
    settings: OfficeSettings | None = None,
) -> dict[str, Any]:
    """Camera visits per hour or local day: the emotion mix and the emotional NPS, each with its n."""
    settings = settings or office_settings.load(conn)
    per = _per_slot(conn, settings, KIND_VISITS, None, from_ms, to_ms, step, scope)
    points = []
    for slot, label_counts in per:
        r = f.emotional_nps(label_counts, min_n=settings.min_n)
        points.append(
            {"t": slot, "visits": sum(label_counts.values()), "by_emotion": label_counts,
             "emotional_nps": result_json(r)}
        )  # fmt: skip
    return {"step": step, "labels": sorted(f.EMOTIONS), "points": points}


def readings(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    metric: str,
    step: str = "hour",
    scope: Scope = Scope(),
    *,
    settings: OfficeSettings | None = None,
) -> dict[str, Any]:
    """One sensor metric per hour or local day: count, mean, min and max (sum for visitors)."""
    settings = settings or office_settings.load(conn)
    points = []
    for slot, st in _per_slot(conn, settings, KIND_READINGS, metric, from_ms, to_ms, step, scope):
        n = st.get("count", 0)
        points.append(
            {"t": slot, "n": n, "sum": st.get("sum") if n else None, "mean": st["sum"] / n if n else None,
             "min": st.get("min"), "max": st.get("max")}
        )  # fmt: skip
    return {"metric": metric, "step": step, "points": points}


def _per_slot(
    conn: sqlite3.Connection,
    settings: OfficeSettings,
    kind: str,
    question: str | None,
    from_ms: int,
    to_ms: int,
    step: str,
    scope: Scope,
) -> list[tuple[str, dict]]:
    """Buckets of one kind merged per hour or local day of the period: [(slot as text, merged)]."""
    if step not in ("hour", "day"):
        raise ValueError("step must be hour or day / шаг: hour или day")
    if scope.names_a_person() and question in office_survey.staff_questions(conn):
        raise ValueError(
            f"{question!r} is a staff survey's question: shown for the office or a department only / "
            f"{question!r} — вопрос опроса сотрудников: показывается только по офису или отделу"
        )
    lo, hi = hour_range(from_ms, to_ms)
    where, args = scope.sql()
    if question is not None:
        where, args = " AND question = ?" + where, [question, *args]
    per: dict[Any, dict] = defaultdict(dict)
    for hour, counts in conn.execute(
        f"SELECT hour, counts FROM aggregates WHERE kind = ? AND hour >= ? AND hour < ?{where}",
        [kind, lo, hi, *args],
    ):
        slot = hour if step == "hour" else local_day(settings, hour)
        aggregates.merge_into(per[slot], orjson.loads(counts), kind)
    return [
        (_iso(slot) if step == "hour" else slot.isoformat(), per.get(slot, {}))
        for slot in _slots(settings, lo, hi, step)
    ]


def _slots(settings: OfficeSettings, lo: int, hi: int, step: str) -> list[Any]:
    if step == "hour":
        return list(range(lo, hi, HOUR_MS))
    first, last = local_day(settings, lo), local_day(settings, hi - 1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def executors(
    conn: sqlite3.Connection,
    from_ms: int,
    to_ms: int,
    by: str = "operator",
    *,
    settings: OfficeSettings | None = None,
) -> list[dict[str, Any]]:
    """The league: operators (or windows) ranked by the Wilson lower bound of their positive share."""
    if by not in ("operator", "window"):
        raise ValueError("by must be operator or window / by: operator или window")
    settings = settings or office_settings.load(conn)
    scale = settings.questions[settings.main_question]
    lo, hi = hour_range(from_ms, to_ms)
    per: dict[str, dict[int, int]] = defaultdict(dict)
    for who, counts in conn.execute(
        f"SELECT {by}, counts FROM aggregates WHERE kind = ? AND question = ? AND hour >= ? AND hour < ? "
        f"AND {by} != ''",
        (KIND_ANSWERS, settings.main_question, lo, hi),
    ):
        _add(per[who], orjson.loads(counts))
    totals = {}
    for who, hist in per.items():
        kept, _ = _on_scale(hist, scale)
        totals[who] = (f.positive_count(kept, scale), sum(kept.values()))
    ranked = f.rank_executors(totals, min_n=settings.min_n)
    return [
        {
            "id": r.name, "rank": r.rank, "positive": r.positive, "n": r.total, "share": r.share,
            "lower_bound": r.lower_bound,
        }
        for r in ranked
    ]  # fmt: skip


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
