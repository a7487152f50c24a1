"""The rules that open alerts: critics, negative spikes and device health.

:func:`evaluate` looks at the stored presses and devices and opens an alert for each condition
it finds, at most one unresolved alert per key (a partial unique index guards it, so two
evaluators cannot race to a duplicate). The condition-based kinds (``negative_spike``,
``device_silent``, ``device_offline``, ``low_battery``, ``safe_mode``) resolve themselves (who =
``system``) once their condition clears; a ``critic`` alert waits for a person, because every
critic is owed a follow-up. The identity kinds come from the log :mod:`edge_hub.ingest.identity`
keeps at ingest: ``identity_reset`` (a device reflashed or replaced; informational, closed by the
hub after :data:`IDENTITY_RESET_KEEP_MS`), ``identity_backwards`` and ``identity_conflict`` (an
identity restored, cloned or reused: they wait for a person). People move an alert on with
:mod:`edge_hub.alerts.lifecycle`. The rules and their defaults: ``edge_hub/ALERTS.md``.

Long: one function per alert rule (critics, spikes, silence, offline, battery, safe mode,
identities), each short, all following the same open/clear pattern.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from edge_hub.alerts.lifecycle import SYSTEM, _change, _log, _now
from edge_hub.db.tx import immediate as _write
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import settings as office_settings
from edge_hub.office.settings import WEEKDAYS, OfficeSettings
from edge_hub.office.survey import CALLBACK_QUESTION, HELP_QUESTION

_LOGGER = logging.getLogger(__name__)

MIN_MS = 60_000


#: Critic presses are looked at again this far back, so a press trusted only after a rebuild
#: (a shift entered after the fact) still gets its alert.
CRITIC_LOOKBACK_MS = 7 * 24 * 60 * MIN_MS


#: A low-battery alert resolves only once the battery is this much above the threshold, so a
#: voltage wobbling around it does not open and close alerts all day.
BATTERY_HYSTERESIS_MV = 100


#: Opening hours are searched this many days back for a device's silence.
_SILENCE_MAX_DAYS = 400


#: An identity_reset alert (a reflashed or replaced device: nothing is lost, the admin should
#: only know) is resolved by the hub this long after it opened, unless a person did first.
IDENTITY_RESET_KEEP_MS = 24 * 60 * MIN_MS


_CRITIC_CURSOR = "alerts.critic_after_id"


_IDENTITY_CURSOR = "alerts.identity_log_after_id"


#: why the hub resolved an alert itself
_CLEARED = {
    "negative_spike": "negative ratings fell below the threshold / доля негативных оценок ниже порога",
    "device_silent": "the device was pressed again / на устройстве снова нажимали",
    "device_offline": "the device is no longer offline / устройство снова на связи",
    "low_battery": "the battery is above the threshold again / заряд батареи снова выше порога",
    "safe_mode": "the device left safe mode / устройство вышло из безопасного режима",
    "identity_reset": "informational, closed after 24 h / для сведения, закрыто через 24 ч",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """An alert the rules want open."""

    kind: str
    key: str
    title_ru: str
    title_en: str
    device: str | None = None
    window: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def evaluate(conn: sqlite3.Connection, now_ms: int | None = None) -> list[int]:
    """Open the alerts the rules call for at ``now_ms`` and resolve the condition-based ones
    whose condition has cleared; return the ids of the alerts opened (oldest first).

    Idempotent: an alert is never opened twice for one key while one is unresolved, and a
    critic press gets one alert, ever.
    """
    now = _now(now_ms)
    new: list[int] = []
    with _write(conn):
        settings = office_settings.load(conn)
        new += _critics(conn, settings, now)
        new += _identities(conn, now)
        for kind, rule in _RULES:
            to_open, keep = rule(conn, settings, now)
            active = dict(
                conn.execute("SELECT key, id FROM alerts WHERE kind = ? AND state != 'resolved'", (kind,))
            )
            for key, alert_id in active.items():
                if key not in keep:
                    _change(conn, alert_id, "resolved", SYSTEM, _CLEARED[kind], now)
            for candidate in to_open:
                if candidate.key not in active:
                    alert_id = _open(conn, candidate, now)
                    if alert_id is not None:
                        new.append(alert_id)
    if new:
        _LOGGER.info("opened %d alert(s): %s", len(new), new)
    return new


def _critics(conn: sqlite3.Connection, settings: OfficeSettings, now: int) -> list[int]:
    """One alert per trusted negative press with a comment or a callback request, and one per
    survey visitor who asked for an administrator now (a ``help`` event, firmware/lib/otk/survey.py)
    or for a call back (a ``callback`` event: question ``callback``, with the number the visitor
    typed, which no alert repeats); for those two the rating they follow is found by the session."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CRITIC_CURSOR,)).fetchone()
    after_id = int(row[0]) if row else 0
    (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
    # new arrivals (any press time) and the last days again (a press trusted since), by index
    rows = conn.execute(
        "SELECT id, device, window, operator, question, value, ts, json_extract(payload, '$.comment'), "
        "json_extract(payload, '$.callback'), json_extract(payload, '$.help'), "
        "json_extract(payload, '$.session') FROM events WHERE id IN ("
        "SELECT id FROM events WHERE id > ? UNION SELECT id FROM events WHERE ts >= ?) "
        "AND type = 'press' AND flag IS NULL AND ("
        "json_extract(payload, '$.comment') IS NOT NULL OR json_extract(payload, '$.callback') = 1 "
        "OR json_extract(payload, '$.help') = 1) "
        "AND NOT EXISTS (SELECT 1 FROM alerts WHERE key = 'critic:' || events.id) ORDER BY id",
        (after_id, now - CRITIC_LOOKBACK_MS),
    ).fetchall()
    new = []
    for event_id, device, window, operator, question, value, ts, comment, callback, help_, session in rows:
        if help_ == 1 or (question == CALLBACK_QUESTION and callback == 1):
            follow_up = HELP_QUESTION if help_ == 1 else CALLBACK_QUESTION
            candidate = _follow_up(conn, follow_up, event_id, device, window, operator, ts, session)
            alert_id = _open(conn, candidate, now)
            if alert_id is not None:
                new.append(alert_id)
            continue
        comment = comment.strip() if isinstance(comment, str) else ""
        callback = callback == 1
        scale = SCALES.get(settings.scale_of(question) or "")
        if value is None or scale is None or not scale.is_negative(value) or not (comment or callback):
            continue
        press = _CriticPress(event_id, device, window, operator, question, value, ts, comment, callback)
        alert_id = _open(conn, _critic(press), now)
        if alert_id is not None:
            new.append(alert_id)
    _set_meta(conn, _CRITIC_CURSOR, str(last_id))
    return new


@dataclass(frozen=True, slots=True)
class _CriticPress:
    event: int
    device: str
    window: str | None
    operator: str | None
    question: str
    value: int
    ts: int
    comment: str
    callback: bool


def _critic(p: _CriticPress) -> Candidate:
    if p.comment and p.callback:
        ru, en = "оставил комментарий и просит перезвонить", "left a comment and asks for a callback"
    elif p.callback:
        ru, en = "просит перезвонить", "asks for a callback"
    else:
        ru, en = "оставил комментарий", "left a comment"
    where_ru, where_en = _where(p.device, p.window)
    return Candidate(
        kind="critic",
        key=f"critic:{p.event}",
        device=p.device,
        window=p.window,
        title_ru=f"Недовольный посетитель {ru}: оценка {p.value} ({p.question}), {where_ru}",
        title_en=f"Unhappy visitor {en}: rating {p.value} ({p.question}), {where_en}",
        detail={
            "event": p.event, "question": p.question, "value": p.value, "ts": p.ts, "operator": p.operator,
            "comment": p.comment or None, "callback": p.callback,
        },
    )  # fmt: skip


#: what a survey visitor's follow-up asks for, in the alert's title (Russian, English)
_FOLLOW_UPS = {
    HELP_QUESTION: (
        "Посетитель просит подойти администратора сейчас",
        "A visitor asks for an administrator now",
    ),
    CALLBACK_QUESTION: ("Посетитель просит перезвонить", "A visitor asks for a call back"),
}


def _follow_up(
    conn: sqlite3.Connection,
    kind: str,
    event: int,
    device: str,
    window: str | None,
    operator: str | None,
    ts: int,
    session: str | None,
) -> Candidate:
    """A survey visitor asks for an administrator now (``help``) or for a call back (``callback``),
    at this terminal; the rating it follows (the session's first answer) says why. No personal
    data: a call back's number stays in its event, where the alerts page reads it for staff
    (:func:`edge_hub.office.privacy.phone_of`) until the hub forgets it."""
    rated = None
    if session is not None:
        rated = conn.execute(
            "SELECT question, value FROM events WHERE device = ? AND id < ? AND type = 'press' "
            "AND json_extract(payload, '$.session') = ? AND question NOT IN (?, ?) ORDER BY id LIMIT 1",
            (device, event, session, HELP_QUESTION, CALLBACK_QUESTION),
        ).fetchone()
    where_ru, where_en = _where(device, window)
    said_ru = f": оценка {rated[1]} ({rated[0]})" if rated else ""
    said_en = f": rating {rated[1]} ({rated[0]})" if rated else ""
    asks_ru, asks_en = _FOLLOW_UPS[kind]
    return Candidate(
        kind="critic",
        key=f"critic:{event}",
        device=device,
        window=window,
        title_ru=f"{asks_ru}{said_ru}, {where_ru}",
        title_en=f"{asks_en}{said_en}, {where_en}",
        detail={
            "event": event, "question": rated[0] if rated else None, "value": rated[1] if rated else None,
            "ts": ts, "operator": operator, "comment": None, "callback": kind == CALLBACK_QUESTION,
            "help": kind == HELP_QUESTION,
        },
    )  # fmt: skip


def _spikes(conn: sqlite3.Connection, settings: OfficeSettings, now: int) -> tuple[list[Candidate], set[str]]:
    """A share of negative main-question ratings at or above the threshold, per window (per
    device for a device on no window), over the last minutes."""
    rules = settings.alerts
    question = settings.main_question
    scale = SCALES[settings.questions[question]]
    since = now - rules.spike_minutes * MIN_MS
    tally: dict[tuple[str, str], list[int]] = {}
    for window, device, value in conn.execute(
        "SELECT window, device, value FROM events WHERE type = 'press' AND flag IS NULL AND question = ? "
        "AND value IS NOT NULL AND ts > ? AND ts <= ?",
        (question, since, now),
    ):
        counts = tally.setdefault(("window", window) if window else ("device", device), [0, 0])
        counts[0] += 1
        counts[1] += scale.is_negative(value)
    found = []
    for (level, scope), (n, negative) in sorted(tally.items()):
        if n < rules.spike_min_n or negative / n < rules.spike_share:
            continue
        share, minutes = round(100 * negative / n), rules.spike_minutes
        where_ru, where_en = ("окно", "window") if level == "window" else ("устройство", "device")
        found.append(
            Candidate(
                kind="negative_spike",
                key=f"negative_spike:{level}:{scope}",
                device=scope if level == "device" else None,
                window=scope if level == "window" else None,
                title_ru=f"Всплеск негатива: {negative} из {n} оценок ({share} %) за {minutes} мин, "
                f"{where_ru} {scope}",
                title_en=f"Negative spike: {negative} of {n} ratings ({share} %) in {minutes} min, "
                f"{where_en} {scope}",
                detail={
                    "question": question,
                    "n": n,
                    "negative": negative,
                    "share": negative / n,
                    "minutes": minutes,
                    "threshold": rules.spike_share,
                    "min_n": rules.spike_min_n,
                },
            )
        )
    return found, {c.key for c in found}


def _silent(conn: sqlite3.Connection, settings: OfficeSettings, now: int) -> tuple[list[Candidate], set[str]]:
    """Devices that have pressed before but not for ``silent_minutes`` of opening hours.

    Only opening hours count, so a device is not "silent" at 09:00 for the night; an alert is
    opened only while the office is open and stays until the device is pressed again.
    """
    minutes = settings.alerts.silent_minutes
    enough = minutes * MIN_MS
    is_open = settings.is_open(now)
    found, keep = [], set()
    for device, window in conn.execute("SELECT device, window FROM devices ORDER BY device").fetchall():
        last = conn.execute(
            "SELECT ts FROM events WHERE device = ? AND type = 'press' ORDER BY ts DESC LIMIT 1", (device,)
        ).fetchone()
        if last is None or open_ms_between(settings, last[0], now, enough) < enough:
            continue
        key = f"device_silent:{device}"
        keep.add(key)
        if is_open:
            where_ru, where_en = _where(device, window)
            found.append(
                Candidate(
                    kind="device_silent",
                    key=key,
                    device=device,
                    window=window,
                    title_ru=f"Нет нажатий {minutes} мин рабочего времени: {where_ru}",
                    title_en=f"No press for {minutes} min of opening hours: {where_en}",
                    detail={"last_press": last[0], "minutes": minutes},
                )
            )
    return found, keep


def _offline(
    conn: sqlite3.Connection, settings: OfficeSettings, now: int
) -> tuple[list[Candidate], set[str]]:
    """Devices whose state has been ``offline`` (their last will) for ``offline_minutes``;
    ``asleep`` is a battery console's normal deep sleep, not offline."""
    minutes = settings.alerts.offline_minutes
    found = []
    for device, window, since in conn.execute(
        "SELECT device, window, state_since FROM devices WHERE state = 'offline' AND state_since <= ? "
        "ORDER BY device",
        (now - minutes * MIN_MS,),
    ):
        where_ru, where_en = _where(device, window)
        found.append(
            Candidate(
                kind="device_offline",
                key=f"device_offline:{device}",
                device=device,
                window=window,
                title_ru=f"Нет связи больше {minutes} мин: {where_ru}",
                title_en=f"Offline for more than {minutes} min: {where_en}",
                detail={"since": since, "minutes": minutes},
            )
        )
    return found, {c.key for c in found}


def _battery(
    conn: sqlite3.Connection, settings: OfficeSettings, now: int
) -> tuple[list[Candidate], set[str]]:
    """Devices whose last reported battery voltage is below ``low_battery_mv``."""
    threshold = settings.alerts.low_battery_mv
    found, keep = [], set()
    for device, window, mv in conn.execute(
        "SELECT device, window, battery_mv FROM devices WHERE battery_mv < ? ORDER BY device",
        (threshold + BATTERY_HYSTERESIS_MV,),
    ):
        key = f"low_battery:{device}"
        keep.add(key)
        if mv >= threshold:
            continue  # between the threshold and the hysteresis: an open alert stays, none opens
        where_ru, where_en = _where(device, window)
        found.append(
            Candidate(
                kind="low_battery",
                key=key,
                device=device,
                window=window,
                title_ru=f"Низкий заряд батареи: {mv} мВ (порог {threshold}), {where_ru}",
                title_en=f"Low battery: {mv} mV (threshold {threshold}), {where_en}",
                detail={"battery_mv": mv, "threshold": threshold},
            )
        )
    return found, keep


def _safe_mode(
    conn: sqlite3.Connection, settings: OfficeSettings, now: int
) -> tuple[list[Candidate], set[str]]:
    """Devices whose latest status says ``safe_mode``: they crashed boot after boot and run a
    minimal press recorder. Resolved by the first status with ``safe_mode: false``."""
    found = []
    for device, window, crash_boots, last_crash, boot in conn.execute(
        "SELECT device, window, json_extract(status, '$.crash_boots'), json_extract(status, '$.last_crash'), "
        "boot FROM devices WHERE safe_mode = 1 ORDER BY device"
    ):
        where_ru, where_en = _where(device, window)
        if isinstance(crash_boots, int):
            ru, en = f"после {crash_boots} сбоев подряд", f"after {crash_boots} crashed boots in a row"
        else:
            ru, en = "после повторных сбоев", "after repeated crashes"
        if isinstance(last_crash, str) and last_crash:
            ru, en = f"{ru} (последний: {last_crash})", f"{en} (last: {last_crash})"
        found.append(
            Candidate(
                kind="safe_mode",
                key=f"safe_mode:{device}",
                device=device,
                window=window,
                title_ru=f"Безопасный режим {ru}: записываются только нажатия, {where_ru}",
                title_en=f"Safe mode {en}: only presses are recorded, {where_en}",
                detail={"crash_boots": crash_boots, "last_crash": last_crash, "boot": boot},
            )
        )
    return found, {c.key for c in found}


def _identities(conn: sqlite3.Connection, now: int) -> list[int]:
    """Alerts for what the identity log (edge_hub/ingest/identity.py) recorded since the last round:
    one unresolved alert per device and kind; a reset alert closes itself after a day."""
    for (alert_id,) in conn.execute(
        "SELECT id FROM alerts WHERE kind = 'identity_reset' AND state != 'resolved' AND opened_at <= ?",
        (now - IDENTITY_RESET_KEEP_MS,),
    ).fetchall():
        _change(conn, alert_id, "resolved", SYSTEM, _CLEARED["identity_reset"], now)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_IDENTITY_CURSOR,)).fetchone()
    after_id = int(row[0]) if row else 0
    rows = conn.execute(
        "SELECT l.id, l.device, d.window, l.at, l.change, l.inc, l.boot, l.seq, l.prev_inc, l.prev_boot, "
        "l.via, l.detail FROM identity_log l LEFT JOIN devices d ON d.device = l.device "
        "WHERE l.id > ? ORDER BY l.id",
        (after_id,),
    ).fetchall()
    new = []
    for log_id, device, window, at, change, inc, boot, seq, prev_inc, prev_boot, via, detail in rows:
        facts = {"log": log_id, "at": at, "inc": inc, "boot": boot, "via": via}
        where_ru, where_en = _where(device, window)
        if change == "reset":
            candidate = Candidate(
                kind="identity_reset",
                key=f"identity_reset:{device}",
                device=device,
                window=window,
                title_ru=f"Устройство {device} перепрошито или заменено: у него новый идентификатор "
                f"(inc {prev_inc} → {inc}), его нажатия сохраняются под новым; {where_ru}",
                title_en=f"{device} was reflashed or replaced: a new identity (inc {prev_inc} → {inc}); "
                f"its presses are stored under the new one; {where_en}",
                detail={**facts, "prev_inc": prev_inc},
            )
        elif change == "backwards":
            candidate = Candidate(
                kind="identity_backwards",
                key=f"identity_backwards:{device}",
                device=device,
                window=window,
                title_ru=f"Счётчик загрузок вернулся назад ({prev_boot} → {boot}) при том же идентификаторе "
                f"(inc {inc}): восстановлен или скопирован файл идентичности? Нажатия с уже занятыми "
                f"номерами попадут в карантин; {where_ru}",
                title_en=f"Boot counter went backwards ({prev_boot} → {boot}) under the same identity "
                f"(inc {inc}): a restored or cloned identity file? Presses that reuse stored numbers "
                f"go to the quarantine; {where_en}",
                detail={**facts, "prev_boot": prev_boot},
            )
        else:  # conflict
            extra = orjson.loads(detail) if detail else {}
            candidate = Candidate(
                kind="identity_conflict",
                key=f"identity_conflict:{device}",
                device=device,
                window=window,
                title_ru=f"Номер события повторился с другим содержимым (inc {inc}, загрузка {boot}, "
                f"№ {seq}): скопированная прошивка или восстановленный файл идентичности? "
                f"Сообщение сохранено в карантине; {where_ru}",
                title_en=f"An event number was reused with other content (inc {inc}, boot {boot}, "
                f"seq {seq}): a cloned flash image or a restored identity file? The message is kept "
                f"in the quarantine; {where_en}",
                detail={**facts, "seq": seq, **extra},
            )
        alert_id = _open(conn, candidate, now)
        if alert_id is not None:
            new.append(alert_id)
    if rows:
        _set_meta(conn, _IDENTITY_CURSOR, str(rows[-1][0]))
    return new


def open_ms_between(
    settings: OfficeSettings, start_ms: int, end_ms: int, enough_ms: int | None = None
) -> int:
    """Milliseconds of opening hours in [start, end), counted back from the end; the count may
    stop early once it reaches ``enough_ms``."""
    if end_ms <= start_ms:
        return 0
    first = settings.local(start_ms).date()
    day = settings.local(end_ms).date()
    total = 0
    for _ in range(_SILENCE_MAX_DAYS):
        if day < first:
            break
        for start, end in settings.opening_hours[WEEKDAYS[day.weekday()]]:
            a, b = settings.at(day, start), settings.at(day, end)
            total += max(0, min(b, end_ms) - max(a, start_ms))
        if enough_ms is not None and total >= enough_ms:
            break
        day -= timedelta(days=1)
    return total


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _where(device: str, window: str | None) -> tuple[str, str]:
    if window:
        return f"окно {window} (устройство {device})", f"window {window} (device {device})"
    return f"устройство {device}", f"device {device}"


def _open(conn: sqlite3.Connection, c: Candidate, now: int) -> int | None:
    """Insert an open alert and its log line; None if one is unresolved for the key already."""
    cursor = conn.execute(
        "INSERT INTO alerts (kind, state, device, window, key, opened_at, title_ru, title_en, detail, "
        "updated_at) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) WHERE state != 'resolved' DO NOTHING",
        (
            c.kind,
            c.device,
            c.window,
            c.key,
            now,
            c.title_ru,
            c.title_en,
            orjson.dumps(c.detail).decode(),
            now,
        ),
    )
    if cursor.rowcount != 1:
        return None
    alert_id = cursor.lastrowid
    _log(conn, alert_id, now, SYSTEM, "opened", None)
    return alert_id


#: A condition rule: (alerts to open now, keys whose unresolved alert stays unresolved).
Rule = Callable[[sqlite3.Connection, OfficeSettings, int], tuple[list[Candidate], set[str]]]

_RULES: tuple[tuple[str, Rule], ...] = (
    ("negative_spike", _spikes),
    ("device_silent", _silent),
    ("device_offline", _offline),
    ("low_battery", _battery),
    ("safe_mode", _safe_mode),
)
