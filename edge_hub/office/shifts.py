"""Operators on shifts: who works which window when, in the office's local time, and the CSV
import of a shift plan (all or nothing, every bad line listed, overlaps checked in one sweep).

The same rules as :mod:`edge_hub.office.scopes` (one ``BEGIN IMMEDIATE`` per write, refusals
as :class:`~edge_hub.office.scopes.ScopeError` with an "English / Russian" message). Adding or
deleting a shift here does not touch the presses already stored: :mod:`edge_hub.office.recredit`
does both.

Long: the shift rules and the CSV import of a shift plan belong together: the import checks
every row with the same rules (ids, order, overlaps) in the same transaction.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from edge_hub.db.tx import immediate as _write
from edge_hub.office import settings as office_settings
from edge_hub.office.scopes import (
    _KINDS,
    ScopeConflict,
    ScopeError,
    _delete,
    _exists,
    _get,
    _msg,
    _rows,
    _unknown_ref,
    check_id,
)

_LOGGER = logging.getLogger(__name__)


#: shifts in one CSV import (a year of two shifts a day at 25 windows); more: ImportTooLarge
MAX_IMPORT_ROWS = 20_000
#: the longest CSV field, in characters (the csv module's own limit, 128 KiB); longer: ImportTooLarge
MAX_FIELD_CHARS = csv.field_size_limit()

_RU_DATETIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")

#: CSV header -> column (English or Russian, any case)
CSV_HEADERS = {
    "operator": "operator", "оператор": "operator",
    "window": "window", "окно": "window",
    "start": "start", "начало": "start",
    "end": "end", "конец": "end",
}  # fmt: skip
CSV_COLUMNS = ("operator", "window", "start", "end")


class ImportTooLarge(ScopeError):
    """A shift CSV over the limits (:data:`MAX_IMPORT_ROWS`, :data:`MAX_FIELD_CHARS`): nothing imported.

    The API answers 413 (``edge_hub/api/main.py``)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one CSV line (line numbers count from 1, the header included)."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a CSV import did: ``added`` shifts, or nothing at all and every problem in ``errors``."""

    added: int
    errors: tuple[RowError, ...] = ()
    #: the span the added shifts cover (epoch ms), for re-crediting the presses stored in it
    span: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def local_text(ms: int, tz: tzinfo) -> str:
    """An instant as office local time, ``YYYY-MM-DD HH:MM``."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def parse_local(text: str, tz: tzinfo) -> int:
    """Milliseconds of ``2026-11-23 09:00`` (or ``23.11.2026 09:00``) in ``tz``; an explicit offset wins.

    Raises ValueError (with an "English / Russian" message) for anything else, a date without a
    time, and a local time skipped by a clock change.
    """
    text = text.strip()
    match = _RU_DATETIME.fullmatch(text)
    try:
        if match:
            day, month, year, hour, minute, second = (int(g or 0) for g in match.groups())
            value = datetime(year, month, day, hour, minute, second)
        elif ":" in text:  # a time is required: a bare date is refused
            value = datetime.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise ValueError(
            _msg(
                f"{text!r} is not a date and time like 2026-11-23 09:00",
                f"{text!r} — не дата и время вида 2026-11-23 09:00",
            )
        ) from None
    if value.tzinfo is None:
        local = value
        value = value.replace(tzinfo=tz)
        if value.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
            raise ValueError(
                _msg(
                    f"{text} does not exist in {tz} (the clock jumps over it)",
                    f"{text} не существует в поясе {tz} (перевод часов)",
                )
            )
    return int(value.timestamp() * 1000)


def shifts(
    conn: sqlite3.Connection,
    *,
    window: str | None = None,
    operator: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Shifts by start time, of one window and/or operator, that overlap [from_ms, to_ms)."""
    where, args = [], []
    filters = (
        ('"window" = ?', window),
        ("operator = ?", operator),
        ("end_ms > ?", from_ms),
        ("start_ms < ?", to_ms),
    )
    for clause, value in filters:
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = 'SELECT id, operator, "window", start_ms, end_ms FROM shifts'
    return _rows(
        conn, sql + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY start_ms, id", args
    )


def shift(conn: sqlite3.Connection, shift_id: int) -> dict[str, Any]:
    return _get(conn, "shift", shift_id)


def _overlapping(
    conn: sqlite3.Connection, operator_id: str, window_id: str, start_ms: int, end_ms: int
) -> dict[str, Any] | None:
    rows = _rows(
        conn,
        'SELECT id, operator, "window", start_ms, end_ms FROM shifts '
        'WHERE ("window" = ? OR operator = ?) AND start_ms < ? AND end_ms > ? ORDER BY start_ms LIMIT 1',
        (window_id, operator_id, end_ms, start_ms),
    )
    return rows[0] if rows else None


def _overlap_error(other: dict[str, Any], tz: tzinfo) -> ScopeConflict:
    span = f"{local_text(other['start_ms'], tz)}–{local_text(other['end_ms'], tz)[-5:]}"
    return ScopeConflict(
        _msg(
            f"overlaps shift #{other['id']}: {other['operator']} at window {other['window']}, {span}",
            f"пересекается со сменой №{other['id']}: {other['operator']} в окне {other['window']}, {span}",
        )
    )


def _order_error() -> ScopeError:
    return ScopeError(_msg("the shift must end after it starts", "смена должна заканчиваться позже начала"))


def add_shift(
    conn: sqlite3.Connection, operator_id: str, window_id: str, start_ms: int, end_ms: int
) -> dict[str, Any]:
    """Add a shift [start_ms, end_ms) of a known operator at a known window.

    Refused (:class:`ScopeConflict`) when it overlaps another shift of the same window or of
    the same operator; :class:`ScopeError` when it ends before it starts or names an unknown id.
    """
    check_id(operator_id, "operator")
    check_id(window_id, "window")
    if end_ms <= start_ms:
        raise _order_error()
    with _write(conn):
        if not _exists(conn, "operator", operator_id):
            raise _unknown_ref("operator", operator_id)
        if not _exists(conn, "window", window_id):
            raise _unknown_ref("window", window_id)
        other = _overlapping(conn, operator_id, window_id, start_ms, end_ms)
        if other is not None:
            raise _overlap_error(other, office_settings.load(conn).zone)
        cursor = conn.execute(
            'INSERT INTO shifts (operator, "window", start_ms, end_ms) VALUES (?, ?, ?, ?)',
            (operator_id, window_id, start_ms, end_ms),
        )
    return {
        "id": cursor.lastrowid,
        "operator": operator_id,
        "window": window_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }


def delete_shift(conn: sqlite3.Connection, shift_id: int) -> None:
    with _write(conn):
        _get(conn, "shift", shift_id)
        _delete(conn, "shift", shift_id)


def operator_at(conn: sqlite3.Connection, window: str, ts_ms: int) -> str | None:
    """The operator on shift at ``window`` at that instant (start inclusive, end exclusive)."""
    row = conn.execute(
        'SELECT operator FROM shifts WHERE "window" = ? AND start_ms <= ? AND end_ms > ? '
        "ORDER BY start_ms DESC LIMIT 1",
        (window, ts_ms, ts_ms),
    ).fetchone()
    return row[0] if row else None


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    operator: str
    window: str
    start_ms: int
    end_ms: int


def _csv_header(row: list[str], line: int) -> tuple[dict[str, int], list[RowError]]:
    columns: dict[str, int] = {}
    errors = []
    for index, name in enumerate(row):
        column = CSV_HEADERS.get(name.strip().lower())
        if column is None:
            continue  # other columns (a comment, a name) are ignored
        if column in columns:
            errors.append(
                RowError(line, _msg(f"column {column!r} appears twice", f"столбец {column!r} повторяется"))
            )
        columns[column] = index
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        errors.append(
            RowError(
                line,
                _msg(
                    "the header must name the columns operator,window,start,end "
                    f"(missing: {', '.join(missing)})",
                    "в заголовке нужны столбцы оператор,окно,начало,конец "
                    f"(нет: {', '.join(_ru_column(c) for c in missing)})",
                ),
            )
        )
    return columns, errors


def _ru_column(column: str) -> str:
    return next(ru for ru, en in CSV_HEADERS.items() if en == column and not ru.isascii())


class _NotCsv(Exception):
    """A record the csv module cannot read (e.g. a NUL byte): a bad line, reported as such."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank record; ',' or ';' (as Excel writes in Russia) between them.

    :class:`ImportTooLarge` for a field longer than :data:`MAX_FIELD_CHARS` (the csv module's
    limit) and for more than :data:`MAX_IMPORT_ROWS` records after the header.
    """
    text = text.removeprefix("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), "")
    # newline="": the csv module reads the line ends itself (a quoted field may hold one; a lone
    # CR ends a line as in old Mac exports)
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ","
    )
    start = 1
    records = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise ImportTooLarge(
                    _msg(
                        f"line {start}: a field is longer than {MAX_FIELD_CHARS // 1024} KiB",
                        f"строка {start}: поле длиннее {MAX_FIELD_CHARS // 1024} КиБ",
                    )
                ) from None
            raise _NotCsv(start, _msg(f"not a CSV record ({exc})", f"это не строка CSV ({exc})")) from None
        if any(f.strip() for f in fields):
            records += 1
            if records > MAX_IMPORT_ROWS + 1:  # the header and MAX_IMPORT_ROWS shifts
                raise ImportTooLarge(
                    _msg(
                        f"more than {MAX_IMPORT_ROWS} shifts in one file: split it",
                        f"больше {MAX_IMPORT_ROWS} смен в одном файле: разделите его",
                    )
                )
            yield start, [f.strip() for f in fields]
        start = reader.line_num + 1


def import_shifts_csv(conn: sqlite3.Connection, text: str, tz: tzinfo) -> ImportResult:
    """Add the shifts of a CSV ``operator,window,start,end`` (or ``оператор,окно,начало,конец``).

    Times without an offset are local time in ``tz`` (the office's zone). All or nothing:
    every row is checked (known operator and window, end after start, no overlap with a
    stored shift or another row of the file, by window or by operator) before anything is
    written; on any problem nothing is written and ``errors`` lists each one by line number.

    The file is read and its times parsed before the write lock is taken; under the lock the
    overlaps are found by sorting (O(n log n) in the rows of the file and the stored shifts in
    its span). At most :data:`MAX_IMPORT_ROWS` shifts and :data:`MAX_FIELD_CHARS` per field, else
    :class:`ImportTooLarge` and nothing is written.
    """
    try:
        records = list(_csv_rows(text))
    except _NotCsv as exc:
        return ImportResult(0, (RowError(exc.line, exc.message),))
    if not records:
        return ImportResult(0, (RowError(1, _msg("the file is empty", "файл пустой")),))
    (header_line, header_fields), records = records[0], records[1:]
    columns, errors = _csv_header(header_fields, header_line)
    if errors:
        return ImportResult(0, tuple(errors))
    width = max(columns.values()) + 1
    problems: dict[int, list[Exception | str]] = {}
    candidates: list[tuple[int, str, str, int | None, int | None]] = []
    for line, fields in records:
        mine = problems.setdefault(line, [])
        if len(fields) < width:
            mine.append(
                _msg(f"{len(fields)} field(s), expected {width}", f"полей: {len(fields)}, нужно {width}")
            )
            continue
        times: list[int | None] = []
        for column in ("start", "end"):
            try:
                times.append(parse_local(fields[columns[column]], tz))
            except ValueError as exc:
                times.append(None)
                mine.append(exc)
        start_ms, end_ms = times
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            mine.append(_order_error())
        candidates.append((line, fields[columns["operator"]], fields[columns["window"]], start_ms, end_ms))
    with _write(conn):
        known_operators = {r[0] for r in conn.execute("SELECT id FROM operators")}
        known_windows = {r[0] for r in conn.execute("SELECT id FROM windows")}
        rows: list[_Row] = []
        for line, operator_id, window_id, start_ms, end_ms in candidates:
            refs: list[Exception | str] = []
            if operator_id not in known_operators:
                refs.append(_unknown_ref("operator", operator_id))
            if window_id not in known_windows:
                refs.append(_unknown_ref("window", window_id))
            problems[line] = refs + problems[line]  # references first, then the times
            if start_ms is not None and end_ms is not None and end_ms > start_ms:
                rows.append(_Row(line, operator_id, window_id, start_ms, end_ms))
        for line, conflicts in _overlaps(conn, rows, tz).items():
            problems[line] += conflicts
        errors = [RowError(line, str(p)) for line in sorted(problems) for p in problems[line]]
        if not errors and not rows:
            errors.append(RowError(header_line, _msg("the file has no shifts", "в файле нет смен")))
        if errors:
            _LOGGER.info("shift import refused: %d problem(s)", len(errors))
            return ImportResult(0, tuple(errors))
        conn.executemany(
            'INSERT INTO shifts (operator, "window", start_ms, end_ms) VALUES (?, ?, ?, ?)',
            [(r.operator, r.window, r.start_ms, r.end_ms) for r in rows],
        )
    _LOGGER.info("imported %d shift(s)", len(rows))
    return ImportResult(len(rows), span=(min(r.start_ms for r in rows), max(r.end_ms for r in rows)))


def _overlaps(conn: sqlite3.Connection, rows: list[_Row], tz: tzinfo) -> dict[int, list[ScopeConflict]]:
    """line -> its overlaps: with a stored shift (the first by start), with an earlier line of the
    file by window, by operator (one each). A sweep over each window's and each operator's
    intervals sorted by start: O(n log n), n the rows plus the stored shifts in their span."""
    found: dict[int, list[ScopeConflict]] = {}
    if not rows:
        return found
    lo, hi = min(r.start_ms for r in rows), max(r.end_ms for r in rows)
    stored = _rows(
        conn,
        'SELECT id, operator, "window", start_ms, end_ms FROM shifts WHERE start_ms < ? AND end_ms > ?',
        (hi, lo),
    )
    stored_hit: dict[int, dict[str, Any]] = {}  # line -> the stored shift it overlaps, earliest start
    file_hit: dict[tuple[str, int], int] = {}  # (kind, line) -> the other line
    for kind in ("window", "operator"):
        groups: dict[str, list[tuple[int, int, int, Any]]] = {}
        for r in rows:  # (start, 0 stored first / 1 file, line or id, the row)
            groups.setdefault(getattr(r, kind), []).append((r.start_ms, 1, r.line, r))
        for s in stored:
            if s[kind] in groups:
                groups[s[kind]].append((s["start_ms"], 0, s["id"], s))
        for items in groups.values():
            items.sort(key=lambda item: item[:3])
            last_stored: dict[str, Any] | None = None  # the stored shift reaching furthest so far
            last_file: _Row | None = None  # the file row reaching furthest so far
            for start, is_file, _, item in items:
                if is_file:
                    if last_stored is not None and last_stored["end_ms"] > start:
                        _earliest(stored_hit, item.line, last_stored)
                    if last_file is not None and last_file.end_ms > start:
                        a, b = sorted((last_file.line, item.line))
                        file_hit.setdefault((kind, b), a)
                    if last_file is None or item.end_ms > last_file.end_ms:
                        last_file = item
                else:
                    if last_file is not None and last_file.end_ms > start:
                        _earliest(stored_hit, last_file.line, item)
                    if last_stored is None or item["end_ms"] > last_stored["end_ms"]:
                        last_stored = item
    for r in rows:
        conflicts = found.setdefault(r.line, [])
        if r.line in stored_hit:
            conflicts.append(_overlap_error(stored_hit[r.line], tz))
        for kind in ("window", "operator"):
            if (kind, r.line) in file_hit:
                conflicts.append(_file_overlap(file_hit[(kind, r.line)], kind, getattr(r, kind)))
    return found


def _earliest(hits: dict[int, dict[str, Any]], line: int, shift_row: dict[str, Any]) -> None:
    if line not in hits or shift_row["start_ms"] < hits[line]["start_ms"]:
        hits[line] = shift_row


def decode_csv(raw: bytes) -> str:
    """A CSV file's text: UTF-8 (with or without a BOM), else Windows-1251 (Excel in a Russian locale)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1251")


def _file_overlap(other_line: int, kind: str, key: str) -> ScopeConflict:
    """A row of the file overlaps line ``other_line`` (the same window, or the same operator)."""
    en, ru, _ = _KINDS[kind]
    return ScopeConflict(
        _msg(
            f"overlaps line {other_line} (the same {en} {key})",
            f"пересекается со строкой {other_line} (совпадает {ru}: {key})",
        )
    )
