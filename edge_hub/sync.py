"""Placeholder: being written (see the sync part of the metrics issue)."""

from __future__ import annotations

from sqlite_utils import Database


def migrate(db: Database) -> None:
    """Create this module's tables (called by Store._migrate)."""
