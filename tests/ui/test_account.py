"""One's own password (/account): the current one first, the other sessions end, rate limited."""

from __future__ import annotations

import httpx

from edge_hub.api import auth
from tests.ui.conftest import add_cookies, form_token, shot, signed_in


def _add_user(site, admin, username: str, password: str) -> None:
    """A user of their own for the test: the shared admin's password never changes."""
    with signed_in(site.url, *admin) as client:
        token = form_token(client, "/users")
        form = {"username": username, "role": "manager", "password": password, "password2": password}
        response = client.post("/users", data={**form, "csrf": token})
        assert response.status_code == 303, response.text[-500:]


def _can_sign_in(site, username: str, password: str) -> bool:
    with httpx.Client(base_url=site.url, timeout=10) as client:
        token = form_token(client, "/login")
        response = client.post("/login", data={"username": username, "password": password, "csrf": token})
        assert response.status_code in (303, 401), response.status_code
        return response.status_code == 303


def test_change_own_password(site, admin):
    old, new = "old-password-1", "new-password-2"
    _add_user(site, admin, "selfpw", old)
    with signed_in(site.url, "selfpw", old) as me, signed_in(site.url, "selfpw", old) as elsewhere:
        assert elsewhere.get("/account").status_code == 200
        token = form_token(me, "/account")
        form = {"current": "not my password", "password": new, "password2": new, "csrf": token}
        assert me.post("/account", data={**form, "csrf": "forged"}).status_code == 403
        wrong = me.post("/account", data=form)
        assert wrong.status_code == 400 and "Текущий пароль неверен" in wrong.text
        short = me.post("/account", data={**form, "current": old, "password": "short", "password2": "short"})
        assert short.status_code == 400 and str(auth.MIN_PASSWORD) in short.text
        assert _can_sign_in(site, "selfpw", old), "nothing changed yet"

        done = me.post("/account", data={**form, "current": old})
        assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
        page = me.get(done.headers["location"])
        assert page.status_code == 200, "this session stays"
        assert 'id="form-notice"' in page.text and "Пароль изменён" in page.text
        gone = elsewhere.get("/account")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login"), "the other ends"

        assert not _can_sign_in(site, "selfpw", old)
        assert _can_sign_in(site, "selfpw", new)

        # wrong current passwords count as failed sign-ins: at the limit even the right one is refused
        token = form_token(me, "/account")
        again = {"current": "guess", "password": old, "password2": old, "csrf": token}
        for _ in range(auth.LOGIN_MAX_FAILURES):
            assert me.post("/account", data=again).status_code == 400
        blocked = me.post("/account", data={**again, "current": new})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many" in blocked.text
    with signed_in(site.url, *admin) as client:
        log = client.get("/audit").text
        assert 'data-action="user.password.self"' in log and "пароль сменён самим пользователем" in log


def test_account_page_in_the_browser(site, admin, context, page):
    _add_user(site, admin, "selfpw2", "browser-pass-1")
    with signed_in(site.url, "selfpw2", "browser-pass-1") as client:
        add_cookies(context, site.url, client)
    page.goto(site.url + "/")
    assert "/account" not in page.inner_text("nav.main-nav"), "not in the main nav"
    page.click(".user-menu summary")
    page.click(".user-menu a[href='/account']")
    page.wait_for_url(site.url + "/account")
    page.fill("#change-password input[name=current]", "browser-pass-1")
    page.fill("#change-password input[name=password]", "browser-pass-2")
    page.fill("#change-password input[name=password2]", "browser-pass-2")
    page.click("#change-password button[type=submit]")
    page.wait_for_url("**/account?done=password")
    assert page.is_visible("#form-notice")
    shot(page, "account")
    assert _can_sign_in(site, "selfpw2", "browser-pass-2")
