"""Who may use the JSON API (hub_ui.core.api_access), against the real app and real SQLite: open
only before the first account exists; then a UI session or an api:* bearer token, by scope."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from edge_hub.api import auth
from edge_hub.app import create_app
from edge_hub.cli import cli
from edge_hub.db.store import Store
from edge_hub.runtime import Runtime
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import SITE

PERIOD = {"from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z"}


@pytest.fixture
def hub(tmp_path):
    store = Store.open(tmp_path / "hub.db")
    client = TestClient(create_app(Runtime(SITE, tmp_path / "hub.db", "mqtt://test", None, None)))
    yield store.conn, client
    store.close()


def test_a_new_hub_is_open_until_its_first_account_then_wants_a_session_or_a_token(hub):
    conn, api = hub
    assert api.get("/api/v1/devices").status_code == 200  # the first run: nobody to sign in as
    auth.create_first_admin(conn, "admin", "correct horse", "correct horse")
    refused = api.get("/api/v1/devices")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert " / " in refused.json()["detail"]
    assert api.get("/healthz").status_code != 401, "monitoring stays open (503 here: no broker)"
    bogus = api.get("/api/v1/devices", headers={"Authorization": "Bearer otk_nope"})
    assert bogus.status_code == 401


def test_tokens_allow_what_their_scope_says(hub):
    conn, api = hub
    auth.create_first_admin(conn, "admin", "correct horse", "correct horse")
    def bearer(scope: str, name: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + sync_tokens.create_token(conn, scope, name)}

    reader = bearer(sync_tokens.SCOPE_API_READ, "grafana")
    writer = bearer(sync_tokens.SCOPE_API_WRITE, "script")
    puller = bearer(sync_tokens.SCOPE_READ, "central")
    assert api.get("/api/v1/metrics/summary", params=PERIOD, headers=reader).status_code == 200
    assert api.post("/api/v1/metrics/rebuild", params=PERIOD, headers=reader).status_code == 403
    assert api.post("/api/v1/metrics/rebuild", params=PERIOD, headers=writer).status_code == 200
    assert api.get("/api/v1/devices", headers=writer).status_code == 200
    # the central server's pull token reads the aggregates and nothing else
    assert api.get("/api/v1/sync/aggregates", headers=puller).status_code == 200
    assert api.get("/api/v1/devices", headers=puller).status_code == 403
    assert api.get("/api/v1/sync/aggregates", headers=reader).status_code == 403
    token_id = sync_tokens.find_token(conn, reader["Authorization"][7:]).id
    sync_tokens.revoke_token(conn, token_id)
    assert api.get("/api/v1/devices", headers=reader).status_code == 401


def test_a_technicians_session_reads_but_does_not_change(hub):
    conn, api = hub
    auth.create_first_admin(conn, "admin", "correct horse", "correct horse")
    tech = auth.create_user(conn, "tech", "tech password", auth.TECHNICIAN, by="admin")
    token, session = auth.new_session(conn, tech, "127.0.0.1")
    api.cookies.set("otk_session", token)
    assert api.get("/api/v1/devices").status_code == 200
    csrf = {"X-CSRF-Token": session.csrf}
    assert api.post("/api/v1/metrics/rebuild", params=PERIOD, headers=csrf).status_code == 403


def test_api_tokens_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OTK_CONFIG", raising=False)
    db = tmp_path / "hub.db"
    made = CliRunner().invoke(cli, ["token", "create", "--scope", "api:read", "--db", str(db)])
    assert made.exit_code == 0, made.output
    store = Store.open(db)
    try:
        assert sync_tokens.check_token(store.conn, made.stdout.strip(), sync_tokens.SCOPE_API_READ)
    finally:
        store.close()
