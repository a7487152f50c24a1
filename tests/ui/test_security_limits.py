"""The sign-in limits and the live stream's re-check, against the real app (TestClient, or uvicorn in
a thread where requests must really run side by side or a response must stream) and real SQLite:

- at most ``auth.HASH_CONCURRENCY`` (2) argon2 verifications at once; a sign-in that finds no
  free slot within ``HASH_WAIT_S`` gets 429 with ``Retry-After`` and a bilingual message;
- ``X-Forwarded-For`` only from an address in ``OTK_TRUSTED_PROXIES``;
- 20 failures from one address whatever the names, 20 for one name whatever the addresses;
- an open ``/ui/stream`` ends once its session is signed out or its user disabled;
- the settings page's shift upload over the row cap: 413, in the page's language.

The body, import, quarantine, export, rebuild and /healthz limits: tests/edge_hub/api/test_limits.py.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from edge_hub.api import access, auth
from edge_hub.app import create_app
from edge_hub.db.store import Store
from edge_hub.office import shifts as shift_rules
from edge_hub.runtime import Runtime
from hub_ui import core
from tests.edge_hub.api.test_limits import BASE_MS, HOUR_MS, Served, _csv, _staff
from tests.helpers import SITE, wait_until
from tests.ui.conftest import form_token

PASSWORD = "correct horse"
BUSY_RU = "Хаб сейчас проверяет другие пароли"
BUSY_EN = "The hub is busy checking other passwords"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """(connection, admin, TestClient) of a hub with its admin; no trusted proxy unless a test sets one."""
    monkeypatch.delenv(access.TRUSTED_PROXIES_ENV, raising=False)
    db = tmp_path / "hub.db"
    store = Store.open(db)
    admin = auth.create_first_admin(store.conn, "admin", PASSWORD, PASSWORD)
    client = TestClient(create_app(Runtime(SITE, db, "mqtt://test", None, None)))
    yield store.conn, admin, client
    client.close()
    store.close()


def sign_in(
    client: httpx.Client, name: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    csrf = form_token(client, "/login")
    return client.post(
        "/login", data={"username": name, "password": password, "csrf": csrf}, headers=headers,
        follow_redirects=False,
    )  # fmt: skip


def last_login_ip(conn) -> str:
    return conn.execute("SELECT ip FROM ui_audit WHERE action = 'login' ORDER BY id DESC LIMIT 1").fetchone()[
        0
    ]


# --- argon2: at most two at once -----------------------------------------------------------------


class SlowHasher:
    """The real PasswordHasher with its verify held ``hold`` s; counts the verifications running at once."""

    def __init__(self, real, hold: float) -> None:
        self.real, self.hold = real, hold
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0

    def verify(self, hashed: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.hold)
            return self.real.verify(hashed, password)
        finally:
            with self.lock:
                self.running -= 1

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def test_at_most_two_password_checks_run_at_once_the_rest_get_429(hub, monkeypatch):
    conn, _, _ = hub
    slow = SlowHasher(auth._HASHER, hold=1.0)
    monkeypatch.setattr(auth, "_HASHER", slow)
    monkeypatch.setattr(auth, "HASH_WAIT_S", 0.3)
    served = Served(conn.execute("PRAGMA database_list").fetchone()[2])
    answers: list[httpx.Response] = []
    ready = threading.Barrier(6)

    def attempt(i: int) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as client:
            csrf = form_token(client, "/login")
            ready.wait(5)
            form = {"username": f"someone{i}", "password": "wrong password", "csrf": csrf}
            answers.append(client.post("/login", data=form))

    try:
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert sorted(a.status_code for a in answers) == [401, 401, 429, 429, 429, 429]
        assert slow.peak == auth.HASH_CONCURRENCY == 2
        for busy in (a for a in answers if a.status_code == 429):
            assert busy.headers["retry-after"] == str(auth.BUSY_RETRY_AFTER_S)
            assert BUSY_RU in busy.text and BUSY_EN in busy.text
        # the slots are free again: the admin gets in
        with httpx.Client(base_url=served.url, timeout=10) as client:
            assert sign_in(client, "admin", PASSWORD).status_code == 303
        assert slow.calls == 3
    finally:
        served.stop()


# --- X-Forwarded-For and the per-address, per-name limits ----------------------------------------


def test_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(hub):
    conn, _, client = hub
    for i in range(auth.LOGIN_MAX_FAILURES):
        assert sign_in(client, "admin", "wrong password", f"10.0.0.{i}").status_code == 401
    refused = sign_in(client, "admin", PASSWORD, "10.0.0.99")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert conn.execute("SELECT DISTINCT ip FROM ui_login_failures").fetchall() == [("testclient",)]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(hub, monkeypatch):
    conn, _, client = hub
    monkeypatch.setenv(access.TRUSTED_PROXIES_ENV, "testclient, 10.9.9.9")
    for _ in range(auth.LOGIN_MAX_FAILURES):
        assert sign_in(client, "admin", "wrong password", "10.0.0.1").status_code == 401
    assert sign_in(client, "admin", PASSWORD, "10.0.0.1").status_code == 429
    # behind two proxies: the nearest address that is not a proxy is the client
    assert sign_in(client, "admin", PASSWORD, "10.0.0.1, 10.9.9.9").status_code == 429
    # another client of the proxy is not locked out; a spoofed first hop changes nothing
    ok = sign_in(client, "admin", PASSWORD, "6.6.6.6, 10.0.0.2")
    assert ok.status_code == 303 and last_login_ip(conn) == "10.0.0.2"


def test_20_names_from_one_address_lock_that_address(hub):
    _, _, client = hub
    assert auth.LOGIN_MAX_FAILURES_PER_IP == 20
    for i in range(20):  # a spray of names: each fails once, far below the 5 per name
        assert sign_in(client, f"guess{i}", "wrong password").status_code == 401
    refused = sign_in(client, "admin", PASSWORD)
    assert refused.status_code == 429, "even the right password, from that address"
    assert 0 < int(refused.headers["retry-after"]) <= auth.LOGIN_WINDOW_S
    assert "Слишком много" in refused.text and "Too many" in refused.text


def test_20_addresses_trying_one_name_lock_that_name(hub, monkeypatch):
    conn, _, client = hub
    monkeypatch.setenv(access.TRUSTED_PROXIES_ENV, "testclient")
    assert auth.LOGIN_MAX_FAILURES_PER_USER == 20
    auth.create_user(conn, "clerk", "clerk password", auth.MANAGER, by="admin")
    for i in range(20):  # a botnet: each address fails once, far below the 5 per address
        assert sign_in(client, "admin", "wrong password", f"10.1.0.{i}").status_code == 401
    refused = sign_in(client, "admin", PASSWORD, "10.2.0.1")
    assert refused.status_code == 429, "even the right password, from a new address"
    assert 0 < int(refused.headers["retry-after"]) <= auth.LOGIN_WINDOW_S
    ok = sign_in(client, "clerk", "clerk password", "10.2.0.1")
    assert ok.status_code == 303, "other names from that address still get in"


# --- the live stream ends with its session -------------------------------------------------------


def test_an_open_stream_ends_after_sign_out_or_disabling(hub, monkeypatch):
    conn, admin, _ = hub
    monkeypatch.setattr(core, "STREAM_RECHECK_S", 0.2)
    clerk = auth.create_user(conn, "clerk", "clerk password", auth.MANAGER, by="admin")
    served = Served(conn.execute("PRAGMA database_list").fetchone()[2])

    def open_stream(token: str) -> tuple[httpx.Client, threading.Event]:
        client = httpx.Client(base_url=served.url, timeout=10, cookies={"otk_session": token})
        ended, opened = threading.Event(), threading.Event()

        def read() -> None:
            try:
                with client.stream("GET", "/ui/stream") as response:
                    assert response.status_code == 200
                    opened.set()
                    for _ in response.iter_raw():
                        pass
            except httpx.HTTPError:
                return  # closed by the test
            ended.set()

        threading.Thread(target=read, daemon=True).start()
        wait_until(opened.is_set, 5, "the stream to open")
        return client, ended

    clients = []
    try:
        token, _ = auth.new_session(conn, admin, "127.0.0.1")
        client, ended = open_stream(token)
        clients.append(client)
        assert not ended.wait(1.0), "a live session's stream stays open across re-checks"
        auth.end_session(conn, token)
        assert ended.wait(3), "the stream went on after sign-out"

        token, _ = auth.new_session(conn, clerk, "127.0.0.1")
        client, ended = open_stream(token)
        clients.append(client)
        assert not ended.wait(0.6)
        auth.set_disabled(conn, clerk.id, True, actor=admin)
        assert ended.wait(3), "the stream went on after the user was disabled"
    finally:
        for client in clients:
            client.close()
        served.stop()


# --- the settings page's shift upload over the row cap ------------------------------------------


def test_the_settings_upload_over_the_row_cap_is_a_413_page(hub):
    conn, admin, client = hub
    _staff(conn, 25)
    rows = [
        (f"op{w}", f"w{w}", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS)
        for k in range(801)
        for w in range(25)
    ]
    assert len(rows) > shift_rules.MAX_IMPORT_ROWS
    token, session = auth.new_session(conn, admin, "127.0.0.1")
    client.cookies.set("otk_session", token)
    for lang, text in (
        ("ru", "Файл смен слишком большой, ничего не загружено"),
        ("en", "The shifts file is too large"),
    ):
        client.cookies.set("lang", lang)
        answer = client.post(
            "/settings/shifts/import", data={"csrf": session.csrf},
            files={"file": ("shifts.csv", _csv(rows).encode(), "text/csv")},
        )  # fmt: skip
        assert answer.status_code == 413, answer.text[-500:]
        assert text in answer.text and "больше 20000 смен" in answer.text
    assert conn.execute("SELECT count(*) FROM shifts").fetchone()[0] == 0
