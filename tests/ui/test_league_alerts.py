"""The league, an operator's page and the alerts in the browser, against the shared hub of conftest.py:
the league's order and bounds equal /api/v1/metrics/executors, the operator's numbers equal the
API's summary with that operator's scope, and a critic's alert appears live, is acknowledged and
resolved with a comment in the browser (the API then shows who and what). A technician sees the
devices but not the alerts; every page fits a phone."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import DeviceClient, press, wait_until
from tests.ui.conftest import add_cookies, form_token, shot, signed_in

XSS = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1> Нахамили в окне"
CRITIC_DEVICE = "btn-07"  # a console on no window, so its press is trusted (nobody's shift to miss)
TECH = ("tech-2", "tech-pass-2")


def _float(text: str | None) -> float | None:
    return float(text) if text else None


def _span(page) -> dict[str, str]:
    """The period the page shows, as the API's from/to."""
    period = page.locator("#period")
    return {"from": period.get_attribute("data-from"), "to": period.get_attribute("data-to")}


def _league_rows(page, by: str) -> list[dict]:
    return page.eval_on_selector_all(
        f"#league-{by} tbody tr",
        "trs => trs.map(tr => ({id: tr.dataset.id, rank: tr.dataset.rank, n: +tr.dataset.n,"
        " bound: tr.dataset.lowerBound, unranked: tr.classList.contains('unranked')}))",
    )


def test_league_order_equals_the_api_and_the_operator_page(site, admin_page):
    page = admin_page
    page.goto(site.url + "/league?period=month")
    assert page.inner_text("h1") == "Окна и операторы"
    span = _span(page)
    for by in ("operator", "window"):
        shown = _league_rows(page, by)
        api = site.api("/api/v1/metrics/executors", by=by, **span)
        assert [r["id"] for r in shown] == [r["id"] for r in api] and len(api) >= 3, by
        for row, expected in zip(shown, api, strict=True):
            assert _float(row["bound"]) == expected["lower_bound"] and row["n"] == expected["n"]
            assert row["rank"] == ("" if expected["rank"] is None else str(expected["rank"]))
            assert row["unranked"] == (expected["rank"] is None)
        ranked = [r["unranked"] for r in shown]
        assert ranked == sorted(ranked), "rows without enough data come last"
    shot(page, "league")

    # a short custom period: the same comparison; bad dates fall back to this month with a note
    page.goto(site.url + "/league?period=custom&from=2020-01-01&to=2020-01-03")
    assert page.locator("#league-operator").count() == 0 and page.locator("#period-error").count() == 0
    page.goto(site.url + "/league?period=custom&from=2020-13-01&to=x")
    assert page.locator("#period").get_attribute("data-period") == "month"
    assert page.is_visible("#period-error")

    # the best operator's page: the numbers are the API's summary with that operator's scope
    page.goto(site.url + "/league?period=month")
    first = page.locator("#league-operator tbody tr").first
    operator = first.get_attribute("data-id")
    first.locator("a").click()
    page.wait_for_url(f"**/operators/{operator}?period=month")
    page.wait_for_selector("#trend-chart .uplot")
    assert page.get_attribute("h1", "data-operator") == operator
    span = _span(page)
    api = site.api("/api/v1/metrics/summary", operator=operator, **span)
    cells = page.eval_on_selector_all(
        "#op-scores tr[data-metric]",
        "trs => trs.map(tr => [tr.dataset.metric, tr.querySelector('td').dataset.value ?? null,"
        " +tr.querySelector('td').dataset.n])",
    )
    assert {"csat", "nps", "ratings", "flagged", "emotional_nps"} <= {c[0] for c in cells}
    for metric, value, n in cells:
        if metric == "ratings":
            assert n == api["ratings"] > 0
        elif metric == "flagged":
            assert n == api["flagged"]["total"]
        else:
            expected = api["metrics"][metric]
            assert (_float(value), n) == (expected["value"], expected["n"]), metric
    chart = page.evaluate("JSON.parse(document.getElementById('trend-data').textContent)")
    series = site.api("/api/v1/metrics/timeseries", question="csat", step="day", operator=operator, **span)
    assert chart["value"] == [p["value"] for p in series["points"]]
    assert chart["n"] == [p["n"] for p in series["points"]]
    assert page.locator("#shifts tbody tr").count() >= 1
    shot(page, "operator")
    assert page.goto(site.url + "/operators/nobody").status == 404


def _critic_press(site, marker: str) -> None:
    body = press(
        CRITIC_DEVICE, boot=7, seq=int(time.time()) % 100_000, ts=int(time.time() * 1000), value=1,
        comment=f"{XSS} {marker}", callback=True,
    )  # fmt: skip
    client = DeviceClient(site.broker, CRITIC_DEVICE)
    try:
        client.send(body)
        client.wait_acked({(body["boot"], body["seq"])}, timeout=10)
    finally:
        client.close()


def _critic_alert(site, marker: str) -> dict | None:
    found = [a for a in site.api("/api/v1/alerts", kind="critic") if marker in (a["detail"]["comment"] or "")]
    return found[0] if found else None


def test_a_critic_alert_appears_live_then_is_acknowledged_and_resolved(site, admin, admin_page):
    page = admin_page
    page.goto(site.url + "/alerts")
    assert page.inner_text("h1") == "Оповещения"
    marker = f"m{time.monotonic_ns()}"
    _critic_press(site, marker)
    # evaluate now rather than wait for the hub's 30 s round
    httpx.post(site.url + "/api/v1/alerts/evaluate", headers=site.auth, timeout=10).raise_for_status()
    alert = wait_until(lambda: _critic_alert(site, marker), 10, "the critic alert")
    card = page.locator(f"#alert-{alert['id']}")
    started = time.monotonic()
    expect(card).to_be_visible(timeout=8000)  # the page polls every 5 s; no reload
    print(f"critic alert on the page {time.monotonic() - started:.1f} s after the API had it")
    assert card.get_attribute("data-state") == "open" and card.get_attribute("data-kind") == "critic"
    comment = card.locator("blockquote.visitor-comment")
    assert comment.inner_text() == f"{XSS} {marker}"  # shown as text ...
    assert card.locator("script, img").count() == 0  # ... never as markup
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert card.locator(".callback").get_attribute("data-callback") == "true"
    tab_count = int(page.get_attribute("#alert-tabs a[data-tab=open]", "data-count"))
    assert tab_count == len(site.api("/api/v1/alerts", state="open", limit=1000))
    shot(page, "alerts")

    # acknowledge, in place
    card.locator("form.ack input[name=comment]").fill("перезвоню до 12:00")
    card.locator("form.ack button").click()
    expect(card).to_have_attribute("data-state", "acknowledged")
    api = site.api(f"/api/v1/alerts/{alert['id']}")
    assert api["state"] == "acknowledged"
    assert (api["ack_by"], api["ack_comment"]) == (admin[0], "перезвоню до 12:00")

    # a critic needs a resolution comment: the form requires it, and so does the hub
    assert card.locator("form.resolve input[name=comment]").get_attribute("required") is not None
    with signed_in(site.url, *admin) as client:
        token = form_token(client, "/alerts")
        refused = client.post(f"/alerts/{alert['id']}/resolve", data={"csrf": token, "comment": " "})
        assert refused.status_code == 409 and "Перезвонили" in refused.text
    assert site.api(f"/api/v1/alerts/{alert['id']}")["state"] == "acknowledged"

    card.locator("form.resolve input[name=comment]").fill("Перезвонили: извинились, записали на завтра")
    card.locator("form.resolve button").click()
    expect(card).to_have_attribute("data-state", "resolved")
    api = site.api(f"/api/v1/alerts/{alert['id']}")
    assert api["state"] == "resolved" and api["resolved_by"] == admin[0]
    assert api["resolved_comment"] == "Перезвонили: извинились, записали на завтра"
    assert [e["action"] for e in api["log"]] == ["opened", "acknowledged", "resolved"]
    card.locator("details.log summary").click()
    assert card.locator("details.log li").count() == 3

    page.goto(site.url + "/alerts?tab=resolved")
    resolved = page.locator(f"#alert-{alert['id']}")
    assert "Перезвонили: извинились" in resolved.inner_text() and resolved.locator("form").count() == 0
    shot(page, "alerts-resolved")
    page.goto(site.url + "/audit")
    actions = page.eval_on_selector_all("#audit tr[data-action]", "rows => rows.map(r => r.dataset.action)")
    assert {"alert.ack", "alert.resolve"} <= set(actions)


def test_a_technician_sees_devices_but_not_alerts(site, admin, chromium):
    with signed_in(site.url, *admin) as client:
        token = form_token(client, "/users")
        form = {"username": TECH[0], "role": "technician", "password": TECH[1], "password2": TECH[1]}
        made = client.post("/users", data={"csrf": token, **form})
        assert made.status_code == 303, made.text[-300:]
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        with signed_in(site.url, *TECH) as client:
            add_cookies(ctx, site.url, client)
        tech = ctx.new_page()
        assert tech.goto(site.url + "/devices").status == 200
        nav = tech.inner_text("nav.main-nav")
        assert "Устройства" in nav and "Оповещения" not in nav and "Эмоции" not in nav
        for path in ("/alerts", "/league", "/emotions", "/operators/op-1"):
            assert tech.goto(site.url + path).status == 403, path
        assert "Недостаточно прав" in tech.inner_text("main")
        shot(tech, "forbidden-alerts-technician")
    finally:
        ctx.close()


@pytest.mark.parametrize("path", ["/league", "/operators/op-1", "/alerts", "/devices", "/emotions"])
def test_my_pages_fit_a_phone(site, admin, chromium, path):
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        with signed_in(site.url, *admin) as client:
            add_cookies(ctx, site.url, client)
        phone = ctx.new_page()
        errors: list[str] = []
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        assert phone.goto(site.url + path).status == 200
        phone.wait_for_load_state("load")
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways on a phone by {overflow} px"
        assert not errors, errors
        shot(phone, "phone" + path.replace("/", "-"))
    finally:
        ctx.close()


def test_alert_messages_for_every_kind_state_and_action():
    from edge_hub.alerts import lifecycle as alerts
    from hub_ui import i18n
    from hub_ui.pages import alerts as page  # registers its messages

    keys = [f"alerts.kind.{k}" for k in alerts.KINDS] + [f"alerts.state.{s}" for s in alerts.STATES]
    keys += [f"alerts.tab.{s}" for s in page.TABS] + [f"alerts.empty.{s}" for s in page.TABS]
    keys += ["alerts.log.opened", "alerts.log.acknowledged", "alerts.log.resolved"]
    assert all(all(i18n.MESSAGES[k]) for k in keys)
