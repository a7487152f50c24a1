"""Changes to the office that re-credit the presses already stored.

A press is credited to its window and operator when it is stored. Putting a device on another
window, adding or deleting a shift, or importing a shift plan changes what that depends on;
these functions make the change (:mod:`edge_hub.office.scopes`, :mod:`edge_hub.office.shifts`)
and then credit the presses concerned again (:func:`edge_hub.metrics.aggregates.rebuild`:
window, operator, trust flags and hourly buckets). The API and the office page both call them,
so both leave the numbers the same way.

This module sits above both the office's scopes and the metrics (which read the scopes to credit
a press), so neither imports the other in a circle.
"""

from __future__ import annotations

import sqlite3
from datetime import tzinfo
from typing import Any

from edge_hub.metrics import aggregates
from edge_hub.office.scopes import _msg, assign_device
from edge_hub.office.shifts import (
    ImportResult,
    RowError,
    add_shift,
    decode_csv,
    delete_shift,
    import_shifts_csv,
    shift,
)

#: the end of time for a rebuild of all of a device's presses (year 9999)
FOREVER_MS = 253_402_300_800_000


def assign_device_and_rebuild(
    conn: sqlite3.Connection, device: str, window_id: str | None, now_ms: int | None = None
) -> dict[str, Any]:
    """:func:`assign_device`, then every stored press of the device moves to its new window."""
    placed = assign_device(conn, device, window_id, now_ms)
    aggregates.rebuild(conn, 0, FOREVER_MS, device)
    return placed


def add_shift_and_rebuild(
    conn: sqlite3.Connection, operator_id: str, window_id: str, start_ms: int, end_ms: int
) -> dict[str, Any]:
    """:func:`add_shift`, then the presses already stored in its time go to the operator."""
    row = add_shift(conn, operator_id, window_id, start_ms, end_ms)
    aggregates.rebuild(conn, row["start_ms"], row["end_ms"])
    return row


def delete_shift_and_rebuild(conn: sqlite3.Connection, shift_id: int) -> dict[str, Any]:
    """:func:`delete_shift` (returning the shift deleted), then its presses lose the operator."""
    gone = shift(conn, shift_id)
    delete_shift(conn, shift_id)
    aggregates.rebuild(conn, gone["start_ms"], gone["end_ms"])
    return gone


def import_shifts_file(conn: sqlite3.Connection, raw: bytes, tz: tzinfo) -> ImportResult:
    """:func:`import_shifts_csv` of a file's bytes, then the presses already stored in the span
    of the new shifts are credited to their operators (attribution, flags and buckets again)."""
    try:
        text = decode_csv(raw)
    except UnicodeDecodeError:  # not UTF-8, and a byte Windows-1251 does not have (0x98)
        return ImportResult(
            0,
            (
                RowError(
                    1,
                    _msg(
                        "not a text file in UTF-8 or Windows-1251: save it as CSV",
                        "это не текст в UTF-8 или Windows-1251: сохраните файл как CSV",
                    ),
                ),
            ),
        )
    result = import_shifts_csv(conn, text, tz)
    if result.ok and result.span is not None:
        aggregates.rebuild(conn, *result.span)
    return result
