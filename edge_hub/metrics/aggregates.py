"""Attribution, trust flags and hourly mergeable aggregates, maintained at ingest.

In the ingest transaction that stores new events (:func:`edge_hub.ingest.commit.commit`), :func:`apply`:

1. attributes each new press to the device's window and to the operator on shift at the press
   time (``events.window``, ``events.operator``);
2. flags presses that look fake (``events.flag``; never deleted): ``repeat`` (inside the
   device's lockout), ``burst`` (beyond a human rate), ``self_rating`` (a run of top scores in
   quick succession: staff rating themselves after the visitor left), ``after_hours`` (outside
   the opening hours), ``no_operator`` (a window that has shifts, with nobody on shift);
3. recomputes every hourly bucket the new events fall in, from the events themselves.

A bucket is one hour (UTC) x device x question x window x operator. It holds a mergeable
histogram of the trusted answers (value -> count) and, apart, the flagged ones by reason, so
buckets sum across hours, windows and offices. A bucket whose content changes gets revision + 1
and the next global change sequence number: the central server pulls by that sequence and
upserts by key and revision, so a late event (which lands in its own, older hour) shows up
again for the puller, and pulling twice is harmless.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from edge_hub.metrics.formulas import SCALES
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.office import survey as office_survey
from edge_hub.office.settings import OfficeSettings

HOUR_MS = 3_600_000
#: bucket kinds: answer histograms (presses), per-label visit counts (camera), sensor statistics
KIND_ANSWERS = "answers"
KIND_VISITS = "visits"
KIND_READINGS = "readings"
KIND_OF_TYPE = {"press": KIND_ANSWERS, "visit": KIND_VISITS, "reading": KIND_READINGS}
#: the question column of visit events and buckets (readings use their metric)
VISIT_QUESTION = "emotion"
#: a visit is looked for this far back from a press (longer visits are not expected)
MAX_VISIT_MS = HOUR_MS

FLAGS = ("repeat", "burst", "self_rating", "after_hours", "no_operator", "no_visitor")


def hour_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


def bucket_key(hour: int, device: str, question: str, window: str, operator: str) -> str:
    return f"{hour}|{device}|{question}|{window}|{operator}"


@dataclass(slots=True)
class _Event:
    id: int
    device: str
    ts: int
    type: str
    question: str
    value: float | None
    repeat: bool
    label: str | None  # a visit's dominant emotion
    duration: int  # a visit's length in ms
    session: str | None = None  # a survey answer's session (one visitor's pass through a survey)


_SELECT = (
    "SELECT id, device, ts, type, coalesce(question, ''), value, repeat, "
    "CASE WHEN type = 'visit' THEN json_extract(payload, '$.dominant') END, "
    "CASE WHEN type = 'visit' THEN json_extract(payload, '$.duration_ms') END, "
    "CASE WHEN type = 'press' THEN json_extract(payload, '$.session') END FROM events"
)
_SELECT_FLAG = _SELECT.replace(" FROM events", ", flag FROM events")
_TYPES = "type IN ('press', 'visit', 'reading')"


def _events(rows: Iterable[tuple]) -> list[_Event]:
    """Events in device, time, id order (the order the trust rules walk them)."""
    events = [_Event(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8] or 0, r[9]) for r in rows]
    events.sort(key=lambda e: (e.device, e.ts, e.id))
    return events


def apply(conn: sqlite3.Connection, after_id: int, settings: OfficeSettings | None = None) -> int:
    """Attribute, flag and aggregate the events with id > ``after_id``; returns buckets changed.

    Runs inside the caller's transaction (the one that inserted the events).
    """
    # by id, the primary key: an ORDER BY device, ts here made SQLite walk the (device, ts) index
    # over the whole table on every batch; the few new rows are sorted in Python instead
    events = _events(conn.execute(f"{_SELECT} WHERE id > ? AND {_TYPES}", (after_id,)))
    if not events:
        return 0
    settings = settings or office_settings.load(conn)
    # new events only (the store ignores a duplicate): add them to their buckets
    changed = _add(conn, _annotate(conn, settings, events))
    visits = [e for e in events if e.type == "visit"]
    if visits:
        changed += _seen_by(conn, settings, visits)
    return changed


Bucket = tuple[int, str, str, str, str]  # hour, device, question, window, operator
_OLD = "SELECT counts, flagged, kind FROM aggregates WHERE key = ?"


@dataclass(slots=True)
class _Delta:
    kind: str
    counts: dict = field(default_factory=dict)
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)


def _annotate(
    conn: sqlite3.Connection, settings: OfficeSettings, events: list[_Event]
) -> dict[Bucket, _Delta]:
    """Window, operator and flag for each event (in device, time order); per bucket, what these
    events add (presses: trusted by value, flagged by reason and value; visits: by label;
    readings: count, sum, min, max)."""
    deltas: dict[Bucket, _Delta] = {}
    if not events:
        return deltas
    windows = dict(conn.execute("SELECT device, window FROM devices WHERE window IS NOT NULL"))
    staffed = {w for (w,) in conn.execute("SELECT DISTINCT window FROM shifts")}
    cameras = _cameras(conn) if settings.trust.flag_no_visitor else {}
    presses = [e for e in events if e.type == "press"]
    # employees' answers (a staff survey's questions: they come with a session, as every survey
    # answer) get no operator, so no bucket holds one person's answers, and none of the visitors'
    # trust rules but repeat and burst (edge_hub/office/survey.py, the staff rule)
    staff = office_survey.staff_questions(conn) if any(e.session is not None for e in presses) else ()
    # visits and readings first: a press in the same batch must see a visit of its window
    for group in ([e for e in events if e.type != "press"], presses):
        updates = []
        for e in group:
            window = windows.get(e.device)
            employee = e.type == "press" and e.session is not None and e.question in staff
            attributed = window and e.type != "reading" and not employee
            operator = shift_rules.operator_at(conn, window, e.ts) if attributed else None
            flag = None
            if e.type == "press":
                unstaffed = window in staffed and operator is None and not employee
                flag = _flag(conn, settings, e, unstaffed, cameras.get(window, ()), employee=employee)
            updates.append((window, operator, flag, e.id))
            bucket = (hour_of(e.ts), e.device, e.question, window or "", operator or "")
            delta = deltas.setdefault(bucket, _Delta(KIND_OF_TYPE[e.type]))
            if e.type == "reading":
                merge_into(delta.counts, _reading(e.value), KIND_READINGS)
            else:
                key = str(e.value) if e.type == "press" else str(e.label)
                target = delta.counts if flag is None else delta.flagged.setdefault(flag, {})
                target[key] = target.get(key, 0) + 1
        conn.executemany("UPDATE events SET window = ?, operator = ?, flag = ? WHERE id = ?", updates)
    return deltas


def _reading(value: float | None) -> dict:
    v = value or 0
    return {"count": 1, "sum": v, "min": v, "max": v}


def _cameras(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Windows covered by a camera that is online with its source working: window -> cameras."""
    out: dict[str, list[str]] = defaultdict(list)
    for device, window in conn.execute(
        "SELECT device, window FROM devices WHERE kind = 'camera' AND window IS NOT NULL "
        "AND state = 'online' AND coalesce(json_extract(status, '$.camera.ok'), 1)"
    ):
        out[window].append(device)
    return {w: tuple(d) for w, d in out.items()}


def _add(conn: sqlite3.Connection, deltas: dict[Bucket, _Delta]) -> int:
    """Add new events' counts to their buckets (each changed bucket: revision + 1, next seq)."""
    (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM aggregates").fetchone()
    for bucket, delta in sorted(deltas.items()):
        counts, flagged = delta.counts, delta.flagged
        old = conn.execute(_OLD, (bucket_key(*bucket),)).fetchone()
        if old is not None:
            counts = _merge(orjson.loads(old[0]), counts, delta.kind)
            old_flagged = orjson.loads(old[1])
            flagged = {
                r: _merge(old_flagged.get(r, {}), flagged.get(r, {}), delta.kind)
                for r in {*old_flagged, *flagged}
            }
        seq += 1
        _store(conn, bucket, delta.kind, counts, flagged, seq)
    return len(deltas)


def _merge(a: dict, b: dict, kind: str = KIND_ANSWERS) -> dict:
    """Two histograms (or two reading statistics) as one."""
    out = dict(a)
    merge_into(out, b, kind)
    return out


def merge_into(into: dict, b: dict, kind: str) -> None:
    """Add histogram (or reading statistics) ``b`` into ``into``."""
    if kind == KIND_READINGS and into and b:
        into["count"] += b["count"]
        into["sum"] += b["sum"]
        into["min"] = min(into["min"], b["min"])
        into["max"] = max(into["max"], b["max"])
    elif kind == KIND_READINGS:
        into.update(b)
    else:
        for v, n in b.items():
            into[v] = into.get(v, 0) + n


def _store(
    conn: sqlite3.Connection, bucket: Bucket, kind: str, counts: dict, flagged: dict, seq: int
) -> None:
    hour, device, question, window, operator = bucket
    n = counts.get("count", 0) if kind == KIND_READINGS else sum(counts.values())
    conn.execute(
        "INSERT INTO aggregates (key, hour, device, question, window, operator, kind, counts, flagged, "
        "n, revision, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
        "counts = excluded.counts, flagged = excluded.flagged, n = excluded.n, "
        "revision = revision + 1, seq = excluded.seq",
        (bucket_key(*bucket), hour, device, question, window, operator, kind, _json(counts),
         _json(flagged), n, seq),
    )  # fmt: skip


def _json(value: dict) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _flag(
    conn: sqlite3.Connection,
    settings: OfficeSettings,
    p: _Event,
    unstaffed: bool,
    cameras: tuple[str, ...],
    *,
    employee: bool = False,
) -> str | None:
    """The first reason this press looks fake, or None (an ``employee``'s answer: repeat and burst
    only; the rules about visitors, opening hours and operators are not theirs).

    The look-backs are two small indexed queries a press, each stopping after a few rows (the
    burst count at ``burst_max + 1``, the run at ``self_run - 1`` presses), so their cost does
    not grow with the presses in the window: reading the window's rows once per device and
    batch, or counting all of them, made bench/ingest.py's floods 5 to 15 times slower.
    """
    rules = settings.trust
    if p.repeat:
        return "repeat"
    window = (p.device, p.ts - rules.burst_window_s * 1000, p.ts, rules.burst_max + 1)
    if p.session is None:  # counting stops past the limit: a flood costs no more than a trickle
        (recent,) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE device = ? AND type = 'press' AND ts > ? "
            "AND ts <= ? LIMIT ?)",
            window,
        ).fetchone()
    else:  # a survey terminal: one visitor answers several questions; visitors count, not answers
        (recent,) = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT json_extract(payload, '$.session') FROM events "
            "WHERE device = ? AND type = 'press' AND ts > ? AND ts <= ? LIMIT ?)",
            window,
        ).fetchone()
    if recent > rules.burst_max:
        return "burst"
    if employee:
        return None
    scale = SCALES.get(settings.scale_of(p.question) or "")
    if scale is not None and p.value == scale.high:
        before = conn.execute(
            "SELECT ts, value FROM events WHERE device = ? AND type = 'press' AND coalesce(question, '') = ? "
            "AND (ts < ? OR (ts = ? AND id < ?)) ORDER BY ts DESC, id DESC LIMIT ?",
            (p.device, p.question, p.ts, p.ts, p.id, rules.self_run - 1),
        ).fetchall()
        gap = rules.self_gap_s * 1000
        run, last = 1, p.ts
        for ts, value in before:
            if value != scale.high or last - ts > gap:
                break
            run, last = run + 1, ts
        if run >= rules.self_run:
            return "self_rating"
    if rules.flag_after_hours and not settings.is_open(p.ts):
        return "after_hours"
    if rules.flag_no_operator and unstaffed:
        return "no_operator"
    if cameras and not _visitor_at(conn, cameras, p.ts, rules.visitor_slack_s * 1000):
        return "no_visitor"
    return None


def _visitor_at(conn: sqlite3.Connection, cameras: tuple[str, ...], ts: int, slack: int) -> bool:
    """Whether one of these cameras saw a visit within ``slack`` ms of this instant."""
    marks = ", ".join("?" * len(cameras))
    row = conn.execute(
        f"SELECT 1 FROM events WHERE device IN ({marks}) AND type = 'visit' AND ts <= ? AND ts >= ? "
        "AND ts + coalesce(json_extract(payload, '$.duration_ms'), 0) >= ? LIMIT 1",
        (*cameras, ts + slack, ts - slack - MAX_VISIT_MS, ts - slack),
    ).fetchone()
    return row is not None


def _seen_by(conn: sqlite3.Connection, settings: OfficeSettings, visits: list[_Event]) -> int:
    """A visit arrives when its track ends, after the presses made during it: clear the
    ``no_visitor`` flag of the presses at its window within the slack, and recompute their buckets."""
    slack = settings.trust.visitor_slack_s * 1000
    buckets: set[Bucket] = set()
    for v in visits:
        (window,) = conn.execute("SELECT window FROM events WHERE id = ?", (v.id,)).fetchone()
        if window is None:
            continue
        rows = conn.execute(
            "SELECT id, ts, device, coalesce(question, ''), coalesce(operator, '') FROM events "
            "WHERE type = 'press' AND flag = 'no_visitor' AND window = ? AND ts >= ? AND ts <= ?",
            (window, v.ts - slack, v.ts + v.duration + slack),
        ).fetchall()
        if rows:
            conn.executemany("UPDATE events SET flag = NULL WHERE id = ?", [(r[0],) for r in rows])
            buckets.update((hour_of(ts), device, q, window, op) for _, ts, device, q, op in rows)
    return recompute(conn, buckets) if buckets else 0


def recompute(conn: sqlite3.Connection, buckets: Iterable[Bucket]) -> int:
    """Rebuild these buckets from the events; bump revision and sequence where they changed."""
    changed = 0
    (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM aggregates").fetchone()
    for bucket in sorted(buckets):
        hour, device, question, window, operator = bucket
        old = conn.execute(_OLD, (bucket_key(*bucket),)).fetchone()
        delta = _Delta(old[2]) if old is not None else None
        for e, flag in _with_flags(
            conn.execute(
                f"{_SELECT_FLAG} WHERE device = ? AND ts >= ? AND ts < ? "
                f"AND {_TYPES} AND coalesce(question, '') = ? AND coalesce(window, '') = ? "
                "AND coalesce(operator, '') = ?",
                (device, hour, hour + HOUR_MS, question, window, operator),
            )
        ):
            delta = delta or _Delta(KIND_OF_TYPE[e.type])
            if e.type == "reading":
                merge_into(delta.counts, _reading(e.value), KIND_READINGS)
                continue
            key = str(e.value) if e.type == "press" else str(e.label)
            target = delta.counts if flag is None else delta.flagged.setdefault(flag, {})
            target[key] = target.get(key, 0) + 1
        if delta is None:  # no bucket and no events
            continue
        if old is not None and orjson.loads(old[0]) == delta.counts and orjson.loads(old[1]) == delta.flagged:
            continue
        seq += 1
        changed += 1
        _store(conn, bucket, delta.kind, delta.counts, delta.flagged, seq)
    return changed


def _with_flags(rows: Iterable[tuple]) -> Iterable[tuple[_Event, str | None]]:
    for r in rows:
        yield _events([r[:-1]])[0], r[-1]


def rebuild(conn: sqlite3.Connection, from_ms: int, to_ms: int, device: str | None = None) -> int:
    """Attribute, flag and aggregate again the events in [from, to) (after shifts, windows or
    the settings changed); buckets that lose events keep their key with the new counts."""
    settings = office_settings.load(conn)
    where = f"{_TYPES} AND ts >= ? AND ts < ?" + (" AND device = ?" if device else "")
    args: tuple = (from_ms, to_ms, device) if device else (from_ms, to_ms)
    old = {
        (r[0], r[1], r[2], r[3], r[4])
        for r in conn.execute(
            "SELECT hour, device, question, window, operator FROM aggregates WHERE hour >= ? AND hour < ?"
            + (" AND device = ?" if device else ""),
            (hour_of(from_ms), to_ms, device) if device else (hour_of(from_ms), to_ms),
        )
    }
    with conn:
        events = _events(conn.execute(f"{_SELECT} WHERE {where}", args))
        changed = recompute(conn, old | set(_annotate(conn, settings, events)))
    return changed
