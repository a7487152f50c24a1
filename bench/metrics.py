"""Metrics bench: the summary from the hourly aggregates against a plain scan of the raw events,
and a full sync pull of all the buckets.

1. Build: a year of presses (default 50 devices x 200 a day, ~3.65 M) into a temporary hub
   database through the hub's real write path, ``edge_hub.ingest.commit.commit`` with big batches (one
   local day of every device per batch), so attribution (window, operator on shift), trust
   flags and the hourly aggregates are maintained exactly as ingest maintains them.
2. Query: ``edge_hub.metrics.summary.summary`` for one month and for the whole period, against a plain
   SQL scan of the raw events computing the same CSAT (share of 4-5 among trusted on-scale
   answers) for the same period; interleaved (summary, scan, summary, scan, ...), medians of
   ``--repeat``; both must give the same CSAT and n (checked here, the bench fails otherwise).
3. Sync: a full pull of every bucket through ``edge_hub.sync.page.page`` (what the central server's
   ``GET /api/v1/sync/aggregates`` serves), 5,000 per page, in buckets/s.

The last line printed is always ``scan/summary time ratio: month R1, year R2``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from common import STOP, BenchError, bench_run, check_stop, log, request_stop, save_results

from edge_hub.db.store import Store
from edge_hub.ingest import commit as ingest_commit
from edge_hub.metrics import summary
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.sync import page as sync_page

ZONE = "Europe/Moscow"
START = dt.date(2025, 1, 1)  # the first local day of the data
OPEN, CLOSE = 8, 20  # presses fall between these local hours, every day (the office is open then)
VALUES, WEIGHTS = (1, 2, 3, 4, 5), (5, 5, 10, 30, 50)  # a CSAT of about 80 %
REPEAT_SHARE = 0.01  # presses the console marks as repeats (flagged, left out of both sides)
DEPARTMENTS = 5
PAGE_LIMIT = 5000

#: the same CSAT as formulas.csat over the same presses: trusted, question csat, on the 1-5 scale
SCAN_SQL = (
    "SELECT count(*), coalesce(sum(value >= 4), 0) FROM events WHERE type = 'press' AND question = 'csat' "
    "AND flag IS NULL AND value BETWEEN 1 AND 5 AND ts >= ? AND ts < ?"
)


def midnight(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp() * 1000)


# --- 1. build -------------------------------------------------------------------------------


def setup_office(conn: sqlite3.Connection, args: argparse.Namespace, zone: ZoneInfo) -> list[str]:
    """Settings, departments, one window per device with two operators taking turns, one shift a
    day per window covering the opening hours; all through edge_hub.office.scopes. Returns the devices."""
    hours = [(f"{OPEN:02d}:00", f"{CLOSE:02d}:00")]
    week = {d: hours for d in office_settings.WEEKDAYS}
    office_settings.save(conn, office_settings.OfficeSettings(timezone=ZONE, opening_hours=week))
    for d in range(DEPARTMENTS):
        scopes.put_department(conn, f"dep-{d}", f"Отдел {d}")
    devices = [f"btn-{i:03d}" for i in range(args.devices)]
    for i, device in enumerate(devices):
        window = f"w-{i:03d}"
        scopes.put_window(conn, window, f"dep-{i % DEPARTMENTS}", f"Окно {i}")
        scopes.assign_device(conn, device, window)
        for shift in "ab":
            scopes.put_operator(conn, f"op-{i:03d}-{shift}", f"Оператор {i}{shift}")
    t0 = time.perf_counter()
    for day_index in range(args.days):
        day = START + dt.timedelta(days=day_index)
        start = midnight(day, zone) + OPEN * 3_600_000
        for i in range(args.devices):
            operator = f"op-{i:03d}-{'ab'[day_index % 2]}"
            shift_rules.add_shift(conn, operator, f"w-{i:03d}", start, start + (CLOSE - OPEN) * 3_600_000)
        check_stop()
    shifts_s = time.perf_counter() - t0
    log(f"scopes: {DEPARTMENTS} departments, {args.devices} windows, {2 * args.devices} operators, "
        f"{args.days * args.devices:,} shifts in {shifts_s:.1f} s (edge_hub.office.scopes)")  # fmt: skip
    return devices


def day_batch(
    rng: random.Random, devices: list[str], day_start: int, per_day: int, seqs: dict[str, int]
) -> tuple[list[tuple], list[tuple[str, int, int]]]:
    """One local day of presses of every device, in time order, as ingest commit rows."""
    span = (CLOSE - OPEN) * 3_600_000
    opened = day_start + OPEN * 3_600_000
    rows = []
    seen = []
    for device in devices:
        times = sorted(opened + rng.randrange(span) for _ in range(per_day))
        values = rng.choices(VALUES, WEIGHTS, k=per_day)
        seq = seqs[device]
        for ts, value in zip(times, values, strict=True):
            seq += 1
            repeat = rng.random() < REPEAT_SHARE
            body = {"v": 1, "type": "press", "device": device, "boot": 1, "seq": seq, "up": seq, "ts": ts,
                    "button": value, "value": value, "question": "csat", "repeat": repeat}  # fmt: skip
            rows.append((device, 1, seq, "press", "csat", value, int(repeat), ts, "device", ts, seq, ts + 40,
                         orjson.dumps(body).decode()))  # fmt: skip
        seqs[device] = seq
        if times:
            seen.append((device, times[0], times[-1]))
    rows.sort(key=lambda r: r[7])  # as they arrive
    return rows, seen


def build(store: Store, args: argparse.Namespace, zone: ZoneInfo) -> dict[str, Any]:
    devices = setup_office(store.conn, args, zone)
    rng = random.Random(args.seed)
    seqs = dict.fromkeys(devices, 0)
    total = args.days * args.devices * args.per_day
    log(f"build: {args.days} days x {args.devices} devices x {args.per_day} presses = {total:,} presses, "
        f"one ingest commit per day ({args.devices * args.per_day:,} events)")  # fmt: skip
    t0 = last_log = time.perf_counter()
    commit_s = 0.0
    stored = 0
    for day_index in range(args.days):
        rows, seen = day_batch(rng, devices, midnight(START + dt.timedelta(days=day_index), zone),
                               args.per_day, seqs)  # fmt: skip
        t = time.perf_counter()
        stored += ingest_commit.commit(store.conn, rows, seen=seen).inserted
        commit_s += time.perf_counter() - t
        now = time.perf_counter()
        if now - last_log >= args.progress_s or day_index == args.days - 1:
            last_log = now
            rate = stored / (now - t0)
            eta = (total - stored) / rate if rate else 0
            log(f"build: day {day_index + 1}/{args.days}, {stored:,} presses, {rate:,.0f} presses/s, "
                f"ETA {eta:.0f} s")  # fmt: skip
        check_stop()
    build_s = time.perf_counter() - t0
    if stored != total:
        raise BenchError(f"stored {stored:,} presses, expected {total:,}")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn = store.conn
    buckets, bucket_presses = conn.execute("SELECT count(*), coalesce(sum(n), 0) FROM aggregates").fetchone()
    flags = dict(conn.execute("SELECT coalesce(flag, 'trusted'), count(*) FROM events GROUP BY flag"))
    return {
        "presses": stored, "build_s": round(build_s, 2), "commit_s": round(commit_s, 2),
        "presses_per_s": round(stored / build_s), "buckets": buckets, "trusted_in_buckets": bucket_presses,
        "flags": flags, "db_mb": round(db_size(store) / 1e6, 1),
    }  # fmt: skip


def db_size(store: Store) -> int:
    (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
    (size,) = store.conn.execute("PRAGMA page_size").fetchone()
    return pages * size


# --- 2. summary against a scan --------------------------------------------------------------


def scan_csat(conn: sqlite3.Connection, lo: int, hi: int) -> tuple[float | None, int]:
    n, positive = conn.execute(SCAN_SQL, (lo, hi)).fetchone()
    return (100.0 * positive / n if n else None), n


def summary_csat(conn: sqlite3.Connection, lo: int, hi: int) -> tuple[float | None, int]:
    m = summary.summary(conn, lo, hi)["metrics"]["csat"]
    return m["value"], m["n"]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def compare(conn: sqlite3.Connection, periods: dict[str, tuple[int, int]], repeat: int) -> dict[str, Any]:
    out = {}
    for label, (lo, hi) in periods.items():
        # a warm-up of each (page cache, orjson, statement cache), not counted
        s_result, scan_result = summary_csat(conn, lo, hi), scan_csat(conn, lo, hi)
        if s_result != scan_result:
            raise BenchError(f"{label}: summary gives CSAT, n = {s_result}, the scan {scan_result}")
        out[label] = {"csat": s_result[0], "n": s_result[1], "summary_s": [], "scan_s": []}
    for rep in range(repeat):
        for label, (lo, hi) in periods.items():  # interleaved: summary, scan, for each period, each round
            s_time, s_result = timed(lambda lo=lo, hi=hi: summary_csat(conn, lo, hi))
            scan_time, scan_result = timed(lambda lo=lo, hi=hi: scan_csat(conn, lo, hi))
            if s_result != scan_result:
                raise BenchError(f"{label}: summary gives CSAT, n = {s_result}, the scan {scan_result}")
            out[label]["summary_s"].append(round(s_time, 5))
            out[label]["scan_s"].append(round(scan_time, 5))
            check_stop()
        log(f"query round {rep + 1}/{repeat}: " + "; ".join(
            f"{label} summary {r['summary_s'][-1] * 1000:.1f} ms, scan {r['scan_s'][-1] * 1000:.1f} ms"
            for label, r in out.items()))  # fmt: skip
    for r in out.values():
        r["summary_median_s"] = statistics.median(r["summary_s"])
        r["scan_median_s"] = statistics.median(r["scan_s"])
        r["ratio"] = round(r["scan_median_s"] / r["summary_median_s"], 2)
    return out


# --- 3. sync pull ---------------------------------------------------------------------------


def pull_all(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every bucket through edge_hub.sync.page.page (what GET /api/v1/sync/aggregates serves),
    5,000 a page."""
    log(f"sync pull: every bucket through edge_hub.sync.page.page, {PAGE_LIMIT} per page")
    after, buckets, pages = 0, 0, 0
    t0 = time.perf_counter()
    while True:
        body = sync_page.page(conn, after, PAGE_LIMIT)
        buckets += len(body["items"])
        pages += 1
        if body["next_cursor"] is None:
            break
        after = int(body["next_cursor"])
        check_stop()
    total_s = time.perf_counter() - t0
    return {"via": "edge_hub.sync.page.page", "buckets": buckets, "pages": pages,
            "total_s": round(total_s, 3),
            "buckets_per_s": round(buckets / total_s) if total_s else None}  # fmt: skip


# --- the run -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--days", type=int, default=365, help="local days of data, from 2025-01-01")
    p.add_argument("--devices", type=int, default=50, help="button consoles, one window each")
    p.add_argument("--per-day", type=int, default=200, help="presses per device per day")
    p.add_argument("--repeat", type=int, default=5, help="timed rounds of each query (medians)")
    p.add_argument(
        "--quick", action="store_true", help="a small smoke run: 40 days x 5 devices x 100, 3 rounds"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--progress-s", type=float, default=10.0, help="seconds between build progress lines")
    p.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = p.parse_args(argv)
    if args.quick:
        args.days, args.devices, args.per_day, args.repeat = 40, 5, 100, 3
    if args.days < 1 or args.devices < 1 or args.per_day < 1 or args.repeat < 3:
        p.error("need --days, --devices and --per-day >= 1, and --repeat >= 3")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    zone = ZoneInfo(ZONE)
    results: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "platform": platform.platform()},
        "params": {k: v for k, v in vars(args).items() if k not in ("keep", "progress_s")},
    }  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="otklik-metrics-bench-"))
    store = Store.open(tmp / "hub.db")
    with bench_run(tmp, args.keep, store.close) as outcome:
        results["build"] = build(store, args, zone)
        b = results["build"]
        log(f"built {b['presses']:,} presses in {b['build_s']:.1f} s ({b['presses_per_s']:,} presses/s, "
            f"{b['commit_s']:.1f} s in ingest commit), {b['buckets']:,} hourly buckets, "
            f"flags {b['flags']}, database {b['db_mb']:,} MB")  # fmt: skip
        first, end = START, START + dt.timedelta(days=args.days)
        month_end = min(end, dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1))
        periods = {
            "month": (midnight(first, zone), midnight(month_end, zone)),
            "year": (midnight(first, zone), midnight(end, zone)),
        }
        results["periods"] = {
            "month": f"{first} .. {month_end} ({(month_end - first).days} days)",
            "year": f"{first} .. {end} ({args.days} days)",
        }
        reader = Store.reader(tmp / "hub.db")  # as the API reads
        try:
            results["queries"] = compare(reader.conn, periods, args.repeat)
            results["sync"] = pull_all(reader.conn)
        finally:
            reader.close()
        if results["sync"]["buckets"] != b["buckets"]:
            raise BenchError(f"the pull gave {results['sync']['buckets']:,} buckets of {b['buckets']:,}")
    if outcome.code:
        return outcome.code
    out = save_results(results, "metrics")
    print_summary(results, out)
    q = results["queries"]
    print(f"scan/summary time ratio: month {q['month']['ratio']:.1f}, year {q['year']['ratio']:.1f}")
    return 0


def print_summary(r: dict, out: Path) -> None:
    m, p, b, s = r["machine"], r["params"], r["build"], r["sync"]
    print()
    print(f"=== Otklik metrics bench: {r['date']}, {m['cores']} cores, Python {m['python']}, "
          f"SQLite {m['sqlite']} ===")  # fmt: skip
    print(f"data: {p['days']} days x {p['devices']} devices x {p['per_day']} presses/day = {b['presses']:,} "
          f"presses; {b['buckets']:,} hourly buckets; database {b['db_mb']:,} MB")  # fmt: skip
    print(f"build through ingest commit (one batch per day): {b['build_s']:.1f} s, "
          f"{b['presses_per_s']:,} presses/s; flags {b['flags']}")  # fmt: skip
    for label, q in r["queries"].items():
        print(f"{label} ({r['periods'][label]}): CSAT {q['csat']:.4f} %, n {q['n']:,} (summary = scan)")
        print(f"    summary (aggregates) median {q['summary_median_s'] * 1000:,.1f} ms "
              f"{[round(x * 1000, 1) for x in q['summary_s']]}")  # fmt: skip
        print(f"    raw scan (events)     median {q['scan_median_s'] * 1000:,.1f} ms "
              f"{[round(x * 1000, 1) for x in q['scan_s']]}")  # fmt: skip
        print(f"    scan/summary: {q['ratio']:.2f}")
    print(f"sync pull via {s['via']}: {s['buckets']:,} buckets in {s['pages']} pages, "
          f"{s['total_s']:.2f} s, {s['buckets_per_s']:,} buckets/s")  # fmt: skip
    print(f"figures saved to {out}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        STOP.clear()
