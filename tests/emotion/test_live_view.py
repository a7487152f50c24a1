"""The admin live view answers only to its token, and stays on loopback unless a token was set."""

from __future__ import annotations

import logging

import httpx
import numpy as np
import pytest

from emotion_model.monitor.liveview import LiveView

LIVE_VIEW_TOKEN_ENV = "OTK_LIVE_VIEW_TOKEN"  # the documented name, an interface of its own
TOKEN = "s3cret-live-view-token"
PATHS = ("/", "/frame.jpg", "/stream.mjpg")


@pytest.fixture
def view(monkeypatch):
    monkeypatch.setenv(LIVE_VIEW_TOKEN_ENV, TOKEN)
    live = LiveView().start()
    live.update(np.full((120, 160, 3), 90, np.uint8), [], np.zeros((0, 7)), ["neutral"] * 7)
    yield live
    live.stop()


def base(view: LiveView) -> str:
    return f"http://{view.host}:{view.port}"


def test_binds_to_loopback_by_default(view):
    assert view.host == "127.0.0.1"


def fetch(url: str, **kwargs) -> tuple[int, dict, str]:
    """Status, headers and (for a non-stream) text, without reading an endless MJPEG stream."""
    with httpx.stream("GET", url, timeout=5, **kwargs) as reply:
        streaming = reply.headers.get("content-type", "").startswith("multipart/")
        text = "" if streaming else reply.read().decode("utf-8", "replace")
        return reply.status_code, dict(reply.headers), text


@pytest.mark.parametrize("path", PATHS)
def test_no_token_or_a_wrong_one_gets_401(view, path):
    url = base(view) + path
    cookie = f"otk_live_view_{view.port}"
    for attempt in (
        {},
        {"params": {"token": "wrong"}},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"headers": {"Authorization": f"Basic {TOKEN}"}},
        {"headers": {"Cookie": f"{cookie}={TOKEN}"}},  # the token is not the cookie's value
        {"headers": {"Cookie": f"{cookie}=wrong"}},
    ):
        status, headers, text = fetch(url, **attempt)
        assert status == 401, attempt
        assert "token" in text and "токен" in text
        assert headers["www-authenticate"].startswith("Bearer")
        assert "set-cookie" not in headers


def test_bearer_token_opens_every_path(view):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = httpx.get(base(view) + "/", headers=auth, timeout=5)
    assert page.status_code == 200 and "set-cookie" not in page.headers
    frame = httpx.get(base(view) + "/frame.jpg", headers=auth, timeout=5)
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    status, headers, _ = fetch(base(view) + "/stream.mjpg", headers=auth)
    assert status == 200 and headers["content-type"].startswith("multipart/x-mixed-replace")


def test_the_query_token_opens_the_page_and_sets_a_strict_httponly_cookie(view):
    with httpx.Client(base_url=base(view), timeout=5) as browser:
        # the token in the query is taken on the page only
        assert browser.get("/frame.jpg", params={"token": TOKEN}).status_code == 401
        page = browser.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "stream.mjpg" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{view.cookie_name}=")
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert TOKEN not in cookie  # a value derived from the token, not the token
        # the picture the page shows comes with the cookie alone
        assert browser.get("/frame.jpg").status_code == 200
        assert browser.get("/").status_code == 200
    assert httpx.get(base(view) + "/frame.jpg", timeout=5).status_code == 401  # without it: no


def test_a_token_given_as_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(LIVE_VIEW_TOKEN_ENV, "from-the-environment")
    view = LiveView(token=TOKEN).start()
    try:
        assert view.token_configured and view.token == TOKEN
        assert (
            httpx.get(base(view) + "/", params={"token": "from-the-environment"}, timeout=5).status_code
            == 401
        )
        assert httpx.get(base(view) + "/", params={"token": TOKEN}, timeout=5).status_code == 200
    finally:
        view.stop()


def test_without_a_token_one_is_made_and_logged_once(monkeypatch, caplog):
    monkeypatch.delenv(LIVE_VIEW_TOKEN_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="emotion_model.monitor.liveview"):
        view = LiveView().start()
    try:
        assert not view.token_configured and len(view.token) >= 24
        other = LiveView()
        assert other.token != view.token  # random each time
        other.stop()
        shown = [r.getMessage() for r in caplog.records if view.token in r.getMessage()]
        assert len(shown) == 1 and view.url in shown[0]
        assert httpx.get(view.url, timeout=5).status_code == 200
        assert httpx.get(base(view) + "/", timeout=5).status_code == 401
    finally:
        view.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "", "192.0.2.10"])
def test_a_network_address_is_refused_without_a_configured_token(monkeypatch, host):
    monkeypatch.delenv(LIVE_VIEW_TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match=LIVE_VIEW_TOKEN_ENV):
        LiveView(host, 0)


def test_a_network_address_is_allowed_with_a_configured_token(monkeypatch):
    monkeypatch.delenv(LIVE_VIEW_TOKEN_ENV, raising=False)
    view = LiveView("0.0.0.0", 0, token=TOKEN).start()
    try:
        url = f"http://127.0.0.1:{view.port}/"
        assert httpx.get(url, timeout=5).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200
    finally:
        view.stop()
    monkeypatch.setenv(LIVE_VIEW_TOKEN_ENV, TOKEN)
    LiveView("0.0.0.0", 0).stop()  # the environment's token counts as configured
