"""Browser tests of the office page: Playwright (sync API) driving Debian's Chromium against a real
hub process (``edge-hub run``) on a real Mosquitto, with a month of office data fed through the
real ingest path before the hub starts.

Never ``playwright install``: the browser is /usr/bin/chromium (``./otk test`` installs it).
Screenshots of every page go to ``$OTK_SCREENSHOTS`` (default ``build/screenshots/``).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edge_hub.db.store import Store
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import Broker, FedHub, HubProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "correct-horse-1")
DAY_MS = 86_400_000
#: (window, operator id, operator name, device, answer weights for 1..5)
STAFF = (
    ("w1", "op-1", "Анна Петрова", "btn-01", (1, 1, 2, 6, 12)),
    ("w2", "op-2", "Борис Иванов", "btn-02", (2, 2, 3, 6, 7)),
    ("w3", "op-3", "Вера Смирнова", "btn-03", (5, 3, 3, 4, 4)),
)


def screenshot_dir() -> Path:
    directory = Path(os.environ.get("OTK_SCREENSHOTS") or ROOT / "build" / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def shot(page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``<name>.png``."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "the browser tests need Debian's Chromium: run ./otk test, or apt-get install chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.js_errors = []  # every uncaught error of the page's own scripts fails the test below
    p.on("pageerror", lambda exc: p.js_errors.append(str(exc)))
    yield p
    assert not p.js_errors, f"JavaScript errors on the page: {p.js_errors}"


# --- a hub with an office's month ---------------------------------------------------------------


@dataclass
class Site:
    url: str
    broker: Broker
    hub: HubProcess
    now_ms: int
    #: an api:write bearer token: once the admin exists the JSON API wants a session or a token
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self, path: str, **params) -> dict | list:
        response = httpx.get(self.url + path, params=params, headers=self.auth, timeout=10)
        response.raise_for_status()
        return response.json()


def seed_office(db: Path, now_ms: int) -> None:
    """A month of an office through the real ingest path: three windows with an operator each
    (all day on shift), presses every day and today, camera visits and the entrance counter."""
    rnd = random.Random(6)
    fed = FedHub(db)
    conn = fed.conn
    settings = office_settings.load(conn)
    settings.trust.flag_after_hours = False  # presses at any hour count, whenever the tests run
    office_settings.save(conn, settings)
    scopes.put_department(conn, "d1", "Приём")
    for window, op, name, device, _ in STAFF:
        scopes.put_window(conn, window, "d1", f"Окно {window[1:]}")
        scopes.put_operator(conn, op, name)
        scopes.assign_device(conn, device, window, now_ms - 40 * DAY_MS)
        shift_rules.add_shift(conn, op, window, now_ms - 40 * DAY_MS, now_ms + 2 * DAY_MS)
    items = []
    for day in range(35):
        for _, _, _, device, weights in STAFF:
            for k in range(rnd.randint(3, 9)):
                ts = now_ms - day * DAY_MS - rnd.randint(2, 10) * 3_600_000 - k * 180_000
                items.append((ts, rnd.choices(range(1, 6), weights)[0], device, "csat", {}))
                if k % 3 == 0:
                    items.append((ts + 30_000, rnd.randint(0, 10), device, "nps", {}))
    for k in range(12):  # today, the last minutes: 4 presses a device, a minute apart
        _, _, _, device, weights = STAFF[k % 3]
        items.append((now_ms - 60_000 - k * 20_000, rnd.choices(range(1, 6), weights)[0], device, "csat", {}))
    items.sort()
    fed.presses(items)
    for day in range(35):
        base = now_ms - day * DAY_MS - 3 * 3_600_000
        for k in range(6):
            fed.visit(
                base + k * 600_000, rnd.choice(["happy", "happy", "neutral", "sad", "angry", "surprise"])
            )
        fed.reading(base, "visitors", float(rnd.randint(60, 90)), device="sensor-01")
    fed.reading(now_ms - 120_000, "visitors", 40.0, device="sensor-01")
    fed.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """A seeded hub, shared by the UI tests (its admin is made by the ``admin`` fixture)."""
    directory = tmp_path_factory.mktemp("ui-hub")
    broker = Broker(directory / "broker").start()
    now = int(time.time() * 1000)
    hub = HubProcess(broker, directory / "hub")
    seed_office(hub.db, now)
    store = Store.open(hub.db)
    try:
        token = sync_tokens.create_token(store.conn, sync_tokens.SCOPE_API_WRITE, "ui-tests")
    finally:
        store.close()
    hub.start()
    yield Site(f"http://127.0.0.1:{hub.port}", broker, hub, now, token)
    hub.stop()
    broker.stop()
    assert_clean_log(hub)


@pytest.fixture
def fresh_site(tmp_path):
    """A hub with an empty database: no account yet (the first-run step)."""
    broker = Broker(tmp_path / "broker").start()
    hub = HubProcess(broker, tmp_path / "hub").start()
    yield Site(f"http://127.0.0.1:{hub.port}", broker, hub, int(time.time() * 1000))
    hub.stop()
    broker.stop()
    assert_clean_log(hub)


def assert_clean_log(hub: HubProcess) -> None:
    """The hub process logged no traceback and no error (the in-process guard cannot see it)."""
    for log in sorted(hub.directory.glob("hub-*.log")):
        text = log.read_text(errors="replace")
        marks = ("Traceback", " ERROR ", "ERROR:")
        bad = [line for line in text.splitlines() if any(m in line for m in marks)]
        assert not bad, f"{log.name}: {bad[:3]}"


# --- accounts -----------------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    response.raise_for_status()
    match = CSRF_FIELD.search(response.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


@contextmanager
def signed_in(base: str, username: str, password: str) -> Iterator[httpx.Client]:
    """An httpx client with a live session (its cookies hold it)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        token = form_token(client, "/login")
        response = client.post("/login", data={"username": username, "password": password, "csrf": token})
        assert response.status_code == 303, response.text[-500:]
        yield client


@pytest.fixture(scope="session")
def admin(site) -> tuple[str, str]:
    """The first-run step done over HTTP on the shared hub: the admin's (name, password)."""
    with httpx.Client(base_url=site.url, timeout=10) as client:
        token = form_token(client, "/setup")
        response = client.post(
            "/setup", data={"username": ADMIN[0], "password": ADMIN[1], "password2": ADMIN[1], "csrf": token}
        )
        assert response.status_code == 303, response.text[-500:]
    return ADMIN


def add_cookies(context, base: str, client: httpx.Client) -> None:
    """Give a browser context the session of an httpx client (no login form round trip)."""
    context.add_cookies(
        [
            {"name": c.name, "value": c.value, "url": base, "httpOnly": True, "sameSite": "Strict"}
            for c in client.cookies.jar
        ]
    )


@pytest.fixture
def admin_page(site, admin, context, page):
    """A page signed in as the admin."""
    with signed_in(site.url, *admin) as client:
        add_cookies(context, site.url, client)
    return page
