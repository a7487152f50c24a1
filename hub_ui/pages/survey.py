"""The survey (/survey): the office's survey for its terminals and its report for a period.

The questions come from ``edge_hub.office.survey.get`` (set with ``PUT /api/v1/survey``); the
report is ``edge_hub.metrics.survey_report.report``, the same as ``GET /api/v1/survey/report``:
per question its trusted answers, its metric or "not enough data", the distribution and the
median time on screen; the completion funnel; help and call-back requests. The period is the last
30 local days unless chosen (the period picker of /league); a department, a window, an operator
and / or a terminal narrow it (only ids the scopes have; anything else is ignored). The critics
(sessions with a negative main answer) come with their reasons and their newest sessions, each
linked to its critic alert on /alerts. A staff survey's report that the rule of
:mod:`edge_hub.metrics.survey_report` withholds shows only "not enough people" and the number
needed; a filter it refuses shows its message. No number is computed here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from edge_hub.api import auth
from edge_hub.metrics import survey_report
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.office.settings import OfficeSettings
from hub_ui import i18n
from hub_ui.core import Ui, local_time, nav, page, require
from hub_ui.pages.league import PRESETS, Period, period_context, pick_period
from hub_ui.pages.survey_editor import survey_label

router = APIRouter()

SURVEY = nav("/survey", "nav.survey", auth.STAFF, order=65)
StaffUi = Annotated[Ui, Depends(require(SURVEY.roles))]

#: the default period: the last this many local days, today included
DEFAULT_DAYS = 30
DEFAULT_KEY = "days30"
#: the unit of each metric: "%" a share, "pts" points from -100 to +100
UNITS = {"csat": "%", "ces": "%", "fcr": "%", "yes": "%", "agreement": "%", "nps": "pts"}

i18n.register({
    "nav.survey": ("Опрос", "Survey"),
    "survey.title": ("Опрос посетителей", "Visitor survey"),
    "period.days30": ("30 дней", "30 days"),
    "survey.questions": ("Вопросы опроса", "The survey's questions"),
    "survey.none": (
        "Опрос ещё не задан: его задаёт администратор в редакторе («Изменить опрос») или через API "
        "(PUT /api/v1/survey), и хаб рассылает его киоскам и анкетёрам.",
        "No survey is set yet: an admin sets it in the editor (“Edit survey”) or through the API "
        "(PUT /api/v1/survey), and the hub sends it to the kiosks and survey terminals.",
    ),
    "survey.terminals": ("Терминалы: {names}", "Terminals: {names}"),
    "survey.no_terminals": ("Терминалов пока нет", "No terminals yet"),
    "survey.offers": ("После негативной оценки: {offers}", "After a negative rating: {offers}"),
    "survey.offer.critic_help": ("позвать администратора", "call an administrator"),
    "survey.offer.callback": ("перезвонить", "a call back"),
    "survey.langs": ("Языки: {langs}", "Languages: {langs}"),
    "survey.show_if": ("только если «{question}»: {values}", "only if “{question}” is {values}"),
    "survey.scale.csat5": ("оценка 1–5", "rating 1–5"),
    "survey.scale.nps11": ("0–10, рекомендация", "0–10, recommendation"),
    "survey.scale.ces7": ("1–7, лёгкость", "1–7, effort"),
    "survey.scale.yesno": ("да / нет", "yes / no"),
    "survey.scale.agree11": ("0–10, согласие", "0–10, agreement"),
    "survey.scale.choice": ("выбор варианта", "choice"),
    "survey.scale.unknown": ("шкала неизвестна", "scale unknown"),
    "survey.scope": ("Где", "Where"),
    "survey.all_windows": ("все окна", "all windows"),
    "survey.all_devices": ("все терминалы", "all terminals"),
    "survey.window": ("Окно", "Window"),
    "survey.device": ("Терминал", "Terminal"),
    "survey.show": ("Показать", "Show"),
    "survey.funnel": ("Воронка прохождения", "Completion funnel"),
    "survey.step": ("Шаг", "Step"),
    "survey.sessions": ("Посетителей", "Visitors"),
    "survey.of_started": ("Доля от начавших", "Of those who started"),
    "survey.applied": ("Кому задан", "Asked of"),
    "survey.started": ("Начали опрос", "Started the survey"),
    "survey.answered": ("Ответили: {question}", "Answered: {question}"),
    "survey.completed": ("Прошли до конца", "Completed"),
    "survey.funnel_help": (
        "Посетитель — один проход по опросу (сессия терминала). «Кому задан» — посетители, чьи ответы "
        "открыли вопрос с условием. Прошёл до конца — ответил на все вопросы, которые ему полагались.",
        "A visitor is one pass through the survey (a terminal's session). “Asked of”: the visitors whose "
        "answers opened a conditional question. Completed: answered every question due to them.",
    ),
    "survey.per_question": ("По вопросам", "Per question"),
    "survey.question": ("Вопрос", "Question"),
    "survey.n": ("Ответов", "Answers"),
    "survey.metric": ("Показатель", "Score"),
    "survey.distribution": ("Ответы", "Answers given"),
    "survey.dwell": ("Время (медиана)", "Time (median)"),
    "survey.seconds": ("{s}\u00a0с", "{s}\u00a0s"),
    "survey.not_in_survey": ("нет в текущем опросе", "not in the current survey"),
    "survey.flagged": ("ещё {n} подозрительных не учтено", "{n} more suspicious left out"),
    "survey.no_metric": ("—", "—"),
    "survey.yes": ("да", "yes"),
    "survey.no": ("нет", "no"),
    "survey.no_answers": ("Ответов за период нет.", "No answers in the period."),
    "survey.requests": (
        "Позвать администратора просили: {help}; перезвонить: {callback}.",
        "Asked for an administrator: {help}; for a call back: {callback}.",
    ),
    "survey.csi": ("Индекс CSI", "CSI"),
    "survey.csi_note": (
        "По парам вопросов банка «важность / удовлетворённость»: удовлетворённость по каждому параметру "
        "(0–100), взвешенная его средней важностью.",
        "From the bank's importance / satisfaction pairs: each parameter's satisfaction (0–100) weighted by "
        "its mean importance.",
    ),
    "survey.csi_value": ("{value} из 100 (n = {n})", "{value} of 100 (n = {n})"),
    "survey.min_n": (
        "Показатель — от {min_n} ответов; подозрительные нажатия не учтены.",
        "A score is shown from {min_n} answers; suspicious presses are left out.",
    ),
    "survey.revision": ("Версия опроса", "Survey version"),
    "survey.all_revisions": ("все версии", "all versions"),
    "survey.revision_n": ("версия {rev}", "version {rev}"),
    "survey.current_revision": ("Текущая версия опроса: {rev}.", "Current survey version: {rev}."),
    "survey.mixed": (
        "Внимание: за период на эти вопросы отвечали в разных формулировках; выберите версию опроса, чтобы "
        "увидеть их по отдельности.",
        "Note: in this period these questions were answered under different wordings; choose a survey "
        "version to see them apart.",
    ),
    "survey.wording": (
        "«{text}» — версии: {revs}; ответов: {n}", "“{text}” — versions: {revs}; answers: {n}"
    ),
    "survey.wording_unknown": ("версия неизвестна", "version unknown"),
    "metric.fcr": ("FCR, решено с первого раза", "FCR, solved at first contact"),
    "metric.yes": ("Доля ответов «да»", "Share of “yes”"),
    "metric.agreement": ("Доля согласных (8–10)", "Agreement (8–10)"),
    # filters by department and operator, critics, the staff rule, the export link
    "survey.department": ("Отдел", "Department"),
    "survey.all_departments": ("все отделы", "all departments"),
    "survey.operator": ("Оператор", "Operator"),
    "survey.all_operators": ("все операторы", "all operators"),
    "survey.critics": ("Критики", "Critics"),
    "survey.critics_count": (
        "Недовольных посетителей (негативный ответ на главный вопрос «{question}»): {n}.",
        "Unhappy visitors (a negative answer to the main question “{question}”): {n}.",
    ),
    "survey.critics_none": ("Недовольных посетителей за период нет.", "No unhappy visitors in the period."),
    "survey.reasons": ("Причины недовольства", "What the critics picked"),
    "survey.reason_n": ("ответили {n}", "{n} answered"),
    "survey.critic_sessions": ("Последние недовольные посетители", "The latest unhappy visitors"),
    "survey.comment": ("Комментарий", "Comment"),
    "survey.critic_shown": ("Показаны последние {shown} из {n}.", "The latest {shown} of {n} are shown."),
    "survey.when": ("Когда", "When"),
    "survey.where": ("Где", "Where"),
    "survey.main_answer": ("Оценка", "Rating"),
    "survey.picked": ("Причины", "Reasons"),
    "survey.asked": ("Просил", "Asked for"),
    "survey.asked_help": ("администратора", "an administrator"),
    "survey.asked_callback": ("перезвонить", "a call back"),
    "survey.alert": ("Оповещение", "Alert"),
    "survey.alert_link": ("№{id} ({state})", "#{id} ({state})"),
    "survey.no_alert": ("нет", "none"),
    "survey.staff_list": (
        "Опрос сотрудников анонимный: список ответов не показывается.",
        "The staff survey is anonymous: no list of answers is shown.",
    ),
    "survey.withheld": (
        "Недостаточно людей: результаты опроса сотрудников показываются, только когда ответили не меньше "
        "{needed} человек (сессий), чтобы никого нельзя было узнать.",
        "Not enough people: a staff survey's results are shown only when at least {needed} people "
        "(sessions) answered, so that nobody can be recognised.",
    ),
    "survey.export": ("Выгрузить по вопросам (XLSX) →", "Export per question (XLSX) →"),
})  # fmt: skip


def pick_survey_period(ui: Ui, settings: OfficeSettings) -> Period:
    """The last :data:`DEFAULT_DAYS` local days (today included) unless ``?period=`` chose another
    of the picker's periods; unusable custom dates fall back to it, flagged."""
    key = ui.request.query_params.get("period")
    if key and key != DEFAULT_KEY:
        chosen = pick_period(ui, settings)
        if not chosen.bad:
            return chosen
    today = settings.local(auth.now_ms()).date()
    first = today - timedelta(days=DEFAULT_DAYS - 1)
    lo, hi = settings.at(first, "00:00"), settings.at(today + timedelta(days=1), "00:00")
    return Period(DEFAULT_KEY, first, today, lo, hi, bad=bool(key and key != DEFAULT_KEY))


def _text(text: dict[str, str] | None, lang: str) -> str | None:
    if not text:
        return None
    return text.get(lang) or text.get("ru")


def _label(ui: Ui, scale: str | None, row: dict[str, Any]) -> str:
    """A distribution row's label: an option's text, yes / no, or the value."""
    if scale == "yesno" and row["value"] in (0, 1):
        return ui.t("survey.yes" if row["value"] else "survey.no")
    return _text(row["text"], ui.lang) or row["option"] or str(row["value"])


def _wording(ui: Ui, w: dict[str, Any]) -> str:
    """One wording of a question answered under several: its text, revisions and answers."""
    unknown = ui.t("survey.wording_unknown")
    revs = [str(r) for r in w["revs"]] + ([unknown] if w["unknown_rev"] else [])
    return ui.t("survey.wording", text=_text(w["text"], ui.lang) or unknown, revs=", ".join(revs), n=w["n"])


def survey_view(ui: Ui, survey: dict[str, Any] | None, report: dict[str, Any]) -> dict[str, Any]:
    """The survey's questions and the report, with texts in the page's language (a withheld staff
    report: the survey's questions, nothing of the answers)."""
    lang = ui.lang
    if report.get("withheld"):
        asked = [
            {"id": q["id"], "label": _text(q["text"], lang) or q["id"], "in_survey": True,
             "scale": q["scale"], "scale_key": f"survey.scale.{q['scale']}", "condition": None, "rows": [
                 {"option": o["id"], "value": i, "label": _text(o["text"], lang)}
                 for i, o in enumerate(q.get("options") or (), 1)]}
            for q in (survey or {}).get("questions") or ()
        ]  # fmt: skip
        return {
            "withheld": True, "needed": report["needed"], "questions": [], "in_survey": asked, "mixed": [],
            "offers": "", "langs": ", ".join((survey or {}).get("langs") or ["ru"]), "min_n": report["min_n"],
        }  # fmt: skip
    names = {q["id"]: _text(q["text"], lang) or q["id"] for q in report["questions"] if q["text"]}
    questions = []
    for q in report["questions"]:
        cond = q["show_if"]
        metric = q["metric"]
        questions.append({
            **q,
            "label": names.get(q["id"], q["id"]),
            "scale_key": f"survey.scale.{q['scale']}" if q["scale"] else "survey.scale.unknown",
            "condition": ui.t("survey.show_if", question=names.get(cond["question"], cond["question"]),
                              values=", ".join(str(v) for v in cond["values"])) if cond else None,
            "unit": UNITS.get(metric["name"], "%") if metric else None,
            "rows": [{**d, "label": _label(ui, q["scale"], d)} for d in q["distribution"]],
            "dwell_s": None if q["dwell_median_ms"] is None else q["dwell_median_ms"] / 1000,
        })  # fmt: skip
    funnel = report["funnel"]
    started = funnel["started"]
    steps = [
        {**s, "label": names.get(s["question"], s["question"]),
         "share": 100 * s["answered"] / started if started else None}
        for s in funnel["steps"]
    ]  # fmt: skip
    completed = funnel["completed"]
    offers = [ui.t(f"survey.offer.{k}") for k in ("critic_help", "callback") if (survey or {}).get(k)]
    mixed = [
        {"id": q["id"], "label": q["label"], "wordings": [_wording(ui, w) for w in q["wordings"]]}
        for q in questions
        if q["mixed"]
    ]
    return {
        "questions": questions,
        "in_survey": [q for q in questions if q["in_survey"]],
        "funnel": {
            "started": started,
            "steps": steps,
            "completed": completed,
            "completed_share": 100 * completed / started if started and completed is not None else None,
        },
        "offers": ", ".join(offers),
        "langs": ", ".join((survey or {}).get("langs") or ["ru"]),
        "help": report["help_requests"],
        "callback": report["callback_requests"],
        "min_n": report["min_n"],
        "mixed": mixed,
        "withheld": False,
    }


def critics_view(ui: Ui, report: dict[str, Any], names: dict[str, str], zone: Any) -> dict[str, Any] | None:
    """The critics' reasons and sessions, with texts in the page's language and alert links."""
    critics = report.get("critics")
    if critics is None:
        return None
    windows = dict(ui.conn.execute("SELECT id, name FROM windows"))
    operators = dict(ui.conn.execute("SELECT id, name FROM operators"))
    reasons = [
        {**r, "label": _text(r["text"], ui.lang) or r["question"],
         "rows": [{**o, "label": _text(o["text"], ui.lang) or o["option"] or str(o["value"])}
                  for o in r["options"]]}
        for r in critics["reasons"]
    ]  # fmt: skip
    latest = None
    if critics["latest"] is not None:
        latest = []
        for c in critics["latest"]:
            where = [c["device"]]
            if c["window"]:
                where.append(windows.get(c["window"]) or c["window"])
            if c["operator"]:
                where.append(operators.get(c["operator"]) or c["operator"])
            asked = [ui.t(f"survey.asked_{k}") for k in ("help", "callback") if c[k]]
            latest.append({
                **c, "when": local_time(c["ts"], zone), "where": ", ".join(where), "asked": ", ".join(asked),
                "picked": ", ".join(_text(r["text"], ui.lang) or r["option"] for r in c["reasons"]),
                "links": [{"href": f"/alerts?tab={a['state']}#alert-{a['id']}", "id": a["id"],
                           "state": ui.t(f"alerts.state.{a['state']}")} for a in c["alerts"]],
            })  # fmt: skip
    return {
        **critics, "question_label": names.get(critics["question"], critics["question"]),
        "reasons": reasons, "latest": latest,
    }  # fmt: skip


def _known(value: str | None, ids: set[str]) -> str | None:
    return value if value in ids else None


@router.get("/survey", include_in_schema=False)
def survey_page(ui: StaffUi) -> HTMLResponse:
    conn = ui.conn
    settings = office_settings.load(conn)
    period = pick_survey_period(ui, settings)
    params = ui.request.query_params
    departments = scopes.departments(conn)
    windows = scopes.windows(conn)
    operators = scopes.operators(conn)
    terminals = office_survey.terminals(conn)
    chosen_scope = {
        "department": _known(params.get("department"), {d["id"] for d in departments}),
        "window": _known(params.get("window"), {w["id"] for w in windows}),
        "operator": _known(params.get("operator"), {o["id"] for o in operators}),
        "device": _known(params.get("device"), set(terminals)),
    }
    surveys = [
        s for s in office_survey.surveys(conn) if s["rev"] is not None or s["id"] == office_survey.MAIN
    ]
    for s in surveys:
        s["label"] = survey_label(ui, s)
    sid = _known(params.get("survey"), {s["id"] for s in surveys}) or office_survey.MAIN
    card = next(s for s in surveys if s["id"] == sid)
    staff, running = card["audience"] == office_survey.STAFF, card["terminals"]
    revisions = [r["rev"] for r in office_survey.revisions(conn, sid)]
    chosen = params.get("revision", "")
    revision = int(chosen) if chosen.isdigit() and int(chosen) in revisions else None
    survey = office_survey.survey_at(conn, revision) if revision is not None else office_survey.get(conn, sid)
    error = None
    survey_arg = sid if sid != office_survey.MAIN else None
    try:
        report = survey_report.report(
            conn, period.lo, period.hi, settings=settings, revision=revision, survey_id=survey_arg,
            **chosen_scope,
        )  # fmt: skip
    except survey_report.SurveyReportError as exc:  # a filter the staff rule refuses: the department only
        error = str(exc)
        report = survey_report.report(
            conn, period.lo, period.hi, settings=settings, revision=revision, survey_id=survey_arg,
            department=chosen_scope["department"],
        )  # fmt: skip
    view = survey_view(ui, survey, report)
    names = {q["id"]: q["label"] for q in view["questions"]}
    view["critics"] = critics_view(ui, report, names, settings.zone)
    context = period_context(ui, period)
    context["presets"] = (DEFAULT_KEY, *PRESETS)
    return page(
        ui, "survey.html", "survey.title", survey=survey, view=view, report=report, error=error,
        terminals=running, departments=departments, windows=windows, operators=operators,
        window=chosen_scope["window"], device=chosen_scope["device"],
        department=chosen_scope["department"], operator=chosen_scope["operator"],
        export_href=_export_href(period, chosen_scope, sid), revisions=revisions, surveys=surveys,
        survey_id=sid, staff=staff,
        revision=revision, current_revision=revisions[0] if revisions else None,
        can_edit=ui.user is not None and ui.user.can(auth.ADMINS), **context,
    )  # fmt: skip


def _export_href(period: Period, chosen: dict[str, str | None], survey_id: str) -> str | None:
    """The export page's file for this period and scope, per question (None: the export takes one
    scope and no terminal)."""
    picked = [(k, v) for k, v in chosen.items() if v is not None]
    if chosen["device"] is not None or len(picked) > 1:
        return None
    scope = f"{picked[0][0]}:{picked[0][1]}" if picked else ""
    query = {
        "kind": "survey", "from": period.first.isoformat(), "to": period.last.isoformat(), "scope": scope,
        "format": "xlsx", "step": "total",
        **({"survey": survey_id} if survey_id != office_survey.MAIN else {}),
    }  # fmt: skip
    return "/export/file?" + urlencode(query)
