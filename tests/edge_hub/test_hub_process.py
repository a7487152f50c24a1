"""The hub as a process with its embedded broker: however the hub ends, the broker ends too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import free_port, wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_embedded_broker_ends_with_the_hub(tmp_path, sig):
    hub = subprocess.Popen(
        [sys.executable, "-m", "edge_hub.cli", "run", "--data-dir", str(tmp_path),
         "--listen", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pid_file = tmp_path / "broker" / "mosquitto.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 20, "the embedded broker to start")
    broker_pid = int(pid_file.read_text())
    assert _alive(broker_pid)
    hub.send_signal(sig)
    hub.wait(20)
    wait_until(lambda: not _alive(broker_pid), 15, f"the broker to stop after the hub got {sig.name}")
