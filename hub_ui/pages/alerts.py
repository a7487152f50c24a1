"""Alerts (/alerts): open, acknowledged and resolved tabs; acknowledge and resolve in place.

Every change goes through ``edge_hub.alerts.lifecycle.acknowledge`` / ``resolve`` with the signed-in user
as who (the API's ``AlertAction`` limits apply), and is written to the audit log
(``alert.ack``, ``alert.resolve``). A critic alert (an unhappy visitor's comment or callback
request) shows the visitor's words — escaped, as all visitor text — and needs a resolution
comment: what was done ("called back: …"); every critic is owed that follow-up.

New alerts arrive without a reload: the page polls ``/alerts/poll?after=<newest id>`` with htmx
every :data:`POLL_S` seconds (204 when nothing is new; else the new cards go on top of the open
tab, and the tab counts are refreshed). The hub's rules run every 30 s anyway
(``alerts.EVALUATE_EVERY_S``), so polling costs no timeliness.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import HTMLResponse, Response

from edge_hub.alerts import lifecycle as alerts
from edge_hub.alerts.lifecycle import AlertConflict, AlertError, AlertNotFound
from edge_hub.api import auth
from edge_hub.office import privacy
from edge_hub.office import settings as office_settings
from hub_ui import i18n
from hub_ui.core import Ui, UiError, fragment, local_time, nav, page, redirect, require

router = APIRouter()

ALERTS = nav("/alerts", "nav.alerts", auth.STAFF, order=40)
StaffUi = Annotated[Ui, Depends(require(ALERTS.roles))]
FormStr = Annotated[str, Form()]

TABS = alerts.STATES  # open, acknowledged, resolved
SHOWN = 100
POLL_S = 5

i18n.register({
    "nav.alerts": ("Оповещения", "Alerts"),
    "alerts.title": ("Оповещения", "Alerts"),
    "alerts.tab.open": ("Открытые", "Open"),
    "alerts.tab.acknowledged": ("В работе", "Acknowledged"),
    "alerts.tab.resolved": ("Закрытые", "Resolved"),
    "alerts.empty.open": ("Открытых оповещений нет.", "No open alerts."),
    "alerts.empty.acknowledged": ("Оповещений в работе нет.", "No acknowledged alerts."),
    "alerts.empty.resolved": ("Закрытых оповещений нет.", "No resolved alerts."),
    "alerts.more": ("Показаны последние {shown}.", "The latest {shown} are shown."),
    "alerts.kind.critic": ("Критик", "Critic"),
    "alerts.kind.negative_spike": ("Всплеск негатива", "Negative spike"),
    "alerts.kind.device_silent": ("Нет нажатий", "Device silent"),
    "alerts.kind.device_offline": ("Нет связи", "Device offline"),
    "alerts.kind.low_battery": ("Батарея", "Low battery"),
    "alerts.kind.safe_mode": ("Безопасный режим", "Safe mode"),
    "alerts.kind.identity_reset": ("Новый идентификатор", "New identity"),
    "alerts.kind.identity_backwards": ("Счётчик загрузок назад", "Boot counter backwards"),
    "alerts.kind.identity_conflict": ("Повтор номера события", "Event number reused"),
    "alerts.quarantine_link": ("Сообщения в карантине →", "Quarantined messages →"),
    "alerts.state.open": ("открыто", "open"),
    "alerts.state.acknowledged": ("в работе", "acknowledged"),
    "alerts.state.resolved": ("закрыто", "resolved"),
    "alerts.opened": ("Открыто", "Opened"),
    "alerts.where": ("Где", "Where"),
    "alerts.device": ("устройство {device}", "device {device}"),
    "alerts.window": ("окно «{window}»", "window “{window}”"),
    "alerts.visitor_said": ("Посетитель написал", "The visitor wrote"),
    "alerts.callback": ("Просит перезвонить", "Asks for a call back"),
    "alerts.phone": ("Телефон (удаляется через {days} дн.)", "Phone (deleted after {days} days)"),
    "alerts.no_callback": ("Перезвонить не просил", "No call back asked"),
    "alerts.rating": ("Оценка {value} ({question}), {when}", "Rating {value} ({question}), {when}"),
    "alerts.acked_by": ("Принял в работу {who}, {when}", "Acknowledged by {who}, {when}"),
    "alerts.resolved_by": ("Закрыл {who}, {when}", "Resolved by {who}, {when}"),
    "alerts.comment": ("Комментарий", "Comment"),
    "alerts.ack": ("Принять в работу", "Acknowledge"),
    "alerts.ack_comment": ("Комментарий (необязательно)", "Comment (optional)"),
    "alerts.resolve": ("Закрыть", "Resolve"),
    "alerts.resolve_comment": ("Что сделано (необязательно)", "What was done (optional)"),
    "alerts.resolve_critic": ("Перезвонили: …", "Called back: …"),
    "alerts.critic_help": (
        "Каждому критику положена обратная связь: закрыть оповещение можно, только написав, что сделано.",
        "Every critic is owed a follow-up: to resolve the alert, say what was done.",
    ),
    "alerts.log": ("История", "History"),
    "alerts.log.opened": ("открыто", "opened"),
    "alerts.log.acknowledged": ("принято в работу", "acknowledged"),
    "alerts.log.resolved": ("закрыто", "resolved"),
    "alerts.system": ("хаб", "the hub"),
    "alerts.new": ("Новые оповещения появляются сами (проверка каждые {seconds} с).",
                   "New alerts appear by themselves (checked every {seconds} s)."),
    "alerts.done.ack": ("Оповещение принято в работу.", "Alert acknowledged."),
    "alerts.done.resolve": ("Оповещение закрыто.", "Alert resolved."),
    "alerts.err.comment_needed": (
        "Напишите, что сделано для посетителя (например: «Перезвонили: …»).",
        "Say what was done for the visitor (e.g. “Called back: …”).",
    ),
    "alerts.err.state": (
        "Оповещение уже в другом состоянии (его изменили в другом окне?). Обновите страницу.",
        "The alert has moved on already (changed elsewhere?). Reload the page.",
    ),
    "alerts.err.invalid": ("Комментарий слишком длинный.", "The comment is too long."),
    "alerts.err.unknown": ("Нет такого оповещения.", "No such alert."),
    "action.alert.ack": ("оповещение принято в работу", "alert acknowledged"),
    "action.alert.resolve": ("оповещение закрыто", "alert resolved"),
})  # fmt: skip


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(TABS, 0)
    counts.update(conn.execute("SELECT state, count(*) FROM alerts GROUP BY state"))
    return counts


def _newest(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]


def _view(a: dict[str, Any], ui: Ui, zone: Any, windows: dict[str, str]) -> dict[str, Any]:
    """An alert as the card shows it: local times, the title in the page's language, names."""
    detail = a["detail"]
    comment = detail.get("comment") if a["kind"] == "critic" else None
    return {
        **a,
        "title": a["title_en"] if ui.lang == "en" else a["title_ru"],
        "opened": local_time(a["opened_at"], zone, "%d.%m.%Y %H:%M:%S"),
        "acked": local_time(a["ack_at"], zone) if a["ack_at"] else None,
        "resolved": local_time(a["resolved_at"], zone) if a["resolved_at"] else None,
        "window_name": windows.get(a["window"] or "") or a["window"],
        "critic": a["kind"] == "critic",
        "comment": comment if isinstance(comment, str) else None,
        "callback": bool(detail.get("callback")) if a["kind"] == "critic" else False,
        # the number to call back, while the hub keeps it (edge_hub/office/privacy.py)
        "phone": privacy.phone_of(ui.conn, detail["event"])
        if a["kind"] == "critic" and detail.get("callback") and isinstance(detail.get("event"), int)
        else None,
        "press_time": local_time(detail.get("ts"), zone) if a["kind"] == "critic" else None,
        "log": [{**e, "when": local_time(e["at"], zone, "%d.%m.%Y %H:%M:%S")} for e in a["log"]],
    }


def _views(ui: Ui, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    settings = office_settings.load(ui.conn)
    windows = dict(ui.conn.execute("SELECT id, name FROM windows"))
    days = settings.phone_keep_days
    return [{**_view(a, ui, settings.zone, windows), "phone_days": days} for a in rows]


@router.get("/alerts", include_in_schema=False)
def alerts_page(ui: StaffUi, tab: Annotated[str, Query()] = "open") -> HTMLResponse:
    return _page(ui, tab if tab in TABS else "open")


def _page(ui: Ui, tab: str, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    rows = alerts.list_alerts(ui.conn, state=tab, limit=SHOWN)
    done = ui.request.query_params.get("done")
    return page(
        ui, "alerts.html", "alerts.title", status_code=status, tab=tab, tabs=TABS, counts=_counts(ui.conn),
        alerts=_views(ui, rows), shown=SHOWN, newest=_newest(ui.conn), poll_s=POLL_S, error=error,
        notice=ui.t(f"alerts.done.{done}") if done in ("ack", "resolve") else None,
    )  # fmt: skip


@router.get("/alerts/poll", include_in_schema=False)
def poll(
    ui: StaffUi, after: Annotated[int, Query(ge=0)] = 0, tab: Annotated[str, Query()] = "open"
) -> Response:
    """htmx every few seconds: 204 when no alert is newer than ``after``; else a fresh poller, the
    tab counts (out of band) and, on the open tab, the new open cards (out of band, on top)."""
    newest = _newest(ui.conn)
    if newest <= after:
        return Response(status_code=204)
    fresh = []
    if tab == "open":
        rows = [a for a in alerts.list_alerts(ui.conn, state="open", limit=SHOWN) if a["id"] > after]
        fresh = _views(ui, rows)
    return fragment(
        ui, "_alerts_poll.html", tab=tab if tab in TABS else "open", tabs=TABS, counts=_counts(ui.conn),
        fresh=fresh, newest=newest, poll_s=POLL_S,
    )  # fmt: skip


def _act(ui: Ui, alert_id: int, action: str, comment: str) -> Response:
    assert ui.user is not None
    tab = ui.request.query_params.get("tab") or "open"
    found = alerts.get(ui.conn, alert_id)
    if found is None:
        raise UiError(404, "alerts.err.unknown")
    error = None
    comment = comment.strip()
    if action == "resolve" and found["kind"] == "critic" and not comment:
        error = "alerts.err.comment_needed"
    else:
        change = alerts.acknowledge if action == "ack" else alerts.resolve
        try:
            found = change(ui.conn, alert_id, ui.user.username, comment or None)
        except AlertNotFound:
            raise UiError(404, "alerts.err.unknown") from None
        except AlertConflict:
            error = "alerts.err.state"
            found = alerts.get(ui.conn, alert_id) or found
        except AlertError:
            error = "alerts.err.invalid"
        else:
            detail = (f"#{alert_id} {found['kind']}" + (f": {comment}" if comment else ""))[:300]
            if action == "ack":
                ui.audit("alert.ack", detail)
            else:
                ui.audit("alert.resolve", detail)
    if ui.request.headers.get("hx-request"):  # htmx swaps the card in place
        return fragment(ui, "_alert_card.html", a=_views(ui, [found])[0], tab=tab,
                        error=ui.t(error) if error else None)  # fmt: skip
    if error:
        return _page(ui, tab if tab in TABS else "open", error=ui.t(error), status=409)
    return redirect(ui, f"/alerts?tab={tab if tab in TABS else 'open'}&done={action}")


@router.post("/alerts/{alert_id}/ack", include_in_schema=False)
def acknowledge(ui: StaffUi, alert_id: int, comment: FormStr = "") -> Response:
    return _act(ui, alert_id, "ack", comment)


@router.post("/alerts/{alert_id}/resolve", include_in_schema=False)
def resolve(ui: StaffUi, alert_id: int, comment: FormStr = "") -> Response:
    return _act(ui, alert_id, "resolve", comment)
