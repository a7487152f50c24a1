"""What the benchmarks share: stopping at a safe point, logging, percentiles, child processes."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge_hub.transport.broker import die_with_parent, find_mosquitto

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class BenchError(RuntimeError):
    """A phase failed or ran out of time; the message says which and why."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: raised at the next safe point (never inside paho, whose locks a
    KeyboardInterrupt could leave held), so the clean-up can still talk to the broker."""


STOP = threading.Event()


def request_stop(signum, frame) -> None:
    STOP.set()
    # a second Ctrl-C interrupts at once (the clean-up of the children still runs)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def prepare() -> str | None:
    """The mosquitto binary (None after saying why), with Ctrl-C and SIGTERM stopping at a safe point."""
    binary = find_mosquitto()
    if binary is None:
        print("bench: no mosquitto binary (apt-get install mosquitto)", file=sys.stderr)
        return None
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return binary


def check_stop() -> None:
    if STOP.is_set():
        raise Interrupted


def sleep(seconds: float) -> None:
    """time.sleep that a Ctrl-C or SIGTERM ends at once."""
    if STOP.wait(max(0.0, seconds)):
        raise Interrupted


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of an unsorted list; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Children:
    """Every child process the bench starts, stopped in reverse order by :meth:`stop_all`."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], log_path: Path, *, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen:  # fmt: skip
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops the children
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, timeout: float = 10, sig: int = signal.SIGTERM) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            try:
                self.stop(proc, 10)
            except Exception as exc:  # keep stopping the others
                log(f"could not stop pid {proc.pid}: {exc}")
        self.procs.clear()


def save_results(results: dict, name: str) -> Path:
    """Write a run's figures to bench/results/NAME-<timestamp>.json and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out


@dataclass
class Outcome:
    """How a bench's run ended: ``code`` 0 (done), 1 (a phase failed: ``error``) or 130 (stopped)."""

    code: int = 0
    error: str | None = None


@contextmanager
def bench_run(
    tmp: Path, keep: bool, *cleanups: Callable[[], object], stopping: str = ""
) -> Iterator[Outcome]:
    """The run of a bench, every bench the same way: a :class:`BenchError` is reported as FAILED
    (exit code 1), Ctrl-C or SIGTERM as interrupted (130); then, whatever happened, each of
    ``cleanups`` runs (one failing does not skip the others) and ``tmp`` is removed unless
    ``keep``. The block's result is in the yielded :class:`Outcome`."""
    outcome = Outcome()
    try:
        yield outcome
    except BenchError as exc:
        print(f"\nbench: FAILED: {exc}", file=sys.stderr, flush=True)
        outcome.code, outcome.error = 1, str(exc)
    except (Interrupted, KeyboardInterrupt):
        print("\nbench: interrupted" + (f"; {stopping}" if stopping else ""), file=sys.stderr, flush=True)
        outcome.code = 130
    finally:
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception as exc:  # the next clean-up and the folder still go
                log(f"clean-up {getattr(cleanup, '__qualname__', cleanup)} failed: {exc}")
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
