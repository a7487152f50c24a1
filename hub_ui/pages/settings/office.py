"""The office tab (``/settings/office``): :class:`edge_hub.office.settings.OfficeSettings` as one
form (time zone, min_n, main question, opening hours per weekday, and the trust rules and alert
thresholds, whose fields :mod:`hub_ui.forms` generates from the pydantic models), and "recompute
the last N days" (admin only)."""

from __future__ import annotations

from datetime import time as dtime
from datetime import timedelta
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from edge_hub.api import auth
from edge_hub.metrics import aggregates
from edge_hub.metrics.aggregates import HOUR_MS
from edge_hub.office import settings as office_settings
from edge_hub.office.settings import WEEKDAYS, OfficeSettings
from hub_ui import forms
from hub_ui.core import Ui, redirect
from hub_ui.pages.settings.tabs import AdminUi, FormStr, StaffUi, tab

router = APIRouter()

REBUILD_MAX_DAYS = 400
#: the OfficeSettings fields that are models (the trust rules, the alert thresholds): a fieldset
#: each, its inputs named ``<group>.<field>``, labelled ``settings.<group>.<field>``
GROUPS = forms.sub_models(OfficeSettings)
_ZONES = sorted(z for z in available_timezones() if z.startswith(("Europe/", "Asia/")) or z == "UTC")


def _hours_value(spans: str | list[tuple[str, str]]) -> str:
    """A weekday's input: the spans as text, or the text submitted (when the form was invalid)."""
    return spans if isinstance(spans, str) else office_settings.hours_text(spans)


def _office_form(values: dict[str, Any]) -> dict[str, Any]:
    """The form's model: ``values`` is an OfficeSettings dump, or the submitted (invalid) form."""
    return {
        "timezone": values["timezone"],
        "min_n": values["min_n"],
        "phone_keep_days": values["phone_keep_days"],
        "main_question": values["main_question"],
        "questions": list(values["questions"]),
        "hours": [{"day": d, "value": _hours_value(values["opening_hours"].get(d, []))} for d in WEEKDAYS],
        "groups": [
            {"key": group, "fields": forms.fields(model, values[group], prefix=group, labels="settings")}
            for group, model in GROUPS
        ],
    }


def _office(
    ui: Ui, *, values: dict[str, Any] | None = None, field_errors: dict[str, str] | None = None, **kwargs: Any
) -> HTMLResponse:
    current = office_settings.load(ui.conn)
    context = {
        "office": _office_form(values or current.model_dump()),
        "field_errors": field_errors or {},
        "zones": _ZONES,
        "can_rebuild": ui.user is not None and ui.user.can(auth.ADMINS),
        "rebuild_days": 7,
        "rebuild_max": REBUILD_MAX_DAYS,
    }
    return tab(ui, "office", context, **kwargs)


@router.get("/settings/office", include_in_schema=False)
def office_tab(ui: StaffUi) -> HTMLResponse:
    return _office(ui)


@router.post("/settings/office", include_in_schema=False)
async def save_office(ui: StaffUi) -> Response:
    """The whole OfficeSettings from the form; each invalid field is marked, nothing is saved."""
    form = await ui.request.form()  # its fields are generated from the models: no fixed signature
    return await run_in_threadpool(_save_office, ui, form)


def _save_office(ui: Ui, form: FormData) -> Response:
    current = office_settings.load(ui.conn)
    data = current.model_dump()
    errors: dict[str, str] = {}
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    data["timezone"] = text.get("timezone", "").strip()
    data["min_n"] = text.get("min_n", "").strip()
    data["phone_keep_days"] = text.get("phone_keep_days", str(data["phone_keep_days"])).strip()
    data["main_question"] = text.get("main_question", data["main_question"])
    if data["main_question"] not in data["questions"]:
        errors["main_question"] = ui.t("settings.err.question")
    shown_hours: dict[str, str] = {}
    hours: dict[str, list[tuple[str, str]]] = {}
    for day in WEEKDAYS:
        shown_hours[day] = text.get(f"hours.{day}", "")
        try:
            hours[day] = office_settings.parse_hours(day, shown_hours[day])
        except ValueError:
            errors[f"hours.{day}"] = ui.t("settings.err.hours")
    data["opening_hours"] = hours
    for group, model in GROUPS:
        data[group] |= forms.read(model, form, prefix=group)
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
                errors.setdefault(key, forms.error_text(error, ui.t, ui.lang, keys="settings.err"))
    if errors or settings is None:
        shown = {**data, "opening_hours": shown_hours}
        return _office(
            ui, values=shown, field_errors=errors, section="office",
            error=ui.t("settings.office_invalid"), status=422,
        )  # fmt: skip
    changed = forms.changes(
        current.model_dump(mode="json"), settings.model_dump(mode="json"), whole=("questions",)
    )
    office_settings.save(ui.conn, settings)
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
    settings = office_settings.load(ui.conn)
    now = auth.now_ms()
    first = settings.local(now).date() - timedelta(days=n - 1)
    lo, hi = settings.at(first, dtime(0)), aggregates.hour_of(now) + HOUR_MS
    changed = aggregates.rebuild(ui.conn, lo, hi)
    ui.audit("settings.rebuild", f"{n} day(s) from {first.isoformat()}: {changed} bucket(s) changed")
    return redirect(ui, f"/settings/office?done=rebuild&n={changed}#rebuild")
