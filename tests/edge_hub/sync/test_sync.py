"""Sync to the central server: tokens, the pull API, the reference puller and the push mode.

Hubs are real SQLite files fed through the real ingest path (contract -> Ingestor.process ->
commit -> aggregates), served over real HTTP by uvicorn on a free port; the puller talks to them
with httpx, in-process or as the ``edge-hub sync pull`` command in a child process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from edge_hub.app import create_app
from edge_hub.cli import cli
from edge_hub.db.store import Store
from edge_hub.errors import SyncError
from edge_hub.metrics import aggregates
from edge_hub.runtime import Runtime
from edge_hub.sync import page as sync_page
from edge_hub.sync import pull as sync_pull
from edge_hub.sync import push as sync_push
from edge_hub.sync import tokens as sync_tokens
from tests.helpers import SITE, FedHub, free_port, wait_until

H = 3_600_000
MIN = 60_000
# Monday 2026-11-23 07:00 UTC (10:00 in Moscow)
MON = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
ROOT = Path(__file__).resolve().parents[3]


class SyncedHub(FedHub):
    """A hub database fed presses through the real ingest path; remembers what was pressed."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.pressed: Counter[tuple[str, str, str]] = Counter()  # (device, question, value) -> presses

    def presses(self, items: list[tuple[int, int, str]], question: str = "csat") -> None:  # type: ignore[override]
        """Press (ts, value, device) each, in one ingest batch."""
        super().presses([(ts, value, device, question, {}) for ts, value, device in items])
        for _, value, device in items:
            self.pressed[(device, question, str(value))] += 1

    @property
    def hub_id(self) -> str:
        return sync_page.hub_id(self.conn)

    def buckets(self) -> dict[str, tuple]:
        return {
            key: (revision, orjson.loads(counts), orjson.loads(flagged))
            for key, revision, counts, flagged in self.conn.execute(
                "SELECT key, revision, counts, flagged FROM aggregates"
            )
        }


def day_of_presses(
    hub: SyncedHub, devices: tuple[str, ...], hours: int, per_hour: int, start: int = MON
) -> None:
    """Presses spread over ``hours`` hours: values cycle 1..5, one batch per hour."""
    values = count()
    for h in range(hours):
        hub.presses(
            [
                (start + h * H + i * 7 * MIN + d * 1000, next(values) % 5 + 1, device)
                for i in range(per_hour)
                for d, device in enumerate(devices)
            ]
        )


class Served:
    """The hub's real API app, behind uvicorn in a thread on a free loopback port."""

    def __init__(self, app) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def make_hub(tmp_path):
    hubs: list[SyncedHub] = []

    def make(name: str) -> SyncedHub:
        hub = SyncedHub(tmp_path / name / "hub.db")
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def serve():
    servers: list[Served] = []

    def start(app) -> Served:
        servers.append(Served(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def hub_app(hub: SyncedHub, site: str = SITE) -> FastAPI:
    return create_app(Runtime(site, hub.path, "mqtt://test"))


def central_rows(central: Path, hub_id: str) -> dict[str, tuple]:
    conn = sqlite3.connect(central)
    try:
        return {
            key: (revision, orjson.loads(counts), orjson.loads(flagged))
            for key, revision, counts, flagged in conn.execute(
                "SELECT key, revision, counts, flagged FROM central_buckets WHERE hub_id = ?", (hub_id,)
            )
        }
    finally:
        conn.close()


def central_dump(central: Path) -> list[tuple]:
    conn = sqlite3.connect(central)
    try:
        return (
            conn.execute("SELECT * FROM central_buckets ORDER BY hub_id, key").fetchall()
            + conn.execute("SELECT * FROM central_cursors ORDER BY hub_id").fetchall()
        )
    finally:
        conn.close()


def central_totals(central: Path, hub_id: str) -> Counter[tuple[str, str, str]]:
    """(device, question, value) -> presses, over the central copy of one hub: trusted + flagged."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for key, (_, counts, flagged) in central_rows(central, hub_id).items():
        _, device, question, _, _ = key.split("|")
        for histogram in (counts, *flagged.values()):
            for value, n in histogram.items():
                totals[(device, question, value)] += n
    return +totals


def cursor_of(central: Path, hub_id: str) -> int | None:
    conn = sqlite3.connect(central)
    try:
        row = conn.execute("SELECT last_seq FROM central_cursors WHERE hub_id = ?", (hub_id,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


class CutAfter(httpx.BaseTransport):
    """A network that dies after ``pages`` requests (the cable is cut mid-pull)."""

    def __init__(self, pages: int) -> None:
        self.left = pages
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left <= 0:
            raise httpx.ConnectError("cable cut", request=request)
        self.left -= 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_is_random_shown_once_stored_only_as_a_hash_and_revocable(make_hub):
    conn = make_hub("a").conn
    token = sync_tokens.create_token(conn, name="central-msk")
    other = sync_tokens.create_token(conn)
    assert token.startswith("otk_") and len(token) >= 40 and token != other
    stored = conn.execute("SELECT * FROM sync_tokens").fetchall()
    assert not any(token in str(v) or token[4:] in str(v) for row in stored for v in row)
    assert sync_tokens.check_token(conn, token, "sync:read")
    assert sync_tokens.check_token(conn, other, "sync:read")
    assert not sync_tokens.check_token(conn, token, "admin")
    assert not sync_tokens.check_token(conn, token + "x", "sync:read")
    assert not sync_tokens.check_token(conn, "", "sync:read")
    (info,) = [t for t in sync_tokens.list_tokens(conn) if t.name == "central-msk"]
    assert sync_tokens.revoke_token(conn, info.id) is True
    assert sync_tokens.revoke_token(conn, info.id) is False  # already revoked
    assert not sync_tokens.check_token(conn, token, "sync:read")
    assert sync_tokens.check_token(conn, other, "sync:read")
    with pytest.raises(sync_tokens.TokenNotFound):
        sync_tokens.revoke_token(conn, 999)
    with pytest.raises(SyncError, match="unknown scope"):
        sync_tokens.create_token(conn, scope="admin")


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(make_hub):
    hub = make_hub("a")
    day_of_presses(hub, ("btn-01", "btn-02"), hours=6, per_hour=3)
    return hub, TestClient(hub_app(hub))


def test_the_pull_api_wants_a_live_bearer_token_with_the_sync_read_scope(api):
    hub, client = api
    url = "/api/v1/sync/aggregates"
    token = sync_tokens.create_token(hub.conn, name="central")
    revoked = sync_tokens.create_token(hub.conn)
    sync_tokens.revoke_token(hub.conn, sync_tokens.find_token(hub.conn, revoked).id)
    # a token of another scope (a later version's), written as such a version would
    hub.conn.execute(
        "INSERT INTO sync_tokens (name, scope, token_hash, created_at) VALUES ('x', 'admin', ?, 0)",
        (sync_tokens._hash("otk_other_scope"),),
    )
    hub.conn.commit()
    for headers in (
        {},
        {"Authorization": f"Basic {token}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer otk_wrong"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {revoked}"},
    ):
        r = client.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer"), headers
        assert " / " in r.json()["detail"]
    r = client.get(url, headers={"Authorization": "Bearer otk_other_scope"})
    assert r.status_code == 403 and "insufficient_scope" in r.headers["www-authenticate"]
    assert sync_tokens.find_token(hub.conn, token).last_used_at is None
    ok = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    body = ok.json()
    assert body["hub_id"] == hub.hub_id and body["site"] == SITE and len(body["items"]) == 12
    item = body["items"][0]
    assert set(item) == {"key", "seq", "revision", "hour", "device", "question", "window", "operator",
                         "kind", "counts", "flagged", "n"}  # fmt: skip
    assert item["hour"] == "2026-11-23T07:00:00Z" and item["kind"] == "answers"
    assert item["n"] == sum(item["counts"].values())
    assert sync_tokens.find_token(hub.conn, token).last_used_at is not None
    auth = {"Authorization": f"Bearer {token}"}
    bad_params = (
        ({"limit": 0}, 422),
        ({"limit": 5001}, 422),
        ({"after": "x"}, 400),
        ({"after": "9" * 30}, 400),
    )
    for params, status in bad_params:
        assert client.get(url, params=params, headers=auth).status_code == status
    assert client.get(url, params={"limit": 5000}, headers=auth).status_code == 200


def test_pages_are_stable_in_seq_order_and_a_late_event_shows_its_bucket_again(api):
    hub, client = api
    auth = {"Authorization": f"Bearer {sync_tokens.create_token(hub.conn)}"}

    def walk(after: str | None, limit: int) -> tuple[list[dict], str | None]:
        items, cursor = [], after
        while True:
            params = {"limit": limit, **({"after": cursor} if cursor else {})}
            body = client.get("/api/v1/sync/aggregates", params=params, headers=auth).json()
            items += body["items"]
            if body["next_cursor"] is None:
                return items, str(items[-1]["seq"]) if items else cursor
            assert body["next_cursor"] == str(body["items"][-1]["seq"]) and len(body["items"]) == limit
            cursor = body["next_cursor"]

    items, last = walk(None, 5)
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 12
    assert {i["key"] for i in items} == set(hub.buckets())
    assert walk(None, 5)[0] == items and walk(None, 1000)[0] == items  # the same answer again
    high = client.get("/api/v1/sync/aggregates", params={"after": last}, headers=auth).json()
    assert high["items"] == [] and high["next_cursor"] is None and high["high_water"] == int(last)
    # a late press for the first hour: only that bucket comes again, with the next revision
    hub.presses([(MON + 30 * MIN, 2, "btn-01")])
    again, _ = walk(last, 5)
    first = aggregates.bucket_key(MON, "btn-01", "csat", "", "")
    assert [i["key"] for i in again] == [first]
    assert again[0]["revision"] == 2 and again[0]["seq"] == int(last) + 1
    assert sum(again[0]["counts"].values()) + sum(sum(f.values()) for f in again[0]["flagged"].values()) == 4


# --- the reference puller -----------------------------------------------------------------------


def test_two_hubs_late_events_and_an_interrupted_pull_count_every_press_exactly_once(
    make_hub, serve, tmp_path
):
    central = tmp_path / "central.db"
    north, south = make_hub("north"), make_hub("south")
    day_of_presses(north, ("btn-01", "btn-02", "btn-03"), hours=8, per_hour=4)
    day_of_presses(south, ("btn-01", "btn-02"), hours=5, per_hour=6, start=MON + 2 * H)
    assert north.hub_id != south.hub_id
    hubs = {}
    for hub in (north, south):
        hubs[hub.hub_id] = (hub, serve(hub_app(hub)).url, sync_tokens.create_token(hub.conn, name="central"))

    # a first full pull of both
    for hub, url, token in hubs.values():
        pages: list[sync_pull.PageProgress] = []
        stats = sync_pull.pull(url, token, central, limit=4, progress=pages.append)
        assert stats.hub_id == hub.hub_id and stats.items == len(hub.buckets()) == stats.new
        assert [p.number for p in pages] == list(range(1, len(pages) + 1)) and len(pages) == stats.pages
        assert central_totals(central, hub.hub_id) == hub.pressed
        assert central_rows(central, hub.hub_id) == hub.buckets()

    # late events: presses for old hours (they bump those buckets) and new ones, on both hubs
    north.presses(
        [(MON + 10 * MIN, 1, "btn-02"), (MON + 3 * H + MIN, 5, "btn-03"), (MON + 9 * H, 4, "btn-01")]
    )
    north.presses([(MON + H + 2 * MIN, 3, "btn-01"), (MON + 2 * MIN, 2, "btn-04")])
    south.presses([(MON + 2 * H + 5 * MIN, 1, "btn-01"), (MON + 2 * H + 6 * MIN, 1, "btn-01")])
    changed = {hub.hub_id: hub for hub in (north, south)}
    revisions = [r for r, _, _ in north.buckets().values()]
    assert max(revisions) >= 2  # some buckets really changed

    # the north pull dies after two pages: what came is committed with its cursor, nothing else
    _, n_url, n_token = hubs[north.hub_id]
    before = cursor_of(central, north.hub_id)
    transport = CutAfter(2)
    with httpx.Client(transport=transport) as client, pytest.raises(SyncError, match="cannot reach"):
        sync_pull.pull(n_url, n_token, central, limit=2, client=client)
    first_two = sync_page.page(north.conn, before, 4)["items"]
    assert cursor_of(central, north.hub_id) == first_two[3]["seq"]
    assert central_totals(central, north.hub_id) != north.pressed  # not everything yet ...
    held = central_rows(central, north.hub_id)
    assert all(held[i["key"]][0] == i["revision"] for i in first_two)
    (pending,) = sync_page.page(north.conn, first_two[3]["seq"], 10)["items"]
    assert held.get(pending["key"], (0,))[0] < pending["revision"]
    # ... and a progress callback that blows up after its page was stored: the page stays
    with pytest.raises(RuntimeError):
        sync_pull.pull(n_url, n_token, central, limit=1, progress=_explode)
    assert cursor_of(central, north.hub_id) == pending["seq"]

    # resumed: every press counted exactly once, on both hubs; the central copy is the hub's
    for hub_id, hub in changed.items():
        _, url, token = hubs[hub_id]
        stats = sync_pull.pull(url, token, central, limit=3)
        assert stats.new + stats.updated == stats.items
        assert central_totals(central, hub_id) == hub.pressed
        assert central_rows(central, hub_id) == hub.buckets()
    assert sum(north.pressed.values()) == 8 * 4 * 3 + 5
    assert sum(south.pressed.values()) == 5 * 6 * 2 + 2

    # pulling again changes nothing: incrementally (nothing new) or from the very start
    snapshot = central_dump(central)
    for hub_id in changed:
        _, url, token = hubs[hub_id]
        again = sync_pull.pull(url, token, central, limit=5)
        assert (again.items, again.new, again.updated) == (0, 0, 0)
        full = sync_pull.pull(url, token, central, limit=5, from_start=True)
        assert full.items == len(changed[hub_id].buckets()) == full.unchanged
    assert central_dump(central) == snapshot


def _explode(progress: sync_pull.PageProgress) -> None:
    raise RuntimeError("the puller crashed after storing a page")


def test_an_old_or_repeated_page_never_overwrites_a_newer_revision(make_hub, tmp_path):
    hub = make_hub("a")
    hub.presses([(MON, 5, "btn-01"), (MON + H, 4, "btn-01")])
    old = sync_page.page(hub.conn, 0, 100)
    hub.presses([(MON + 5 * MIN, 1, "btn-01")])  # late: revision 2 of the first hour
    new = sync_page.page(hub.conn, 0, 100)
    conn = sync_pull.open_central(tmp_path / "central.db")
    try:
        assert sync_pull.apply_page(conn, new) == sync_pull.Applied(2, 0, 0, new["high_water"])
        # the old page arrives late (out of order), then the new one again
        assert sync_pull.apply_page(conn, old) == sync_pull.Applied(0, 0, 2, new["high_water"])
        assert sync_pull.apply_page(conn, new) == sync_pull.Applied(0, 0, 2, new["high_water"])
        rows = dict(conn.execute("SELECT key, revision FROM central_buckets"))
    finally:
        conn.close()
    assert rows == {k: r for k, (r, _, _) in hub.buckets().items()}
    assert sorted(rows.values()) == [1, 2]


class Redirect(httpx.BaseTransport):
    """Sends every request to another server: the database behind a URL was replaced."""

    def __init__(self, to: str) -> None:
        self.to = httpx.URL(to)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host=self.to.host, port=self.to.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_replaced_hub_database_starts_its_own_cursor_and_a_restored_one_is_refused(
    make_hub, serve, tmp_path
):
    central = tmp_path / "central.db"
    old, new = make_hub("old"), make_hub("new")
    day_of_presses(old, ("btn-01",), hours=6, per_hour=2)
    day_of_presses(new, ("btn-01",), hours=2, per_hour=2)
    old_url, new_url = serve(hub_app(old)).url, serve(hub_app(new)).url
    old_token, new_token = sync_tokens.create_token(old.conn), sync_tokens.create_token(new.conn)
    assert sync_pull.pull(old_url, old_token, central).cursor == 6
    # the office's hub was reinstalled: a new database (new hub id) answers at the same URL
    with httpx.Client(transport=Redirect(new_url)) as client:
        stats = sync_pull.pull(old_url, new_token, central, client=client)
    assert (stats.hub_id, stats.items, stats.new) == (new.hub_id, 2, 2)
    assert central_totals(central, new.hub_id) == new.pressed
    assert central_totals(central, old.hub_id) == old.pressed
    # a hub database restored from a backup older than what the centre holds: refused, not mixed up
    backup = tmp_path / "backup.db"
    with sqlite3.connect(backup) as copy:
        old.conn.backup(copy)
    old.presses([(MON + 7 * H, 3, "btn-01")])
    sync_pull.pull(old_url, old_token, central)
    restored = serve(create_app(Runtime(SITE, backup, "mqtt://test"))).url
    with pytest.raises(SyncError, match="older backup"):
        sync_pull.pull(restored, old_token, central)
    assert central_totals(central, old.hub_id) == old.pressed


class Gate:
    """ASGI wrapper: lets ``open_requests`` pull requests through, then holds the rest."""

    def __init__(self, app, open_requests: int) -> None:
        self.app = app
        self.open_requests = open_requests
        self.seen = 0
        self.released = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/sync/aggregates"):
            self.seen += 1
            while self.seen > self.open_requests and not self.released:
                await asyncio.sleep(0.02)
        await self.app(scope, receive, send)


def test_edge_hub_sync_pull_killed_midway_resumes_without_counting_twice(make_hub, serve, tmp_path):
    hub = make_hub("a")
    day_of_presses(hub, ("btn-01", "btn-02"), hours=10, per_hour=2)
    token = sync_tokens.create_token(hub.conn)
    gate = Gate(hub_app(hub), open_requests=3)
    url = serve(gate).url
    central = tmp_path / "central.db"
    args = [sys.executable, "-m", "edge_hub.cli", "sync", "pull", "--from", url, "--into", str(central),
            "--limit", "2"]  # fmt: skip
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTK_")}, "OTK_SYNC_TOKEN": token}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: gate.seen > 3 or proc.poll() is not None, 30, "the 4th page request")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)  # no chance to finish anything
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    gate.released = True
    assert cursor_of(central, hub.hub_id) == sync_page.page(hub.conn, 0, 6)["items"][-1]["seq"]
    hub.presses([(MON + 15 * MIN, 1, "btn-02")])  # and a late one meanwhile
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "page 1: 2 buckets" in done.stderr and "cursor" in done.stderr
    assert f"hub {hub.hub_id} (site {SITE})" in done.stdout and "1 updated" in done.stdout
    assert central_totals(central, hub.hub_id) == hub.pressed
    assert central_rows(central, hub.hub_id) == hub.buckets()
    bad = subprocess.run([*args[:6], url, "--token", "otk_nope", "--into", str(central)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "refused the token" in bad.stderr and "Traceback" not in bad.stderr


# --- push mode ----------------------------------------------------------------------------------


def test_the_pusher_retries_with_backoff_and_delivers_each_change_once(make_hub, serve, tmp_path):
    hub = make_hub("a")
    day_of_presses(hub, ("btn-01",), hours=4, per_hour=3)
    central_path = tmp_path / "central.db"
    central = sync_pull.open_central(central_path)
    receiver = FastAPI()
    calls = {"n": 0, "bad_auth": 0}

    @receiver.post("/ingest")
    async def ingest(request: Request) -> Response:
        calls["n"] += 1
        if request.headers.get("authorization") != "Bearer central-secret":
            calls["bad_auth"] += 1
            return Response(status_code=401)
        if calls["n"] <= 2:  # the central server is down for a while
            return Response(status_code=503)
        sync_pull.apply_page(central, orjson.loads(await request.body()), source="push")
        return Response(status_code=204)

    url = serve(receiver).url + "/ingest"
    pusher = sync_push.Pusher(hub.path, url, "central-secret", site=SITE, limit=3, interval_s=0.05,
                         backoff_s=0.02, max_backoff_s=0.1)  # fmt: skip
    pusher.start()
    try:
        wait_until(lambda: central_totals(central_path, hub.hub_id) == hub.pressed, 20, "the first push")
        hub.presses([(MON + 20 * MIN, 1, "btn-01"), (MON + 5 * H, 5, "btn-01")])  # late + new
        pusher.wake()
        wait_until(lambda: central_rows(central_path, hub.hub_id) == hub.buckets(), 20, "the late push")
    finally:
        pusher.stop()
        central.close()
    assert central_totals(central_path, hub.hub_id) == hub.pressed and calls["bad_auth"] == 0
    assert pusher.status.failures == 0 and pusher.status.pushed == 4 + 2  # 4 hours, then 2 changes
    (state,) = hub.conn.execute("SELECT value FROM meta WHERE key = 'sync_push_cursor'").fetchone()
    assert orjson.loads(state) == {"url": url, "cursor": max(s for (s,) in hub.conn.execute(
        "SELECT seq FROM aggregates"))}  # fmt: skip


# --- the CLI ------------------------------------------------------------------------------------


def test_token_create_list_and_revoke_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OTK_CONFIG", raising=False)
    db = tmp_path / "hub.db"
    runner = CliRunner()
    created = runner.invoke(
        cli, ["token", "create", "--scope", "sync:read", "--name", "central", "--db", str(db)]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("otk_") and "\n" not in token
    assert "cannot be shown again" in created.stderr and "повторно" in created.stderr
    store = Store.open(db)
    try:
        assert sync_tokens.check_token(store.conn, token, "sync:read")
        token_id = sync_tokens.find_token(store.conn, token).id
    finally:
        store.close()
    listed = runner.invoke(cli, ["token", "list", "--db", str(db)])
    assert listed.exit_code == 0 and token not in listed.output
    assert f"{token_id}\tsync:read\tactive\t" in listed.stdout and listed.stdout.rstrip().endswith("central")
    assert runner.invoke(cli, ["token", "revoke", str(token_id), "--db", str(db)]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["token", "list", "--db", str(db)]).stdout
    again = runner.invoke(cli, ["token", "revoke", str(token_id), "--db", str(db)])
    assert again.exit_code == 0 and "already" in again.stdout
    unknown = runner.invoke(cli, ["token", "revoke", "99", "--db", str(db)])
    assert unknown.exit_code == 2 and "no token 99" in unknown.output
    bad_scope = runner.invoke(cli, ["token", "create", "--scope", "admin", "--db", str(db)])
    assert bad_scope.exit_code == 2
    store = Store.open(db)
    try:
        assert not sync_tokens.check_token(store.conn, token, "sync:read")
    finally:
        store.close()
