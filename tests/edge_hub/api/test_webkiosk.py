"""The web kiosk's backend (issue 15, item 4): a tablet is a device with its own token, provisioned
from the command line or the devices page, whose events go through the MQTT ingest path and are
answered with the end-to-end acks; its config with ETag/304; its heartbeat; revocation.

Real SQLite, the real app through Starlette's TestClient; the contract's own example messages.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import orjson
import pytest
import schemathesis
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings

import mqtt_schemas
from edge_hub.api import auth
from edge_hub.app import create_app
from edge_hub.cli import cli
from edge_hub.db.store import Store
from edge_hub.ingest import webkiosk
from edge_hub.ingest.batch import IngestStats
from edge_hub.ingest.contract import Contract
from edge_hub.runtime import Runtime
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import SITE, db_rows

TABLET = "tablet-01"
INC = 2_718_281_828
SESSION = "w7k2p9"


def _rows(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    return db_rows(db, sql, args)


def _example(name: str) -> dict:
    return mqtt_schemas.load_example(mqtt_schemas.EXAMPLES_DIR / "valid" / f"{name}.json")[2]["payload"]


def _answers(device: str = TABLET, boot: int = 3) -> list[dict]:
    """One visitor's session as the firmware sends it (the contract's survey examples): a poor
    main answer, what went wrong, help, a call back with the phone and consent."""
    events = []
    for seq, name in enumerate(
        ("event-press-survey-csat", "event-press-survey-choice", "event-press-survey-help",
         "event-press-survey-callback"), 1,
    ):  # fmt: skip
        body = _example(name)
        body.update(
            device=device, inc=INC, boot=boot, seq=seq, session=SESSION, ts=1_795_000_000_000 + seq * 5000
        )
        events.append(body)
    events[0]["value"] = 2  # a critic: what_wrong is asked
    return events


@pytest.fixture
def hub(tmp_path) -> tuple[Path, TestClient]:
    db = tmp_path / "hub.db"
    Store.open(db).close()
    return db, TestClient(create_app(Runtime(SITE, db, "mqtt://test")))


def _provision(db: Path, device: str = TABLET) -> str:
    store = Store.open(db)
    try:
        return webkiosk.provision(store.conn, device)
    finally:
        store.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _survey(client: TestClient) -> None:
    survey = {
        k: v
        for k, v in _example("config-kiosk-survey").items()
        if k not in ("v", "device", "rev", "heartbeat_s")
    }
    answer = client.put("/api/v1/survey", json=survey)
    assert answer.status_code == 200, answer.text


def test_the_cli_provisions_a_web_kiosk_once_and_remove_revokes_it(tmp_path, monkeypatch):
    for name in ("OTK_CONFIG", "OTK_DATA_DIR", "OTK_DB"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "device",
            "add",
            TABLET,
            "--kind",
            "webkiosk",
            "--data-dir",
            str(data),
            "--url",
            "https://hub.local:8443",
        ],
    )
    assert result.exit_code == 0, result.output
    link = re.search(r"https://hub\.local:8443/kiosk/tablet-01#t=(\S+)", result.stdout)
    assert link, result.stdout
    token = link[1]
    db = next(data.glob("*.db"))
    assert _rows(db, "SELECT device, token_hash FROM kiosk_tokens") == [
        (TABLET, hashlib.sha256(token.encode()).hexdigest())
    ]
    assert token.encode() not in db.read_bytes()  # only the hash is kept
    assert _rows(db, "SELECT kind FROM devices WHERE device = ?", (TABLET,)) == [("webkiosk",)]
    client = TestClient(create_app(Runtime(SITE, db, "mqtt://test")))
    assert (
        client.post(f"/api/v1/kiosk/{TABLET}/events", json=_answers()[:1], headers=_bearer(token)).status_code
        == 200
    )
    result = runner.invoke(cli, ["device", "remove", TABLET, "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert _rows(db, "SELECT count(*) FROM kiosk_tokens") == [(0,)]
    refused = client.post(f"/api/v1/kiosk/{TABLET}/events", json=_answers()[:1], headers=_bearer(token))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"] and refused.headers["www-authenticate"].startswith("Bearer")


def test_a_batch_is_stored_once_with_its_session_and_acked_after_the_commit(hub):
    db, client = hub
    token = _provision(db)
    events = _answers()
    answer = client.post(f"/api/v1/kiosk/{TABLET}/events", json=events, headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["acks"] == [{"v": 1, "device": TABLET, "inc": INC, "boot": 3, "seqs": [1, 2, 3, 4]}]
    assert (body["refused"], body["stored"], body["duplicates"]) == ([], 4, 0)
    # the answer came after the commit: another connection sees every acked event
    stored = _rows(
        db, "SELECT seq, question, value, json_extract(payload, '$.session') FROM events ORDER BY seq"
    )
    assert stored == [(1, "csat", 2, SESSION), (2, "what_wrong", 3, SESSION), (3, "help", 1, SESSION),
                      (4, "callback", 1, SESSION)]  # fmt: skip
    # each ack is the contract's ack message
    contract = Contract(site=SITE)
    for ack in body["acks"]:
        contract.parse(mqtt_schemas.topic(SITE, TABLET, "ack"), orjson.dumps(ack))
    # aggregates and the alerts' source, as for MQTT: the critic's answer is in its bucket
    assert _rows(db, "SELECT sum(n) FROM aggregates WHERE device = ? AND question = 'csat'", (TABLET,)) == [
        (1,)
    ]
    # the same batch again (the tablet lost the answer): acked again, stored once
    again = client.post(f"/api/v1/kiosk/{TABLET}/events", json=events, headers=_bearer(token)).json()
    assert again["acks"] == body["acks"]
    assert (again["stored"], again["duplicates"], again["refused"]) == (0, 4, [])
    assert _rows(db, "SELECT count(*) FROM events") == [(4,)]
    assert _rows(db, "SELECT sum(n) FROM aggregates WHERE device = ? AND question = 'csat'", (TABLET,)) == [
        (1,)
    ]


def test_bad_and_foreign_events_are_quarantined_with_their_reason_not_acked(hub):
    db, client = hub
    token = _provision(db)
    good, bad, foreign = _answers()[:3]
    bad["value"] = "five"  # breaks the schema
    foreign["device"] = "kiosk-02"  # another device's event under this tablet's token
    answer = client.post(
        f"/api/v1/kiosk/{TABLET}/events", json=[good, bad, foreign, 7], headers=_bearer(token)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["acks"] == [{"v": 1, "device": TABLET, "inc": INC, "boot": 3, "seqs": [1]}]
    assert [(r["index"], r["seq"], r["reason"]) for r in body["refused"]] == [
        (1, 2, "schema"), (2, 3, "device_mismatch"), (3, None, "not_object"),
    ]  # fmt: skip
    quarantined = _rows(db, "SELECT topic, reason FROM quarantine ORDER BY id")
    topic = mqtt_schemas.topic(SITE, TABLET, "event")
    assert quarantined == [(topic, "schema"), (topic, "device_mismatch"), (topic, "not_object")]
    assert _rows(db, "SELECT count(*) FROM events") == [(1,)]


def test_who_may_post(hub):
    db, client = hub
    token = _provision(db)
    other = _provision(db, "tablet-02")
    url = f"/api/v1/kiosk/{TABLET}/events"
    assert client.post(url, json=_answers()).status_code == 401  # no token
    assert client.post(url, json=_answers(), headers=_bearer("otkw_nope")).status_code == 401
    assert client.post(url, json=_answers(), headers=_bearer(other)).status_code == 403  # another tablet's
    store = Store.open(db)
    try:
        auth.create_first_admin(store.conn, "admin", "correct horse", "correct horse")
        api_token = sync_tokens.create_token(store.conn, sync_tokens.SCOPE_API_WRITE, "script")
    finally:
        store.close()
    assert client.post(url, json=_answers(), headers=_bearer(api_token)).status_code == 401  # not a kiosk's
    assert client.get("/api/v1/events", headers=_bearer(token)).status_code == 401  # a kiosk is no API caller
    assert client.post(url, json=[], headers=_bearer(token)).status_code == 422
    assert client.post(url, json=_answers() * 26, headers=_bearer(token)).status_code == 422  # > 100
    big = client.post(url, content=b"[" + b" " * (3 * 1024 * 1024) + b"]", headers=_bearer(token))
    assert big.status_code == 413
    assert client.post(url, json=_answers(), headers=_bearer(token)).status_code == 200
    store = Store.open(db)
    try:
        assert webkiosk.revoke(store.conn, TABLET)
    finally:
        store.close()
    assert client.post(url, json=_answers(), headers=_bearer(token)).status_code == 401


def test_config_with_etag_and_304(hub):
    db, client = hub
    token = _provision(db)
    url = f"/api/v1/kiosk/{TABLET}/config"
    assert client.get(url, headers=_bearer(token)).status_code == 404  # no survey yet
    _survey(client)  # the provisioned tablet is a terminal: it gets its config revision
    first = client.get(url, headers=_bearer(token))
    assert first.status_code == 200, first.text
    config = first.json()
    assert (config["device"], config["rev"], config["questions"][0]["id"]) == (TABLET, 1, "csat")
    Contract(site=SITE).parse(mqtt_schemas.topic(SITE, TABLET, "config"), first.content)
    etag = first.headers["etag"]
    same = client.get(url, headers={**_bearer(token), "If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    _survey(client)  # a new revision
    changed = client.get(url, headers={**_bearer(token), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["rev"] == 2 and changed.headers["etag"] != etag
    assert client.get(url).status_code == 401


def test_a_heartbeat_makes_the_tablet_online_and_silence_offline(hub):
    db, client = hub
    token = _provision(db)
    status = _example("status-webkiosk")
    answer = client.post(f"/api/v1/kiosk/{TABLET}/status", json=status, headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"device": TABLET, "config_rev": None}
    assert _rows(db, "SELECT state, kind, fw, boot, inc FROM devices WHERE device = ?", (TABLET,)) == [
        ("online", "webkiosk", "otk-web 0.1.0", 3, INC)
    ]
    devices = client.get("/api/v1/devices").json()
    assert [(d["device"], d["state"]) for d in devices] == [(TABLET, "online")]
    wrong = client.post(
        f"/api/v1/kiosk/{TABLET}/status", json={**status, "kind": "kiosk"}, headers=_bearer(token)
    )
    assert wrong.status_code == 422
    broken = client.post(
        f"/api/v1/kiosk/{TABLET}/status", json={**status, "boot": -1}, headers=_bearer(token)
    )
    assert broken.status_code == 422 and "schema" in broken.json()["detail"]
    # no heartbeat for STALE_MS: the hub stores the tablet's last will
    conn = sqlite3.connect(db)
    try:
        (seen,) = conn.execute("SELECT last_status_at FROM devices WHERE device = ?", (TABLET,)).fetchone()
        stats = IngestStats()
        assert webkiosk.expire(conn, Contract(site=SITE), SITE, stats, seen + webkiosk.STALE_MS - 1) == []
        assert webkiosk.expire(conn, Contract(site=SITE), SITE, stats, seen + webkiosk.STALE_MS + 1) == [
            TABLET
        ]
    finally:
        conn.close()
    assert _rows(db, "SELECT state FROM devices WHERE device = ?", (TABLET,)) == [("offline",)]


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _signed_in(client: TestClient, db: Path, role: str = auth.ADMIN) -> str:
    """Sign ``client`` in (an admin, or a user of ``role`` the admin made); the page's CSRF token."""
    store = Store.open(db)
    try:
        if auth.user_count(store.conn) == 0:
            auth.create_first_admin(store.conn, "admin", "correct horse", "correct horse")
        name = "admin"
        if role != auth.ADMIN:
            name = role
            auth.create_user(store.conn, name, "correct horse", role, by="admin", again="correct horse")
    finally:
        store.close()
    client.cookies.clear()
    token = CSRF.search(client.get("/login").text)[1]
    answer = client.post("/login", data={"username": name, "password": "correct horse", "csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text[-300:]
    return CSRF.search(client.get("/devices").text)[1]


def test_an_admin_adds_a_web_kiosk_on_the_devices_page_and_revokes_it(hub):
    db, client = hub
    csrf = _signed_in(client, db)
    page = client.get("/devices").text
    assert 'action="/devices/webkiosk"' in page and "Добавить веб-киоск" in page
    shown = client.post("/devices/webkiosk", data={"device": TABLET, "csrf": csrf})
    assert shown.status_code == 200, shown.text[-300:]
    link = re.search(r'value="(http://testserver/kiosk/tablet-01#t=([^"]+))"', shown.text)
    assert link, shown.text[-2000:]
    token = link[2]
    assert re.search(r'<div class="qr"><svg [^>]*class="segno"', shown.text)  # the QR code, inline SVG
    assert shown.headers["cache-control"] == "no-store"
    assert _rows(db, "SELECT token_hash FROM kiosk_tokens WHERE device = ?", (TABLET,)) == [
        (hashlib.sha256(token.encode()).hexdigest(),)
    ]
    again = client.get("/devices").text  # never shown again
    assert token not in again and "#t=" not in again
    assert 'action="/devices/tablet-01/revoke"' in again and "веб-киоск" in again
    url = f"/api/v1/kiosk/{TABLET}/events"
    kiosk = TestClient(client.app)  # the tablet: no session, its token
    assert kiosk.post(url, json=_answers(), headers=_bearer(token)).status_code == 200
    bad = client.post("/devices/webkiosk", data={"device": "Tablet 1", "csrf": csrf})
    assert bad.status_code == 400
    revoked = client.post(f"/devices/{TABLET}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert revoked.status_code == 303
    after = client.get(revoked.headers["location"]).text
    assert "доступ отозван" in after and 'action="/devices/tablet-01/revoke"' not in after
    refused = kiosk.post(url, json=_answers(), headers=_bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert _rows(db, "SELECT count(*) FROM events WHERE device = ?", (TABLET,)) == [(4,)]  # history stays


def test_only_an_admin_adds_or_revokes_a_web_kiosk(hub):
    db, client = hub
    _provision(db)
    _signed_in(client, db)
    csrf = _signed_in(client, db, auth.MANAGER)
    page = client.get("/devices").text
    assert 'action="/devices/webkiosk"' not in page and "/revoke" not in page
    assert client.post("/devices/webkiosk", data={"device": "tablet-09", "csrf": csrf}).status_code == 403
    assert client.post(f"/devices/{TABLET}/revoke", data={"csrf": csrf}).status_code == 403
    assert _rows(db, "SELECT device FROM kiosk_tokens") == [(TABLET,)]


# --- the web kiosk's routes under the fuzzer, with the kiosk's own token ---------------------------

_KIOSK_DOC = create_app(Runtime(SITE, Path("/nonexistent/otklik-kiosk-schema.db"), "mqtt://test")).openapi()
kiosk_schema = schemathesis.openapi.from_dict(
    {**_KIOSK_DOC, "paths": {p: v for p, v in _KIOSK_DOC["paths"].items() if p.startswith("/api/v1/kiosk/")}},
    config=schemathesis.Config.from_dict(
        {
            "seed": 20261207,
            "parameters": {"device": TABLET},  # the token's own device: past the access check
            "generation": {"mode": "all", "max-examples": 25, "deterministic": True, "database": "none"},
            "phases": {"coverage": {"enabled": True}, "stateful": {"enabled": False}},
            "operations": [
                {  # a status the contract refuses is a documented 422 for a schema-valid body
                    "include-path-regex": r"/status$",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422"]}},
                }
            ],
        }
    ),
)


@pytest.fixture(scope="module")
def kiosk_served(tmp_path_factory):
    from tests.edge_hub.api.test_fuzz_api import _Served

    db = tmp_path_factory.mktemp("kiosk-fuzz") / "hub.db"
    Store.open(db).close()
    token = _provision(db)
    TestClient(create_app(Runtime(SITE, db, "mqtt://test"))).put(
        "/api/v1/survey",
        json={"questions": [{"id": "csat", "text": {"ru": "Как вас обслужили?"}, "scale": "csat5"}]},
    ).raise_for_status()
    served = _Served(db)
    yield served.url, {"Authorization": f"Bearer {token}"}
    served.stop()
    # the fuzzer got past the access check: its events and statuses reached the ingest path
    topics = {topic for (topic,) in _rows(db, "SELECT DISTINCT topic FROM quarantine")}
    assert {mqtt_schemas.topic(SITE, TABLET, "event"), mqtt_schemas.topic(SITE, TABLET, "status")} <= topics


@kiosk_schema.parametrize()
@settings(derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck), max_examples=25)  # fmt: skip
def test_the_kiosk_routes_conform_to_their_schema(case, kiosk_served):
    base_url, headers = kiosk_served
    case.call_and_validate(base_url=base_url, headers=headers, timeout=30)


def test_web_kiosks_and_mqtt_ingest_side_by_side_count_every_press_once(hub):
    """Two writers of events (the ingest thread, a web kiosk's request): each commit takes the write
    lock before it reads where its new events start, so no press is counted twice or missed."""
    import threading

    from tests.helpers import FedHub

    db, client = hub
    token = _provision(db)
    fed = FedHub(db)
    t0 = 1_795_000_000_000

    def mqtt() -> None:
        for b in range(30):
            fed.presses([(t0 + b * 60_000 + j * 7_000, 4, "btn-01", "csat", {}) for j in range(8)])

    def web() -> None:
        for b in range(30):
            batch = [
                {"v": 1, "type": "press", "device": TABLET, "inc": INC, "boot": 1, "seq": b * 8 + j + 1,
                 "up": 1000 + b * 8 + j, "ts": t0 + b * 60_000 + j * 7_000, "session": f"s{b}",
                 "question": "csat",
                 "value": 5, "dwell_ms": 900}
                for j in range(8)
            ]  # fmt: skip
            answer = client.post(f"/api/v1/kiosk/{TABLET}/events", json=batch, headers=_bearer(token))
            assert answer.status_code == 200 and answer.json()["stored"] == 8, answer.text

    threads = [threading.Thread(target=mqtt), threading.Thread(target=web)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    fed.close()
    counted: dict[str, int] = {}
    for device, counts, flagged in _rows(db, "SELECT device, counts, flagged FROM aggregates"):
        total = sum(orjson.loads(counts).values())
        total += sum(sum(v.values()) for v in orjson.loads(flagged or "{}").values())
        counted[device] = counted.get(device, 0) + total
    assert _rows(db, "SELECT device, count(*) FROM events GROUP BY device ORDER BY device") == [
        ("btn-01", 240), (TABLET, 240),
    ]  # fmt: skip
    assert counted == {"btn-01": 240, TABLET: 240}
