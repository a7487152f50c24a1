"""`edge-hub demo` as a user runs it: its own Mosquitto, the hub, consoles, a touch kiosk and a
button-survey terminal running the real firmware, and the emotion monitor on its synthetic clip
of real faces; presses, survey answers and emotion visits arrive in the hub's database and its
API. Nothing is mocked but the devices' pins, chips and the visitors' fingers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from edge_hub.transport.broker import free_port
from tests.helpers import db_rows, wait_until


def test_the_demo_office_shows_presses_and_emotion_visits(tmp_path):
    port = free_port()
    data = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_hub.cli", "demo", "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}", "--devices", "2", "--rate", "60"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    log.close()

    def tail() -> str:
        text = (tmp_path / "demo.log").read_text(errors="replace")[-3000:]
        monitor = data / "camera" / "monitor.log"
        if monitor.exists():
            text += "\n--- monitor ---\n" + monitor.read_text(errors="replace")[-3000:]
        return text

    db = data / "hub.db"
    try:

        def arrived(kind: str) -> bool:
            assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n{tail()}"
            rows = db_rows(db, "SELECT count(*) FROM events WHERE type = ?", (kind,))
            return bool(rows and rows[0][0])

        def answered(device: str) -> bool:
            assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n{tail()}"
            sql = (
                "SELECT count(*) FROM events WHERE device = ? AND boot > 0 "
                "AND json_extract(payload, '$.session') NOT NULL"
            )
            rows = db_rows(db, sql, (device,)) if db.exists() else []
            return bool(rows and rows[0][0])

        try:
            # the demo's touch kiosk and button-survey terminal: visitors walk through its survey
            # (the "kiosk answers on the dashboard within a minute" of the start)
            wait_until(
                lambda: answered("kiosk-01") and answered("survey-01"), 60, "answers from the terminals"
            )
            answers_after = time.monotonic() - started
            wait_until(lambda: arrived("press"), 90, "presses from the demo consoles")
            # the clip: a person passes every ~5 s; the visit is published when the track ends
            wait_until(lambda: arrived("visit"), 120, "an emotion visit from the demo camera")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{tail()}") from None

        def camera_ok() -> bool:
            rows = db_rows(
                db, "SELECT kind, json_extract(status, '$.camera.ok') FROM devices WHERE device = 'cam-01'"
            )
            return rows == [("camera", 1)]

        wait_until(camera_ok, 30, "the camera's status to say its source works")
        banner = (tmp_path / "demo.log").read_text()
        assert answers_after < 60, f"the first kiosk answers after {answers_after:.0f} s"
        assert "emotion monitor (cam-01)" in banner
        assert "1 touch kiosk and 1 button-survey terminal (kiosk-01, survey-01)" in banner
        sign_in_with_the_printed_credentials(banner, data)
        web_kiosk_from_the_printed_link(banner)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # the demo takes its consoles and its camera down with it
    leftovers = subprocess.run(["pgrep", "-f", str(data / "camera")], capture_output=True, text=True).stdout
    assert not leftovers.strip(), f"the emotion monitor outlived the demo: {leftovers}"


CONSOLES = ("btn-01", "btn-02")
PRESSES = "SELECT count(*) FROM events WHERE type = 'press'"


class DemoRun:
    """One start of `edge-hub demo` (two consoles, no camera) on a data folder, stopped as Ctrl-C does."""

    def __init__(self, tmp_path, data, name: str) -> None:
        self.data = data
        self.db = data / "hub.db"
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_hub.cli", "demo", "--data-dir", str(data), "--no-camera",
                 "--listen", f"127.0.0.1:{free_port()}", "--devices", "2", "--rate", "120"],
                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            )  # fmt: skip

    def tail(self) -> str:
        text = self.log.read_text(errors="replace")[-3000:]
        for device in CONSOLES:
            device_log = self.data / "consoles" / device / "device.log"
            if device_log.exists():
                text += f"\n--- {device} ---\n" + device_log.read_text(errors="replace")[-1500:]
        return text

    def wait(self, predicate, timeout: float, what: str):
        def alive_and(predicate=predicate):
            assert self.proc.poll() is None, f"the demo exited with {self.proc.returncode}:\n{self.tail()}"
            return predicate()

        try:
            return wait_until(alive_and, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.tail()}") from None

    def booted(self, after: dict[str, int], start: int) -> dict[str, tuple[int, int]]:
        """(boot, safe_mode) of every console, once each is online with a boot above ``after``."""
        sql = "SELECT device, boot, state, json_extract(status, '$.safe_mode') FROM devices WHERE kind = ?"

        def statuses():
            rows = db_rows(self.db, sql, ("button",)) if self.db.exists() else []
            now = {device: (boot, safe) for device, boot, state, safe in rows if state == "online"}
            return now if all(d in now and now[d][0] > after[d] for d in CONSOLES) else None

        return self.wait(statuses, 60, f"the consoles to boot (start {start})")

    def presses(self) -> int:
        return db_rows(self.db, PRESSES)[0][0]

    def wait_presses(self, more_than: int) -> None:
        self.wait(lambda: self.presses() > more_than, 30, f"more than {more_than} presses")

    def stop(self) -> str:
        """SIGINT (as Ctrl-C); returns everything it printed."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text(errors="replace")


def test_the_demo_survives_being_stopped_again_and_again(tmp_path):
    """Someone trying the demo stops it with Ctrl-C within seconds, five times on the same data
    folder. A stop is a power-off for the consoles, never a crash: on the sixth start no
    console is in safe mode and presses still arrive. Each stop prints the delivery figures."""
    data = tmp_path / "demo"
    boots = dict.fromkeys(CONSOLES, 0)
    for start in range(1, 7):
        run = DemoRun(tmp_path, data, f"demo-{start}")
        try:
            # the firmware is up (a new boot online): stopping now is what a quick Ctrl-C does
            status = run.booted(boots, start)
            boots = {d: status[d][0] for d in CONSOLES}
            if start % 2 == 0:  # else stopped at once, maybe before the page is up: that stops cleanly too
                run.wait(lambda: "Ctrl-C stops" in run.log.read_text(), 30, "the banner")  # noqa: B023
            if start == 6:
                in_safe_mode = [d for d in CONSOLES if status[d][1]]
                assert not in_safe_mode, f"after five quick stops {in_safe_mode} started in safe mode"
                run.wait_presses(run.presses())
        finally:
            said = run.stop()
        assert run.proc.returncode == 0, said[-3000:]
        figures = re.search(r"made (\d+) press(?:es)? on 2 consoles: (\d+) delivered to the hub", said)
        assert figures and int(figures.group(2)) <= int(figures.group(1)), said[-3000:]
        assert "console restarts: 0" in said, (
            f"a stop is not a crash, and nothing else restarted:\n{said[-3000:]}"
        )


HISTORY = (
    "SELECT (SELECT count(*) FROM events WHERE boot = 0), (SELECT count(*) FROM served),"
    " (SELECT count(*) FROM quarantine), (SELECT count(*) FROM identity_log)"
)


def test_the_demo_looks_like_an_office_on_its_first_start_and_keeps_it_once(tmp_path):
    """The first start seeds a month of office history through the real ingest path before its
    banner; every page's source has something true to show at once. A second start on the same
    folder keeps that history and adds none of it again (only live presses)."""
    from edge_hub.alerts import lifecycle as alerts
    from edge_hub.db.store import Store
    from edge_hub.metrics import export, summary
    from edge_hub.office import settings as office_settings
    from hub_ui import numbers

    data = tmp_path / "demo"
    run = DemoRun(tmp_path, data, "first")
    try:
        run.wait(lambda: "Ctrl-C stops" in run.log.read_text(), 60, "the banner")
        said = run.log.read_text()
        assert "presses of 30 days through ingest" in said, said[-3000:]
        reader = Store.reader(run.db)
        try:
            conn = reader.conn
            settings = office_settings.load(conn)
            now = int(datetime.now(UTC).timestamp() * 1000)
            month = (now - 30 * 86_400_000, now)
            ranked = [r for r in numbers.league(conn, settings, *month)["rows"] if r["rank"] is not None]
            assert len(ranked) >= 6, "the league ranks the operators"
            days = summary.timeseries(conn, *month, "csat", "day", settings=settings)["points"]
            assert sum(p["n"] >= settings.min_n for p in days) >= 20, "a month of days with data"
            heat = numbers.unhappy_heatmap(conn, settings, *numbers.heatmap_period(settings, now))
            assert sum(1 for d in heat["days"] for c in d["cells"] if c["negative"]) > 1
            assert alerts.list_alerts(conn, state="active"), "open alerts (the recent critics)"
            table = export.build(conn, *month, step="day", settings=settings)
            assert sum(1 for r in table.rows if r.cells[0] is not None) >= 20, "export has rows"
            # the kiosk's month is survey answers: sessions, time per question, critics' reasons
            from edge_hub.metrics import survey_report

            report = survey_report.report(conn, *month, settings=settings)
            assert report["funnel"]["started"] > 300, report["funnel"]
            wrong = next(q for q in report["questions"] if q["id"] == "what_wrong")
            assert wrong["n"] >= 5 and report["critics"]["sessions"] >= 5
            assert any(c["comments"] for c in report["critics"]["latest"]), "the critics' own words"
            assert report["mixed"] == [], "the history is the demo survey's first revision"
            assert all(q["dwell_median_ms"] for q in report["questions"] if q["n"])
        finally:
            reader.close()
        run.wait_presses(run.presses())  # live presses continue on top
    finally:
        said = run.stop()
    assert run.proc.returncode == 0, said[-3000:]
    first = db_rows(run.db, HISTORY)[0]
    assert first[0] > 1000 and first[1] > 0 and first[2:] == (0, 0), first

    again = DemoRun(tmp_path, data, "second")
    try:
        again.wait(lambda: "Ctrl-C stops" in again.log.read_text(), 60, "the banner")
        assert "history already seeded" in again.log.read_text()
        # the web kiosk keeps its token across restarts: a tab left open goes on working
        links = [re.findall(r"web kiosk \(a tablet\): \S+(#t=\S+)", r.log.read_text()) for r in (run, again)]
        assert links[0] and links[0] == links[1], links
        again.wait_presses(again.presses())
    finally:
        said = again.stop()
    assert again.proc.returncode == 0, said[-3000:]
    assert db_rows(again.db, HISTORY)[0] == first, "a second start adds no history"


def web_kiosk_from_the_printed_link(banner: str) -> None:
    """The printed web kiosk link opens the tablet's page, and its token (the fragment) reads the
    office's survey."""
    link = re.search(r"web kiosk \(a tablet\): (http://\S+/kiosk/tablet-01)#t=(otkw_\S+)", banner)
    assert link, banner[-2000:]
    page = httpx.get(link.group(1), timeout=10)
    assert page.status_code == 200 and "kiosk" in page.text
    config = httpx.get(link.group(1).replace("/kiosk/", "/api/v1/kiosk/") + "/config",
                       headers={"Authorization": f"Bearer {link.group(2)}"}, timeout=10)  # fmt: skip
    assert config.status_code == 200 and config.json()["questions"][0]["id"] == "csat", config.text


def sign_in_with_the_printed_credentials(banner: str, data) -> None:
    """What a new user does: open the printed URL, sign in with the printed name and password
    (the form and its CSRF cookie, as a browser would), and see the office's numbers."""
    url = re.search(r"open\s+(http://\S+/)", banner).group(1)
    user = re.search(r"user:\s+(\S+)", banner).group(1)
    password = re.search(r"password:\s+(\S+)", banner).group(1)
    assert user == "admin" and len(password) >= 12
    assert (data / "demo-login.txt").stat().st_mode & 0o077 == 0, "the password file is private"
    with httpx.Client(base_url=url, timeout=10) as client:
        first = client.get("/")
        assert first.status_code == 303 and first.headers["location"].startswith("/login"), (
            "the demo opens on sign-in, not on the first-run step"
        )
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        wrong = client.post("/login", data={"username": user, "password": password + "x", "csrf": token})
        assert wrong.status_code == 401
        signed = client.post("/login", data={"username": user, "password": password, "csrf": token})
        assert signed.status_code == 303, signed.text[-500:]
        dashboard = client.get("/")
        # the JSON API takes the session too (and, the admin existing, nobody without one)
        now = datetime.now(UTC)
        hour = timedelta(hours=1)
        period = {"from": (now - hour).isoformat(), "to": (now + hour).isoformat()}
        summary = client.get("/api/v1/metrics/summary", params=period).json()
        assert summary["visits"]["total"] >= 1
        assert summary["metrics"]["emotional_nps"]["n"] == summary["visits"]["total"]
        assert httpx.get(url + "api/v1/metrics/summary", params=period).status_code == 401
        # the survey's report counts the terminals' answers to the demo's survey
        report = client.get("/api/v1/survey/report", params=period).json()
        main = next(q for q in report["questions"] if q["id"] == "csat")
        assert report["survey"] and main["n"] >= 2, report
    assert dashboard.status_code == 200
    today = r'<tr data-metric="ratings">.*?data-period="today" data-n="(\d+)"'
    ratings = re.search(today, dashboard.text, re.S)
    assert ratings and int(ratings.group(1)) > 0, "the dashboard shows today's presses"


def test_the_demo_account_is_made_once_per_folder(tmp_path):
    from edge_hub.api import auth
    from edge_hub.cli import _demo_login
    from edge_hub.db.store import Store

    db = tmp_path / "hub.db"
    Store.open(db).close()
    first = _demo_login(db, tmp_path)
    again = _demo_login(db, tmp_path)  # a later start prints the same account
    assert first == again and "admin" in first
    store = Store.writer(db)
    try:
        assert auth.user_count(store.conn) == 1
        password = re.search(r"password:\s+(\S+)", first).group(1)
        assert auth.login(store.conn, "admin", password, "127.0.0.1").role == auth.ADMIN
    finally:
        store.close()
    (tmp_path / "demo-login.txt").unlink()  # a folder whose accounts were made otherwise
    assert "sign in with your account" in _demo_login(db, tmp_path)
