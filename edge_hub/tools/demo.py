"""The demo's office: departments, windows, operators on shifts and a month of history.

``edge-hub demo`` calls :func:`prepare` on every start, after the hub is up and before its
consoles start pressing (the URL banner follows it; the seed prints its progress and takes a few
seconds). What it makes, all through the hub's own modules:

- **Scopes** (:mod:`edge_hub.office.scopes`): three departments («Приём документов», «Выдача
  документов», «Консультации»), one window per history console (``btn-01`` .. ``btn-0M``,
  M = max(4, ``--devices``) at the first start, at most 12), two operators per window (Russian
  names) taking the morning (09:00-14:00) and the afternoon (14:00-19:00) in turn, Mon-Fri, and
  one of them the short Saturday (10:00-15:00). Shifts cover the 30 days before the
  first start and the coming :data:`COMING_DAYS` days; every later start tops them up again.
  A kiosk ``kiosk-01`` at the exit asks csat, nps and fcr (its history has the incarnation id
  on the live kiosk's flash, as the consoles' do). Consoles beyond M (a later, larger
  ``--devices``) get windows of their own in «Консультации».
- **The survey** (:func:`survey`, set by ``edge-hub demo`` through the hub's own
  :func:`edge_hub.office.survey.put` when the office has none, and sent to the live touch kiosk
  and button-survey terminal): the simulator's default one (csat, what went wrong after a poor
  rating, nps, an administrator offered to critics) and the history's fcr.
- **Office settings** (:mod:`edge_hub.office.settings`): opening hours Mon-Fri 09-19, Sat 10-15, Sunday
  closed. The demo's live day is compressed into minutes and runs whenever someone tries it,
  so presses after hours and outside shifts are not flagged (``flag_after_hours`` and
  ``flag_no_operator`` off); the other trust rules (repeat, burst, self-rating) stay on.
- **30 days of presses through the real ingest path**: contract-valid press messages on the
  devices' own topics, given to :meth:`edge_hub.ingest.ingestor.Ingestor.process` in batches, so the
  contract check, the dedup by (device, inc, boot, seq), attribution, the trust flags and the
  hourly aggregates are exactly those of live presses. Each console's history has the
  console's own incarnation id (read from, or made on, its flash with the firmware's identity
  module: :func:`edge_hub.tools.simulate.console_inc`) and boot 0, which the firmware never uses, so
  the hub sees one device, never a reflash, and live presses never collide with history. The
  shapes: a morning peak and a lunch dip, Mondays busiest, quieter Saturdays, closed Sundays,
  more unhappy visitors at peak hours and on a few bad afternoons; operators of clearly
  different quality (the league ranks them); a few critics at the kiosk (a negative answer with
  a comment and/or a callback request: the alert engine opens a ``critic`` alert for each; the
  ones older than a week are then resolved by the office manager, the recent ones stay open);
  and fake-press bursts (a child hammering a console: ``repeat``/``burst``; staff rating
  themselves: ``self_rating``) that the trust rules flag.
- **Served clients** per day and window and for the office (:func:`edge_hub.office.served_counts.put_served`,
  source ``queue``), for the days before the first start.

Once per data folder: the plan (the first start's time, the consoles and their incarnation
ids) goes to the ``meta`` row :data:`META_KEY` before the first event, and ``done`` is set
after the last step. The history is a pure function of the plan, so a seed interrupted by a
Ctrl-C is finished by the next start without a single duplicate (the store ignores the events
it has), and a start after ``done`` adds no history at all.

Long: the seed of a believable office (scopes, shifts, a month of presses shaped by hour and
weekday, critics, fake-press bursts) is one story told in order; it is a tool, not the hub.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import orjson

from edge_hub.alerts import lifecycle as alerts
from edge_hub.alerts import rules as alert_rules
from edge_hub.db.store import Store
from edge_hub.db.tx import immediate
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.ingestor import Ingestor
from edge_hub.office import scopes
from edge_hub.office import served as served_counts
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.transport.mqtt import BrokerAddress, Incoming

_LOGGER = logging.getLogger(__name__)

META_KEY = "demo.office"
HISTORY_DAYS = 30
COMING_DAYS = 7
MIN_CONSOLES = 4
MAX_CONSOLES = 12
BATCH = 1000
KIOSK = "kiosk-01"
#: events of the history are stored under this boot (the firmware's boots start at 1)
HISTORY_BOOT = 0
HOUR_MS = 3_600_000
MIN_MS = 60_000

DEPARTMENTS = (
    ("priem", "Приём документов"),
    ("vydacha", "Выдача документов"),
    ("konsult", "Консультации"),
)
#: window i (from 0) belongs to this department, the pattern repeating
WINDOW_DEPARTMENTS = ("priem", "priem", "vydacha", "konsult")
#: busier at reception, quieter at consultations (presses per hour scale)
DEPARTMENT_LOAD = {"priem": 1.25, "vydacha": 1.0, "konsult": 0.75}
EXTRA_DEPARTMENT = "konsult"

OPERATORS = (
    ("ivanova", "Иванова Анна Сергеевна"), ("petrov", "Петров Дмитрий Игоревич"),
    ("smirnova", "Смирнова Елена Викторовна"), ("kuznetsov", "Кузнецов Алексей Петрович"),
    ("sokolova", "Соколова Мария Андреевна"), ("popov", "Попов Сергей Николаевич"),
    ("lebedeva", "Лебедева Ольга Владимировна"), ("kozlov", "Козлов Артём Юрьевич"),
    ("novikova", "Новикова Татьяна Олеговна"), ("morozov", "Морозов Илья Александрович"),
    ("volkova", "Волкова Наталья Михайловна"), ("solovyov", "Соловьёв Павел Андреевич"),
    ("vasilyeva", "Васильева Ирина Павловна"), ("zaitsev", "Зайцев Никита Романович"),
    ("pavlova", "Павлова Светлана Юрьевна"), ("semyonov", "Семёнов Роман Викторович"),
    ("golubeva", "Голубева Дарья Константиновна"), ("vinogradov", "Виноградов Максим Олегович"),
    ("bogdanova", "Богданова Юлия Дмитриевна"), ("vorobyov", "Воробьёв Андрей Сергеевич"),
    ("fyodorova", "Фёдорова Ксения Алексеевна"), ("mikhailov", "Михайлов Егор Владимирович"),
    ("belyaeva", "Беляева Алина Игоревна"), ("tarasov", "Тарасов Виктор Михайлович"),
)  # fmt: skip
#: the operators' share of happy visitors (4-5 of 5), best to worst, spread over the pairs so
#: that each window has a stronger and a weaker operator
QUALITY = (0.93, 0.66, 0.88, 0.74, 0.84, 0.58, 0.91, 0.70, 0.80, 0.62, 0.86, 0.77,
           0.90, 0.64, 0.82, 0.72, 0.87, 0.60, 0.79, 0.68, 0.85, 0.75, 0.92, 0.63)  # fmt: skip

OPENING_HOURS = {
    "mon": [("09:00", "19:00")], "tue": [("09:00", "19:00")], "wed": [("09:00", "19:00")],
    "thu": [("09:00", "19:00")], "fri": [("09:00", "19:00")], "sat": [("10:00", "15:00")], "sun": [],
}  # fmt: skip
WEEKDAY_SHIFTS = (("09:00", "14:00"), ("14:00", "19:00"))
SATURDAY_SHIFT = ("10:00", "15:00")
#: relative presses per local hour (a morning peak, a lunch dip, a quieter evening)
HOUR_SHAPE = {9: 0.7, 10: 1.5, 11: 1.7, 12: 1.2, 13: 0.45, 14: 1.0, 15: 1.2, 16: 1.1, 17: 0.9, 18: 0.6}
#: Monday busiest, Saturday quiet (Sunday closed)
WEEKDAY_LOAD = (1.3, 1.05, 0.95, 1.0, 1.15, 0.7, 0.0)
PRESSES_PER_HOUR = 5.0  # per window at load 1
MIN_GAP_MS = 90_000  # one visitor at a window after another: a service takes minutes
KIOSK_PER_HOUR = 1.3
KIOSK_GAP_MS = 4 * MIN_MS
LOCKOUT_MS = 2000  # the consoles' lockout: a press sooner than this is a repeat (firmware)

#: (days before the first start, local time, comment or None, callback) of the kiosk's critics
CRITICS = (
    (1, "11:20", "Ждала в очереди больше часа, а талон так и не вызвали.", True),
    (2, "16:05", None, True),
    (3, "12:40", "Оператор разговаривал грубо и не объяснил, каких документов не хватает.", False),
    (6, "10:15", "Не работал терминал электронной очереди, никто не подсказал, что делать.", True),
    (9, "15:30", "Документы не были готовы в обещанный срок, пришлось приходить второй раз.", False),
    (13, "11:50", "В зале ожидания очень душно, негде сесть.", False),
    (17, "17:10", None, True),
    (22, "13:25", "Отправили за справкой в другое ведомство, хотя могли запросить сами.", True),
    (27, "10:45", "Закрыли окно на обед прямо перед моей очередью.", False),
)
FCR = {
    "id": "fcr",
    "text": {"ru": "Ваш вопрос решён?", "en": "Was your issue resolved?"},
    "scale": "yesno",
}


def survey() -> dict:
    """The demo office's survey (:data:`edge_hub.tools.simulate_kiosk.DEFAULT_SURVEY` and fcr)."""
    from edge_hub.tools.simulate_kiosk import DEFAULT_SURVEY

    return {**DEFAULT_SURVEY, "questions": [*DEFAULT_SURVEY["questions"], FCR]}


RESOLVER = "Смирнова Е. В., менеджер по качеству"
RESOLUTION = "Перезвонили посетителю, извинились и решили вопрос. / Called back, apologised, solved."


@dataclass
class Report:
    """What :func:`prepare` did."""

    seeded: bool  # this start fed the history (False: it was there already)
    presses: int = 0  # history presses newly stored by this start
    flagged: int = 0
    alerts: int = 0
    seconds: float = 0.0
    consoles: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.seeded:
            return "demo office: history already seeded / история офиса уже загружена"
        return (
            f"demo office: {self.presses:,} presses of 30 days through ingest ({self.flagged:,} flagged by "
            f"the trust rules), {self.alerts} alerts, in {self.seconds:.1f} s / история за 30 дней загружена"
        )


# --- the plan ----------------------------------------------------------------------------------


def _meta(conn) -> dict | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return orjson.loads(row[0]) if row else None


def _save_meta(conn, plan: dict) -> None:
    with conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (META_KEY, orjson.dumps(plan).decode()),
        )


def seeded(conn) -> bool:
    plan = _meta(conn)
    return bool(plan and plan.get("done"))


def windows_of(consoles: list[str]) -> list[tuple[str, str, str, str]]:
    """(window id, department, name, console) for each console, in order."""
    return [
        (f"w{i + 1}", WINDOW_DEPARTMENTS[i % len(WINDOW_DEPARTMENTS)], f"Окно {i + 1}", console)
        for i, console in enumerate(consoles)
    ]


def roster(day: date, n_windows: int) -> list[tuple[str, str, str, str]]:
    """(operator, window, start HH:MM, end HH:MM) of a local day: the window's two operators take
    the morning and the afternoon in turn (Mon-Fri), one of them the short Saturday."""
    weekday = day.weekday()
    out = []
    for i in range(n_windows):
        a, b = OPERATORS[2 * i][0], OPERATORS[2 * i + 1][0]
        turn = (day.toordinal() + i) % 2
        if weekday < 5:
            first, second = (a, b) if turn else (b, a)
            out.append((first, f"w{i + 1}", *WEEKDAY_SHIFTS[0]))
            out.append((second, f"w{i + 1}", *WEEKDAY_SHIFTS[1]))
        elif weekday == 5:
            out.append((a if ((day.toordinal() // 7) + i) % 2 else b, f"w{i + 1}", *SATURDAY_SHIFT))
    return out


# --- scopes ------------------------------------------------------------------------------------


def _setup_scopes(conn, plan: dict, settings: office_settings.OfficeSettings) -> None:
    consoles = plan["consoles"]
    for dep, name in DEPARTMENTS:
        scopes.put_department(conn, dep, name)
    for window, dep, name, console in windows_of(consoles):
        scopes.put_window(conn, window, dep, name)
        scopes.assign_device(conn, console, window, now_ms=plan["anchor"])
    for operator, name in OPERATORS[: 2 * len(consoles)]:
        scopes.put_operator(conn, operator, name)


def _top_up_shifts(conn, plan: dict, settings: office_settings.OfficeSettings, now_ms: int) -> int:
    """The roster's shifts from the first history day to COMING_DAYS after today, where the
    window has none yet (an admin's own changes are kept). Returns the shifts added."""
    zone = settings.zone
    first = settings.local(plan["anchor"]).date() - timedelta(days=HISTORY_DAYS)
    last = settings.local(now_ms).date() + timedelta(days=COMING_DAYS)
    n = len(plan["consoles"])
    existing = {
        (s["window"], s["start_ms"])
        for s in shift_rules.shifts(
            conn, from_ms=settings.at(first, "00:00"), to_ms=settings.at(last, "23:59")
        )
    }
    added = 0
    day = first
    while day <= last:
        for operator, window, start, end in roster(day, n):
            lo, hi = settings.at(day, start), settings.at(day, end)
            if (window, lo) in existing:
                continue
            try:
                shift_rules.add_shift(conn, operator, window, lo, hi)
                added += 1
            except scopes.ScopeConflict:
                pass  # that window or operator is busy then (stored already, or changed by the admin)
            except scopes.ScopeError as exc:  # an operator or window deleted by the admin
                _LOGGER.info(
                    "demo shift %s %s %s not added: %s",
                    operator, window, shift_rules.local_text(lo, zone), exc,
                )
        day += timedelta(days=1)
    return added


def _extra_consoles(conn, plan: dict, live: list[str]) -> None:
    """Live consoles beyond the history's get a window of their own (no history, no shifts)."""
    known = set(plan["consoles"])
    index = len(plan["consoles"])
    for console in live:
        if console in known:
            continue
        row = conn.execute("SELECT window FROM devices WHERE device = ?", (console,)).fetchone()
        if row and row[0]:
            continue
        index += 1
        while conn.execute("SELECT 1 FROM windows WHERE id = ?", (f"w{index}",)).fetchone():
            index += 1
        scopes.put_window(conn, f"w{index}", EXTRA_DEPARTMENT, f"Окно {index}")
        scopes.assign_device(conn, console, f"w{index}")


# --- the history -------------------------------------------------------------------------------


def _answer(rng: random.Random, happy: float) -> int:
    """A csat answer 1-5 with this share of 4-5."""
    r = rng.random()
    if r < happy:
        return 5 if rng.random() < 0.72 else 4
    r = rng.random()
    return 3 if r < 0.45 else 2 if r < 0.72 else 1


def _times(rng: random.Random, lo: int, hi: int, rate_at: Callable[[int], float], gap: int) -> list[int]:
    """Arrival instants in [lo, hi): exponential gaps under a rate (per hour) that varies."""
    out, t = [], lo
    while True:
        rate = max(rate_at(t), 0.05)
        t += max(gap, int(rng.expovariate(rate) * HOUR_MS))
        if t >= hi:
            return out
        out.append(t)


@dataclass
class _Press:
    ts: int
    device: str
    value: int
    question: str = "csat"
    button: int | None = None
    repeat: bool = False
    comment: str | None = None
    callback: bool = False
    genuine: bool = True  # a visitor's (not a fake burst): counted towards served clients
    window: str | None = None
    #: a kiosk answer's survey fields: the visitor's session, time on the question, a choice's option
    session: str | None = None
    dwell_ms: int | None = None
    option: str | None = None


def history(plan: dict, settings: office_settings.OfficeSettings) -> list[_Press]:
    """Every press of the history, in time order: a pure function of the plan."""
    anchor = plan["anchor"]
    consoles = plan["consoles"]
    windows = windows_of(consoles)
    n = len(consoles)
    quality = {op: QUALITY[i] for i, (op, _) in enumerate(OPERATORS)}
    today = settings.local(anchor).date()
    days = [today - timedelta(days=d) for d in range(HISTORY_DAYS, -1, -1)]
    rng0 = random.Random(f"{plan['seed']}:events")
    # a few bad afternoons (the queue system down, a printer broken) and fake-press bursts
    open_days = [d for d in days if d.weekday() < 5 and d < today]
    bad = {(rng0.choice(open_days), rng0.randrange(n)) for _ in range(max(3, n))}
    bursts = [
        (rng0.choice(open_days), rng0.randrange(n), rng0.choice(("child", "self"))) for _ in range(2 + n)
    ]
    presses: list[_Press] = []
    dep_of = {w: dep for w, dep, _, _ in windows}
    console_of = {w: c for w, _, _, c in windows}
    for day in days:
        weekday = day.weekday()
        for operator, window, start, end in roster(day, n):
            lo, hi = settings.at(day, start), min(settings.at(day, end), anchor)
            if lo >= hi:
                continue
            rng = random.Random(f"{plan['seed']}:{day}:{window}:{start}")
            load = WEEKDAY_LOAD[weekday] * DEPARTMENT_LOAD[dep_of[window]]

            def rate_at(t: int, load=load) -> float:
                return PRESSES_PER_HOUR * load * HOUR_SHAPE.get(settings.local(t).hour, 0.5)

            bad_day = (day, int(window[1:]) - 1) in bad and start >= "12:00"
            for ts in _times(rng, lo, hi, rate_at, MIN_GAP_MS):
                hour_load = HOUR_SHAPE.get(settings.local(ts).hour, 0.5)
                happy = quality[operator] - 0.07 * max(0.0, hour_load - 1.0) - (0.04 if weekday == 0 else 0.0)
                if bad_day:
                    happy -= 0.35
                value = _answer(rng, max(0.05, happy))
                presses.append(_Press(ts, console_of[window], value, window=window))
    # fake presses: a child hammering the buttons (repeats within the lockout, then a burst) or
    # a member of staff giving themselves top marks once the visitor has gone (self-rating)
    for day, i, kind in bursts:
        window, _, _, console = windows[i]
        shifts = [(s, e) for _, w, s, e in roster(day, n) if w == window]
        if not shifts:
            continue
        rng = random.Random(f"{plan['seed']}:burst:{day}:{window}")
        start, end = rng.choice(shifts)
        t = rng.randrange(settings.at(day, start) + HOUR_MS, settings.at(day, end) - HOUR_MS)
        if t >= anchor:
            continue
        count = rng.randrange(9, 14) if kind == "child" else rng.randrange(6, 9)
        previous = None
        for _ in range(count):
            value = rng.randrange(1, 6) if kind == "child" else 5
            repeat = previous is not None and t - previous < LOCKOUT_MS
            presses.append(_Press(t, console, value, repeat=repeat, genuine=False, window=window))
            previous = t
            t += rng.randrange(600, 1500) if kind == "child" else rng.randrange(2500, 6000)
    presses += _kiosk(plan, settings, days)
    presses.sort(key=lambda p: (p.ts, p.device))
    return presses


def _kiosk(plan: dict, settings: office_settings.OfficeSettings, days: list[date]) -> list[_Press]:
    """The exit kiosk: csat, nps and fcr of a visitor, seconds apart; the scripted critics."""
    anchor = plan["anchor"]
    today = settings.local(anchor).date()
    out: list[_Press] = []
    for day in days:
        spans = settings.opening_hours[office_settings.WEEKDAYS[day.weekday()]]
        rng = random.Random(f"{plan['seed']}:kiosk:{day}")
        for start, end in spans:
            lo, hi = settings.at(day, start), min(settings.at(day, end), anchor)
            if lo >= hi:
                continue
            load = WEEKDAY_LOAD[day.weekday()]

            def rate_at(t: int, load=load) -> float:
                return KIOSK_PER_HOUR * load * HOUR_SHAPE.get(settings.local(t).hour, 0.5)

            for ts in _times(rng, lo, hi, rate_at, KIOSK_GAP_MS):
                out += _visitor(rng, ts, _answer(rng, 0.8))
    for days_ago, wall, comment, callback in CRITICS:
        day = today - timedelta(days=days_ago)
        while not settings.opening_hours[office_settings.WEEKDAYS[day.weekday()]]:
            day -= timedelta(days=1)
        if day.weekday() == 5 and wall >= "15:00":
            wall = "13:30"
        ts = settings.at(day, wall) + 17_000
        if ts >= anchor:
            continue
        rng = random.Random(f"{plan['seed']}:critic:{days_ago}")
        # the critic's moment is kept clear of the kiosk's other visitors
        out = [p for p in out if abs(p.ts - ts) > 2 * KIOSK_GAP_MS]
        out += _visitor(rng, ts, rng.choice((1, 1, 2)), comment, callback)
    return out


#: the demo survey's "what went wrong" options (edge_hub/tools/simulate_kiosk.py), as a critic picks them
WHAT_WRONG = ("queue", "queue", "staff", "unsolved", "documents")


def _visitor(rng: random.Random, ts: int, csat: int, comment: str | None = None, callback: bool = False):
    """One visitor's pass through the demo survey at the kiosk: csat, "what went wrong" after a poor
    rating, nps and fcr, seconds apart, one session, each with its time on screen."""
    happy = csat >= 4
    nps = (
        rng.choice((9, 10, 10, 8))
        if happy
        else rng.choice((0, 2, 3, 5, 6, 7))
        if csat <= 2
        else rng.choice((6, 7, 8))
    )
    fcr = 1 if (happy or rng.random() < 0.4) and csat > 2 else 0
    session = "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    out = [_Press(ts, KIOSK, csat, "csat", csat, comment=comment, callback=callback, session=session,
                  dwell_ms=rng.randrange(1500, 6000))]  # fmt: skip
    t = ts
    if csat <= 2:
        option = rng.choice(WHAT_WRONG)
        dwell = rng.randrange(3000, 9000)
        t += dwell
        value = 1 + ("queue", "staff", "unsolved", "documents").index(option)
        out.append(_Press(t, KIOSK, value, "what_wrong", 1, session=session, dwell_ms=dwell, option=option))
    for question, value, button in (("nps", nps, 1 + nps * 4 // 10), ("fcr", fcr, 1 + fcr)):
        dwell = rng.randrange(4000, 9000)
        t += dwell
        out.append(_Press(t, KIOSK, value, question, button, session=session, dwell_ms=dwell))
    return out


def _messages(plan: dict, site: str, presses: list[_Press]) -> list[Incoming]:
    """The presses as the devices would publish them: one contract-valid message each, the
    device's own topic, the history's (inc, boot 0, seq from 1) per device."""
    seqs: dict[str, int] = {}
    out = []
    for p in presses:
        seq = seqs[p.device] = seqs.get(p.device, 0) + 1
        body = {
            "v": 1, "type": "press", "device": p.device, "inc": plan["incs"][p.device], "boot": HISTORY_BOOT,
            "seq": seq, "up": 1000 + seq * 1000, "ts": p.ts, "button": p.button or p.value, "value": p.value,
            "question": p.question,
        }  # fmt: skip
        if p.repeat:
            body["repeat"] = True
        if p.comment:
            body["comment"] = p.comment
        if p.callback:
            body["callback"] = True
        for key in ("session", "dwell_ms", "option"):
            if getattr(p, key) is not None:
                body[key] = getattr(p, key)
        received = p.ts + 40 + seq % 60  # delivered at once, as a connected console does
        out.append(Incoming(f"otk/v1/{site}/{p.device}/event", orjson.dumps(body), seq, 1, False, received))
    return out


def _served(conn, plan: dict, settings: office_settings.OfficeSettings, presses: list[_Press]) -> None:
    """Clients served per day (before the first start) per window and for the office, from the
    electronic queue: the visitors who rated, over a response rate of 25-40 %."""
    today = settings.local(plan["anchor"]).date()
    per: dict[tuple[str, str], int] = {}
    for p in presses:
        if p.genuine and p.window:
            day = settings.local(p.ts).date()
            if day < today:
                key = (day.isoformat(), p.window)
                per[key] = per.get(key, 0) + 1
    office_total: dict[str, int] = {}
    for (day, window), rated in sorted(per.items()):
        rng = random.Random(f"{plan['seed']}:served:{day}:{window}")
        count = round(rated / rng.uniform(0.25, 0.4))
        served_counts.put_served(conn, day, window, count, "queue")
        office_total[day] = office_total.get(day, 0) + count
    for day, count in office_total.items():
        served_counts.put_served(conn, day, "", count, "queue")


def _alerts(conn, now_ms: int) -> int:
    """Open the critics' alerts now (the alert engine would within its 30 s), and resolve the
    ones whose press is older than a week: the office called them back."""
    alert_rules.evaluate(conn, now_ms)
    week_ago = now_ms - 7 * 24 * HOUR_MS
    for alert in alerts.list_alerts(conn, state="open", kind="critic", limit=1000):
        detail = alert.get("detail")
        ts = detail.get("ts") if isinstance(detail, dict) else None
        if alert["state"] == "open" and ts is not None and ts < week_ago:
            alerts.resolve(conn, alert["id"], RESOLVER, RESOLUTION, now_ms)
    (count,) = conn.execute("SELECT count(*) FROM alerts").fetchone()
    return count


# --- the entry point ---------------------------------------------------------------------------


def prepare(
    db_path: Path,
    site: str,
    consoles_dir: Path,
    live: list[str],
    *,
    progress: Callable[[str], None] = lambda line: None,
    now_ms: int | None = None,
) -> Report:
    """Make the demo office (once per data folder) and top up its shifts (every start)."""
    from edge_hub.tools.simulate import console_flash, console_inc

    started = time.monotonic()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    store = Store.writer(db_path)
    conn = store.conn
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        plan = _meta(conn)
        if plan is None:
            n = min(MAX_CONSOLES, max(MIN_CONSOLES, len(live)))
            consoles = [f"btn-{i:02d}" for i in range(1, n + 1)]
            incs = {c: console_inc(console_flash(consoles_dir, c), c) for c in consoles}
            incs[KIOSK] = console_inc(console_flash(consoles_dir, KIOSK), KIOSK)
            settings = office_settings.load(conn)
            settings.opening_hours = {d: list(v) for d, v in OPENING_HOURS.items()}
            settings.trust.flag_after_hours = False
            settings.trust.flag_no_operator = False
            office_settings.save(conn, office_settings.OfficeSettings.model_validate(settings.model_dump()))
            plan = {
                "v": 1, "anchor": now, "timezone": settings.timezone, "consoles": consoles, "incs": incs,
                "seed": 1, "done": False,
            }  # fmt: skip
            _save_meta(conn, plan)  # before the first event: a restart resumes the same plan
        # the office as the plan made it (not as an admin may have changed it since): the
        # history and the roster stay a pure function of the plan
        settings = office_settings.OfficeSettings(timezone=plan["timezone"], opening_hours=OPENING_HOURS)
        _kiosk_identity(console_flash(consoles_dir, KIOSK), plan["incs"].get(KIOSK))
        if not plan.get("done"):
            _setup_scopes(conn, plan, settings)
        shifts = _top_up_shifts(conn, plan, settings, now)
        _extra_consoles(conn, plan, live)
        if plan.get("done"):
            return Report(False, consoles=plan["consoles"])
        progress(
            f"demo office: {len(plan['consoles'])} windows, {2 * len(plan['consoles'])} operators, "
            f"{shifts} shifts; feeding 30 days of presses through ingest / загрузка истории за 30 дней ..."
        )
        report = _seed(conn, store, plan, settings, site, progress)
        report.consoles = plan["consoles"]
        report.alerts = _alerts(conn, now)
        plan["done"] = True
        plan["presses"] = report.presses
        _save_meta(conn, plan)
        report.seconds = time.monotonic() - started
        return report
    finally:
        store.close()


def _kiosk_identity(flash: Path, inc: int | None) -> None:
    """A demo folder made before the live kiosk ran (its history's inc drawn at random) gets that
    inc on the kiosk's flash before its first boot, written with the firmware's identity module
    (boot 1 used up, as :func:`edge_hub.tools.simulate.console_inc` leaves it): the hub then sees
    one kiosk, not a reflash."""
    from edge_hub.tools.simulate import FIRMWARE

    if not inc:
        return
    path = flash / "identity"
    if any((flash / f"identity{slot}").exists() for slot in (".a", ".b")):
        return
    lib = str(FIRMWARE / "lib")
    if lib not in sys.path:
        sys.path.append(lib)
    from otk import identity

    flash.mkdir(parents=True, exist_ok=True)
    identity._write(str(path) + ".a", 1, 1, 0, inc)
    identity._write(str(path) + ".b", 2, 1, 0, inc)


def _seed(conn, store: Store, plan: dict, settings, site: str, progress: Callable[[str], None]) -> Report:
    presses = history(plan, settings)
    messages = _messages(plan, site, presses)
    ingestor = Ingestor(
        store, Contract(site=site), BrokerAddress("127.0.0.1", 1), site=site, client_id="demo-seed"
    )
    last = time.monotonic()
    for start in range(0, len(messages), BATCH):
        ingestor.process(messages[start : start + BATCH])
        now = time.monotonic()
        done = min(start + BATCH, len(messages))
        if now - last >= 2.0 or done == len(messages):
            last = now
            day = settings.local(messages[done - 1].received_at).date()
            progress(f"  {done:,} of {len(messages):,} presses (up to {day:%d.%m})")
    _served(conn, plan, settings, presses)
    # the kiosk's month was answered under the demo survey's first revision (set right after the
    # seed, edge-hub demo): say so, as the hub says of configs older than its revisions, so the
    # report does not show the history as answers of an unknown wording
    with immediate(conn):
        conn.execute(
            "INSERT OR IGNORE INTO device_config_revs (device, rev, survey_rev, sent_at) VALUES (?, 0, 1, 0)",
            (KIOSK,),
        )
    stats = ingestor.stats
    if stats.quarantined:
        _LOGGER.warning("demo history: %d messages quarantined", stats.quarantined)
    (flagged,) = conn.execute(
        "SELECT count(*) FROM events WHERE boot = ? AND flag IS NOT NULL AND type = 'press'", (HISTORY_BOOT,)
    ).fetchone()
    return Report(True, presses=stats.stored, flagged=flagged)
