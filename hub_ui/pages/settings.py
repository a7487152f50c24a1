"""The office's settings (/settings, admin and manager): three tabs.

- ``/settings`` — departments, windows, operators, and which window each device is on;
- ``/settings/shifts`` — shifts (list, add, delete, CSV upload) and served clients per day;
- ``/settings/office`` — :class:`edge_hub.office.settings.OfficeSettings` (time zone, opening hours,
  min_n, the trust rules and alert thresholds; the form is generated from the pydantic models'
  fields), and "recompute the last N days" (admin only).

Every change calls the same :mod:`edge_hub.office.scopes` / :mod:`edge_hub.office.settings`
function as the JSON API (the re-crediting ones, ``*_and_rebuild`` and ``import_shifts_file``, included), is
recorded in the audit log, and answers with a redirect back to its section (Post/Redirect/Get);
a refusal renders the tab again with the bilingual message in the section that was submitted.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from datetime import time as dtime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from annotated_types import Ge, Gt, Le, Lt
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from edge_hub.metrics import aggregates
from edge_hub.metrics.aggregates import HOUR_MS
from edge_hub.office import scopes
from edge_hub.office import settings as office
from edge_hub.office.scopes import ScopeConflict, ScopeError, ScopeNotFound
from edge_hub.office.settings import WEEKDAYS, AlertRules, OfficeSettings, TrustRules
from hub_ui import auth, i18n
from hub_ui.core import Ui, local_time, nav, page, redirect, require

router = APIRouter()

SETTINGS = nav("/settings", "nav.settings", auth.STAFF, order=70)
StaffUi = Annotated[Ui, Depends(require(SETTINGS.roles))]
AdminUi = Annotated[Ui, Depends(require(auth.ADMINS))]
FormStr = Annotated[str, Form()]

TABS = (("structure", "/settings"), ("shifts", "/settings/shifts"), ("office", "/settings/office"))
#: the largest shift CSV taken (a year of shifts of a big office is far less)
MAX_CSV_BYTES = 2_000_000
SHIFTS_SHOWN = 500
SERVED_DAYS = 14
REBUILD_MAX_DAYS = 400
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SPAN_SPLIT = re.compile(r"\s*[-–—]\s*")
#: ?done= code -> the section it belongs to (its message is settings.done.<code>)
DONE = {
    "department": "departments", "department_deleted": "departments",
    "window": "windows", "window_deleted": "windows",
    "operator": "operators", "operator_deleted": "operators",
    "device": "devices", "shift": "shift-add", "shift_deleted": "shifts",
    "import": "import", "served": "served", "office": "office", "rebuild": "rebuild",
}  # fmt: skip

# Labels of the OfficeSettings fields: Russian here, English from the model's own descriptions.
_TRUST_RU = {
    "burst_max": "Больше стольких нажатий на одном устройстве …",
    "burst_window_s": "… за столько секунд — серия нажатий",
    "self_run": "Столько высших оценок подряд на одном устройстве …",
    "self_gap_s": "… каждая в пределах стольких секунд — похоже на самооценку",
    "flag_after_hours": "Отмечать нажатия вне часов работы",
    "flag_no_operator": "Отмечать нажатия у окна, где есть смены, но в это время никого нет",
    "flag_no_visitor": "Отмечать нажатия у окна под работающей камерой, если она не видела посетителя",
    "visitor_slack_s": "Визит засчитывается нажатиям за столько секунд до или после него",
}
_ALERTS_RU = {
    "spike_share": "Всплеск недовольства: такая доля негативных оценок …",
    "spike_minutes": "… за столько минут …",
    "spike_min_n": "… при стольких оценках не меньше",
    "silent_minutes": "Устройство молчит столько минут, пока офис открыт",
    "offline_minutes": "Устройство не на связи столько минут",
    "low_battery_mv": "Батарея ниже стольких мВ",
}
_MODELS: tuple[tuple[str, type[BaseModel], dict[str, str]], ...] = (
    ("trust", TrustRules, _TRUST_RU),
    ("alerts", AlertRules, _ALERTS_RU),
)

i18n.register(
    {
        "nav.settings": ("Настройки", "Settings"),
        "settings.title": ("Настройки офиса", "Office settings"),
        "settings.tab.structure": ("Отделы, окна, операторы", "Departments, windows, operators"),
        "settings.tab.shifts": ("Смены и обслуженные", "Shifts and served clients"),
        "settings.tab.office": ("Часы работы и правила", "Hours and rules"),
        "settings.id": ("Идентификатор", "Id"),
        "settings.id_help": (
            "Латинские строчные буквы, цифры, - и _, до 32 символов; после создания не меняется.",
            "Lowercase Latin letters, digits, - and _, up to 32; fixed once created.",
        ),
        "settings.name": ("Название", "Name"),
        "settings.save": ("Сохранить", "Save"),
        "settings.add": ("Добавить", "Add"),
        "settings.delete": ("Удалить", "Delete"),
        "settings.confirm_delete": ("Удалить «{name}»?", "Delete “{name}”?"),
        "settings.none": ("—", "—"),
        "settings.empty": ("Пока ничего нет.", "Nothing yet."),
        "settings.departments": ("Отделы", "Departments"),
        "settings.department": ("Отдел", "Department"),
        "settings.add_department": ("Добавить отдел", "Add a department"),
        "settings.windows": ("Окна", "Windows"),
        "settings.window": ("Окно", "Window"),
        "settings.add_window": ("Добавить окно", "Add a window"),
        "settings.window_needs_department": (
            "Сначала добавьте отдел: окно принадлежит отделу.",
            "Add a department first: a window belongs to one.",
        ),
        "settings.operators": ("Операторы", "Operators"),
        "settings.operator": ("Оператор", "Operator"),
        "settings.add_operator": ("Добавить оператора", "Add an operator"),
        "settings.devices": ("Устройства у окон", "Devices at windows"),
        "settings.device": ("Устройство", "Device"),
        "settings.kind": ("Тип", "Kind"),
        "settings.last_seen": ("Последняя связь", "Last seen"),
        "settings.no_window": ("— не у окна —", "— no window —"),
        "settings.devices_help": (
            "Нажатия устройства засчитываются окну, у которого оно стоит; при переносе все его "
            "сохранённые нажатия пересчитываются на новое окно.",
            "A device's presses count for the window it is on; moving it credits all its stored "
            "presses to the new window.",
        ),
        "settings.no_devices": ("Устройства ещё не выходили на связь.", "No device has connected yet."),
        "settings.shifts": ("Смены", "Shifts"),
        "settings.shifts_period": ("Смены с {start} по {end}", "Shifts from {start} to {end}"),
        "settings.show": ("Показать", "Show"),
        "settings.from": ("С", "From"),
        "settings.to": ("По", "To"),
        "settings.start": ("Начало", "Start"),
        "settings.end": ("Конец", "End"),
        "settings.add_shift": ("Добавить смену", "Add a shift"),
        "settings.times_local": (
            "Время — местное время офиса ({zone}). Начало входит в смену, конец — нет. Уже сохранённые "
            "нажатия за время смены засчитываются оператору.",
            "Times are the office's local time ({zone}). The start belongs to the shift, the end does "
            "not. Presses already stored in its time are credited to the operator.",
        ),
        "settings.shifts_more": (
            "Показаны первые {n} смен; сузьте период.",
            "The first {n} shifts are shown; narrow the period.",
        ),
        "settings.import": ("Загрузить смены из CSV", "Upload shifts from CSV"),
        "settings.import_file": ("Файл CSV", "CSV file"),
        "settings.import_submit": ("Загрузить", "Upload"),
        "settings.import_help": (
            "Первая строка — заголовок: оператор;окно;начало;конец (или operator,window,start,end). "
            "Разделитель , или ; кодировка UTF-8 или Windows-1251; время вида 23.11.2026 09:00 или "
            "2026-11-23 09:00, местное. Всё или ничего: при любой ошибке не загружается ни одна строка.",
            "The first line is the header: operator,window,start,end (or оператор;окно;начало;конец). "
            "Separator , or ; UTF-8 or Windows-1251; times like 2026-11-23 09:00 or 23.11.2026 09:00, "
            "local. All or nothing: with any error no line is imported.",
        ),
        "settings.import_failed": (
            "Ничего не загружено, исправьте строки ({n}):",
            "Nothing was imported; fix these lines ({n}):",
        ),
        "settings.import_line": ("строка {line}", "line {line}"),
        "settings.import_done": ("Загружено смен: {n}.", "Shifts imported: {n}."),
        "settings.import_too_big": ("Файл слишком большой.", "The file is too large."),
        "settings.served": ("Обслужено клиентов", "Clients served"),
        "settings.served_help": (
            "Сколько клиентов обслужено за день — для доли оценивших и индексов на 100 клиентов. "
            "Запись за тот же день и окно заменяется.",
            "How many clients were served in a day, for the response rate and the per-100-clients "
            "indices. A figure for the same day and window is replaced.",
        ),
        "settings.day": ("День", "Day"),
        "settings.count": ("Число", "Count"),
        "settings.source": ("Источник", "Source"),
        "settings.whole_office": ("весь офис", "whole office"),
        "settings.served_recent": ("За последние {days} дней", "The last {days} days"),
        "settings.bad_count": (
            "Число клиентов должно быть целым и не меньше 0.",
            "The count must be a whole number, 0 or more.",
        ),
        "settings.general": ("Общее", "General"),
        "settings.timezone": ("Часовой пояс (IANA)", "Time zone (IANA)"),
        "settings.min_n": (
            "Минимум ответов для показателя (меньше — «недостаточно данных»)",
            "Minimum answers for a value (fewer: “not enough data”)",
        ),
        "settings.main_question": ("Главный вопрос (оценки +/−)", "Main question (ratings +/−)"),
        "settings.hours": ("Часы работы", "Opening hours"),
        "settings.hours_help": (
            "Местное время, например 09:00-19:00 или 09:00-13:00, 14:00-18:00; пусто — выходной.",
            "Local time, e.g. 09:00-19:00 or 09:00-13:00, 14:00-18:00; empty: closed.",
        ),
        "settings.trust": ("Правила доверия (подозрительные нажатия)", "Trust rules (suspicious presses)"),
        "settings.alerts": ("Пороги оповещений", "Alert thresholds"),
        "settings.default": ("по умолчанию: {value}", "default: {value}"),
        "settings.yes": ("да", "yes"),
        "settings.no": ("нет", "no"),
        "settings.save_office": ("Сохранить настройки", "Save the settings"),
        "settings.office_invalid": (
            "Настройки не сохранены: исправьте отмеченные поля.",
            "Not saved: fix the fields marked.",
        ),
        "settings.from_now_on": (
            "Новые правила доверия и часы работы применяются к нажатиям с этого момента; уже сохранённые "
            "нажатия остаются как были, пока вы их не пересчитаете.",
            "New trust rules and opening hours apply to presses from now on; presses already stored stay "
            "as they were until you recompute them.",
        ),
        "settings.rebuild": ("Пересчитать прошлые нажатия", "Recompute past presses"),
        "settings.rebuild_days": ("Последние дни", "The last days"),
        "settings.rebuild_submit": ("Пересчитать", "Recompute"),
        "settings.rebuild_help": (
            "Заново проверяет и распределяет по окнам, операторам и часам нажатия за последние N дней "
            "(сегодня включительно) по текущим настройкам, сменам и окнам устройств.",
            "Checks and credits the presses of the last N days (today included) again, to the windows, "
            "operators and hours, by the settings, shifts and device windows as they are now.",
        ),
        "settings.rebuild_admin": (
            "Пересчёт может запустить администратор.",
            "An admin can run the recomputation.",
        ),
        "settings.rebuild_bad": ("Число дней — от 1 до {max}.", "The number of days is 1 to {max}."),
        "settings.done.department": ("Отдел сохранён.", "Department saved."),
        "settings.done.department_deleted": ("Отдел удалён.", "Department deleted."),
        "settings.done.window": ("Окно сохранено.", "Window saved."),
        "settings.done.window_deleted": ("Окно удалено.", "Window deleted."),
        "settings.done.operator": ("Оператор сохранён.", "Operator saved."),
        "settings.done.operator_deleted": ("Оператор удалён.", "Operator deleted."),
        "settings.done.device": (
            "Устройство перенесено, его нажатия пересчитаны.",
            "Device moved; its presses recounted.",
        ),
        "settings.done.shift": ("Смена добавлена.", "Shift added."),
        "settings.done.shift_deleted": ("Смена удалена.", "Shift deleted."),
        "settings.done.served": ("Число обслуженных сохранено.", "Served clients saved."),
        "settings.done.office": ("Настройки сохранены.", "Settings saved."),
        "settings.done.rebuild": (
            "Нажатия пересчитаны; изменено часовых корзин: {n}.",
            "Presses recomputed; hourly buckets changed: {n}.",
        ),
        "settings.err.ge": ("Не меньше {limit}.", "At least {limit}."),
        "settings.err.gt": ("Больше {limit}.", "More than {limit}."),
        "settings.err.le": ("Не больше {limit}.", "At most {limit}."),
        "settings.err.lt": ("Меньше {limit}.", "Less than {limit}."),
        "settings.err.int": ("Нужно целое число.", "A whole number is needed."),
        "settings.err.number": ("Нужно число.", "A number is needed."),
        "settings.err.timezone": (
            "Неизвестный часовой пояс; пример: Europe/Moscow.",
            "Unknown time zone; e.g. Europe/Moscow.",
        ),
        "settings.err.hours": (
            "Нужны интервалы вида 09:00-19:00 через запятую, открытие раньше закрытия.",
            "Spans like 09:00-19:00, comma-separated, opening before closing.",
        ),
        "settings.err.question": ("Нет такого вопроса.", "No such question."),
        "action.settings.department.put": ("отдел добавлен или переименован", "department added or renamed"),
        "action.settings.department.delete": ("отдел удалён", "department deleted"),
        "action.settings.window.put": ("окно добавлено или изменено", "window added or changed"),
        "action.settings.window.delete": ("окно удалено", "window deleted"),
        "action.settings.operator.put": ("оператор добавлен или переименован", "operator added or renamed"),
        "action.settings.operator.delete": ("оператор удалён", "operator deleted"),
        "action.settings.device.window": ("устройство перенесено к окну", "device moved to a window"),
        "action.settings.shift.add": ("смена добавлена", "shift added"),
        "action.settings.shift.delete": ("смена удалена", "shift deleted"),
        "action.settings.shift.import": ("смены загружены из CSV", "shifts imported from CSV"),
        "action.settings.served": ("задано число обслуженных", "served clients set"),
        "action.settings.office": ("изменены настройки офиса", "office settings changed"),
        "action.settings.rebuild": ("пересчёт прошлых нажатий", "past presses recomputed"),
    }
    | {
        f"settings.{group}.{name}": (ru[name], field.description or name)
        for group, model, ru in _MODELS
        for name, field in model.model_fields.items()
    }
)


# --- rendering --------------------------------------------------------------------------------


def _status(exc: ScopeError) -> int:
    """The HTTP status the API gives the same refusal."""
    return 404 if isinstance(exc, ScopeNotFound) else 409 if isinstance(exc, ScopeConflict) else 422


def _done(ui: Ui) -> tuple[str | None, str | None]:
    """(section, notice) of a ``?done=`` after a change."""
    code = ui.request.query_params.get("done")
    if code not in DONE:
        return None, None
    n = ui.request.query_params.get("n", "")
    n = n if n.isdigit() else "?"
    if code == "import":
        return "import", ui.t("settings.import_done", n=n)
    if code == "rebuild":
        return "rebuild", ui.t("settings.done.rebuild", n=n)
    return DONE[code], ui.t(f"settings.done.{code}")


def _tab(
    ui: Ui, tab: str, context: dict[str, Any], *, section: str | None = None, error: str | None = None,
    form: dict[str, Any] | None = None, status: int = 200,
) -> HTMLResponse:  # fmt: skip
    notice = None
    if error is None:
        section, notice = _done(ui)
    return page(
        ui, "settings.html", "settings.title", status_code=status, tab=tab, tabs=TABS,
        section=section, error=error, notice=notice, form=form or {}, **context,
    )  # fmt: skip


def _devices(ui: Ui) -> list[dict[str, Any]]:
    zone = office.load(ui.conn).zone
    rows = ui.conn.execute('SELECT device, kind, "window", last_seen FROM devices ORDER BY device').fetchall()
    return [
        {"device": d, "kind": k or "", "window": w, "last_seen": local_time(seen, zone)}
        for d, k, w, seen in rows
    ]


def _structure(ui: Ui, **kwargs: Any) -> HTMLResponse:
    context = {
        "departments": scopes.departments(ui.conn),
        "windows": scopes.windows(ui.conn),
        "operators": scopes.operators(ui.conn),
        "devices": _devices(ui),
    }
    return _tab(ui, "structure", context, **kwargs)


def _refused(ui: Ui, exc: ScopeError, section: str, form: dict[str, Any]) -> HTMLResponse:
    return _structure(ui, section=section, error=str(exc), form=form, status=_status(exc))


# --- departments, windows, operators, devices ---------------------------------------------------


@router.get("/settings", include_in_schema=False)
def structure(ui: StaffUi) -> HTMLResponse:
    return _structure(ui)


@router.post("/settings/departments", include_in_schema=False)
def put_department(ui: StaffUi, id: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_department(ui.conn, id.strip(), name)
    except ScopeError as exc:
        return _refused(ui, exc, "departments", {"id": id, "name": name})
    ui.audit("settings.department.put", f"{row['id']}: {row['name']}")
    return redirect(ui, "/settings?done=department#departments")


@router.post("/settings/windows", include_in_schema=False)
def put_window(ui: StaffUi, id: FormStr = "", department: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_window(ui.conn, id.strip(), department, name)
    except ScopeError as exc:
        return _refused(ui, exc, "windows", {"id": id, "department": department, "name": name})
    ui.audit("settings.window.put", f"{row['id']} ({row['department']}): {row['name']}")
    return redirect(ui, "/settings?done=window#windows")


@router.post("/settings/operators", include_in_schema=False)
def put_operator(ui: StaffUi, id: FormStr = "", name: FormStr = "") -> Response:
    try:
        row = scopes.put_operator(ui.conn, id.strip(), name)
    except ScopeError as exc:
        return _refused(ui, exc, "operators", {"id": id, "name": name})
    ui.audit("settings.operator.put", f"{row['id']}: {row['name']}")
    return redirect(ui, "/settings?done=operator#operators")


@router.post("/settings/devices", include_in_schema=False)
def put_device_window(ui: StaffUi, device: FormStr = "", window: FormStr = "") -> Response:
    """Put a device on a window or none; its stored presses are credited again (as the API does)."""
    try:
        scopes.assign_device_and_rebuild(ui.conn, device, window or None)
    except ScopeError as exc:
        return _refused(ui, exc, "devices", {})
    ui.audit("settings.device.window", f"{device} → {window or '-'}")
    return redirect(ui, "/settings?done=device#devices")


# --- shifts and served clients ------------------------------------------------------------------


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _shifts(ui: Ui, **kwargs: Any) -> HTMLResponse:
    settings = office.load(ui.conn)
    zone = settings.zone
    today = settings.local(auth.now_ms()).date()
    query = ui.request.query_params
    start = _day(query.get("from"), today - timedelta(days=7))
    end = max(start, _day(query.get("to"), today + timedelta(days=14)))
    lo, hi = settings.at(start, dtime(0)), settings.at(end + timedelta(days=1), dtime(0))
    operators = scopes.operators(ui.conn)
    windows = scopes.windows(ui.conn)
    names = {("operator", o["id"]): o["name"] for o in operators} | {
        ("window", w["id"]): w["name"] for w in windows
    }
    rows = scopes.shifts(ui.conn, from_ms=lo, to_ms=hi)
    shifts = [
        {
            **s,
            "operator_name": names.get(("operator", s["operator"]), ""),
            "window_name": names.get(("window", s["window"]), ""),
            "start": local_time(s["start_ms"], zone),
            "end": local_time(s["end_ms"], zone),
        }
        for s in rows[:SHIFTS_SHOWN]
    ]
    served_from = today - timedelta(days=SERVED_DAYS - 1)
    context = {
        "operators": operators,
        "windows": windows,
        "shifts": shifts,
        "shifts_more": len(rows) > SHIFTS_SHOWN,
        "shifts_shown": SHIFTS_SHOWN,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "zone": settings.timezone,
        "today": today.isoformat(),
        "served": scopes.served(ui.conn, served_from.isoformat(), today.isoformat()),
        "served_days": SERVED_DAYS,
        "import_errors": kwargs.pop("import_errors", None),
    }
    return _tab(ui, "shifts", context, **kwargs)


@router.get("/settings/shifts", include_in_schema=False)
def shifts_tab(ui: StaffUi) -> HTMLResponse:
    return _shifts(ui)


@router.post("/settings/shifts", include_in_schema=False)
def add_shift(
    ui: StaffUi, operator: FormStr = "", window: FormStr = "", start: FormStr = "", end: FormStr = ""
) -> Response:
    """A shift from ``datetime-local`` inputs (office local time); stored presses are re-credited."""
    zone = office.load(ui.conn).zone
    form = {"operator": operator, "window": window, "start": start, "end": end}
    try:
        try:
            start_ms, end_ms = scopes.parse_local(start, zone), scopes.parse_local(end, zone)
        except ValueError as exc:
            raise ScopeError(str(exc)) from None
        row = scopes.add_shift_and_rebuild(ui.conn, operator, window, start_ms, end_ms)
    except ScopeError as exc:
        return _shifts(ui, section="shift-add", error=str(exc), form=form, status=_status(exc))
    ui.audit(
        "settings.shift.add",
        f"#{row['id']} {operator} @ {window}: {scopes.local_text(start_ms, zone)}–"
        f"{scopes.local_text(end_ms, zone)}",
    )
    return redirect(ui, "/settings/shifts?done=shift#shift-add")


@router.post("/settings/shifts/{shift_id}/delete", include_in_schema=False)
def delete_shift(ui: StaffUi, shift_id: int) -> Response:
    zone = office.load(ui.conn).zone
    try:
        gone = scopes.delete_shift_and_rebuild(ui.conn, shift_id)
    except ScopeError as exc:
        return _shifts(ui, section="shifts", error=str(exc), status=_status(exc))
    ui.audit(
        "settings.shift.delete",
        f"#{shift_id} {gone['operator']} @ {gone['window']}: {scopes.local_text(gone['start_ms'], zone)}",
    )
    return redirect(ui, "/settings/shifts?done=shift_deleted#shifts")


@router.post("/settings/shifts/import", include_in_schema=False)
def import_shifts(ui: StaffUi, file: Annotated[UploadFile, File()]) -> Response:
    """A CSV upload: all or nothing (:func:`edge_hub.office.scopes.import_shifts_file`); every bad
    line listed."""
    raw = file.file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return _shifts(ui, section="import", error=ui.t("settings.import_too_big"), status=413)
    result = scopes.import_shifts_file(ui.conn, raw, office.load(ui.conn).zone)
    if not result.ok:
        return _shifts(
            ui, section="import", error=ui.t("settings.import_failed", n=len(result.errors)),
            import_errors=result.errors, status=422,
        )  # fmt: skip
    ui.audit("settings.shift.import", f"{file.filename or '-'}: {result.added}")
    return redirect(ui, f"/settings/shifts?done=import&n={result.added}#import")


@router.post("/settings/served", include_in_schema=False)
def put_served(ui: StaffUi, day: FormStr = "", window: FormStr = "", count: FormStr = "") -> Response:
    form = {"day": day, "window": window, "count": count}
    try:
        if not count.strip().isdigit():
            raise ScopeError(ui.t("settings.bad_count"))
        row = scopes.put_served(ui.conn, day, window, int(count), "manual")
    except ScopeError as exc:
        return _shifts(ui, section="served", error=str(exc), form=form, status=_status(exc))
    ui.audit("settings.served", f"{row['day']} {row['window'] or '*'}: {row['count']}")
    return redirect(ui, "/settings/shifts?done=served#served")


# --- the office settings ------------------------------------------------------------------------


def _limits(metadata: list[Any]) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, Ge):
            limits["min"] = item.ge
        elif isinstance(item, Gt):
            limits["gt"] = item.gt
        elif isinstance(item, Le):
            limits["max"] = item.le
        elif isinstance(item, Lt):
            limits["lt"] = item.lt
    return limits


def _model_fields(group: str, model: type[BaseModel], values: dict[str, Any]) -> list[dict[str, Any]]:
    """One form field per field of a pydantic model: its type, limits, default and current value."""
    fields = []
    for name, info in model.model_fields.items():
        kind = {bool: "bool", int: "int", float: "float"}.get(info.annotation, "text")  # type: ignore[arg-type]
        limits = _limits(info.metadata)
        if "gt" in limits and kind == "float":
            limits.setdefault("min", limits["gt"])
        fields.append(
            {
                "name": f"{group}.{name}", "kind": kind, "value": values.get(name, info.default),
                "default": info.default, "label": f"settings.{group}.{name}",
                "min": limits.get("min"), "max": limits.get("max"),
            }
        )  # fmt: skip
    return fields


def _hours_text(spans: list) -> str:
    return ", ".join(f"{a}-{b}" for a, b in spans)


def _office_form(values: dict[str, Any]) -> dict[str, Any]:
    """The form's model: ``values`` is an OfficeSettings dump, or the submitted (invalid) form."""
    return {
        "timezone": values["timezone"],
        "min_n": values["min_n"],
        "main_question": values["main_question"],
        "questions": list(values["questions"]),
        "hours": [
            {
                "day": d,
                "value": v if isinstance(v := values["opening_hours"].get(d, []), str) else _hours_text(v),
            }
            for d in WEEKDAYS
        ],
        "groups": [
            {"key": group, "fields": _model_fields(group, model, values[group])}
            for group, model, _ in _MODELS
        ],
    }


_ZONES = sorted(z for z in available_timezones() if z.startswith(("Europe/", "Asia/")) or z == "UTC")


def _office(
    ui: Ui, *, values: dict[str, Any] | None = None, field_errors: dict[str, str] | None = None, **kwargs: Any
) -> HTMLResponse:
    current = office.load(ui.conn)
    context = {
        "office": _office_form(values or current.model_dump()),
        "field_errors": field_errors or {},
        "zones": _ZONES,
        "can_rebuild": ui.user is not None and ui.user.can(auth.ADMINS),
        "rebuild_days": 7,
        "rebuild_max": REBUILD_MAX_DAYS,
    }
    return _tab(ui, "office", context, **kwargs)


@router.get("/settings/office", include_in_schema=False)
def office_tab(ui: StaffUi) -> HTMLResponse:
    return _office(ui)


def _parse_hours(text: str) -> list[list[str]]:
    """``09:00-13:00, 14:00-18:00`` as [["09:00", "13:00"], ...]; ValueError when malformed."""
    spans = []
    for part in re.split(r"\s*[,;]\s*", text.strip()):
        if not part:
            continue
        pieces = _SPAN_SPLIT.split(part)
        if len(pieces) != 2 or not all(_HHMM.match(p) for p in pieces):
            raise ValueError(part)
        start, end = (f"{int(p.split(':')[0]):02d}:{p.split(':')[1]}" for p in pieces)
        if start >= end:
            raise ValueError(part)
        spans.append([start, end])
    return spans


def _error_text(ui: Ui, error: Any) -> str:
    """A pydantic error as a message of the UI's language (its English text when none fits)."""
    ctx = error.get("ctx") or {}
    for bound in ("ge", "gt", "le", "lt"):
        if bound in ctx:
            limit = float(ctx[bound])
            digits = 0 if limit.is_integer() else 2
            return ui.t(f"settings.err.{bound}", limit=i18n.number(limit, ui.lang, digits))
    if error["type"].startswith("int_"):
        return ui.t("settings.err.int")
    if error["type"].startswith("float_"):
        return ui.t("settings.err.number")
    return str(error.get("msg", ""))


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "questions":
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@router.post("/settings/office", include_in_schema=False)
async def save_office(ui: StaffUi) -> Response:
    """The whole OfficeSettings from the form; each invalid field is marked, nothing is saved."""
    form = await ui.request.form()  # its fields are generated from the models: no fixed signature
    return await run_in_threadpool(_save_office, ui, form)


def _save_office(ui: Ui, form: FormData) -> Response:
    current = office.load(ui.conn)
    data = current.model_dump()
    errors: dict[str, str] = {}
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    data["timezone"] = text.get("timezone", "").strip()
    data["min_n"] = text.get("min_n", "").strip()
    data["main_question"] = text.get("main_question", data["main_question"])
    if data["main_question"] not in data["questions"]:
        errors["main_question"] = ui.t("settings.err.question")
    shown_hours: dict[str, str] = {}
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        shown_hours[day] = text.get(f"hours.{day}", "")
        try:
            hours[day] = _parse_hours(shown_hours[day])
        except ValueError:
            errors[f"hours.{day}"] = ui.t("settings.err.hours")
    data["opening_hours"] = hours
    for group, model, _ in _MODELS:
        for name, info in model.model_fields.items():
            key = f"{group}.{name}"
            if info.annotation is bool:
                data[group][name] = key in form
            else:
                data[group][name] = text.get(key, "").strip().replace(",", ".")
    settings = None
    try:
        settings = OfficeSettings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            key = ".".join(str(part) for part in error["loc"][:2])
            if key == "timezone":
                errors[key] = ui.t("settings.err.timezone")
            elif key.startswith("opening_hours"):
                errors.setdefault("hours.mon", ui.t("settings.err.hours"))
            else:
                errors.setdefault(key, _error_text(ui, error))
    if errors or settings is None:
        shown = {**data, "opening_hours": shown_hours}
        return _office(
            ui, values=shown, field_errors=errors, section="office",
            error=ui.t("settings.office_invalid"), status=422,
        )  # fmt: skip
    before, after = _flat(current.model_dump(mode="json")), _flat(settings.model_dump(mode="json"))
    changed = [f"{k}: {before.get(k)} → {v}" for k, v in after.items() if before.get(k) != v]
    office.save(ui.conn, settings)
    ui.audit("settings.office", "; ".join(changed) or "-")
    return redirect(ui, "/settings/office?done=office#office")


@router.post("/settings/office/rebuild", include_in_schema=False)
def rebuild(ui: AdminUi, days: FormStr = "") -> Response:
    """Attribute, flag and aggregate the presses of the last ``days`` local days again (admin only)."""
    if not days.strip().isdigit() or not 1 <= int(days) <= REBUILD_MAX_DAYS:
        return _office(
            ui, section="rebuild", error=ui.t("settings.rebuild_bad", max=REBUILD_MAX_DAYS), status=422
        )
    n = int(days)
    settings = office.load(ui.conn)
    now = auth.now_ms()
    first = settings.local(now).date() - timedelta(days=n - 1)
    lo, hi = settings.at(first, dtime(0)), aggregates.hour_of(now) + HOUR_MS
    changed = aggregates.rebuild(ui.conn, lo, hi)
    ui.audit("settings.rebuild", f"{n} day(s) from {first.isoformat()}: {changed} bucket(s) changed")
    return redirect(ui, f"/settings/office?done=rebuild&n={changed}#rebuild")


# after every other /settings/<section>/<id>/delete route (shifts'), which it would shadow

#: the sections whose items are deleted the same way: the scopes function, the item's name
_DELETE = {
    "departments": (scopes.delete_department, "department"),
    "windows": (scopes.delete_window, "window"),
    "operators": (scopes.delete_operator, "operator"),
}


@router.post("/settings/{section}/{key}/delete", include_in_schema=False)
def delete_item(ui: StaffUi, section: Literal["departments", "windows", "operators"], key: str) -> Response:
    """Delete a department, window or operator (refused while something still uses it)."""
    delete, name = _DELETE[section]
    try:
        delete(ui.conn, key)
    except ScopeError as exc:
        return _refused(ui, exc, section, {})
    ui.audit(f"settings.{name}.delete", key)
    return redirect(ui, f"/settings?done={name}_deleted#{section}")
