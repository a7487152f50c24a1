"""Devices (/devices, every role): the registry as its status messages left it, the camera's
health, what a device reports about itself going wrong (crashes, dead tasks, failed flash writes,
why it cannot sleep, a refused command), the quarantined messages of each device
(/devices/{id}/quarantine), and Identify.

A status carries only the fields its firmware knows (a camera's may lack ``error``, an older
console every diagnostic field): everything optional is read with ``.get`` here and reaches the
template as a value or None, because the templates' undefined is strict.

Admins add a web kiosk (a tablet's browser, edge_hub/WEBKIOSK.md) here: the page shows its
provisioning link (the token in the fragment) and a QR code of it, once; revoking one deletes its
token, and the tablet's next request is refused.

Identify sends the same command as ``POST /api/v1/devices/{id}/identify`` (through
:meth:`edge_hub.runtime.Runtime.command`, the hub's own MQTT connection): the device blinks for
:data:`IDENTIFY_S` seconds. Everything shown here is stored data; the battery's percentage is a
rough estimate from its voltage (:func:`battery_percent`), labelled as such.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from itertools import pairwise
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Path
from fastapi.responses import HTMLResponse, Response
from sqlite_utils import Database

from edge_hub.api import auth
from edge_hub.api.deps import RuntimeDep
from edge_hub.db.store import Store
from edge_hub.ingest import webkiosk
from edge_hub.ingest.rows import QUARANTINE_REASONS
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.office.scopes import ID_PATTERN
from edge_hub.runtime import InvalidCommand, NotConnected, UnknownDevice
from hub_ui import i18n
from hub_ui.core import Ui, UiError, fragment, local_time, nav, page, redirect, require

router = APIRouter()

DEVICES = nav("/devices", "nav.devices", auth.ALL_ROLES, order=50)
AnyUi = Annotated[Ui, Depends(require(DEVICES.roles))]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
AdminUi = Annotated[Ui, Depends(require(auth.ADMINS))]

IDENTIFY_S = 10
QUARANTINE_SHOWN = 50
PAYLOAD_SHOWN = 300
#: a Li-ion cell's resting voltage (mV) -> charge (%), interpolated between the points; a rough
#: guide only (2 × AA lithium builds read low on it: their full is ~3.6 V)
LI_ION_CURVE = ((3000, 0), (3300, 5), (3500, 10), (3600, 20), (3700, 40), (3800, 55), (3900, 70),
                (4000, 80), (4100, 90), (4200, 100))  # fmt: skip

i18n.register({
    "nav.devices": ("Устройства", "Devices"),
    "devices.title": ("Устройства", "Devices"),
    "devices.empty": ("Устройств пока нет: они появятся после первого сообщения.",
                      "No devices yet: they appear with their first message."),
    "devices.kind": ("Тип", "Kind"),
    "devices.kind.unknown": ("тип неизвестен", "kind unknown"),
    "devices.state.online": ("на связи", "online"),
    "devices.state.asleep": ("спит", "asleep"),
    "devices.state.offline": ("нет связи", "offline"),
    "devices.state.unknown": ("нет статуса", "no status yet"),
    "devices.since": ("с {when}", "since {when}"),
    "devices.last_seen": ("Последнее сообщение", "Last seen"),
    "devices.battery": ("Батарея", "Battery"),
    "devices.battery_value": ("{mv} мВ, ≈{pct} %", "{mv} mV, ≈{pct}%"),
    "devices.battery_help": ("Проценты — грубая оценка по напряжению Li-ion элемента.",
                             "The percentage is a rough estimate from a Li-ion cell's voltage."),
    "devices.no_battery": ("от сети", "mains"),
    "devices.rssi": ("Сигнал Wi-Fi", "Wi-Fi signal"),
    "devices.rssi_value": ("{rssi} дБм", "{rssi} dBm"),
    "devices.fw": ("Прошивка", "Firmware"),
    "devices.outbox": ("В очереди", "Outbox"),
    "devices.drops": ("Потеряно", "Dropped"),
    "devices.config_rev": ("Версия настроек", "Config revision"),
    "devices.survey": ("Опрос", "Survey"),
    "devices.window": ("Окно", "Window"),
    "devices.no_window": ("не назначено", "not assigned"),
    "devices.safe_mode": ("безопасный режим", "safe mode"),
    "devices.camera": ("Камера", "Camera"),
    "devices.camera_ok": ("работает", "working"),
    "devices.camera_bad": ("не работает", "not working"),
    "devices.fps": ("Кадров/с", "Frames/s"),
    "devices.faces": ("Лиц/мин", "Faces/min"),
    "devices.camera_error": ("Ошибка", "Error"),
    "devices.inc": ("Идентификатор (inc)", "Incarnation (inc)"),
    "devices.diag": ("Сбои", "Problems"),
    "devices.diag.crash_boots": ("Сбоев подряд", "Crashed boots in a row"),
    "devices.diag.last_crash": ("Последний сбой", "Last crash"),
    "devices.diag.dead_tasks": ("Остановились задачи", "Dead tasks"),
    "devices.diag.flash_errors": ("Ошибок записи во флеш", "Failed flash writes"),
    "devices.diag.no_sleep": ("Не засыпает", "Cannot sleep"),
    "devices.diag.last_cmd_error": ("Команда отклонена", "Command refused"),
    "devices.quarantine": ("Отклонённые сообщения", "Quarantined messages"),
    "devices.quarantine_none": ("нет", "none"),
    "devices.quarantine_link": ("{n}, последние →", "{n}, the latest →"),
    "devices.unregistered": ("Отклонённые сообщения от неизвестных устройств",
                             "Quarantined messages from unknown devices"),
    "devices.identify": ("Найти (мигнуть {seconds} с)", "Identify (blink {seconds} s)"),
    "devices.identify_sent": ("отправлено", "sent"),
    "devices.identify_offline": ("хаб не подключён к брокеру", "the hub is not connected to the broker"),
    "devices.identify_refused": ("команда отклонена", "command refused"),
    "devices.unknown": ("Нет такого устройства.", "No such device."),
    "devices.back": ("← Устройства", "← Devices"),
    "quarantine.title": ("Отклонённые сообщения: {device}", "Quarantined messages: {device}"),
    "quarantine.note": ("Последние {n}; сообщения, не прошедшие проверку контракта MQTT.",
                        "The latest {n}: messages that failed the MQTT contract check."),
    "quarantine.empty": ("Отклонённых сообщений нет.", "No quarantined messages."),
    "quarantine.time": ("Получено", "Received"),
    "quarantine.reason": ("Причина", "Reason"),
    "quarantine.detail": ("Подробности", "Detail"),
    "quarantine.payload": ("Сообщение", "Payload"),
    "action.device.identify": ("команда «найти» устройству", "identify sent to a device"),
    "device_kind.webkiosk": ("веб-киоск", "web kiosk"),
    "devices.webkiosk.add": ("Добавить веб-киоск", "Add a web kiosk"),
    "devices.webkiosk.id": ("Имя планшета (латиница, цифры, - и _)", "Tablet id (a-z, 0-9, - and _)"),
    "devices.webkiosk.help": ("Веб-киоск — опрос в браузере планшета. Откройте ссылку на планшете или "
                              "отсканируйте QR-код его камерой.",
                              "A web kiosk is the survey in a tablet's browser. Open the link on the tablet "
                              "or scan the QR code with its camera."),
    "devices.webkiosk.bad_id": ("Неверное имя: латиница в нижнем регистре, цифры, - и _, до 32 символов.",
                                "Invalid id: lower-case a-z, 0-9, - and _, up to 32 characters."),
    "devices.webkiosk.link": ("Ссылка для планшета {device}", "The link for tablet {device}"),
    "devices.webkiosk.once": ("Ссылка показывается один раз: скопируйте её сейчас. Новая ссылка для того же "
                              "планшета отменяет прежнюю.",
                              "The link is shown only once: copy it now. A new link for the same tablet "
                              "replaces this one."),
    "devices.webkiosk.revoke": ("Отозвать доступ", "Revoke"),
    "devices.webkiosk.revoke_confirm": ("Отозвать доступ веб-киоска {device}? Планшет перестанет работать.",
                                        "Revoke web kiosk {device}? The tablet stops working."),
    "devices.webkiosk.revoked": ("доступ отозван", "revoked"),
    "devices.webkiosk.revoked_notice": ("Доступ веб-киоска {device} отозван: его запросы отклоняются.",
                                        "Web kiosk {device} is revoked: its requests are refused."),
    "action.device.webkiosk": ("добавлен веб-киоск", "web kiosk added"),
    "action.device.webkiosk_revoke": ("отозван веб-киоск", "web kiosk revoked"),
})  # fmt: skip


def battery_percent(mv: int | None) -> int | None:
    """A rough charge estimate (0..100) from a Li-ion cell's voltage; None without a battery."""
    if mv is None:
        return None
    (low_mv, low_pct), (high_mv, high_pct) = LI_ION_CURVE[0], LI_ION_CURVE[-1]
    if mv <= low_mv:
        return low_pct
    if mv >= high_mv:
        return high_pct
    for (a_mv, a_pct), (b_mv, b_pct) in pairwise(LI_ION_CURVE):
        if a_mv <= mv <= b_mv:
            return round(a_pct + (b_pct - a_pct) * (mv - a_mv) / (b_mv - a_mv))
    return None  # unreachable: the curve covers low..high


#: the status fields that say something went wrong, in the order shown
DIAGNOSTICS = ("crash_boots", "last_crash", "dead_tasks", "flash_errors", "no_sleep", "last_cmd_error")


def diagnostics(status: dict[str, Any]) -> list[dict[str, str]]:
    """What the status says went wrong, as (key, text) rows: only the fields present and saying
    something (a zero counter or an empty list is left out)."""
    rows = []
    for key in DIAGNOSTICS:
        value = status.get(key)
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, bool) or value is None:
            continue
        else:
            text = str(value)
        if text and text != "0":
            rows.append({"key": key, "text": text})
    return rows


def camera_view(status: dict[str, Any]) -> dict[str, Any] | None:
    """The camera's health from its status, every optional field None when missing."""
    camera = status.get("camera")
    if not isinstance(camera, dict):
        return None
    return {
        "ok": camera.get("ok") is True,
        "fps": camera.get("fps"),
        "faces_per_min": camera.get("faces_per_min"),
        "error": camera.get("error"),
    }


def _device_of(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[3] if len(parts) >= 5 and parts[0] == "otk" and parts[1] == "v1" and parts[3] else None


def quarantine_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Quarantined messages per device id named in their topic."""
    counts: dict[str, int] = defaultdict(int)
    for topic, n in conn.execute("SELECT topic, count(*) FROM quarantine GROUP BY topic"):
        device = _device_of(topic)
        if device is not None:
            counts[device] += n
    return dict(counts)


def device_rows(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The registry's devices as the page shows them, and quarantine counts of unknown devices."""
    zone = office_settings.load(conn).zone
    windows = dict(conn.execute("SELECT id, name FROM windows"))
    quarantined = quarantine_counts(conn)
    names = {s["id"]: s["name"] for s in office_survey.surveys(conn)}
    rows = []
    for d in Store(Database(conn)).devices():
        status = d["status"] if isinstance(d["status"], dict) else {}
        rows.append({
            **d,
            "state_key": d["state"] if d["state"] in ("online", "asleep", "offline") else "unknown",
            "since": local_time(d["state_since"], zone, "%d.%m.%Y %H:%M:%S") if d["state_since"] else None,
            "seen": local_time(d["last_seen"], zone, "%d.%m.%Y %H:%M:%S"),
            "battery_pct": battery_percent(d["battery_mv"]),
            "window_name": windows.get(d["window"] or "") or d["window"],
            "camera": camera_view(status) if d["kind"] == "camera" else None,
            "diag": diagnostics(status),
            "quarantined": quarantined.pop(d["device"], 0),
            "survey": office_survey.effective(conn, d["device"]) if d["kind"] in office_survey.TERMINAL_KINDS
            else None,
        })  # fmt: skip
        if rows[-1]["survey"] is not None:
            sid = rows[-1]["survey"]
            rows[-1]["survey_name"] = names.get(sid) if names.get(sid) != office_survey.MAIN_NAME else None
    return rows, quarantined


def _devices_page(ui: Ui, *, new_kiosk: dict[str, str] | None = None, error: str | None = None,
                  status: int = 200) -> HTMLResponse:  # fmt: skip
    rows, unregistered = device_rows(ui.conn)
    revoked = ui.request.query_params.get("revoked")
    return page(
        ui, "devices.html", "devices.title", status_code=status, devices=rows,
        unregistered=sorted(unregistered.items()), identify_s=IDENTIFY_S,
        sent=ui.request.query_params.get("sent"),
        is_admin=ui.user is not None and ui.user.can(auth.ADMINS), webkiosks=webkiosk.provisioned(ui.conn),
        new_kiosk=new_kiosk, kiosk_error=error,
        revoked=ui.t("devices.webkiosk.revoked_notice", device=revoked) if revoked else None,
    )  # fmt: skip


@router.get("/devices", include_in_schema=False)
def devices(ui: AnyUi) -> HTMLResponse:
    return _devices_page(ui)


def qr_svg(text: str) -> str:
    """A QR code of ``text`` as inline SVG (no image file, no CDN)."""
    return segno.make(text, error="m").svg_inline(scale=5, title="QR", dark="#000", light="#fff")


@router.post("/devices/webkiosk", include_in_schema=False)
def add_webkiosk(ui: AdminUi, device: Annotated[str, Form()] = "") -> HTMLResponse:
    """Provision a web kiosk and show its link and QR code: the only time the token is shown (the
    answer is not a redirect, so the token is in no URL, history or log of the hub)."""
    device = device.strip()
    if not re.fullmatch(ID_PATTERN, device):
        return _devices_page(ui, error=ui.t("devices.webkiosk.bad_id"), status=400)
    try:
        token = webkiosk.provision(ui.conn, device)
    except webkiosk.WebKioskError as exc:
        return _devices_page(ui, error=str(exc), status=409)
    ui.audit("device.webkiosk", device)
    url = webkiosk.link(str(ui.request.base_url), device, token)
    return _devices_page(ui, new_kiosk={"device": device, "link": url, "qr": qr_svg(url)})


@router.post("/devices/{device}/revoke", include_in_schema=False)
def revoke_webkiosk(ui: AdminUi, device: DeviceId) -> Response:
    """Delete the web kiosk's token: its next request is refused (401); its history stays."""
    if not webkiosk.revoke(ui.conn, device):
        raise UiError(404, "devices.unknown")
    ui.audit("device.webkiosk_revoke", device)
    return redirect(ui, f"/devices?revoked={device}#device-{device}")


@router.post("/devices/{device}/identify", include_in_schema=False)
def identify(ui: AnyUi, runtime: RuntimeDep, device: DeviceId) -> Response:
    """Blink the device (htmx: answers the button's status text; else back to /devices)."""
    try:
        command_id = runtime.command(device, "identify", {"seconds": IDENTIFY_S})
    except UnknownDevice:
        raise UiError(404, "devices.unknown") from None
    except NotConnected:
        result = {"ok": False, "key": "devices.identify_offline", "id": None}
    except InvalidCommand:
        result = {"ok": False, "key": "devices.identify_refused", "id": None}
    else:
        result = {"ok": True, "key": "devices.identify_sent", "id": command_id}
        ui.audit("device.identify", f"{device} ({command_id})")
    if ui.request.headers.get("hx-request"):
        return fragment(ui, "_identify_result.html", device=device, result=result)
    if not result["ok"]:
        raise UiError(503, result["key"])
    return redirect(ui, f"/devices?sent={device}#device-{device}")


@router.get("/devices/{device}/quarantine", include_in_schema=False)
def quarantined(ui: AnyUi, device: DeviceId) -> HTMLResponse:
    """The latest quarantined messages whose topic names the device (any site, any kind)."""
    zone = office_settings.load(ui.conn).zone
    rows = []
    for id_, at, topic, reason, detail, payload, size in ui.conn.execute(
        "SELECT id, received_at, topic, reason, detail, payload, size FROM quarantine "
        "WHERE topic GLOB ? ORDER BY id DESC LIMIT ?",
        (f"otk/v1/*/{device}/*", QUARANTINE_SHOWN),
    ):
        raw = bytes(payload or b"")
        text = raw.decode("utf-8", errors="replace")
        rows.append({
            "id": id_, "when": local_time(at, zone, "%d.%m.%Y %H:%M:%S"), "topic": topic, "reason": reason,
            "reason_text": QUARANTINE_REASONS.get(reason, ""), "detail": detail or "",
            "payload": text[:PAYLOAD_SHOWN] + ("…" if len(text) > PAYLOAD_SHOWN or size > len(raw) else ""),
        })  # fmt: skip
    return page(
        ui, "device_quarantine.html", None, title=ui.t("quarantine.title", device=device),
        device=device, rows=rows, shown=QUARANTINE_SHOWN,
    )  # fmt: skip
