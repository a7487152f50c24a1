"""The survey editor (``/survey/edit``, admins only): the office's survey as a plain HTML form.

It opens on a copy of the current survey (``?new=1``: a new one starting with the bank's main
question). Each of the question slots is a question of the bank
(:mod:`edge_hub.office.question_bank`: its id, scale and texts fixed, so numbers stay comparable)
or one written here (id, scale, texts ru / en, a choice's options one per line ``id | текст |
text``), asked always or "only after a negative main answer" (``show_if`` on the main question's
negative band, :data:`edge_hub.metrics.formulas.SCALES`); a condition the form cannot say (set
through the API) is kept as it was. The welcome and thanks texts, the languages, the starting
language, "call an administrator" and "call back" complete it; ``idle_s`` and ``lockout_ms`` are
kept from the survey copied.

Saving checks what ``PUT /api/v1/survey`` checks (at most five questions, the main one first, the
contract's schema: :func:`edge_hub.api.routes.survey.contract_refusal`; the hub's rules:
:func:`edge_hub.office.survey.put`), saves a new revision, and publishes each terminal's config
through the runtime as the API does; a refusal renders the form again with its message. The
preview (the screens as a terminal shows them: texts per language and the scale's buttons) is
rendered on the hub from the form: below the form, and again (htmx) while the admin types.

Long: a third of it is the editor's messages in Russian and English.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from edge_hub.api import auth
from edge_hub.api.deps import RuntimeDep
from edge_hub.api.routes.survey import contract_refusal
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import question_bank as bank
from edge_hub.office import scopes
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.runtime import InvalidCommand, NotConnected
from hub_ui import i18n
from hub_ui.core import Ui, UiError, fragment, page, redirect, require
from hub_ui.numbers import iso

router = APIRouter()
AdminUi = Annotated[Ui, Depends(require(auth.ADMINS))]

#: the source documents' rule (seed 001), as the contract's ``maxItems``
MAX_QUESTIONS = 5
MAX_OPTIONS = 6
#: the slots a new form shows; "add a question" adds one more
SLOTS = MAX_QUESTIONS
SCALE_CHOICES = ("csat5", "nps11", "ces7", "yesno", "agree11", "choice")
#: the form's conditions: always asked, only after a negative main answer, the one the survey had
CONDITIONS = ("always", "negative", "kept")
LANGS = ("ru", "en")

i18n.register({
    "editor.open": ("Изменить опрос", "Edit survey"),
    "editor.title": ("Редактор опроса", "Survey editor"),
    "editor.intro": (
        "Не больше пяти вопросов; первый — главный (оценка, задаётся всегда). Вопрос из банка сохраняет "
        "свой id и шкалу, чтобы цифры можно было сравнивать между офисами. Сохранение создаёт новую версию "
        "опроса и отправляет её на терминалы.",
        "At most five questions; the first is the main one (a rating, always asked). A question from the "
        "bank keeps its id and scale, so the numbers stay comparable across offices. Saving makes a new "
        "survey version and sends it to the terminals.",
    ),
    "editor.new": ("Начать новый опрос", "Start a new survey"),
    "editor.back": ("К опросу и отчёту", "Back to the survey and its report"),
    "editor.question": ("Вопрос {n}", "Question {n}"),
    "editor.main": ("Вопрос 1 — главный", "Question 1 — the main one"),
    "editor.source": ("Вопрос", "Question"),
    "editor.source.empty": ("— нет —", "— none —"),
    "editor.source.custom": ("свой вопрос (поля ниже)", "my own question (fields below)"),
    "editor.id": ("id (латиница, цифры, . _ -)", "id (latin letters, digits, . _ -)"),
    "editor.scale": ("Шкала", "Scale"),
    "editor.text_ru": ("Текст по-русски", "Text in Russian"),
    "editor.text_en": ("Текст по-английски", "Text in English"),
    "editor.options": (
        "Варианты (для выбора, до 6): по одному в строке, «id | текст | text»",
        "Options (a choice, up to 6): one a line, “id | текст | text”",
    ),
    "editor.condition": ("Когда задавать", "When to ask"),
    "editor.condition.always": ("всегда", "always"),
    "editor.condition.negative": ("только после негативного ответа на главный вопрос",
                                  "only after a negative main answer"),
    "editor.condition.kept": ("условие, заданное раньше: {cond}", "the condition set before: {cond}"),
    "editor.screens": ("Экраны", "Screens"),
    "editor.welcome_ru": ("Приветствие по-русски", "Welcome in Russian"),
    "editor.welcome_en": ("Приветствие по-английски", "Welcome in English"),
    "editor.thanks_ru": ("Благодарность по-русски", "Thanks in Russian"),
    "editor.thanks_en": ("Благодарность по-английски", "Thanks in English"),
    "editor.langs": ("Языки для посетителя", "Languages offered"),
    "editor.lang": ("Язык при старте", "Starting language"),
    "editor.lang.ru": ("русский", "Russian"),
    "editor.lang.en": ("английский", "English"),
    "editor.critic_help": (
        "После негативной главной оценки предложить позвать администратора",
        "After a negative main rating, offer to call an administrator",
    ),
    "editor.callback": (
        "После негативной главной оценки предложить перезвонить (сенсорный киоск)",
        "After a negative main rating, offer a call back (touch kiosk)",
    ),
    "editor.add": ("Добавить вопрос", "Add a question"),
    "editor.preview_button": ("Обновить предпросмотр", "Update the preview"),
    "editor.save": ("Сохранить и отправить на терминалы", "Save and send to the terminals"),
    "editor.preview": ("Предпросмотр экранов", "Preview of the screens"),
    "editor.preview_note": (
        "Так терминал покажет опрос: текст на каждом языке и кнопки шкалы.",
        "How a terminal shows the survey: the text in each language and the scale's buttons.",
    ),
    "editor.screen.welcome": ("Приветствие", "Welcome"),
    "editor.screen.thanks": ("Благодарность", "Thanks"),
    "editor.screen.builtin": ("(встроенный текст терминала)", "(the terminal's built-in text)"),
    "editor.screen.question": ("Вопрос {n}: {id}", "Question {n}: {id}"),
    "editor.screen.after_negative": (
        "после негативной оценки: {offers}", "after a negative rating: {offers}"
    ),
    "editor.yes": ("Да", "Yes"),
    "editor.no": ("Нет", "No"),
    "editor.invalid": ("Опрос не сохранён: {reason}", "The survey was not saved: {reason}"),
    "editor.too_many": (
        "В опросе не больше пяти вопросов, первый — главный (правило методики): уберите лишние.",
        "A survey has at most five questions, the main one first (the source documents' rule): remove "
        "the extra ones.",
    ),
    "editor.too_many_options": (
        "Вопрос {n}: не больше шести вариантов ответа.",
        "Question {n}: at most six options.",
    ),
    "editor.bad_option": (
        "Вопрос {n}: вариант «{line}» — нужно «id | текст» или «id | текст | text».",
        "Question {n}: option “{line}” — write “id | текст” or “id | текст | text”.",
    ),
    "editor.bad_form": (
        "Вопрос {n}: форма пришла искажённой, откройте редактор заново.",
        "Question {n}: the form arrived garbled; open the editor again.",
    ),
    "editor.no_questions": ("Выберите хотя бы главный вопрос.", "Choose at least the main question."),
    "editor.saved": (
        "Сохранено: версия опроса {rev}; отправлено терминалам: {sent}.",
        "Saved: survey version {rev}; sent to {sent} terminal(s).",
    ),
    "action.survey.save": ("опрос сохранён (новая версия)", "survey saved (a new version)"),
    "action.survey.retire": ("опрос снят с использования", "survey retired"),
    "surveys.title": ("Опросы офиса", "The office's surveys"),
    "surveys.main_name": ("Основной опрос", "Main survey"),
    "surveys.unknown": ("Такого опроса нет.", "No such survey."),
    "surveys.note": (
        "Терминал показывает опрос, назначенный ему самому, иначе — опрос его отдела, иначе — основной.",
        "A terminal runs the survey assigned to it, else its department's, else the main one.",
    ),
    "surveys.name": ("Название", "Name"),
    "surveys.audience": ("Кто отвечает", "Who answers"),
    "surveys.audience.visitors": ("посетители", "visitors"),
    "surveys.audience.staff": ("сотрудники (анонимный eNPS)", "staff (anonymous eNPS)"),
    "surveys.version": ("Версия", "Version"),
    "surveys.runs_on": ("Идёт на терминалах", "Runs on"),
    "surveys.assigned": ("Назначен", "Assigned to"),
    "surveys.main": ("основной: все остальные терминалы", "main: every other terminal"),
    "surveys.none": ("нигде", "nowhere"),
    "surveys.retired": ("снят {at}", "retired {at}"),
    "surveys.edit": ("Изменить", "Edit"),
    "surveys.copy": ("Копировать", "Copy"),
    "surveys.retire": ("Снять", "Retire"),
    "surveys.retire_confirm": (
        "Снять опрос «{name}»? Его терминалы перейдут на опрос отдела или основной; ответы останутся "
        "в отчётах.",
        "Retire the survey “{name}”? Its terminals go back to their department's or the main survey; "
        "its answers stay in the reports.",
    ),
    "surveys.editing": ("Опрос «{name}» ({id})", "Survey “{name}” ({id})"),
    "surveys.new_name": ("Новый опрос", "New survey"),
    "surveys.copy_name": ("Копия: {name}", "Copy of {name}"),
    "surveys.identity": ("Опрос", "Survey"),
    "surveys.assign": ("Где идёт", "Where it runs"),
    "surveys.assign_note": (
        "Отметьте отделы (все их терминалы) и отдельные терминалы. Основной опрос идёт везде, где нет "
        "другого.",
        "Tick departments (all their terminals) and single terminals. The main survey runs wherever no "
        "other does.",
    ),
    "surveys.departments": ("Отделы", "Departments"),
    "surveys.terminals": ("Терминалы", "Terminals"),
    "surveys.no_terminals": ("Терминалов пока нет.", "No terminals yet."),
    "surveys.runs_now": ("сейчас: {name}", "now: {name}"),
    "surveys.audience_locked": (
        "Аудитория опроса не меняется после первого сохранения: для другой аудитории сделайте копию.",
        "A survey's audience stays once it is saved: copy it for the other audience.",
    ),
    "surveys.staff_note": (
        "Опрос сотрудников анонимный: без обратного звонка и вызова администратора; результаты показываются "
        "только для групп не меньше min_n человек.",
        "A staff survey is anonymous: no call back or call for an administrator; its results are shown only "
        "for groups of at least min_n people.",
    ),
    "surveys.retired_done": ("Опрос «{name}» снят; терминалов обновлено: {sent}.",
                             "The survey “{name}” is retired; {sent} terminal(s) updated."),
    "surveys.nowhere": (
        "Опрос сохранён, но не назначен ни одному терминалу.",
        "The survey is saved but runs on no terminal yet.",
    ),
})  # fmt: skip


class EditorError(ValueError):
    """The form cannot make a survey; the message is in the page's language."""


# --- the form's model: a survey <-> the form's fields ---------------------------------------------


def _bank_source(q: dict[str, Any]) -> str:
    """``bank:<id>`` when the question is the bank's as it stands, else ``custom``."""
    known = bank.BY_ID.get(q["id"])
    plain = {k: v for k, v in q.items() if k != "show_if"}
    return f"bank:{known.id}" if known is not None and known.as_question() == plain else "custom"


def _slot(q: dict[str, Any] | None, main: dict[str, Any] | None) -> dict[str, Any]:
    if q is None:
        return {"source": "", "id": "", "scale": "csat5", "ru": "", "en": "", "options": "",
                "condition": "always", "show_if": ""}  # fmt: skip
    cond = q.get("show_if")
    condition = "always"
    if cond:
        condition = "kept"
        if main is not None and cond == _negative(main):
            condition = "negative"
    options = "\n".join(
        " | ".join([o["id"], o["text"]["ru"], *([o["text"]["en"]] if o["text"].get("en") else [])])
        for o in q.get("options") or ()
    )
    return {
        "source": _bank_source(q), "id": q["id"], "scale": q["scale"], "ru": q["text"].get("ru", ""),
        "en": q["text"].get("en", ""), "options": options, "condition": condition,
        "show_if": orjson.dumps(cond).decode() if cond else "",
    }  # fmt: skip


def form_of(survey: dict[str, Any] | None) -> dict[str, Any]:
    """The form's values for a survey (None: a new survey, the bank's main question first)."""
    if survey is None:
        survey = {"questions": [bank.question("csat")], "langs": ["ru", "en"], "lang": "ru"}
    questions = list(survey.get("questions") or ())
    main = questions[0] if questions else None
    slots = [_slot(q, main) for q in questions]
    slots += [_slot(None, None) for _ in range(SLOTS - len(slots))]
    welcome, thanks = survey.get("welcome") or {}, survey.get("thanks") or {}
    return {
        "slots": slots,
        "welcome_ru": welcome.get("ru", ""), "welcome_en": welcome.get("en", ""),
        "thanks_ru": thanks.get("ru", ""), "thanks_en": thanks.get("en", ""),
        "langs": list(survey.get("langs") or ["ru"]), "lang": survey.get("lang") or "ru",
        "critic_help": bool(survey.get("critic_help")), "callback": bool(survey.get("callback")),
        "idle_s": survey.get("idle_s", ""), "lockout_ms": survey.get("lockout_ms", ""),
        "survey_id": office_survey.MAIN, "name": "", "audience": office_survey.VISITORS,
        "devices": [], "departments": [], "is_new": False,
    }  # fmt: skip


def read_form(form: FormData, *, extra_slot: bool = False) -> dict[str, Any]:
    """The form's values as submitted (``extra_slot``: one more empty slot, "add a question")."""

    def text(key: str) -> str:
        value = form.get(key, "")
        return value.strip() if isinstance(value, str) else ""

    count = int(text("count")) if text("count").isdigit() else SLOTS
    count = min(count, 20)  # a bound on what one form may ask to render
    slots = []
    for i in range(count):
        p = f"q{i}."
        slots.append({
            "source": text(p + "source"), "id": text(p + "id"), "scale": text(p + "scale") or "csat5",
            "ru": text(p + "ru"), "en": text(p + "en"), "options": text(p + "options"),
            "condition": text(p + "condition") or "always", "show_if": text(p + "show_if"),
            "shown": text(p + "shown"),
        })  # fmt: skip
        if slots[-1]["source"].startswith("bank:") and slots[-1]["source"][5:] in bank.BY_ID:
            slots[-1] |= {k: v for k, v in _slot(bank.question(slots[-1]["source"][5:]), None).items()
                          if k in ("id", "scale", "ru", "en", "options")}  # fmt: skip
    if extra_slot:
        slots.append(_slot(None, None))
    langs = [lang for lang in LANGS if lang in form.getlist("langs")] or ["ru"]
    return {
        "slots": slots,
        **{k: text(k) for k in ("welcome_ru", "welcome_en", "thanks_ru", "thanks_en")},
        "idle_s": text("idle_s"), "lockout_ms": text("lockout_ms"),
        "langs": langs, "lang": text("lang") or langs[0],
        "critic_help": "critic_help" in form, "callback": "callback" in form,
        "survey_id": text("survey_id") or office_survey.MAIN, "name": text("name"),
        "audience": text("audience") or office_survey.VISITORS,
        "is_new": bool(text("is_new")),
        "devices": [d for d in form.getlist("devices") if isinstance(d, str)],
        "departments": [d for d in form.getlist("departments") if isinstance(d, str)],
    }  # fmt: skip


def _negative(main: dict[str, Any]) -> dict[str, Any]:
    """``show_if`` "only after a negative main answer": the main scale's negative band."""
    scale = SCALES.get(main["scale"])
    low, high = scale.negative if scale is not None else (1, 1)  # a choice main is refused anyway
    return {"question": main["id"], "values": list(range(low, high + 1))}


def _texts(ru: str, en: str) -> dict[str, str] | None:
    found = {k: v for k, v in (("ru", ru), ("en", en)) if v}
    return found or None


def _options(n: int, text: str, t: Any) -> list[dict[str, Any]]:
    options = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) not in (2, 3) or not all(parts):
            raise EditorError(t("editor.bad_option", n=n, line=line))
        options.append({"id": parts[0], "text": _texts(parts[1], parts[2] if len(parts) == 3 else "")})
    if len(options) > MAX_OPTIONS:
        raise EditorError(t("editor.too_many_options", n=n))
    return options


def _kept(n: int, text: str, t: Any) -> dict[str, Any]:
    """A condition the form cannot say, as it was drawn (a hidden field): checked for its shape."""
    try:
        cond = orjson.loads(text)
    except orjson.JSONDecodeError:
        cond = None
    values = cond.get("values") if isinstance(cond, dict) else None
    if not (isinstance(cond, dict) and isinstance(cond.get("question"), str) and isinstance(values, list)
            and all(isinstance(v, int) for v in values)):  # fmt: skip
        raise EditorError(t("editor.bad_form", n=n))
    return {"question": cond["question"], "values": values}


def build(values: dict[str, Any], t: Any) -> dict[str, Any]:
    """The survey the form says (raises :class:`EditorError` for what the form itself cannot say;
    the hub's and the contract's rules are checked when it is saved)."""
    slots = [s for s in values["slots"] if s["source"]]
    if not slots:
        raise EditorError(t("editor.no_questions"))
    if len(slots) > MAX_QUESTIONS:
        raise EditorError(t("editor.too_many"))
    questions: list[dict[str, Any]] = []
    for n, s in enumerate(slots, 1):
        if s["source"].startswith("bank:") and s["source"][5:] in bank.BY_ID:
            q = bank.question(s["source"][5:])
        else:
            if s["scale"] not in SCALE_CHOICES:
                raise EditorError(t("editor.bad_form", n=n))
            q = {"id": s["id"], "text": _texts(s["ru"], s["en"]) or {}, "scale": s["scale"]}
            if s["scale"] == "choice":
                q["options"] = _options(n, s["options"], t)
        if s["condition"] == "negative" and questions:
            q["show_if"] = _negative(questions[0])
        elif s["condition"] == "negative":  # on the main one: refused in the rule's own words
            q["show_if"] = {"question": q["id"], "values": [1]}
        elif s["condition"] == "kept" and s["show_if"]:
            q["show_if"] = _kept(n, s["show_if"], t)
        questions.append(q)
    survey: dict[str, Any] = {"questions": questions, "langs": values["langs"]}
    if values["lang"] in values["langs"]:
        survey["lang"] = values["lang"]
    for key in ("welcome", "thanks"):
        text = _texts(values[f"{key}_ru"], values[f"{key}_en"])
        if text:
            survey[key] = text
    survey["critic_help"] = values["critic_help"]
    survey["callback"] = values["callback"]
    for key in ("idle_s", "lockout_ms"):
        if str(values[key]).isdigit():
            survey[key] = int(values[key])
    return survey


# --- the preview --------------------------------------------------------------------------------


def _buttons(q: dict[str, Any], lang: str) -> list[str]:
    if q["scale"] == "choice":
        return [o["text"].get(lang) or o["text"].get("ru", "") for o in q.get("options") or ()]
    if q["scale"] == "yesno":  # as the kiosk: the lower value (No) on the left, as on every scale
        return [i18n.t("editor.no", lang), i18n.t("editor.yes", lang)]
    scale = SCALES.get(q["scale"])
    return [str(v) for v in range(scale.low, scale.high + 1)] if scale else []


def preview(ui: Ui, survey: dict[str, Any] | None) -> dict[str, Any] | None:
    """The screens a terminal shows for ``survey``: welcome, each question, thanks (None: nothing
    to show). Texts per language of the survey; a missing one as the terminal shows it (Russian)."""
    if not survey or not survey.get("questions"):
        return None
    langs = survey.get("langs") or ["ru"]
    names = {q["id"]: (q.get("text") or {}).get(ui.lang) or (q.get("text") or {}).get("ru") or q["id"]
             for q in survey["questions"]}  # fmt: skip

    def texts(text: dict[str, str] | None) -> list[dict[str, str | None]]:
        return [
            {"lang": lang, "text": (text or {}).get(lang) or (text or {}).get("ru"), "buttons": []}
            for lang in langs
        ]

    plain = {"id": None, "scale": None, "condition": None}

    screens = [
        {
            "kind": "welcome",
            "title": ui.t("editor.screen.welcome"),
            "texts": texts(survey.get("welcome")),
            **plain,
        }
    ]
    for n, q in enumerate(survey["questions"], 1):
        cond = q.get("show_if")
        screens.append({
            "kind": "question", "id": q["id"], "scale": q["scale"],
            "title": ui.t("editor.screen.question", n=n, id=q["id"]),
            "condition": ui.t("survey.show_if", question=names.get(cond["question"], cond["question"]),
                              values=", ".join(str(v) for v in cond.get("values") or ())) if cond else None,
            "texts": [{**x, "buttons": _buttons(q, x["lang"])} for x in texts(q.get("text"))],
        })  # fmt: skip
    offers = [ui.t(f"survey.offer.{k}") for k in ("critic_help", "callback") if survey.get(k)]
    screens.append(
        {
            "kind": "thanks",
            "title": ui.t("editor.screen.thanks"),
            "texts": texts(survey.get("thanks")),
            **plain,
        }
    )
    return {
        "screens": screens,
        "offers": ui.t("editor.screen.after_negative", offers=", ".join(offers)) if offers else None,
    }


# --- the page -----------------------------------------------------------------------------------


def _sources(ui: Ui) -> list[dict[str, Any]]:
    """The bank's questions for the slots' selects, grouped."""
    lang = 1 if ui.lang == "en" else 0
    groups = []
    for key, *label in bank.GROUPS:
        items = [
            {"value": f"bank:{q.id}", "label": f"{(q.en if lang else q.ru)[:90]} ({q.id}, {q.scale})"}
            for q in bank.BANK
            if q.group == key
        ]
        groups.append({"label": label[lang], "items": items})
    return groups


def _editor(
    ui: Ui, values: dict[str, Any], *, error: str | None = None, notice: str | None = None, status: int = 200
) -> HTMLResponse:
    try:
        shown = preview(ui, build(values, ui.t))
    except EditorError:
        shown = None
    listing = _listing(ui)
    return page(
        ui, "survey_edit.html", "editor.title", status_code=status, form=values, error=error, notice=notice,
        sources=_sources(ui), scales=SCALE_CHOICES, langs=LANGS, preview=shown,
        max_questions=MAX_QUESTIONS, preview_error=None, oob=False, surveys=listing,
        audience_locked=values["survey_id"] == office_survey.MAIN
        or any(s["id"] == values["survey_id"] and s["rev"] for s in listing),
        terminals=_terminals(ui), departments=scopes.departments(ui.conn), main=office_survey.MAIN,
        audiences=office_survey.AUDIENCES, names={r["id"]: r["label"] for r in listing},
    )  # fmt: skip


def _listing(ui: Ui) -> list[dict[str, Any]]:
    """The surveys' table: each with its name as the office shows it."""
    rows = office_survey.surveys(ui.conn)
    for r in rows:
        r["label"] = survey_label(ui, r)
        r["retired_on"] = iso(r["retired_at"])[:10] if r["retired_at"] else ""
    return rows


def survey_label(ui: Ui, card: dict[str, Any]) -> str:
    """A survey's name as the office page shows it (the main one's built-in name in the reader's
    language)."""
    if card["id"] == office_survey.MAIN and card["name"] == office_survey.MAIN_NAME:
        return ui.t("surveys.main_name")
    return card["name"]


def _terminals(ui: Ui) -> list[dict[str, Any]]:
    """The terminals with their kind, window and department, for the assignment's ticks."""
    rows = ui.conn.execute(
        'SELECT d.device, d.kind, d."window", w.department FROM devices d '
        'LEFT JOIN windows w ON w.id = d."window" WHERE d.kind IN (?, ?, ?) ORDER BY d.device',
        office_survey.TERMINAL_KINDS,
    )
    return [
        {"device": device, "kind": kind, "window": window, "department": dep,
         "survey": office_survey.effective(ui.conn, device)}
        for device, kind, window, dep in rows
    ]  # fmt: skip


@router.get("/survey/edit", include_in_schema=False)
def edit(ui: AdminUi) -> HTMLResponse:
    """The editor on a copy of a survey's current definition (``?survey=ID``, default the main
    one); ``?new=1`` a new survey, ``?copy=ID`` a new survey starting as a copy of that one."""
    params = ui.request.query_params
    conn = ui.conn
    notice = None
    if params.get("new") or params.get("copy"):
        source = office_survey.get(conn, params["copy"]) if params.get("copy") else None
        card = office_survey.info(conn, params["copy"]) if params.get("copy") else None
        values = form_of(source)
        values["survey_id"] = office_survey.new_id(conn)
        copied = ui.t("surveys.copy_name", name=survey_label(ui, card)) if card else None
        values["name"] = copied or ui.t("surveys.new_name")
        values["audience"] = card["audience"] if card else office_survey.VISITORS
        values["is_new"] = True
        return _editor(ui, values)
    sid = params.get("survey") or office_survey.MAIN
    card = office_survey.info(conn, sid)
    if card is None or card["retired_at"] is not None:
        sid, card = office_survey.MAIN, office_survey.info(conn, office_survey.MAIN)
    assert card is not None
    values = form_of(office_survey.get(conn, sid))
    assigned = next(s for s in office_survey.surveys(conn) if s["id"] == sid)["assigned"]
    values.update(survey_id=sid, name=survey_label(ui, card), audience=card["audience"], **assigned)
    if params.get("saved", "").isdigit():
        sent = params.get("sent", "0")
        notice = ui.t("editor.saved", rev=params["saved"], sent=sent if sent.isdigit() else "?")
        if params.get("nowhere"):
            notice += " " + ui.t("surveys.nowhere")
    elif params.get("retired") and (gone := office_survey.info(conn, params["retired"])) is not None:
        sent = params.get("sent", "0")
        name = survey_label(ui, gone)
        notice = ui.t("surveys.retired_done", name=name, sent=sent if sent.isdigit() else "?")
    return _editor(ui, values, notice=notice)


@router.post("/survey/edit", include_in_schema=False)
async def post_edit(ui: AdminUi, runtime: RuntimeDep) -> Response:
    """``action``: ``save`` (check, a new revision, publish), ``add`` (one more slot) or
    ``preview`` (the form again with its preview)."""
    form = await ui.request.form()
    return await run_in_threadpool(_post_edit, ui, runtime, form)


def _post_edit(ui: Ui, runtime: Any, form: FormData) -> Response:
    action = form.get("action")
    values = read_form(form, extra_slot=action == "add")
    if action != "save":
        return _editor(ui, values)
    sid = values["survey_id"]
    if form.get("is_new") and office_survey.info(ui.conn, sid) is not None:
        sid = values["survey_id"] = office_survey.new_id(ui.conn)  # another admin took that id meanwhile
    main = sid == office_survey.MAIN
    name = values["name"]
    if main and name == ui.t("surveys.main_name"):
        name = office_survey.MAIN_NAME  # the built-in name, shown in the reader's language
    try:
        survey = build(values, ui.t)
        office_survey.check(  # the rules' own words first
            survey, office_settings.load(ui.conn), audience=values["audience"]
        )
        refusal = contract_refusal(ui.site, survey)
        if refusal is not None:
            raise EditorError(refusal)
        office_survey.check_targets(ui.conn, values["devices"], values["departments"])
        by = ui.user.username if ui.user else None
        payloads = office_survey.put(
            ui.conn, survey, by=by, survey_id=sid, name=name, audience=values["audience"]
        )
        payloads += office_survey.assign(
            ui.conn, sid, devices=values["devices"], departments=values["departments"]
        )
    except (EditorError, office_survey.SurveyError) as exc:
        return _editor(ui, values, error=ui.t("editor.invalid", reason=str(exc)), status=422)
    sent = _publish(runtime, payloads)
    rev = office_survey.revision(ui.conn, sid)
    ui.audit(
        "survey.save",
        f"{sid} rev {rev}: {len(survey['questions'])} question(s), {len(payloads)} terminal config(s)",
    )
    card = next(s for s in office_survey.surveys(ui.conn) if s["id"] == sid)
    nowhere = "&nowhere=1" if not main and not card["terminals"] else ""
    return redirect(ui, f"/survey/edit?survey={sid}&saved={rev}&sent={sent}{nowhere}")


def _publish(runtime: Any, payloads: list[dict[str, Any]]) -> int:
    """Send the configs (the last one per device) through the runtime; the number sent."""
    last = {p["device"]: p for p in payloads}
    sent = 0
    for payload in last.values():
        with suppress(NotConnected, InvalidCommand):  # no broker now: the hub sends them when it connects
            runtime.publish_config(payload)
            sent += 1
    return sent


@router.post("/survey/{survey_id}/retire", include_in_schema=False)
def post_retire(ui: AdminUi, runtime: RuntimeDep, survey_id: str) -> Response:
    """Retire a survey (not the main one): its terminals go back to their department's or the main."""
    card = office_survey.info(ui.conn, survey_id)
    if card is None:
        raise UiError(404, "surveys.unknown")
    try:
        payloads = office_survey.retire(ui.conn, survey_id)
    except office_survey.SurveyError as exc:
        return _editor(ui, form_of(office_survey.get(ui.conn)), error=str(exc), status=422)
    sent = _publish(runtime, payloads)
    ui.audit("survey.retire", f"{survey_id}: {len(payloads)} terminal config(s)")
    return redirect(ui, f"/survey/edit?retired={quote(survey_id)}&sent={sent}")


@router.post("/survey/edit/preview", include_in_schema=False)
async def post_preview(ui: AdminUi) -> HTMLResponse:
    """The preview of the form as it stands (htmx, while the admin types)."""
    form = await ui.request.form()
    values = read_form(form)
    try:
        shown, error = preview(ui, build(values, ui.t)), None
    except EditorError as exc:
        shown, error = None, str(exc)
    # a slot whose source changed since it was drawn is drawn again (a bank question's fields filled
    # and read-only, a question of one's own editable); the others are left alone while one types
    changed = [(i, s) for i, s in enumerate(values["slots"]) if s["source"] != s.get("shown", s["source"])]
    return fragment(
        ui, "_survey_preview_swap.html", preview=shown, preview_error=error, changed=changed, oob=True,
        sources=_sources(ui), scales=SCALE_CHOICES,
    )  # fmt: skip
