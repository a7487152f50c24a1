"""`edge-hub demo` as a user runs it: its own Mosquitto, the hub, consoles running the real
firmware and the emotion monitor on its synthetic clip of real faces; presses and emotion visits
arrive in the hub's database and its API. Nothing is mocked but the consoles' button pins."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx

from edge_hub.broker import free_port
from tests.helpers import db_rows, wait_until


def test_the_demo_office_shows_presses_and_emotion_visits(tmp_path):
    port = free_port()
    data = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_hub.cli", "demo", "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}", "--devices", "2", "--rate", "60"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    log.close()

    def tail() -> str:
        text = (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
        monitor = data / "camera" / "monitor.log"
        if monitor.exists():
            text += "\n--- monitor ---\n" + monitor.read_text(errors="replace")[-3000:]
        return text

    db = data / "hub.db"
    try:

        def arrived(kind: str) -> bool:
            assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n{tail()}"
            rows = db_rows(db, "SELECT count(*) FROM events WHERE type = ?", (kind,))
            return bool(rows and rows[0][0])

        try:
            wait_until(lambda: arrived("press"), 90, "presses from the demo consoles")
            # the clip: a person passes every ~5 s; the visit is published when the track ends
            wait_until(lambda: arrived("visit"), 120, "an emotion visit from the demo camera")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{tail()}") from None

        def camera_ok() -> bool:
            rows = db_rows(
                db, "SELECT kind, json_extract(status, '$.camera.ok') FROM devices WHERE device = 'cam-01'"
            )
            return rows == [("camera", 1)]

        wait_until(camera_ok, 30, "the camera's status to say its source works")
        now = datetime.now(UTC)
        period = {
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        }
        summary = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/metrics/summary", params=period, timeout=10
        ).json()
        assert summary["visits"]["total"] >= 1
        assert summary["metrics"]["emotional_nps"]["n"] == summary["visits"]["total"]
        assert "emotion monitor (cam-01)" in (tmp_path / "demo.log").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # the demo takes its consoles and its camera down with it
    leftovers = subprocess.run(["pgrep", "-f", str(data / "camera")], capture_output=True, text=True).stdout
    assert not leftovers.strip(), f"the emotion monitor outlived the demo: {leftovers}"
