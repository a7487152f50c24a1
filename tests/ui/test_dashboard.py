"""The dashboard and the TV board in the browser, against a hub fed with an office's month."""

from __future__ import annotations

import time
from itertools import count

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import DeviceClient, press
from tests.ui.conftest import add_cookies, shot, signed_in

XSS = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1>"
_seq = count(1)


def publish(site, device: str, value: int, **extra) -> dict:
    """One press from a device on the broker (a new boot, so it never repeats a seeded identity)."""
    body = press(device, boot=2, seq=next(_seq), ts=int(time.time() * 1000), value=value, **extra)
    client = DeviceClient(site.broker, device)
    try:
        client.send(body)
        client.wait_published(10)
    finally:
        client.close()
    return body


def _float(text: str) -> float | None:
    return float(text) if text else None


def test_dashboard_numbers_equal_the_api(site, admin_page):
    page = admin_page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(site.url + "/")
    assert page.inner_text("h1") == "Сводка"
    page.wait_for_selector("#trend-chart .uplot")
    shot(page, "dashboard")
    periods = page.eval_on_selector_all(
        "#scores thead th[data-period]",
        "ths => ths.map(th => [th.dataset.period, th.dataset.from, th.dataset.to])",
    )
    assert [p[0] for p in periods] == ["today", "week", "month"]
    cells = page.eval_on_selector_all(
        "#scores tbody td[data-period]",
        "tds => tds.map(td => [td.closest('tr').dataset.metric, td.dataset.period, td.dataset.value ?? null,"
        " td.dataset.n])",
    )
    shown = 0
    for period, lo, hi in periods:
        api = site.api("/api/v1/metrics/summary", **{"from": lo, "to": hi})
        for metric, p, value, n in cells:
            if p != period:
                continue
            if metric == "ratings":
                assert int(n) == api["ratings"]
            elif metric == "flagged":
                assert int(n) == api["flagged"]["total"]
            else:
                expected = api["metrics"][metric]
                assert _float(value) == expected["value"], (period, metric)
                assert int(n) == expected["n"], (period, metric)
                shown += value != ""
    assert shown >= 10, "the seeded month gives most metrics a value"
    assert page.locator("#scores .nodata").count() + shown == len(
        [c for c in cells if c[0] not in ("ratings", "flagged")]
    )

    # the trend chart's data is the API's time series
    chart = page.evaluate("JSON.parse(document.getElementById('trend-data').textContent)")
    month = site.api("/api/v1/metrics/summary", **{"from": periods[2][1], "to": periods[2][2]})
    assert month["ratings"] > 0
    days = page.eval_on_selector_all(
        "details table tbody tr td:first-child", "tds => tds.map(td => td.textContent)"
    )
    series = site.api(
        "/api/v1/metrics/timeseries", question="csat", step="day",
        **{"from": f"{days[0]}T00:00:00+03:00", "to": f"{days[-1]}T23:59:59+03:00"},
    )  # fmt: skip
    assert [p["value"] for p in series["points"]] == chart["value"]
    assert [p["n"] for p in series["points"]] == chart["n"]

    # the heat map counts the same negative ratings as the summary of its period
    heat = page.locator("#heatmap")
    cells_negative = page.eval_on_selector_all(
        "#heatmap td[data-negative]", "tds => tds.map(td => +td.dataset.negative)"
    )
    period = {"from": heat.get_attribute("data-from"), "to": heat.get_attribute("data-to")}
    assert sum(cells_negative) == site.api("/api/v1/metrics/summary", **period)["negative"] > 0

    foreign = [u for u in requested if not u.startswith(site.url)]
    assert not foreign, f"the page asked for something outside the hub: {foreign}"


def test_a_press_appears_without_reload_within_two_seconds(site, admin_page):
    page = admin_page
    page.goto(site.url + "/")
    page.wait_for_selector("#live.on")
    before = int(page.get_attribute("#scores tr[data-metric=ratings] td[data-period=today]", "data-n"))
    marker = page.evaluate("window.__marker = Math.random()")
    started = time.monotonic()
    body = publish(site, "btn-04", 2)
    page.wait_for_selector('#presses tr:has-text("btn-04")', timeout=2000)
    took = time.monotonic() - started
    assert took < 2.0
    today = page.locator("#scores tr[data-metric=ratings] td[data-period=today]")
    expect(today).to_have_attribute("data-n", str(before + 1), timeout=3000)  # the numbers follow
    assert page.evaluate("window.__marker") == marker, "the page was not reloaded"
    row = page.locator('#presses tr:has-text("btn-04")').first
    assert row.locator("b.v").inner_text() == str(body["value"])
    print(f"press on MQTT -> row on the page: {took * 1000:.0f} ms")


def test_a_visitor_comment_is_shown_as_text_never_run(site, admin_page):
    page = admin_page
    page.goto(site.url + "/")
    page.wait_for_selector("#live.on")
    publish(site, "btn-05", 1, comment=XSS)
    row = page.wait_for_selector('#presses tr:has-text("btn-05")', timeout=3000)
    assert row.query_selector("td.comment").inner_text() == XSS
    assert row.query_selector("script, img") is None
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.reload()  # the server-rendered path too
    comment = page.locator('#presses tr:has-text("btn-05") td.comment').first
    assert comment.inner_text() == XSS
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.locator("#presses script, #presses img").count() == 0


def test_language_switch(site, admin_page):
    page = admin_page
    page.goto(site.url + "/")
    assert page.inner_text("h1") == "Сводка" and page.get_attribute("html", "lang") == "ru"
    page.click("a.lang")
    page.wait_for_url("**/?lang=en")
    assert page.inner_text("h1") == "Dashboard" and page.get_attribute("html", "lang") == "en"
    assert "Today" in page.inner_text("#scores thead")
    page.wait_for_selector("#trend-chart .uplot")
    shot(page, "dashboard-en")
    page.goto(site.url + "/users")  # the choice is kept in a cookie
    assert page.inner_text("h1") == "Users"
    page.click("a.lang")
    assert page.inner_text("h1") == "Пользователи"


def test_board_by_link_without_an_account(site, admin, chromium):
    with signed_in(site.url, *admin) as client:
        link = client.get("/users").text.split('id="board-link" href="', 1)[1].split('"', 1)[0]
    assert link.startswith(site.url + "/board?token=")
    ctx = chromium.new_context(viewport={"width": 1920, "height": 1080})
    try:
        tv = ctx.new_page()
        tv.goto(link)
        tv.wait_for_selector("#live.on")
        assert tv.locator(".main-nav").count() == 0, "no nav on the TV"
        assert tv.locator("#league tbody tr").count() == 3
        names = tv.locator("#league tbody").inner_text()
        assert "Анна Петрова" in names and "Вера Смирнова" in names
        ratings = tv.locator(".tile[data-metric=ratings]")
        before = int(ratings.get_attribute("data-value"))
        tiles = tv.locator(".tiles")
        period = {"from": tiles.get_attribute("data-from"), "to": tiles.get_attribute("data-to")}
        today = site.api("/api/v1/metrics/summary", **period)
        assert before == today["ratings"]
        assert tv.locator(".tile[data-metric=csat]").get_attribute("data-value") == _attr(
            today["metrics"]["csat"]["value"]
        )
        shot(tv, "board")
        publish(site, "btn-06", 5)
        expect(ratings).to_have_attribute("data-value", str(before + 1), timeout=3000)
        assert "comment" not in tv.content()
        # a wrong token opens nothing; no token and no session means signing in
        assert tv.goto(site.url + "/board?token=nope").status == 403
        tv.goto(site.url + "/board")
        assert "/login" in tv.url
        assert httpx.get(site.url + "/ui/stream?view=dashboard").status_code == 401
    finally:
        ctx.close()


def _attr(value: float | None) -> str:
    return "" if value is None else repr(value)


@pytest.mark.parametrize("path", ["/", "/users", "/board"])
def test_pages_fit_a_phone(site, admin, chromium, path):
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        with signed_in(site.url, *admin) as client:
            add_cookies(ctx, site.url, client)
        phone = ctx.new_page()
        phone.goto(site.url + path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow} px"
        shot(phone, "phone" + (path.replace("/", "-") if path != "/" else "-dashboard"))
    finally:
        ctx.close()
