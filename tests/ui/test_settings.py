"""The settings page in the browser, against the shared hub of conftest.py: departments, windows,
operators, a device moved to a window, shifts (one by hand, a CSV with a bad line, then a good
one), served clients, the office settings (persisted, refused field by field), roles, escaping."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import DeviceClient, press, wait_until
from tests.ui.conftest import add_cookies, form_token, shot, signed_in

XSS = "<script>window.pwned=1</script>"
AUDIT_ACTIONS = "rows => rows.map(r => r.dataset.action)"
DEVICE = "btn-09"  # a console the seeded office does not have: its one press is ours


def _office_day(site) -> tuple[date, ZoneInfo]:
    zone = ZoneInfo(site.api("/api/v1/settings")["timezone"])
    return datetime.now(zone).date(), zone


def _midnight(day: date, zone: ZoneInfo) -> str:
    return datetime.combine(day, dtime(0), zone).isoformat()


def _today_summary(site, **scope) -> dict:
    day, zone = _office_day(site)
    period = {"from": _midnight(day, zone), "to": _midnight(day + timedelta(days=1), zone)}
    return site.api("/api/v1/metrics/summary", **period, **scope)


def _submit(page, form: str, url: str) -> None:
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(url)


def _csv(page, content: bytes) -> None:
    page.set_input_files("#import-shifts input[type=file]", {
        "name": "shifts.csv", "mimeType": "text/csv", "buffer": content,
    })  # fmt: skip
    page.click("#import-shifts button[type=submit]")
    page.wait_for_load_state()


def test_windows_operators_devices_shifts_and_csv(site, admin_page):
    page = admin_page
    page.on("dialog", lambda dialog: dialog.accept())
    # a console with a press but no window yet: it shows in the device list
    client = DeviceClient(site.broker, DEVICE)
    try:
        client.send(press(DEVICE, boot=3, seq=1, ts=int(time.time() * 1000), value=5))
        client.wait_published(10)
    finally:
        client.close()
    wait_until(lambda: _today_summary(site, device=DEVICE)["ratings"] == 1, 10, "the press to be stored")

    page.goto(site.url + "/settings")
    assert page.inner_text("h1") == "Настройки офиса"
    page.fill("#add-window input[name=id]", "w9")
    page.fill("#add-window input[name=name]", "Окно 9")
    page.select_option("#add-window select[name=department]", "d1")
    _submit(page, "#add-window", "**/settings?done=window#windows")
    assert page.is_visible("#form-notice")
    assert page.locator("#window-list tr[data-id=w9] input[name=name]").input_value() == "Окно 9"
    page.fill("#add-operator input[name=id]", "op-9")
    page.fill("#add-operator input[name=name]", "Дарья Кузнецова")
    _submit(page, "#add-operator", "**/settings?done=operator#operators")
    # rename in place
    page.fill("#operator-list tr[data-id=op-9] input[name=name]", "Дарья Кузнецова-Белова")
    _submit(page, "#operator-list tr[data-id=op-9] form:not([data-confirm])", "**/settings?done=operator*")
    assert {"id": "op-9", "name": "Дарья Кузнецова-Белова"} in site.api("/api/v1/operators")
    # a refusal says why, in both languages, in its section
    page.click("#department-list tr[data-id=d1] button.danger")
    message = page.inner_text("#departments #form-error")
    assert "in use" in message and "используется" in message
    # put the console on w9: its stored press moves there (re-credited as the API does)
    page.select_option(f"#device-list tr[data-device={DEVICE}] select[name=window]", "w9")
    _submit(page, f"#device-list tr[data-device={DEVICE}] form", "**/settings?done=device#devices")
    assert site.api("/api/v1/windows/w9")["devices"] == [DEVICE]
    assert _today_summary(site, window="w9")["ratings"] == 1
    shot(page, "settings")

    # a shift from datetime-local inputs in office time: the press is credited to the operator
    day, zone = _office_day(site)
    page.goto(site.url + "/settings/shifts")
    page.select_option("#add-shift select[name=operator]", "op-9")
    page.select_option("#add-shift select[name=window]", "w9")
    page.fill("#add-shift input[name=start]", f"{day.isoformat()}T00:00")
    page.fill("#add-shift input[name=end]", f"{(day + timedelta(days=1)).isoformat()}T00:00")
    _submit(page, "#add-shift", "**/settings/shifts?done=shift#shift-add")
    shifts = site.api("/api/v1/shifts", window="w9")
    assert len(shifts) == 1 and shifts[0]["start"] == _midnight(day, zone)
    assert page.locator("#shift-list tr[data-window=w9]").count() == 1
    assert _today_summary(site, operator="op-9")["ratings"] == 1
    # an overlapping one is refused with the reason
    page.select_option("#add-shift select[name=operator]", "op-9")
    page.select_option("#add-shift select[name=window]", "w9")
    page.fill("#add-shift input[name=start]", f"{day.isoformat()}T10:00")
    page.fill("#add-shift input[name=end]", f"{day.isoformat()}T11:00")
    page.click("#add-shift button[type=submit]")
    assert "overlaps" in page.inner_text("#shift-add #form-error")

    # a CSV with bad lines: each listed with its number, nothing imported
    later = day + timedelta(days=3)
    bad = (
        "operator,window,start,end\n"
        f"op-9,w9,{later} 09:00,{later} 13:00\n"
        f"ghost,w9,{later} 13:00,{later} 18:00\n"
        f"op-9,w9,{later} 14:00,tomorrow\n"
    ).encode()
    _csv(page, bad)
    errors = page.eval_on_selector_all("#import-errors li", "lis => lis.map(li => +li.dataset.line)")
    assert errors == [3, 4], errors
    assert "ghost" in page.inner_text("#import-errors")
    assert len(site.api("/api/v1/shifts", window="w9")) == 1, "nothing was imported"
    shot(page, "settings-shifts-csv-errors")
    # the good one: Excel in a Russian locale (';', Windows-1251, Russian header, dd.mm.yyyy)
    good = (
        "оператор;окно;начало;конец;комментарий\n"
        f"op-9;w9;{later:%d.%m.%Y} 09:00;{later:%d.%m.%Y} 13:00;утро\n"
        f"op-9;w9;{later:%d.%m.%Y} 14:00;{later:%d.%m.%Y} 18:00;вечер\n"
    ).encode("cp1251")
    _csv(page, good)
    page.wait_for_url("**/settings/shifts?done=import*")
    assert "2" in page.inner_text("#import #form-notice")
    assert len(site.api("/api/v1/shifts", window="w9")) == 3
    # delete one
    page.goto(site.url + f"/settings/shifts?from={day}&to={later}")
    rows = page.locator("#shift-list tr[data-window=w9]")
    assert rows.count() == 3
    rows.last.locator("button.danger").click()
    page.wait_for_url("**/settings/shifts?done=shift_deleted#shifts")
    assert len(site.api("/api/v1/shifts", window="w9")) == 2

    # served clients for a day
    page.fill("#put-served input[name=count]", "42")
    page.select_option("#put-served select[name=window]", "w9")
    _submit(page, "#put-served", "**/settings/shifts?done=served#served")
    served = site.api("/api/v1/served", window="w9", **{"from": day.isoformat(), "to": day.isoformat()})
    assert served == [{"day": day.isoformat(), "window": "w9", "count": 42, "source": "manual"}]
    assert page.locator(f"#served-list tr[data-day='{day}'][data-window=w9]").count() == 1
    shot(page, "settings-shifts")

    page.goto(site.url + "/audit")
    actions = set(
        page.eval_on_selector_all("#audit tr[data-action]", "rows => rows.map(r => r.dataset.action)")
    )
    assert {
        "settings.window.put", "settings.operator.put", "settings.device.window", "settings.shift.add",
        "settings.shift.import", "settings.shift.delete", "settings.served",
    } <= actions  # fmt: skip


def test_office_settings_are_saved_and_refused_field_by_field(site, admin_page):
    page = admin_page
    original = site.api("/api/v1/settings")
    try:
        page.goto(site.url + "/settings/office")
        assert page.is_visible("#from-now-on")
        assert page.locator("input[name='trust.burst_max']").input_value() == str(
            original["trust"]["burst_max"]
        )
        page.fill("input[name='hours.sat']", "10:00-16:00")
        page.fill("input[name='hours.mon']", "09:00-13:00, 14:00-18:00")
        page.fill("input[name='alerts.silent_minutes']", "45")
        page.fill("input[name='phone_keep_days']", "14")
        _submit(page, "#office-form", "**/settings/office?done=office#office")
        saved = site.api("/api/v1/settings")
        assert saved["phone_keep_days"] == 14
        assert saved["opening_hours"]["sat"] == [["10:00", "16:00"]]
        assert saved["opening_hours"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
        assert saved["alerts"]["silent_minutes"] == 45
        assert saved["trust"] == original["trust"], "the unchecked boxes stay as they were"
        assert page.locator("input[name='hours.sat']").input_value() == "10:00-16:00"
        shot(page, "settings-office")

        # invalid values: each field says what is wrong, nothing is saved
        page.evaluate("document.getElementById('office-form').noValidate = true")
        page.fill("input[name='trust.burst_max']", "1")
        page.fill("input[name='hours.sun']", "25:00-26:00")
        page.fill("input[name='timezone']", "Mars/Olympus")
        page.fill("input[name='phone_keep_days']", "0")
        page.click("#office-form button[type=submit]")
        assert page.is_visible("[data-field=phone_keep_days] .field-error")
        assert "Не меньше 2" in page.inner_text("[data-field='trust.burst_max'] .field-error")
        assert page.is_visible("[data-field='hours.sun'] .field-error")
        assert page.is_visible("[data-field=timezone] .field-error")
        assert page.locator("[data-field='hours.sat'] .field-error").count() == 0
        assert page.locator("input[name='hours.sun']").input_value() == "25:00-26:00", "the input is kept"
        assert site.api("/api/v1/settings") == saved
        shot(page, "settings-office-invalid")

        # recompute the last days (admin)
        page.goto(site.url + "/settings/office")
        page.fill("#rebuild-form input[name=days]", "3")
        _submit(page, "#rebuild-form", "**/settings/office?done=rebuild*")
        assert page.is_visible("#rebuild #form-notice")
        page.goto(site.url + "/audit")
        actions = page.eval_on_selector_all(
            "#audit tr[data-action]", "rows => rows.map(r => r.dataset.action)"
        )
        assert {"settings.office", "settings.rebuild"} <= set(actions)
    finally:
        restored = httpx.put(site.url + "/api/v1/settings", json=original, headers=site.auth, timeout=10)
        restored.raise_for_status()


def test_names_are_escaped(site, admin_page):
    page = admin_page
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(site.url + "/settings")
    page.fill("#add-window input[name=id]", "wx")
    page.fill("#add-window input[name=name]", XSS)
    _submit(page, "#add-window", "**/settings?done=window#windows")
    assert page.locator("#window-list tr[data-id=wx] input[name=name]").input_value() == XSS
    for path, option in (("/settings", "wx"), ("/settings/shifts", "wx"), ("/export", "window:wx")):
        page.goto(site.url + path)
        assert page.locator(f"option[value='{option}']").first.text_content() == f"{XSS} (wx)"
        assert page.locator("main script").count() == 0
        assert page.evaluate("typeof window.pwned") == "undefined"
    page.goto(site.url + "/settings")
    page.click("#window-list tr[data-id=wx] button.danger")
    page.wait_for_url("**/settings?done=window_deleted#windows")
    assert page.locator("#window-list tr[data-id=wx]").count() == 0


def test_roles(site, admin):
    with signed_in(site.url, *admin) as client:
        token = form_token(client, "/users")
        for name, role in (("tech-s", "technician"), ("manager-s", "manager")):
            form = {"username": name, "role": role, "password": "pass-word-1", "password2": "pass-word-1"}
            assert client.post("/users", data={**form, "csrf": token}).status_code == 303
    with signed_in(site.url, "tech-s", "pass-word-1") as tech:
        for path in ("/settings", "/settings/shifts", "/settings/office", "/export", "/export/file"):
            assert tech.get(path).status_code == 403, path
        token = form_token(tech, "/")
        refused = tech.post(
            "/settings/windows", data={"id": "wt", "department": "d1", "name": "T", "csrf": token}
        )
        assert refused.status_code == 403
    with signed_in(site.url, "manager-s", "pass-word-1") as manager:
        page = manager.get("/settings/office")
        assert page.status_code == 200 and 'id="rebuild-form"' not in page.text
        token = form_token(manager, "/settings/office")
        assert manager.post("/settings/office/rebuild", data={"days": "1", "csrf": token}).status_code == 403
        assert "nav.settings" not in manager.get("/").text and 'href="/settings"' in manager.get("/").text


@pytest.mark.parametrize("path", ["/settings", "/settings/shifts", "/settings/office", "/export"])
def test_settings_pages_fit_a_phone(site, admin, chromium, path):
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        with signed_in(site.url, *admin) as client:
            add_cookies(ctx, site.url, client)
        phone = ctx.new_page()
        phone.goto(site.url + path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow} px"
        shot(phone, "phone" + path.replace("/", "-"))
    finally:
        ctx.close()
