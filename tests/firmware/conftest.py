"""Fixtures for the firmware scenario tests: consoles running the real firmware."""

from __future__ import annotations

import pytest

from tests.firmware.consoles import Console


@pytest.fixture
def console(tmp_path, broker):
    """make(**provisioned) -> a Console (not started); every one is killed at the end."""
    consoles = []

    def make(**provisioned) -> Console:
        c = Console(tmp_path / f"console{len(consoles)}", broker, **provisioned)
        consoles.append(c)
        return c

    yield make
    for c in consoles:
        c.stop()
