"""The devices and emotions pages in the browser, against the shared hub of conftest.py: heartbeats
of a console and of the camera (published over MQTT), a quarantined message, Identify received by
a device on its cmd topic (and valid against the contract), and the emotions page's totals equal
to /api/v1/metrics/emotions and the summary."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
from playwright.sync_api import expect

from edge_hub.transport.broker import HUB_USER
from tests.edge_hub.api.test_identify import cmd_validator
from tests.helpers import DeviceClient, TopicListener, topic, wait_until
from tests.ui.conftest import shot

CONSOLE = "btn-01"
CAMERA = "cam-01"  # the seeded visits' camera; it has no broker account, so the hub's user speaks for it
BAD = "btn-02"
CAMERA_ERROR = "<img src=x onerror=window.pwned=1> capture returned no frame"


def _span(page) -> dict[str, str]:
    period = page.locator("#period")
    return {"from": period.get_attribute("data-from"), "to": period.get_attribute("data-to")}


def _attr(value: float | None) -> str:
    return "" if value is None else repr(value)


def _device(site, device: str) -> dict | None:
    return next((d for d in site.api("/api/v1/devices") if d["device"] == device), None)


@pytest.fixture(scope="module")
def heartbeats(site):
    """A console's and the camera's heartbeat, and a message the contract refuses, over MQTT."""
    now = int(time.time() * 1000)
    console = {
        "v": 1, "device": CONSOLE, "state": "online", "kind": "button", "fw": "otk-button 1.4.2", "boot": 3,
        "up": 5_400_000, "ts": now, "battery_mv": 3890, "rssi": -61, "outbox": 2, "drops": 1, "config_rev": 4,
    }  # fmt: skip
    camera = {
        "v": 1, "device": CAMERA, "state": "online", "kind": "camera", "fw": "emotion-monitor 0.1.0",
        "boot": 2, "up": 3_600_000, "ts": now, "camera": {
            "ok": False, "fps": 0, "faces_per_min": 0, "visits": 12, "tracks": 0, "detector": "blazeface",
            "source": "camera", "error": CAMERA_ERROR, "restarts": 3,
        },
    }  # fmt: skip
    bad = {"v": 1, "type": "press", "device": BAD, "boot": 1, "seq": 1, "up": 5, "<b>oops</b>": 1}
    client = DeviceClient(site.broker, CAMERA, user=HUB_USER)
    try:
        client.publish_raw(topic(CONSOLE, "status"), orjson.dumps(console))
        client.publish_raw(topic(CAMERA, "status"), orjson.dumps(camera))
        client.publish_raw(topic(BAD, "event"), orjson.dumps(bad))
        client.wait_published(10)
    finally:
        client.close()
    wait_until(
        lambda: (_device(site, CONSOLE) or {}).get("kind") and (_device(site, CAMERA) or {}).get("kind"),
        10, "the heartbeats to be stored",
    )  # fmt: skip
    wait_until(lambda: site.api("/api/v1/quarantine", reason="schema")["items"], 10, "the quarantine")
    return console, camera


def test_devices_page_camera_quarantine_and_identify(site, admin_page, heartbeats):
    page = admin_page
    page.goto(site.url + "/devices")
    assert page.inner_text("h1") == "Устройства"
    shown = page.eval_on_selector_all("#devices .device-card", "cards => cards.map(c => c.dataset.device)")
    assert shown == [d["device"] for d in site.api("/api/v1/devices")]
    card = page.locator(f"#device-{CONSOLE}")
    assert card.get_attribute("data-state") == "online" and card.get_attribute("data-kind") == "button"
    assert card.locator(".battery").get_attribute("data-mv") == "3890"
    assert "3890 мВ" in card.locator(".battery").inner_text() and "%" in card.locator(".battery").inner_text()
    assert card.locator(".rssi").inner_text() == "-61 дБм"
    assert card.locator(".fw").inner_text() == "otk-button 1.4.2"
    assert (card.locator(".outbox").inner_text(), card.locator(".drops").inner_text()) == ("2", "1")
    assert card.locator(".config-rev").inner_text() == "4"
    assert card.locator(".camera").count() == 0
    cam = page.locator(f"#device-{CAMERA} .camera")
    assert cam.get_attribute("data-ok") == "false"
    assert cam.locator(".fps").inner_text() == "0,0" and cam.locator(".faces").inner_text() == "0,0"
    assert cam.locator(".camera-error").inner_text() == CAMERA_ERROR
    assert cam.locator("img").count() == 0 and page.evaluate("typeof window.pwned") == "undefined"
    quarantine = page.locator(f"#device-{BAD} .quarantine")
    assert int(quarantine.get_attribute("data-count")) >= 1

    # Identify: the device, listening on its cmd topic, gets a contract-valid command
    listener = TopicListener(site.broker, CONSOLE)
    try:
        with page.expect_response(lambda r: r.url.endswith(f"/devices/{CONSOLE}/identify")) as info:
            card.locator("form.identify button").click()
        assert info.value.status == 200
        result = card.locator("output.identify-result")
        expect(result).to_have_class("identify-result ok")
        command_id = result.get_attribute("data-command")
        assert command_id.startswith("c-") and "отправлено" in result.inner_text()
        cmd_topic, qos, body = listener.wait_for(command_id)
        assert cmd_topic == topic(CONSOLE, "cmd") and qos == 1
        assert cmd_validator().is_valid(body)
        assert (body["cmd"], body["args"]) == ("identify", {"seconds": 10})
    finally:
        listener.close()
    shot(page, "devices")

    # the quarantined messages of a device: reason, detail, time; all escaped
    quarantine.locator("a").click()
    page.wait_for_url(f"**/devices/{BAD}/quarantine")
    row = page.locator("#quarantine tbody tr[data-reason=schema]").first
    assert "<b>oops</b>" in row.locator("td.payload").inner_text()
    assert page.locator("#quarantine b").count() == 0
    shot(page, "device-quarantine")


TROUBLED = "btn-05"  # a console that reports what went wrong
QUIET_CAMERA = "cam-02"  # a camera whose status has no error (and no optional field at all)


def test_devices_page_shows_what_went_wrong_and_survives_missing_fields(site, admin_page):
    """A camera status without ``error`` once made /devices fail ("'dict object' has no attribute
    'error'"): every optional status field is optional on the page too."""
    console = {
        "v": 1, "device": TROUBLED, "state": "online", "kind": "button", "fw": "0.4.0", "inc": 2731590417,
        "boot": 7, "up": 120_000, "crash_boots": 2, "last_crash": "task button: ValueError('<b>pin</b>')",
        "dead_tasks": ["leds", "sleep"], "flash_errors": 3,
        "no_sleep": "no button wake: esp32.wake_on_gpio missing (MicroPython < 1.27)",
        "last_cmd": "c-0042", "last_cmd_error": "update: unsupported",
    }  # fmt: skip
    camera = {
        "v": 1, "device": QUIET_CAMERA, "state": "online", "kind": "camera", "boot": 1, "up": 60_000,
        "camera": {"ok": True, "fps": 12.5, "faces_per_min": 3},
    }  # fmt: skip
    client = DeviceClient(site.broker, QUIET_CAMERA, user=HUB_USER)
    try:
        client.publish_raw(topic(TROUBLED, "status"), orjson.dumps(console))
        client.publish_raw(topic(QUIET_CAMERA, "status"), orjson.dumps(camera))
        client.wait_published(10)
    finally:
        client.close()
    wait_until(
        lambda: (_device(site, TROUBLED) or {}).get("inc") and (_device(site, QUIET_CAMERA) or {}).get("up"),
        10, "the statuses to be stored",
    )  # fmt: skip
    page = admin_page
    response = page.goto(site.url + "/devices")
    assert response.status == 200, response.text()[:300]
    cam = page.locator(f"#device-{QUIET_CAMERA} .camera")
    assert cam.get_attribute("data-ok") == "true" and cam.locator(".camera-error").count() == 0
    assert cam.locator(".fps").inner_text() == "12,5"
    card = page.locator(f"#device-{TROUBLED}")
    assert card.locator(".inc").inner_text() == "2731590417"
    diag = card.locator(".diag")
    shown = dict(diag.locator("[data-diag]").evaluate_all(
        "els => els.map(e => [e.dataset.diag, e.querySelector('dd').innerText])"
    ))  # fmt: skip
    assert shown == {
        "crash_boots": "2", "last_crash": console["last_crash"], "dead_tasks": "leds, sleep",
        "flash_errors": "3", "no_sleep": console["no_sleep"], "last_cmd_error": "update: unsupported",
    }  # fmt: skip
    assert diag.locator("b").count() == 0, "the device's words are escaped"
    assert "Сбоев подряд" in diag.inner_text()
    # a console that reports nothing wrong has no such section
    assert page.locator(f"#device-{CONSOLE} .diag").count() == 0
    page.goto(site.url + "/devices?lang=en")
    assert "Crashed boots in a row" in page.locator(f"#device-{TROUBLED} .diag").inner_text()
    page.goto(site.url + "/devices?lang=ru")
    shot(page, "devices-diagnostics")


def test_diagnostics_and_camera_read_only_the_fields_present():
    from hub_ui import i18n
    from hub_ui.pages import devices

    assert devices.diagnostics({}) == []
    nothing = {"crash_boots": 0, "dead_tasks": [], "flash_errors": 0, "last_crash": ""}
    assert devices.diagnostics(nothing) == []
    assert devices.diagnostics({"flash_errors": 1, "dead_tasks": ["a", "b"]}) == [
        {"key": "dead_tasks", "text": "a, b"}, {"key": "flash_errors", "text": "1"},
    ]  # fmt: skip
    assert devices.camera_view({}) is None
    assert devices.camera_view({"camera": {"ok": True, "fps": 1, "faces_per_min": 0}}) == {
        "ok": True, "fps": 1, "faces_per_min": 0, "error": None,
    }  # fmt: skip
    assert all(all(i18n.MESSAGES[f"devices.diag.{k}"]) for k in devices.DIAGNOSTICS)


def test_emotions_totals_equal_the_api(site, admin_page):
    page = admin_page
    page.goto(site.url + "/emotions?period=month")
    assert page.inner_text("h1") == "Эмоции посетителей"
    page.wait_for_selector("#emotion-chart .uplot")
    span = _span(page)
    api = site.api("/api/v1/metrics/emotions", step="day", **span)
    by_emotion: Counter[str] = Counter()
    for p in api["points"]:
        by_emotion.update(p["by_emotion"])
    shown = dict(page.eval_on_selector_all(
        "#emotion-totals tr[data-emotion]",
        "trs => trs.map(tr => [tr.dataset.emotion, +tr.querySelector('td').dataset.n])",
    ))  # fmt: skip
    assert set(shown) == set(api["labels"])
    assert shown == {label: by_emotion.get(label, 0) for label in api["labels"]}
    total = int(page.get_attribute("#emotion-totals tr[data-metric=visits] td", "data-n"))
    assert total == sum(p["visits"] for p in api["points"]) > 0
    enps = page.locator("#emotion-totals tr[data-metric=emotional_nps] td")
    expected = site.api("/api/v1/metrics/summary", **span)["metrics"]["emotional_nps"]
    assert (float(enps.get_attribute("data-value")), int(enps.get_attribute("data-n"))) == (
        expected["value"], expected["n"],
    )  # fmt: skip
    # per day: visits and the emotional NPS with its n, as the API has them
    rows = page.eval_on_selector_all(
        "#emotion-table tbody tr",
        "trs => trs.map(tr => [tr.dataset.t, +tr.dataset.visits, tr.lastElementChild.dataset.value,"
        " +tr.lastElementChild.dataset.n])",
    )
    assert rows == [[p["t"], p["visits"], _attr(p["emotional_nps"]["value"]), p["emotional_nps"]["n"]]
                    for p in api["points"]]  # fmt: skip
    shot(page, "emotions")

    page.click("a[href='/privacy']")
    page.wait_for_url("**/privacy")
    assert "No image is stored or sent" in page.inner_text("#privacy-text")
    shot(page, "privacy")


def test_battery_estimate_and_messages():
    from edge_hub.metrics.formulas import EMOTIONS
    from hub_ui import i18n
    from hub_ui.pages import devices, emotions

    assert [devices.battery_percent(mv) for mv in (None, 2500, 3000, 3650, 3890, 4200, 4350)] == [
        None, 0, 0, 30, 68, 100, 100,
    ]  # fmt: skip
    assert set(emotions.LABELS) == EMOTIONS
    keys = [f"emotions.label.{e}" for e in EMOTIONS] + ["emotions.per.day", "emotions.per.hour"]
    keys += [f"devices.state.{s}" for s in ("online", "asleep", "offline", "unknown")]
    assert all(all(i18n.MESSAGES[k]) for k in keys)
