"""The hub's resource limits against the real app and real SQLite: the request body limit (2 MiB,
10 MiB for the shift import, 401 before an unknown caller's body is read), the shift import's
overlap sweep and its row and field caps, the bounded quarantine, the export's row cap at
step=day, POST /metrics/rebuild's role and span, and /healthz's cached writability check.

The sign-in limits (argon2 concurrency, X-Forwarded-For, per-address and per-name failures) and
the live stream's re-check are in tests/ui/test_security_limits.py.
"""

from __future__ import annotations

import csv
import dataclasses
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from edge_hub.api import auth
from edge_hub.api.main import MAX_BODY, MAX_UPLOAD
from edge_hub.api.routes import health
from edge_hub.app import create_app
from edge_hub.db import store
from edge_hub.db.store import Store
from edge_hub.ingest import commit as ingest_commit
from edge_hub.office import scopes
from edge_hub.office import shifts as shift_rules
from edge_hub.runtime import Runtime
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import SITE, FedHub, free_port, wait_until

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: 2026-01-05T00:00Z, where the generated shifts begin
BASE_MS = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
PASSWORD = "correct horse"


class Served:
    """The hub's app served by uvicorn in a thread on a free loopback port (as ``edge-hub run``
    serves it: no proxy headers), for what a TestClient cannot show (a body only partly sent)."""

    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(Runtime(SITE, db, "mqtt://test", None, None)),
                host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", proxy_headers=False,
            )
        )  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "uvicorn to start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Hub:
    """A hub database with its admin, an api:write token and a TestClient of its app."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.store = Store.open(db)
        self.conn = self.store.conn
        self.admin = auth.create_first_admin(self.conn, "admin", PASSWORD, PASSWORD)
        self.token = sync_tokens.create_token(self.conn, sync_tokens.SCOPE_API_WRITE, "limits")
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.api = TestClient(create_app(Runtime(SITE, db, "mqtt://test", None, None)))

    def shift_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM shifts").fetchone()[0]

    def close(self) -> None:
        self.api.close()
        self.store.close()


@pytest.fixture
def hub(tmp_path):
    h = Hub(tmp_path / "hub.db")
    yield h
    h.close()


@pytest.fixture
def served(hub):
    s = Served(hub.db)
    yield s
    s.stop()


# --- the request body limit ----------------------------------------------------------------------


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 3.0) -> tuple[int | None, bytes]:
    """Send ``head`` (a request line and headers, no blank line) and ``body`` as they are, then read
    the answer until the server closes or ``timeout`` passes: (status or None, what came back)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass  # the server closed with some of our body unread; what it answered is in data
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data


def post_head(
    path: str,
    length: int | None,
    *,
    token: str | None = None,
    kind: str = "application/json",
    method: str = "POST",
) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: hub", f"Content-Type: {kind}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return "\n".join(lines)


def chunked(data: bytes, size: int = 65536) -> bytes:
    return b"".join(
        f"{len(data[i : i + size]):x}\r\n".encode() + data[i : i + size] + b"\r\n"
        for i in range(0, len(data), size)
    )


def test_an_unknown_caller_is_refused_before_its_body_is_read(hub, served):
    """401 comes back while the caller has sent 1 byte of a declared 1 MB body, or one chunk of a
    chunked one: the hub did not wait for (or read) the rest. Without the early check the route
    would first wait for the whole body (FastAPI reads it before the access dependency runs)."""
    for token in (None, "otk_not-a-token"):
        status, answer = raw_request(served.port, post_head("/api/v1/shifts", 1_000_000, token=token), b"{")
        assert status == 401, answer[:300]
        assert b"www-authenticate: bearer" in answer.lower()
        assert "войдите".encode() in answer and b"bearer token" in answer
        status, answer = raw_request(
            served.port,
            post_head("/api/v1/operators/op1", None, token=token, method="PUT"),
            b"10\r\n" + b"x" * 16 + b"\r\n",
        )
        assert status == 401, answer[:300]


def test_bodies_over_2_mib_are_refused_with_413(hub, served):
    # a declared length over the limit: refused before anything is read, whoever asks
    for token in (hub.token, None):
        status, answer = raw_request(served.port, post_head("/api/v1/shifts", MAX_BODY + 1, token=token))
        assert status == 413, answer[:300]
        assert "request body too large: at most 2 MiB" in answer.decode()
        assert "тело запроса слишком большое: не больше 2 МиБ" in answer.decode()
    # a chunked body (no length) from a known caller: refused the moment it passes the limit
    body = chunked(b"[" + b" " * MAX_BODY + b"]")
    status, answer = raw_request(served.port, post_head("/api/v1/shifts", None, token=hub.token), body)
    assert status == 413, answer[:300]
    assert "at most 2 MiB" in answer.decode()
    # just under the limit the body reaches the route (which finds it is no shift: 422)
    under = hub.api.post("/api/v1/shifts", content=b"[" + b" " * (MAX_BODY - 2) + b"]", headers=hub.auth)
    assert under.status_code == 422, under.text[:300]


def test_a_shift_import_may_be_10_mib(hub, served):
    status, answer = raw_request(
        served.port, post_head("/api/v1/shifts/import", MAX_UPLOAD + 1, token=hub.token, kind="text/csv")
    )
    assert status == 413, answer[:300]
    assert "at most 10 MiB" in answer.decode() and "не больше 10 МиБ" in answer.decode()
    # the same path takes a 2.5 MiB file (a long comment column, ignored), over the general limit
    _staff(hub.conn, 5)
    rows = [
        (f"op{w}", f"w{w}", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS)
        for k in range(500)
        for w in range(5)
    ]
    comment = "x" * 1000
    text = "operator,window,start,end,comment\n" + "".join(
        f"{o},{w},{_t(a)},{_t(b)},{comment}\n" for o, w, a, b in rows
    )
    assert MAX_BODY < len(text) < MAX_UPLOAD
    answer = hub.api.post(
        "/api/v1/shifts/import", content=text.encode(), headers={**hub.auth, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 201, answer.text[:300]
    assert answer.json()["added"] == 2500 == hub.shift_count()


# --- the shift import: the overlap sweep, the row and field caps ---------------------------------


def _t(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _csv(rows: list[tuple[str, str, int, int]]) -> str:
    lines = ["operator,window,start,end"] + [f"{op},{w},{_t(a)},{_t(b)}" for op, w, a, b in rows]
    return "\n".join(lines) + "\n"


def _staff(conn: sqlite3.Connection, n: int) -> None:
    scopes.put_department(conn, "d1", "Отдел")
    for i in range(n):
        scopes.put_window(conn, f"w{i}", "d1", f"Окно {i}")
        scopes.put_operator(conn, f"op{i}", f"Оператор {i}")


def test_16000_back_to_back_shifts_import_with_a_few_queries(hub):
    """16,000 shifts, each window's and operator's end to end (an end equal to the next start is
    no overlap), all imported in one call. The overlap check costs a fixed number of SQL
    statements, not one per row, and ends (the former row-by-row check was quadratic)."""
    _staff(hub.conn, 20)
    rows = [
        (f"op{w}", f"w{w}", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS)
        for k in range(800)
        for w in range(20)
    ]
    assert len(rows) == 16_000
    statements: list[str] = []
    hub.conn.set_trace_callback(statements.append)
    try:
        result = shift_rules.import_shifts_csv(hub.conn, _csv(rows), UTC)
    finally:
        hub.conn.set_trace_callback(None)
    assert result.ok, result.errors[:3]
    assert result.added == 16_000 and hub.shift_count() == 16_000
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) < 20, f"{len(selects)} SELECTs for 16,000 rows: the check went row by row"


def test_overlaps_are_found_in_a_big_file(hub):
    """A big file of back-to-back shifts with planted conflicts: a long shift overlapped by a row
    that starts after a shorter one in between has ended (the sweep must keep the row reaching
    furthest), the same operator at two windows at once, a stored shift. Each is reported on its
    line, the adjacent ones are not, and nothing is stored."""
    _staff(hub.conn, 30)
    stored = shift_rules.add_shift(hub.conn, "op27", "w27", BASE_MS, BASE_MS + 2 * HOUR_MS)
    rows = [
        (f"op{w}", f"w{w}", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS)
        for k in range(500)
        for w in range(20)
    ]
    planted = [
        ("op20", "w25", BASE_MS, BASE_MS + 10 * HOUR_MS),  # the long one
        ("op21", "w25", BASE_MS + HOUR_MS, BASE_MS + 2 * HOUR_MS),  # inside it
        ("op22", "w25", BASE_MS + 5 * HOUR_MS, BASE_MS + 6 * HOUR_MS),  # inside it, after op21 ended
        ("op22", "w25", BASE_MS + 10 * HOUR_MS, BASE_MS + 11 * HOUR_MS),  # right after it: fine
        ("op23", "w23", BASE_MS, BASE_MS + 3 * HOUR_MS),
        ("op23", "w24", BASE_MS + 2 * HOUR_MS, BASE_MS + 4 * HOUR_MS),  # op23 at two windows
        ("op24", "w27", BASE_MS + HOUR_MS, BASE_MS + 2 * HOUR_MS),  # the stored shift's window
        ("op25", "w27", BASE_MS + 2 * HOUR_MS, BASE_MS + 3 * HOUR_MS),  # after it and op24: fine
    ]
    rows[4000:4000] = planted
    first = 4002  # the line of planted[0] (line 1 is the header)
    result = shift_rules.import_shifts_csv(hub.conn, _csv(rows), UTC)
    found = {(e.line, e.message.split(" / ")[0]) for e in result.errors}
    assert found == {
        (first + 1, f"overlaps line {first} (the same window w25)"),
        (first + 2, f"overlaps line {first} (the same window w25)"),
        (first + 5, f"overlaps line {first + 4} (the same operator op23)"),
        (first + 6, f"overlaps shift #{stored['id']}: op27 at window w27, 2026-01-05 00:00–02:00"),
    }, sorted(found)
    assert result.added == 0 and hub.shift_count() == 1


def test_more_than_20000_shifts_are_refused_with_413(hub):
    _staff(hub.conn, 25)
    rows = [
        (f"op{w}", f"w{w}", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS)
        for k in range(801)
        for w in range(25)
    ]
    assert len(rows) == shift_rules.MAX_IMPORT_ROWS + 25
    headers = {**hub.auth, "Content-Type": "text/csv"}
    answer = hub.api.post("/api/v1/shifts/import", content=_csv(rows).encode(), headers=headers)
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json()["detail"] == (
        "more than 20000 shifts in one file: split it / больше 20000 смен в одном файле: разделите его"
    )
    assert hub.shift_count() == 0


def test_the_row_cap_counts_shifts_not_lines(hub, monkeypatch):
    _staff(hub.conn, 1)
    monkeypatch.setattr(shift_rules, "MAX_IMPORT_ROWS", 30)
    rows = [("op0", "w0", BASE_MS + k * HOUR_MS, BASE_MS + (k + 1) * HOUR_MS) for k in range(31)]
    with pytest.raises(shift_rules.ImportTooLarge):
        shift_rules.import_shifts_csv(hub.conn, _csv(rows), UTC)
    text = _csv(rows[:30]).replace("\n", "\n\n")  # blank lines are no shifts
    assert shift_rules.import_shifts_csv(hub.conn, text, UTC).added == 30


def test_a_field_over_128_kib_is_refused_with_413(hub):
    _staff(hub.conn, 1)
    assert shift_rules.MAX_FIELD_CHARS == 128 * 1024
    text = _csv([("op0", "w0", BASE_MS, BASE_MS + HOUR_MS)])
    headers = {**hub.auth, "Content-Type": "text/csv"}
    long = text.replace("op0,w0", "op0,w0 " + "x" * shift_rules.MAX_FIELD_CHARS, 1)
    answer = hub.api.post("/api/v1/shifts/import", content=long.encode(), headers=headers)
    assert answer.status_code == 413, answer.text[:300]
    assert (
        answer.json()["detail"] == "line 2: a field is longer than 128 KiB / строка 2: поле длиннее 128 КиБ"
    )
    assert hub.shift_count() == 0
    # a quoted field may hold line breaks: still one field, still refused
    quoted = text.replace("op0,w0", 'op0,"' + "y\n" * (shift_rules.MAX_FIELD_CHARS // 2 + 1) + '"', 1)
    assert hub.api.post("/api/v1/shifts/import", content=quoted.encode(), headers=headers).status_code == 413
    assert hub.shift_count() == 0
    assert hub.api.post("/api/v1/shifts/import", content=text.encode(), headers=headers).status_code == 201
    assert csv.field_size_limit() == shift_rules.MAX_FIELD_CHARS  # nobody raised the csv module's limit


def test_a_file_that_is_no_csv_text_is_a_422_naming_the_line(hub):
    # found by the fuzzer: a lone CR answered 413 "too large", a byte cp1251 lacks (0x98) a 500
    _staff(hub.conn, 2)
    headers = {**hub.auth, "Content-Type": "text/csv"}
    text = _csv([("op0", "w0", BASE_MS, BASE_MS + HOUR_MS), ("op1", "w1", BASE_MS, BASE_MS + HOUR_MS)])
    old_mac = text.replace("\n", "\r").encode()  # lone CRs end lines (old Mac exports)
    assert hub.api.post("/api/v1/shifts/import", content=old_mac, headers=headers).status_code == 201
    assert hub.shift_count() == 2
    answer = hub.api.post("/api/v1/shifts/import", content=b"\x98\xff" + text.encode(), headers=headers)
    assert answer.status_code == 422, answer.text[:300]
    (error,) = answer.json()["detail"]["errors"]
    assert error["line"] == 1 and "Windows-1251" in error["message"] and " / " in error["message"]
    assert hub.shift_count() == 2


# --- the bounded quarantine ----------------------------------------------------------------------


def _quarantined(db: Path) -> list[int]:
    """received_at of the quarantine's rows, oldest first."""
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT received_at FROM quarantine ORDER BY id")]
    finally:
        conn.close()


def test_the_quarantine_keeps_the_newest_rows_and_drops_old_ones(tmp_path, monkeypatch):
    fed = FedHub(tmp_path / "hub.db")
    bad = {"v": 1}  # breaks the contract: quarantined
    now = int(time.time() * 1000)
    try:
        monkeypatch.setattr(ingest_commit, "QUARANTINE_MAX_ROWS", 5)
        for i in range(8):  # one ingest commit each
            fed.send(f"otk/v1/{SITE}/btn-01/event", bad, now - 1000 + i)
        assert _quarantined(fed.path) == [now - 1000 + i for i in range(3, 8)], "the newest 5 stay"
        # by age: rows 10 and 5 days old go once they pass the age limit, the 1 day old one stays
        monkeypatch.setattr(ingest_commit, "QUARANTINE_MAX_ROWS", 100)
        for days in (10, 5, 1):
            fed.send(f"otk/v1/{SITE}/btn-01/event", bad, now - days * DAY_MS)
        assert len(_quarantined(fed.path)) == 8, "all within 90 days"
        monkeypatch.setattr(ingest_commit, "QUARANTINE_MAX_AGE_DAYS", 3)
        fed.send(f"otk/v1/{SITE}/btn-01/event", bad, now)
        assert _quarantined(fed.path) == [now - 1000 + i for i in range(3, 8)] + [now - DAY_MS, now]
        # a backlog goes a bounded number of rows per commit: at most the added ones + the batch
        monkeypatch.setattr(ingest_commit, "QUARANTINE_MAX_ROWS", 2)
        monkeypatch.setattr(ingest_commit, "QUARANTINE_PRUNE_BATCH", 3)
        fed.send(f"otk/v1/{SITE}/btn-01/event", bad, now + 1)
        assert len(_quarantined(fed.path)) == 7 + 1 - 4
        fed.send(f"otk/v1/{SITE}/btn-01/event", bad, now + 2)
        assert _quarantined(fed.path) == [now + 1, now + 2]
    finally:
        fed.close()


# --- export, rebuild, healthz --------------------------------------------------------------------


def test_a_400_year_export_by_day_is_refused_with_422(hub):
    span = {"from": "1800-01-01T00:00:00Z", "to": "2200-01-01T00:00:00Z", "format": "csv"}
    for step, what in (("day", "daily"), ("hour", "hourly")):
        answer = hub.api.get("/api/v1/export", params={**span, "step": step}, headers=hub.auth)
        assert answer.status_code == 422, answer.text[:300]
        assert f"more than 10000 {what} rows" in answer.json()["detail"]
        assert " / больше 10000 строк" in answer.json()["detail"]


def test_a_metrics_rebuild_is_for_admins_and_at_most_400_days(hub):
    manager = auth.create_user(hub.conn, "boss", "manager password", auth.MANAGER, by="admin")
    year = {"from": "2026-01-01T00:00:00Z", "to": "2027-02-05T00:00:00Z"}  # 400 days
    too_long = {"from": "2026-01-01T00:00:00Z", "to": "2027-02-05T00:00:01Z"}

    def as_(user: auth.User, params: dict):
        token, session = auth.new_session(hub.conn, user, "127.0.0.1")
        hub.api.cookies.set("otk_session", token)
        try:
            return hub.api.post(
                "/api/v1/metrics/rebuild", params=params, headers={"X-CSRF-Token": session.csrf}
            )
        finally:
            hub.api.cookies.clear()

    refused = as_(manager, year)
    assert refused.status_code == 403 and "only an admin" in refused.json()["detail"]
    long = as_(hub.admin, too_long)
    assert long.status_code == 422 and "at most 400 days" in long.json()["detail"]
    assert as_(hub.admin, year).status_code == 200
    assert hub.api.post("/api/v1/metrics/rebuild", params=too_long, headers=hub.auth).status_code == 422
    assert hub.api.post("/api/v1/metrics/rebuild", params=year, headers=hub.auth).status_code == 200


def test_healthz_checks_writability_at_most_every_10_s(hub, monkeypatch):
    checks: list[str] = []

    def counted(path, *args, **kwargs):
        checks.append(str(path))
        return store.writable_error(path, *args, **kwargs)

    monkeypatch.setattr(health, "writable_error", counted)
    monkeypatch.setattr(health, "_probes", {})
    assert health.CHECK_EVERY_S == 10.0
    first = hub.api.get("/healthz").json()
    assert first["database"]["writable"] is True
    # a writer holding the lock does not slow the cached answer down (nor make it fail)
    blocker = sqlite3.connect(hub.db, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        for _ in range(5):
            again = hub.api.get("/healthz").json()
            assert again["database"] == first["database"]
        assert time.monotonic() - started < 1.5  # a fresh check would wait 2 s for the lock
    finally:
        blocker.rollback()
        blocker.close()
    assert len(checks) == 1, checks
    # once the 10 s have passed (the clock of the stored probe moved back 10 s) it checks again
    key = str(hub.db)
    probe = health._probes[key]
    monkeypatch.setitem(health._probes, key, dataclasses.replace(probe, at=probe.at - health.CHECK_EVERY_S))
    assert hub.api.get("/healthz").json()["database"]["writable"] is True
    assert len(checks) == 2
