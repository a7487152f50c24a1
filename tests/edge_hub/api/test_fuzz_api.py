"""The JSON API under a fuzzer (issue 12, point 4): schemathesis 4 generates requests from the app's
own OpenAPI document, valid and invalid, and checks every answer, against real hubs served by
uvicorn on loopback (real SQLite, real HTTP), for three callers:

- ``write``: a hub with an account, called with an ``api:write`` token: every operation, with the
  whole coverage phase (the boundary values and each way to break every parameter, an unexpected
  method per path) and ``MAX_EXAMPLES`` generated examples, valid and invalid;
- ``read``: the same hub and server, called with an ``api:read`` token: only the operations that
  change something, where its access differs from ``write`` (never a 2xx); its reads would be the
  very requests ``write`` sends, answered by the same code;
- ``open``: a new hub before its first account (the API is open then, as for ``/setup``): every
  operation, ``LIGHT_EXAMPLES`` generated examples each (what lies behind the access check is what
  ``write`` covers).

Checks: every stateless check of ``schemathesis run --checks all`` (no 5xx, each answer in its
declared schema, status codes and content types documented, valid requests accepted and invalid
ones refused, 405 with an exact ``Allow``, missing required headers refused). Deterministic: a fixed
seed, derandomized generation, no example database, no shrinking (a failure is reported as found).

Where the time goes, and why the file runs in about half a minute on 2 cores: hypothesis's own
generation is cheap; the cost is requests, ~10 ms each through schemathesis, uvicorn, the app and
SQLite, and the coverage phase alone is ~1,800 of them for one caller (``PUT /settings`` and
``/export`` ~450). So the coverage phase runs for one caller only (``write``), the other two get a
few generated examples per operation, the two servers (open, with an account) start once for the
module, the document is built once, and nothing is shrunk. (The 12 minutes this once took were
metrics requests over thousands of years: one by the day took 20 s, one by the hour grew past
16 GB; the API now refuses more than 10,000 points with a 422.)

Two deliberate allowances, each a rule the OpenAPI document cannot express:
- ``/healthz`` answers 503 here (no broker: degraded) and documents it, so the 5xx check skips it;
- the operations in ``SEMANTIC_422`` refuse some schema-valid input with a documented 422 ('to'
  after 'from', a period or row limit, an unknown id named in the body, a CSV with bad lines, an
  unknown weekday in the settings), so for them a 422 counts as an acceptable answer to valid data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from edge_hub.api import auth
from edge_hub.app import create_app
from edge_hub.db.store import Store
from edge_hub.runtime import Runtime
from edge_hub.sync import tokens as sync_tokens
from edge_hub.transport.broker import free_port
from tests.helpers import SITE, FedHub, wait_until

SEED = 20261205
#: generated examples per operation for the caller with the coverage phase, and for the others
MAX_EXAMPLES = 20
LIGHT_EXAMPLES = 5
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z

SEMANTIC_422 = (
    r"^/api/v1/metrics/"
    r"|^/api/v1/export$"
    r"|^/api/v1/shifts(/import)?$"
    r"|^/api/v1/windows/\{window_id\}$"
    r"|^/api/v1/devices/\{device\}/window$"
    r"|^/api/v1/served$"
    r"|^/api/v1/settings$"
    r"|^/api/v1/survey(/report)?$"  # the contract's config schema and the earlier-question rule; a period
    r"|^/api/v1/surveys/"  # the same survey rules; assigning to devices or departments that exist
)
_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
#: the methods that change something: where an api:read token is refused
_WRITES = {"POST", "PUT", "DELETE", "PATCH"}
_HTTP_METHODS = {*_WRITES, "GET", "HEAD", "OPTIONS", "TRACE"}


def _config(*, coverage: bool, examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
            "operations": [
                {
                    "include-path-regex": SEMANTIC_422,
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*_POSITIVE, "422"]}},
                }
            ],
        }
    )


class _Served:
    """A hub's app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, db: Path) -> None:
        self.app = create_app(Runtime(SITE, db, "mqtt://test", None, None))
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "uvicorn to start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _fill(db: Path) -> None:
    """Something of everything, so that the answers have content to conform: scopes, a shift,
    presses (a critic among them, so an alert), readings (812.5 ppm), a visit, a status and
    messages in quarantine."""
    Store.open(db).close()
    api = TestClient(create_app(Runtime(SITE, db, "mqtt://test", None, None)))
    for method, path, body in (
        ("PUT", "/api/v1/departments/d1", {"name": "Отдел 1"}),
        ("PUT", "/api/v1/windows/w1", {"department": "d1", "name": "Окно 1"}),
        ("PUT", "/api/v1/operators/op1", {"name": "Иванова"}),
        ("PUT", "/api/v1/devices/btn-01/window", {"window": "w1"}),
        (
            "POST",
            "/api/v1/shifts",
            {
                "operator": "op1",
                "window": "w1",
                "start": "2026-11-18T08:00:00Z",
                "end": "2026-11-18T18:00:00Z",
            },
        ),
        ("PUT", "/api/v1/served", {"day": "2026-11-18", "window": "w1", "count": 40}),
    ):
        answer = api.request(method, path, json=body)
        assert answer.status_code in (200, 201), answer.text
    hub = FedHub(db)
    try:
        hub.presses([(T0 + i * 90_000, i % 5 + 1, "btn-01", "csat", {}) for i in range(12)])
        hub.press(T0 + 3_600_000, 1, comment="долго ждал", callback=True)
        hub.reading(T0, "co2", 812.5)
        hub.reading(T0 + 60_000, "temperature", 22.5)
        hub.visit(T0, "happy")
        hub.status("btn-01", T0, fw="0.1.0", rssi=-50, battery_mv=3900)
        hub.send(f"otk/v1/{SITE}/btn-02/event", {"v": 1}, T0)  # breaks the contract: quarantine
    finally:
        hub.close()
    assert api.post("/api/v1/alerts/evaluate").status_code == 200


@pytest.fixture(scope="module")
def hubs(tmp_path_factory) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """caller -> (base URL, headers): one server for the open hub, one for the hub with an account."""
    open_db = tmp_path_factory.mktemp("fuzz-open") / "hub.db"
    auth_db = tmp_path_factory.mktemp("fuzz-auth") / "hub.db"
    _fill(open_db)
    _fill(auth_db)
    store = Store.open(auth_db)
    try:
        auth.create_first_admin(store.conn, "admin", "correct horse", "correct horse")
        read = sync_tokens.create_token(store.conn, sync_tokens.SCOPE_API_READ, "fuzz-read")
        write = sync_tokens.create_token(store.conn, sync_tokens.SCOPE_API_WRITE, "fuzz-write")
    finally:
        store.close()
    served_open, served_auth = _Served(open_db), _Served(auth_db)
    try:
        yield {
            "open": (served_open.url, {}),
            "read": (served_auth.url, {"Authorization": f"Bearer {read}"}),
            "write": (served_auth.url, {"Authorization": f"Bearer {write}"}),
        }
    finally:
        served_open.stop()
        served_auth.stop()


def _schema_document() -> dict:
    db = Path("/nonexistent/otklik-fuzz-schema.db")  # only the document is read from this app
    return create_app(Runtime(SITE, db, "mqtt://test", None, None)).openapi()


_DOCUMENT = _schema_document()
full_schema = schemathesis.openapi.from_dict(_DOCUMENT, config=_config(coverage=True, examples=MAX_EXAMPLES))
light_schema = schemathesis.openapi.from_dict(
    _DOCUMENT, config=_config(coverage=False, examples=LIGHT_EXAMPLES)
)
#: (``BaseSchema.include`` cannot narrow it: the config's per-operation section counts as an include)
write_ops_schema = schemathesis.openapi.from_dict(
    {
        **_DOCUMENT,
        "paths": {
            path: {
                key: op
                for key, op in item.items()
                if key.upper() not in _HTTP_METHODS or key.upper() in _WRITES
            }
            for path, item in _DOCUMENT["paths"].items()
            if any(key.upper() in _WRITES for key in item)
        },
    },
    config=_config(coverage=False, examples=LIGHT_EXAMPLES),
)

_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # examples and coverage, then generation; no shrinking
    suppress_health_check=list(HealthCheck),
)


def _call(case, caller: str, hubs):
    base_url, headers = hubs[caller]
    excluded = [not_a_server_error] if case.path == "/healthz" else []
    return case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded, timeout=30)


@full_schema.parametrize()
@settings(_SETTINGS, max_examples=MAX_EXAMPLES)
def test_api_conforms_to_its_schema_write(case, hubs):
    _call(case, "write", hubs)


@write_ops_schema.parametrize()
@settings(_SETTINGS, max_examples=LIGHT_EXAMPLES)
def test_api_conforms_to_its_schema_read(case, hubs):
    response = _call(case, "read", hubs)
    assert not 200 <= response.status_code < 300, (
        f"{case.method} {case.formatted_path} changed something with an api:read token"
    )


@light_schema.parametrize()
@settings(_SETTINGS, max_examples=LIGHT_EXAMPLES)
def test_api_conforms_to_its_schema_open(case, hubs):
    _call(case, "open", hubs)


def test_the_fuzzer_runs_against_every_operation():
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in full_schema.get_all_operations())}
    assert ("GET", "/api/v1/events") in operations and ("POST", "/api/v1/shifts/import") in operations
    assert len(operations) >= 39
    writes = {(op.method.upper(), op.path) for op in (r.ok() for r in write_ops_schema.get_all_operations())}
    assert writes == {(method, path) for method, path in operations if method in _WRITES}
