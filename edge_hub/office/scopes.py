"""The office's scopes: site → department → window → device, and the operators.

A window belongs to one department; a device is put on a window (``devices.window``); an
operator works a window during a shift (:mod:`edge_hub.office.shifts`); served clients are
:mod:`edge_hub.office.served`'s. Every function takes a sqlite3 connection. Each write runs in
one ``BEGIN IMMEDIATE`` transaction (or inside the caller's own), so a check (a reference, an
overlap) and the write it guards cannot be split by another writer. Refusals raise
:class:`ScopeError` (or its subclasses) with an "English / Russian" message; the API and the
CLI translate them at the edges. A change that moves presses already stored (a device put on
another window) goes through :mod:`edge_hub.office.recredit`.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from typing import Any

from edge_hub.config import ID_PATTERN as _ID_PATTERN
from edge_hub.db.tx import immediate as _write
from edge_hub.errors import OtklikError

_LOGGER = logging.getLogger(__name__)

#: ids of departments, windows, operators and devices: the MQTT contract's id, one source
#: (edge_hub.config), re-exported here for the API's models
ID_PATTERN = _ID_PATTERN
NAME_MAX = 100

_ID = re.compile(ID_PATTERN)
#: kind -> (English, Russian, Russian "unknown ...")
_KINDS = {
    "department": ("department", "отдел", "неизвестный отдел"),
    "window": ("window", "окно", "неизвестное окно"),
    "operator": ("operator", "оператор", "неизвестный оператор"),
    "device": ("device", "устройство", "неизвестное устройство"),
    "shift": ("shift", "смена", "неизвестная смена"),
}
_TABLES = {"department": "departments", "window": "windows", "operator": "operators", "shift": "shifts"}


class ScopeError(OtklikError, ValueError):
    """A scope change was refused as invalid; the message is "English / Russian"."""


class ScopeNotFound(ScopeError):
    """The department, window, operator, shift or device named does not exist."""


class ScopeConflict(ScopeError):
    """The change collides with what is stored: an overlapping shift, or deleting something in use."""


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
