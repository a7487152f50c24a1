"""The office's scopes: site → department → window → device, operators on shifts, served clients.

A window belongs to one department; a device is put on a window (``devices.window``); an
operator works a window during a shift [start, end). Every function takes a sqlite3
connection. Each write runs in one ``BEGIN IMMEDIATE`` transaction (or inside the caller's
own), so a check (a reference, an overlap) and the write it guards cannot be split by another
writer. Refusals raise :class:`ScopeError` (or its subclasses) with an "English / Russian"
message; the API and the CLI translate them at the edges.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from edge_hub.config import ID_PATTERN as _ID_PATTERN
from edge_hub.db.tx import immediate as _write
from edge_hub.errors import OtklikError
from edge_hub.office import settings as office

_LOGGER = logging.getLogger(__name__)

#: ids of departments, windows, operators and devices: the MQTT contract's id, one source
#: (edge_hub.config), re-exported here for the API's models
ID_PATTERN = _ID_PATTERN
NAME_MAX = 100
SERVED_SOURCES = ("manual", "counter", "queue")
#: shifts in one CSV import (a year of two shifts a day at 25 windows); more: ImportTooLarge
MAX_IMPORT_ROWS = 20_000
#: the longest CSV field, in characters (the csv module's own limit, 128 KiB); longer: ImportTooLarge
MAX_FIELD_CHARS = csv.field_size_limit()

_ID = re.compile(ID_PATTERN)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RU_DATETIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
#: kind -> (English, Russian, Russian "unknown ...")
_KINDS = {
    "department": ("department", "отдел", "неизвестный отдел"),
    "window": ("window", "окно", "неизвестное окно"),
    "operator": ("operator", "оператор", "неизвестный оператор"),
    "device": ("device", "устройство", "неизвестное устройство"),
    "shift": ("shift", "смена", "неизвестная смена"),
}
_TABLES = {"department": "departments", "window": "windows", "operator": "operators", "shift": "shifts"}
#: CSV header -> column (English or Russian, any case)
CSV_HEADERS = {
    "operator": "operator", "оператор": "operator",
    "window": "window", "окно": "window",
    "start": "start", "начало": "start",
    "end": "end", "конец": "end",
}  # fmt: skip
CSV_COLUMNS = ("operator", "window", "start", "end")


class ScopeError(OtklikError, ValueError):
    """A scope change was refused as invalid; the message is "English / Russian"."""


class ScopeNotFound(ScopeError):
    """The department, window, operator, shift or device named does not exist."""


class ScopeConflict(ScopeError):
    """The change collides with what is stored: an overlapping shift, or deleting something in use."""


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


def _msg(en: str, ru: str) -> str:
    return f"{en} / {ru}"


def _rows(conn: sqlite3.Connection, sql: str, args: tuple | list = ()) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, args)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_id(value: object, kind: str) -> str:
    """``value`` if it is a valid id, else :class:`ScopeError` naming the ``kind`` (window, ...)."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    en, ru, _ = _KINDS[kind]
    raise ScopeError(
        _msg(
            f"invalid {en} id {value!r}: lowercase letters, digits, '-' and '_', at most 32",
            f"неверный идентификатор ({ru}) {value!r}: строчные латинские буквы, цифры, '-' и '_', "
            "не больше 32",
        )
    )


def _check_name(name: object) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(text) <= NAME_MAX:
        raise ScopeError(
            _msg(
                f"a name of 1 to {NAME_MAX} characters is required",
                f"нужно название длиной от 1 до {NAME_MAX} символов",
            )
        )
    return text


def _count(conn: sqlite3.Connection, sql: str, *args: object) -> int:
    return conn.execute(sql, args).fetchone()[0]


def _exists(conn: sqlite3.Connection, kind: str, key: object) -> bool:
    column = "device" if kind == "device" else "id"
    table = "devices" if kind == "device" else _TABLES[kind]
    return conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (key,)).fetchone() is not None


def _not_found(kind: str, key: object) -> ScopeNotFound:
    en, _, unknown_ru = _KINDS[kind]
    return ScopeNotFound(_msg(f"unknown {en} {key!r}", f"{unknown_ru} {key!r}"))


def _unknown_ref(kind: str, key: object) -> ScopeError:
    """An unknown id named inside a request (not the thing the request is about)."""
    en, _, unknown_ru = _KINDS[kind]
    return ScopeError(_msg(f"unknown {en} {key!r}", f"{unknown_ru} {key!r}"))


def _get(conn: sqlite3.Connection, kind: str, key: object) -> dict[str, Any]:
    rows = _rows(conn, f"SELECT * FROM {_TABLES[kind]} WHERE id = ?", (key,))
    if not rows:
        raise _not_found(kind, key)
    return rows[0]


def _delete(conn: sqlite3.Connection, kind: str, key: object) -> None:
    conn.execute(f"DELETE FROM {_TABLES[kind]} WHERE id = ?", (key,))


def _in_use(kind: str, key: str, en: str, ru: str) -> ScopeConflict:
    what_en, what_ru, _ = _KINDS[kind]
    return ScopeConflict(
        _msg(
            f"{what_en} {key!r} is in use ({en}): delete or move those first",
            f"{what_ru} {key!r} используется ({ru}): сначала удалите или перенесите их",
        )
    )


def _put_named(conn: sqlite3.Connection, table: str, key: str, name: str) -> dict[str, Any]:
    with _write(conn):
        conn.execute(
            f"INSERT INTO {table} (id, name) VALUES (?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
            (key, name),
        )
    return {"id": key, "name": name}


def _listing(values: list[str], limit: int = 5) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", … (+{len(values) - limit})" if len(values) > limit else "")


# --- departments --------------------------------------------------------------------------------


def departments(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT id, name FROM departments ORDER BY id")


def department(conn: sqlite3.Connection, dep_id: str) -> dict[str, Any]:
    return _get(conn, "department", dep_id)


def put_department(conn: sqlite3.Connection, dep_id: str, name: str) -> dict[str, Any]:
    """Create or rename a department."""
    check_id(dep_id, "department")
    name = _check_name(name)
    return _put_named(conn, "departments", dep_id, name)


def delete_department(conn: sqlite3.Connection, dep_id: str) -> None:
    """Delete a department that has no windows."""
    with _write(conn):
        _get(conn, "department", dep_id)
        windows = [
            r[0] for r in conn.execute("SELECT id FROM windows WHERE department = ? ORDER BY id", (dep_id,))
        ]
        if windows:
            raise _in_use("department", dep_id, f"windows {_listing(windows)}", f"окна {_listing(windows)}")
        _delete(conn, "department", dep_id)


# --- windows ------------------------------------------------------------------------------------


def _with_devices(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    placed: dict[str, list[str]] = {}
    for device, window in conn.execute(
        'SELECT device, "window" FROM devices WHERE "window" IS NOT NULL ORDER BY device'
    ):
        placed.setdefault(window, []).append(device)
    return [{**row, "devices": placed.get(row["id"], [])} for row in rows]


def windows(conn: sqlite3.Connection, department: str | None = None) -> list[dict[str, Any]]:
    """Windows (of one department, if given), each with the ids of the devices on it."""
    if department is None:
        rows = _rows(conn, "SELECT id, department, name FROM windows ORDER BY id")
    else:
        rows = _rows(
            conn, "SELECT id, department, name FROM windows WHERE department = ? ORDER BY id", (department,)
        )
    return _with_devices(conn, rows)


def window(conn: sqlite3.Connection, window_id: str) -> dict[str, Any]:
    return _with_devices(conn, [_get(conn, "window", window_id)])[0]


def put_window(conn: sqlite3.Connection, window_id: str, department: str, name: str) -> dict[str, Any]:
    """Create a window in an existing department, or rename it / move it to another department."""
    check_id(window_id, "window")
    check_id(department, "department")
    name = _check_name(name)
    with _write(conn):
        if not _exists(conn, "department", department):
            raise _unknown_ref("department", department)
        conn.execute(
            "INSERT INTO windows (id, department, name) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET department = excluded.department, name = excluded.name",
            (window_id, department, name),
        )
        return window(conn, window_id)


def delete_window(conn: sqlite3.Connection, window_id: str) -> None:
    """Delete a window with no shifts and no devices on it (served counts of it are kept)."""
    with _write(conn):
        _get(conn, "window", window_id)
        uses_en, uses_ru = [], []
        shifts_n = _count(conn, 'SELECT count(*) FROM shifts WHERE "window" = ?', window_id)
        if shifts_n:
            uses_en.append(f"{shifts_n} shift(s)")
            uses_ru.append(f"смен: {shifts_n}")
        query = 'SELECT device FROM devices WHERE "window" = ? ORDER BY device'
        devices = [r[0] for r in conn.execute(query, (window_id,))]
        if devices:
            uses_en.append(f"devices {_listing(devices)}")
            uses_ru.append(f"устройства {_listing(devices)}")
        if uses_en:
            raise _in_use("window", window_id, "; ".join(uses_en), "; ".join(uses_ru))
        _delete(conn, "window", window_id)


def assign_device(
    conn: sqlite3.Connection, device: str, window_id: str | None, now_ms: int | None = None
) -> dict[str, Any]:
    """Put a device on a window (None: take it off). A device never seen yet is registered now."""
    check_id(device, "device")
    with _write(conn):
        if window_id is None:
            if not _exists(conn, "device", device):
                raise _not_found("device", device)
            conn.execute('UPDATE devices SET "window" = NULL WHERE device = ?', (device,))
        else:
            check_id(window_id, "window")
            if not _exists(conn, "window", window_id):
                raise _unknown_ref("window", window_id)
            now = int(time.time() * 1000) if now_ms is None else now_ms
            conn.execute(
                'INSERT INTO devices (device, first_seen, last_seen, "window") VALUES (?, ?, ?, ?) '
                'ON CONFLICT(device) DO UPDATE SET "window" = excluded."window"',
                (device, now, now, window_id),
            )
    return {"device": device, "window": window_id}


# --- operators ----------------------------------------------------------------------------------


def operators(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT id, name FROM operators ORDER BY id")


def operator(conn: sqlite3.Connection, operator_id: str) -> dict[str, Any]:
    return _get(conn, "operator", operator_id)


def put_operator(conn: sqlite3.Connection, operator_id: str, name: str) -> dict[str, Any]:
    """Create or rename an operator."""
    check_id(operator_id, "operator")
    name = _check_name(name)
    return _put_named(conn, "operators", operator_id, name)


def delete_operator(conn: sqlite3.Connection, operator_id: str) -> None:
    """Delete an operator with no shifts."""
    with _write(conn):
        _get(conn, "operator", operator_id)
        shifts_n = _count(conn, "SELECT count(*) FROM shifts WHERE operator = ?", operator_id)
        if shifts_n:
            raise _in_use("operator", operator_id, f"{shifts_n} shift(s)", f"смен: {shifts_n}")
        _delete(conn, "operator", operator_id)


# --- shifts -------------------------------------------------------------------------------------


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
            raise _overlap_error(other, office.load(conn).zone)
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


# --- the CSV import of shifts -------------------------------------------------------------------


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


# --- changes that re-credit the stored presses -------------------------------------------------
# A press is credited to its window and operator when it is stored; these change what that
# depends on and then credit the presses concerned again (aggregates.rebuild). The API and the
# office page both call them, so both leave the numbers the same way.

#: the end of time for a rebuild of all of a device's presses (year 9999)
FOREVER_MS = 253_402_300_800_000


def assign_device_and_rebuild(
    conn: sqlite3.Connection, device: str, window_id: str | None, now_ms: int | None = None
) -> dict[str, Any]:
    """:func:`assign_device`, then every stored press of the device moves to its new window."""
    from edge_hub.metrics import aggregates  # it imports this module

    placed = assign_device(conn, device, window_id, now_ms)
    aggregates.rebuild(conn, 0, FOREVER_MS, device)
    return placed


def add_shift_and_rebuild(
    conn: sqlite3.Connection, operator_id: str, window_id: str, start_ms: int, end_ms: int
) -> dict[str, Any]:
    """:func:`add_shift`, then the presses already stored in its time go to the operator."""
    from edge_hub.metrics import aggregates

    row = add_shift(conn, operator_id, window_id, start_ms, end_ms)
    aggregates.rebuild(conn, row["start_ms"], row["end_ms"])
    return row


def delete_shift_and_rebuild(conn: sqlite3.Connection, shift_id: int) -> dict[str, Any]:
    """:func:`delete_shift` (returning the shift deleted), then its presses lose the operator."""
    from edge_hub.metrics import aggregates

    gone = shift(conn, shift_id)
    delete_shift(conn, shift_id)
    aggregates.rebuild(conn, gone["start_ms"], gone["end_ms"])
    return gone


def import_shifts_file(conn: sqlite3.Connection, raw: bytes, tz: tzinfo) -> ImportResult:
    """:func:`import_shifts_csv` of a file's bytes, then the presses already stored in the span
    of the new shifts are credited to their operators (attribution, flags and buckets again)."""
    from edge_hub.metrics import aggregates  # it imports this module

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


def _file_overlap(other_line: int, kind: str, key: str) -> ScopeConflict:
    """A row of the file overlaps line ``other_line`` (the same window, or the same operator)."""
    en, ru, _ = _KINDS[kind]
    return ScopeConflict(
        _msg(
            f"overlaps line {other_line} (the same {en} {key})",
            f"пересекается со строкой {other_line} (совпадает {ru}: {key})",
        )
    )


# --- served clients -----------------------------------------------------------------------------


def _check_day(day: object) -> str:
    if isinstance(day, str) and _DAY.fullmatch(day):
        try:
            date.fromisoformat(day)
            return day
        except ValueError:
            pass
    raise ScopeError(_msg(f"{day!r} is not a day YYYY-MM-DD", f"{day!r} — не дата вида ГГГГ-ММ-ДД"))


def put_served(
    conn: sqlite3.Connection, day: str, window: str, count: int, source: str = "manual"
) -> dict[str, Any]:
    """Set the clients served on a local day at a window ('' = the whole office)."""
    _check_day(day)
    if window != "":
        check_id(window, "window")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ScopeError(
            _msg(
                f"count must be a whole number >= 0, got {count!r}",
                f"число должно быть целым >= 0: {count!r}",
            )
        )
    if source not in SERVED_SOURCES:
        raise ScopeError(
            _msg(
                f"source must be one of {', '.join(SERVED_SOURCES)}, got {source!r}",
                f"источник — один из {', '.join(SERVED_SOURCES)}: {source!r}",
            )
        )
    with _write(conn):
        if window and not _exists(conn, "window", window):
            raise _unknown_ref("window", window)
        conn.execute(
            'INSERT INTO served (day, "window", count, source) VALUES (?, ?, ?, ?) '
            'ON CONFLICT(day, "window") DO UPDATE SET count = excluded.count, source = excluded.source',
            (day, window, count, source),
        )
    return {"day": day, "window": window, "count": count, "source": source}


def served(
    conn: sqlite3.Connection,
    from_day: str | None = None,
    to_day: str | None = None,
    window: str | None = None,
) -> list[dict[str, Any]]:
    """Served counts by day then window, for the days from_day..to_day (both included)."""
    where, args = [], []
    for clause, value in (("day >= ?", from_day), ("day <= ?", to_day), ('"window" = ?', window)):
        if value is not None:
            if clause.startswith("day"):
                _check_day(value)
            where.append(clause)
            args.append(value)
    sql = 'SELECT day, "window", count, source FROM served'
    return _rows(
        conn, sql + (" WHERE " + " AND ".join(where) if where else "") + ' ORDER BY day, "window"', args
    )
