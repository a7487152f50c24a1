"""Attribution, trust flags and hourly mergeable aggregates, maintained at ingest.

In the ingest transaction that stores new events (:meth:`Store.commit_batch`), :func:`apply`:

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
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from edge_hub import office as office_settings
from edge_hub import scopes
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import OfficeSettings

HOUR_MS = 3_600_000
KIND_ANSWERS = "answers"

FLAGS = ("repeat", "burst", "self_rating", "after_hours", "no_operator")


def hour_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


def bucket_key(hour: int, device: str, question: str, window: str, operator: str) -> str:
    return f"{hour}|{device}|{question}|{window}|{operator}"


@dataclass(slots=True)
class _Press:
    id: int
    device: str
    ts: int
    question: str
    value: int | None
    repeat: bool


def apply(conn: sqlite3.Connection, after_id: int, settings: OfficeSettings | None = None) -> int:
    """Attribute, flag and aggregate the events with id > ``after_id``; returns buckets changed.

    Runs inside the caller's transaction (the one that inserted the events).
    """
    rows = conn.execute(
        "SELECT id, device, ts, coalesce(question, ''), value, repeat FROM events "
        "WHERE id > ? AND type = 'press' ORDER BY device, ts, id",
        (after_id,),
    ).fetchall()
    if not rows:
        return 0
    settings = settings or office_settings.load(conn)
    presses = [_Press(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
    # new events only (the store ignores a duplicate): add them to their buckets
    return _add(conn, _annotate(conn, settings, presses))


Bucket = tuple[int, str, str, str, str]  # hour, device, question, window, operator
_OLD = "SELECT counts, flagged FROM aggregates WHERE key = ?"


def _annotate(
    conn: sqlite3.Connection, settings: OfficeSettings, presses: list[_Press]
) -> dict[Bucket, tuple[dict[str, int], dict[str, dict[str, int]]]]:
    """Window, operator and flag for each press (in device, time order); per bucket, the counts
    of these presses (trusted by value, flagged by reason and value)."""
    deltas: dict[Bucket, tuple[dict[str, int], dict[str, dict[str, int]]]] = {}
    if not presses:
        return deltas
    windows = dict(conn.execute("SELECT device, window FROM devices WHERE window IS NOT NULL"))
    staffed = {w for (w,) in conn.execute("SELECT DISTINCT window FROM shifts")}
    updates = []
    for p in presses:
        window = windows.get(p.device)
        operator = scopes.operator_at(conn, window, p.ts) if window else None
        flag = _flag(conn, settings, p, window in staffed and operator is None)
        updates.append((window, operator, flag, p.id))
        counts, flagged = deltas.setdefault(
            (hour_of(p.ts), p.device, p.question, window or "", operator or ""), ({}, {})
        )
        target = counts if flag is None else flagged.setdefault(flag, {})
        target[str(p.value)] = target.get(str(p.value), 0) + 1
    conn.executemany("UPDATE events SET window = ?, operator = ?, flag = ? WHERE id = ?", updates)
    return deltas


def _add(conn: sqlite3.Connection, deltas: dict) -> int:
    """Add new presses' counts to their buckets (each changed bucket: revision + 1, next seq)."""
    (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM aggregates").fetchone()
    for bucket, (counts, flagged) in sorted(deltas.items()):
        old = conn.execute(_OLD, (bucket_key(*bucket),)).fetchone()
        if old is not None:
            counts = _merge(orjson.loads(old[0]), counts)
            old_flagged = orjson.loads(old[1])
            flagged = {
                r: _merge(old_flagged.get(r, {}), flagged.get(r, {})) for r in {*old_flagged, *flagged}
            }
        seq += 1
        _store(conn, bucket, counts, flagged, seq)
    return len(deltas)


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {v: a.get(v, 0) + b.get(v, 0) for v in {*a, *b}}


def _store(conn: sqlite3.Connection, bucket: Bucket, counts: dict, flagged: dict, seq: int) -> None:
    hour, device, question, window, operator = bucket
    conn.execute(
        "INSERT INTO aggregates (key, hour, device, question, window, operator, kind, counts, flagged, "
        "n, revision, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
        "counts = excluded.counts, flagged = excluded.flagged, n = excluded.n, "
        "revision = revision + 1, seq = excluded.seq",
        (bucket_key(*bucket), hour, device, question, window, operator, KIND_ANSWERS, _json(counts),
         _json(flagged), sum(counts.values()), seq),
    )  # fmt: skip


def _json(value: dict) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _flag(conn: sqlite3.Connection, settings: OfficeSettings, p: _Press, unstaffed: bool) -> str | None:
    """The first reason this press looks fake, or None."""
    rules = settings.trust
    if p.repeat:
        return "repeat"
    burst_from = p.ts - rules.burst_window_s * 1000
    (recent,) = conn.execute(
        "SELECT count(*) FROM events WHERE device = ? AND type = 'press' AND ts > ? AND ts <= ?",
        (p.device, burst_from, p.ts),
    ).fetchone()
    if recent > rules.burst_max:
        return "burst"
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
    return None


def recompute(conn: sqlite3.Connection, buckets: Iterable[Bucket]) -> int:
    """Rebuild these buckets from the events; bump revision and sequence where they changed."""
    changed = 0
    (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM aggregates").fetchone()
    for hour, device, question, window, operator in sorted(buckets):
        counts: dict[str, int] = {}
        flagged: dict[str, dict[str, int]] = {}
        for value, flag, n in conn.execute(
            "SELECT value, flag, count(*) FROM events WHERE device = ? AND ts >= ? AND ts < ? "
            "AND type = 'press' AND coalesce(question, '') = ? AND coalesce(window, '') = ? "
            "AND coalesce(operator, '') = ? GROUP BY value, flag",
            (device, hour, hour + HOUR_MS, question, window, operator),
        ):
            target = counts if flag is None else flagged.setdefault(flag, {})
            target[str(value)] = n
        bucket = (hour, device, question, window, operator)
        old = conn.execute(_OLD, (bucket_key(*bucket),)).fetchone()
        if old is not None and orjson.loads(old[0]) == counts and orjson.loads(old[1]) == flagged:
            continue
        seq += 1
        changed += 1
        _store(conn, bucket, counts, flagged, seq)
    return changed


def rebuild(conn: sqlite3.Connection, from_ms: int, to_ms: int, device: str | None = None) -> int:
    """Attribute, flag and aggregate again the presses in [from, to) (after shifts, windows or
    the settings changed); buckets that lose events keep their key with the new counts."""
    settings = office_settings.load(conn)
    where = "type = 'press' AND ts >= ? AND ts < ?" + (" AND device = ?" if device else "")
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
        rows = conn.execute(
            f"SELECT id, device, ts, coalesce(question, ''), value, repeat FROM events WHERE {where} "
            "ORDER BY device, ts, id",
            args,
        ).fetchall()
        presses = [_Press(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
        changed = recompute(conn, old | set(_annotate(conn, settings, presses)))
    return changed
