"""Emotion-monitor bench: the monitor's per-frame cost against the bare models, on one core.

For each detector (BlazeFace, the default, and the Haar fallback) a child process pinned to one CPU
(``os.sched_setaffinity``; onnxruntime with one thread) times, per 640x480 frame with one face (frames
of the synthetic clip of real faces), interleaved over ``--rounds``:

* **bare**: ``detector.detect`` + ``classifier.classify`` of the boxes, nothing else;
* **step**: ``Pipeline.step`` (the same plus the tracker);
* **monitor**: the whole ``Monitor`` loop (source read, step, rate meter, visits through the outbox
  and paho to a real Mosquitto with the hub's config), from the first frame to the last.

It prints the medians, monitor frames per second on one core, and the process RSS after warm-up.
The last line printed is always ``pipeline/bare ratio: R (haar R2)``: the monitor loop's median
time per frame over the bare models', for the default detector (goal: R <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import STOP, BenchError, Children, bench_run, check_stop, log, prepare, save_results

DEVICE = "cam-bench"
SITE = "bench"
FPS = 15.0
INTERNAL = ("child", "port", "state", "out", "cpu", "frames_file")  # arguments of the child only (and cpu)


def rss_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB, from /proc/self/status."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


# --- the child: one detector, one core ------------------------------------------------------------


class FrameCycle:
    """A non-live source giving ``count`` frames from a list, then None; it times itself.

    The clock starts at the first read (after ``ready()``: the device is connected) and stops at
    the read that returns None, i.e. after the monitor has fully handled the last frame."""

    kind = "synthetic"
    live = False
    fps = FPS

    def __init__(self, frames: list, count: int, ready) -> None:
        self.frames, self.count, self.ready = frames, count, ready
        self.index = 0
        self.started = self.ended = 0.0

    def read(self):
        if self.index == 0:
            self.ready()
            self.started = time.perf_counter()
        if self.index >= self.count:
            self.ended = time.perf_counter()
            return None
        frame = self.frames[self.index % len(self.frames)]
        self.index += 1
        return frame

    def close(self) -> None:
        pass


def render_frames(count: int) -> np.ndarray:
    """``count`` 640x480 frames of the synthetic clip, one face each, walking across the frame."""
    from emotion_model.sources import SyntheticClip

    clip = SyntheticClip(people=1, seed=1, gap_s=0.0, walk_s=4.0, fps=FPS)
    first, last = clip.schedule[0]
    picks = [first + round(i * (last - first) / (count - 1)) for i in range(count)]
    return np.stack([clip.frame(i) for i in picks])


def child(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {args.cpu})
    from emotion_model.classifier import EmotionClassifier
    from emotion_model.detect import make_detector
    from emotion_model.monitor.device import MonitorDevice
    from emotion_model.monitor.loop import Monitor
    from emotion_model.monitor.pipeline import Pipeline
    from emotion_model.track import Tracker

    kw = {"threads": 1} if args.child == "blazeface" else {}
    detector = make_detector(args.child, **kw)
    classifier = EmotionClassifier(threads=1)
    stack = np.load(args.frames_file)  # rendered by the parent: no scikit-image in this process
    frames = [np.ascontiguousarray(f) for f in stack]
    del stack
    faces_found = [len(detector.detect(f)) for f in frames]

    def bare(n: int) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            frame = frames[i % len(frames)]
            boxes = [face.box for face in detector.detect(frame)]
            classifier.classify(frame, boxes)
        return (time.perf_counter() - t0) / n

    def step(n: int) -> float:
        pipeline = Pipeline(detector, classifier, Tracker(classifier.labels))
        t0 = time.perf_counter()
        for i in range(n):
            pipeline.step(frames[i % len(frames)], round(i * 1000 / FPS))
        return (time.perf_counter() - t0) / n

    visits = 0

    def monitor(n: int, round_: int) -> float:
        nonlocal visits
        device = MonitorDevice(
            site=SITE, device=DEVICE, port=args.port, username=DEVICE,
            password=os.environ["OTK_MQTT_PASSWORD"], state_dir=Path(args.state) / f"{args.child}-{round_}",
        )  # fmt: skip
        source = FrameCycle(frames, n, lambda: device.wait_connected(10))
        runner = Monitor(
            Pipeline(detector, classifier, Tracker(classifier.labels)), device, lambda: source,
            realtime=False, ack_wait_s=0,
        )  # fmt: skip
        runner.run()
        if not source.ended:
            raise BenchError("the monitor stopped before the last frame")
        visits += runner.visits
        return (source.ended - source.started) / n

    for _ in range(3):  # warm-up: sessions, caches, allocator
        bare(len(frames))
        step(len(frames))
    rss_warm = rss_mb()
    times: dict[str, list[float]] = {"bare": [], "step": [], "monitor": []}
    for r in range(args.rounds):
        times["bare"].append(bare(args.frames))
        times["step"].append(step(args.frames))
        times["monitor"].append(monitor(args.frames, r))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "detector": args.child,
        "cpu": args.cpu,
        "frames_per_block": args.frames,
        "distinct_frames": len(frames),
        "faces_per_frame": faces_found,
        "ms": {k: [round(x * 1000, 3) for x in v] for k, v in times.items()},
        "median_ms": {k: round(v * 1000, 3) for k, v in med.items()},
        "step_over_bare": med["step"] / med["bare"],
        "monitor_over_bare": med["monitor"] / med["bare"],
        "monitor_fps": 1.0 / med["monitor"],
        "bare_fps": 1.0 / med["bare"],
        "visits": visits,
        "rss_after_warmup_mb": round(rss_warm["VmRSS"], 1),
        "frames_held_mb": round(sum(f.nbytes for f in frames) / 2**20, 1),
        "rss_peak_mb": round(rss_mb()["VmHWM"], 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


# --- the parent -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--frames", type=int, default=300, help="frames per timed block (BlazeFace)")
    p.add_argument("--haar-frames", type=int, default=60, help="frames per timed block (Haar, ~15x slower)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of bare / step / monitor")
    p.add_argument("--distinct", type=int, default=20, help="distinct frames (one face each) cycled through")
    p.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last allowed)")
    p.add_argument("--detectors", default="blazeface,haar")
    p.add_argument("--timeout", type=float, default=900, help="seconds per detector")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--frames-file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    binary = prepare()
    if binary is None:
        return 1
    from edge_hub.transport.broker import free_port, wait_for_port, write_mosquitto_config

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="otk-bench-emotion-"))
    children = Children()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "cpu_model": _cpu_model()},
        "params": {k: v for k, v in vars(args).items() if k not in INTERNAL} | {"cpu": cpu},
        "detectors": {},
    }
    with bench_run(tmp, args.keep, children.stop_all) as outcome:
        port = free_port()
        files, passwords = write_mosquitto_config(
            tmp / "broker", site=SITE, port=port, devices={DEVICE: None}
        )
        broker = children.start([binary, "-c", str(files.conf)], tmp / "mosquitto.stderr.log")
        wait_for_port("127.0.0.1", port, 10, broker)
        env = {**os.environ, "OTK_MQTT_PASSWORD": passwords[DEVICE]}
        frames_file = tmp / "frames.npy"
        np.save(frames_file, render_frames(args.distinct))
        for name in args.detectors.split(","):
            check_stop()
            frames = args.frames if name == "blazeface" else args.haar_frames
            log(f"{name}: {args.rounds} rounds x {frames} frames of bare / step / monitor, CPU {cpu}")
            out = tmp / f"{name}.json"
            cmd = [
                sys.executable, __file__, "--child", name, "--port", str(port), "--state", str(tmp / "state"),
                "--out", str(out), "--cpu", str(cpu), "--frames", str(frames), "--rounds", str(args.rounds),
                "--frames-file", str(frames_file),
            ]  # fmt: skip
            proc = children.start(cmd, tmp / f"{name}.log", env=env)
            deadline = time.monotonic() + args.timeout
            while proc.poll() is None:
                check_stop()
                if time.monotonic() > deadline:
                    raise BenchError(f"{name} did not finish within {args.timeout:.0f} s")
                STOP.wait(0.2)
            if proc.returncode != 0 or not out.exists():
                tail = (tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                raise BenchError(f"{name} child exited with {proc.returncode}:\n{tail}")
            results["detectors"][name] = json.loads(out.read_text())
    if outcome.code:
        return outcome.code
    out = save_results(results, "emotion")
    print_summary(results, out)
    dets = results["detectors"]
    first = dets.get("blazeface") or next(iter(dets.values()))
    others = ", ".join(f"{n} {d['monitor_over_bare']:.2f}" for n, d in dets.items() if d is not first)
    print(f"pipeline/bare ratio: {first['monitor_over_bare']:.2f}" + (f" ({others})" if others else ""))
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_summary(r: dict, out: Path) -> None:
    m, p = r["machine"], r["params"]
    print()
    print(f"=== Otklik emotion bench: {r['date']}, {m['cores']} cores ({m['cpu_model']}), "
          f"Python {m['python']}; pinned to CPU {p['cpu']}, onnxruntime 1 thread ===")  # fmt: skip
    print(f"{'detector':<10} {'bare ms':>8} {'step ms':>8} {'monitor ms':>10} {'step/bare':>9} "
          f"{'mon/bare':>8} {'fps (1 core)':>12} {'RSS MB':>7}")  # fmt: skip
    for name, d in r["detectors"].items():
        ms = d["median_ms"]
        print(f"{name:<10} {ms['bare']:>8.2f} {ms['step']:>8.2f} {ms['monitor']:>10.2f} "
              f"{d['step_over_bare']:>9.2f} {d['monitor_over_bare']:>8.2f} {d['monitor_fps']:>12.1f} "
              f"{d['rss_after_warmup_mb']:>7.1f}")  # fmt: skip
    for name, d in r["detectors"].items():
        print(f"{name}: per round (ms) bare {d['ms']['bare']}, monitor {d['ms']['monitor']}; faces per frame "
              f"{sorted(set(d['faces_per_frame']))}; {d['visits']} visits published; RSS after warm-up "
              f"{d['rss_after_warmup_mb']} MB (of which test frames {d['frames_held_mb']} MB), "
              f"peak {d['rss_peak_mb']} MB")  # fmt: skip
    print(f"figures saved to {out}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        STOP.clear()
