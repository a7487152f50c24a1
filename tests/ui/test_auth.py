"""Accounts in the browser and over HTTP: first run, sign-in, rate limiting, CSRF, roles, audit."""

from __future__ import annotations

import httpx

from edge_hub.api import auth
from tests.ui.conftest import add_cookies, form_token, shot, signed_in


def test_first_run_creates_the_admin_then_sign_in(fresh_site, page):
    page.goto(fresh_site.url + "/users")
    assert page.url.endswith("/setup"), "with no account every page leads to the first-run step"
    shot(page, "setup")
    page.fill("input[name=username]", "Boss")
    page.fill("input[name=password]", "short")
    page.fill("input[name=password2]", "short")
    page.evaluate(
        "document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))"
    )
    page.click("button[type=submit]")
    assert "8" in page.inner_text("#form-error"), "the minimum length is said"
    page.fill("input[name=password]", "long enough 1")
    page.fill("input[name=password2]", "long enough 1")
    page.click("button[type=submit]")
    page.wait_for_url(fresh_site.url + "/")
    assert page.inner_text(".user-menu summary") == "boss"
    # sign out, then in again
    page.click(".user-menu summary")
    page.click(".user-menu button[type=submit]")
    page.wait_for_url("**/login?out=1")
    assert page.is_visible("#form-notice")
    page.goto(fresh_site.url + "/setup")
    assert "/login" in page.url, "the first-run step is gone once an account exists"
    page.goto(fresh_site.url + "/users")
    page.wait_for_url("**/login?next=%2Fusers")
    shot(page, "login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "long enough 1")
    page.click("button[type=submit]")
    page.wait_for_url(fresh_site.url + "/users")
    assert page.is_visible("#users [data-username=boss]")


def test_wrong_password_then_rate_limited(site, admin, page):
    page.goto(site.url + "/login")
    for attempt in range(auth.LOGIN_MAX_FAILURES):
        page.fill("input[name=username]", "ghost")
        page.fill("input[name=password]", f"wrong password {attempt}")
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as info:
            page.click("button[type=submit]")
        assert info.value.status == 401
        assert "Неверное имя пользователя или пароль" in page.inner_text("#form-error")
    page.fill("input[name=password]", "whatever it is")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as info:
        page.click("button[type=submit]")
    assert info.value.status == 429
    assert int(info.value.headers["retry-after"]) > 0
    message = page.inner_text("#form-error")
    assert "Слишком много" in message and "Too many" in message, "the refusal is in both languages"
    shot(page, "login-rate-limited")
    # the limit is per user name and address: the admin still gets in
    with signed_in(site.url, *admin) as client:
        assert client.get("/").status_code == 200


def test_state_changing_requests_need_the_csrf_token(site, admin):
    with httpx.Client(base_url=site.url, timeout=10) as anonymous:
        token = form_token(anonymous, "/login")
        refused = anonymous.post("/login", data={"username": admin[0], "password": admin[1]})
        assert refused.status_code == 403
        forged = {"username": admin[0], "password": admin[1], "csrf": "x"}
        assert anonymous.post("/login", data=forged).status_code == 403
        ok = anonymous.post("/login", data={"username": admin[0], "password": admin[1], "csrf": token})
        assert ok.status_code == 303
    with signed_in(site.url, *admin) as client:
        form = {"username": "mallory", "role": "admin", "password": "12345678x", "password2": "12345678x"}
        assert client.post("/users", data=form).status_code == 403
        assert client.post("/users", data={**form, "csrf": "forged"}).status_code == 403
        assert client.post("/logout").status_code == 403
        # a foreign Origin is refused even with the token
        token = form_token(client, "/users")
        evil = client.post("/users", data={**form, "csrf": token}, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert "mallory" not in client.get("/users").text
        # the JSON API takes the session cookie too, and then wants the token in the header
        period = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
        assert client.post("/api/v1/metrics/rebuild", params=period).status_code == 403
        ok = client.post("/api/v1/metrics/rebuild", params=period, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200
    # once an account exists, a caller with neither a session nor a token is refused
    anonymous = httpx.post(site.url + "/api/v1/metrics/rebuild", params=period)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(site.url + "/api/v1/devices").status_code == 401
    with_token = httpx.post(site.url + "/api/v1/metrics/rebuild", params=period, headers=site.auth)
    assert with_token.status_code == 200


def test_admin_adds_a_technician_who_cannot_open_users(site, admin, admin_page, chromium):
    page = admin_page
    page.goto(site.url + "/users")
    page.fill("#add-user input[name=username]", "tech1")
    page.select_option("#add-user select[name=role]", "technician")
    page.fill("#add-user input[name=password]", "tech-pass-1")
    page.fill("#add-user input[name=password2]", "tech-pass-1")
    page.click("#add-user button[type=submit]")
    page.wait_for_url("**/users?done=created")
    assert page.is_visible("#users [data-username=tech1]")
    shot(page, "users")

    tech_ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        with signed_in(site.url, "tech1", "tech-pass-1") as client:
            add_cookies(tech_ctx, site.url, client)
        tech = tech_ctx.new_page()
        tech.goto(site.url + "/")
        nav = tech.inner_text("nav.main-nav")
        assert "Сводка" in nav and "Пользователи" not in nav and "Журнал" not in nav
        response = tech.goto(site.url + "/users")
        assert response.status == 403
        assert "Недостаточно прав" in tech.inner_text("main")
        shot(tech, "forbidden-technician")
        assert tech.goto(site.url + "/audit").status == 403
    finally:
        tech_ctx.close()

    # the admin disables the technician in place (htmx, CSRF in the header); the session ends
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("#users [data-username=tech1]")
    with page.expect_response(lambda r: "/disable" in r.url) as info:
        row.locator("button.danger").click()
    assert info.value.status == 200
    assert page.locator("#users [data-username=tech1] .state").inner_text() == "отключён"
    with httpx.Client(base_url=site.url, timeout=10) as client:
        token = form_token(client, "/login")
        refused = client.post("/login", data={"username": "tech1", "password": "tech-pass-1", "csrf": token})
        assert refused.status_code == 401

    page.goto(site.url + "/audit")
    actions = page.eval_on_selector_all("#audit tr[data-action]", "rows => rows.map(r => r.dataset.action)")
    assert {"setup", "login", "user.create", "user.disable"} <= set(actions)
    shot(page, "audit")
