"""An alert's life: open → acknowledged → resolved (or open → resolved), each change by a person
(or by the hub, as ``system``) written to ``alert_log``; and the readers of alerts.

Every function takes a sqlite3 connection; each write runs in one ``BEGIN IMMEDIATE``
transaction (or inside the caller's own). Refusals raise :class:`AlertError` (or a subclass)
with an "English / Russian" message. The rules, their defaults and the API are described in
``edge_hub/ALERTS.md``.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson

from edge_hub.db.tx import immediate as _write
from edge_hub.errors import OtklikError

#: Who the hub itself is in the log.
SYSTEM = "system"


WHO_MAX = 100


COMMENT_MAX = 1000


KINDS = (
    "critic", "negative_spike", "device_silent", "device_offline", "low_battery", "safe_mode",
    "identity_reset", "identity_backwards", "identity_conflict",
)  # fmt: skip


STATES = ("open", "acknowledged", "resolved")


#: not resolved yet
ACTIVE = ("open", "acknowledged")


_NEXT = {"open": ("acknowledged", "resolved"), "acknowledged": ("resolved",), "resolved": ()}


_ACTION = {"acknowledged": "acknowledged", "resolved": "resolved"}


_STATE_RU = {"open": "открыто", "acknowledged": "уже принято в работу", "resolved": "уже закрыто"}


_VERB = {"acknowledged": ("acknowledged", "принять в работу"), "resolved": ("resolved", "закрыть")}


_COLUMNS = (
    "id", "kind", "state", "device", "window", "key", "opened_at", "title_ru", "title_en", "detail",
    "ack_by", "ack_at", "ack_comment", "resolved_by", "resolved_at", "resolved_comment", "updated_at",
)  # fmt: skip


class AlertError(OtklikError, ValueError):
    """An alert change was refused as invalid; the message is "English / Russian"."""


class AlertNotFound(AlertError):
    """No alert has this id."""


class AlertConflict(AlertError):
    """The change is not allowed from the alert's state (e.g. resolving it twice)."""


def acknowledge(
    conn: sqlite3.Connection, alert_id: int, who: str, comment: str | None = None, now_ms: int | None = None
) -> dict[str, Any]:
    """open → acknowledged: someone is on it. Returns the alert with its log."""
    return _transition(conn, alert_id, "acknowledged", who, comment, now_ms)


def resolve(
    conn: sqlite3.Connection, alert_id: int, who: str, comment: str | None = None, now_ms: int | None = None
) -> dict[str, Any]:
    """open or acknowledged → resolved: handled. Returns the alert with its log."""
    return _transition(conn, alert_id, "resolved", who, comment, now_ms)


def _transition(
    conn: sqlite3.Connection, alert_id: int, to: str, who: str, comment: str | None, now_ms: int | None
) -> dict[str, Any]:
    who = (who or "").strip()
    if not who or len(who) > WHO_MAX:
        raise AlertError(
            f"say who you are (1 to {WHO_MAX} characters) / укажите, кто вы (1–{WHO_MAX} символов)"
        )
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > COMMENT_MAX:
        raise AlertError(
            f"the comment is longer than {COMMENT_MAX} characters / "
            f"комментарий длиннее {COMMENT_MAX} символов"
        )
    now = _now(now_ms)
    with _write(conn):
        row = conn.execute("SELECT state FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id} / оповещения {alert_id} нет")
        state = row[0]
        if to not in _NEXT[state]:
            en, ru = _VERB[to]
            raise AlertConflict(
                f"alert {alert_id} is {state}: it cannot be {en} / "
                f"оповещение {alert_id} {_STATE_RU[state]}: его нельзя {ru}"
            )
        _change(conn, alert_id, to, who, comment, now)
    found = get(conn, alert_id)
    assert found is not None
    return found


def _change(
    conn: sqlite3.Connection, alert_id: int, to: str, who: str, comment: str | None, now: int
) -> None:
    prefix = "ack" if to == "acknowledged" else "resolved"
    conn.execute(
        f"UPDATE alerts SET state = ?, {prefix}_by = ?, {prefix}_at = ?, {prefix}_comment = ?, "
        "updated_at = ? WHERE id = ?",
        (to, who, now, comment, now, alert_id),
    )
    _log(conn, alert_id, now, who, _ACTION[to], comment)


def _log(
    conn: sqlite3.Connection, alert_id: int, at: int, who: str, action: str, comment: str | None
) -> None:
    conn.execute(
        "INSERT INTO alert_log (alert, at, who, action, comment) VALUES (?, ?, ?, ?, ?)",
        (alert_id, at, who, action, comment),
    )


def get(conn: sqlite3.Connection, alert_id: int) -> dict[str, Any] | None:
    """One alert with its log, or None."""
    found = _select(conn, "WHERE id = ?", [alert_id], 1)
    return found[0] if found else None


def list_alerts(
    conn: sqlite3.Connection, *, state: str | None = None, kind: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Alerts newest first, each with its log. ``state`` may also be ``active`` (not resolved)."""
    where, args = [], []
    if state == "active":
        where.append("state != 'resolved'")
    elif state is not None:
        where.append("state = ?")
        args.append(state)
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    return _select(conn, ("WHERE " + " AND ".join(where)) if where else "", args, limit)


def _select(conn: sqlite3.Connection, where: str, args: list, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM alerts {where} ORDER BY opened_at DESC, id DESC LIMIT ?",
        [*args, limit],
    ).fetchall()
    alerts = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    if not alerts:
        return alerts
    by_id = {a["id"]: a for a in alerts}
    for a in alerts:
        a["detail"] = orjson.loads(a["detail"])
        a["log"] = []
    marks = ", ".join("?" * len(by_id))
    for alert_id, at, who, action, comment in conn.execute(
        f"SELECT alert, at, who, action, comment FROM alert_log WHERE alert IN ({marks}) ORDER BY id",
        list(by_id),
    ):
        by_id[alert_id]["log"].append({"at": at, "who": who, "action": action, "comment": comment})
    return alerts


def _now(now_ms: int | None) -> int:
    return time.time_ns() // 1_000_000 if now_ms is None else now_ms
