"""The question bank: ready survey questions from the source documents (``../shared/docs/domain.md``
and the seeds it cites), each with a fixed id, metric and scale so the numbers stay comparable
across offices (an id never changes its scale: :func:`edge_hub.office.survey.check` refuses it,
and the ids the office measures out of the box, ``OfficeSettings.questions``, have the same
scales here).

Where a seed quotes a question, its Russian text is the seed's, word for word (``source`` says
which seed); where a seed only names a metric (CES, FCR, eNPS, CSI's parameters), the wording is
the project's, after domain.md (``source`` says so). English is the project's translation.

- ``csat`` — the main question of seed 001 (the brief of issue 15 says seed 002; the sentence is in
  001): «Оцените, пожалуйста, общее впечатление от оказанной услуги/консультации», csat5;
- ``nps`` — seed 000's NPS question, nps11; ``enps`` — the same for staff (``staff``: ask it of
  employees, never of visitors), nps11;
- ``ces`` the effort 1–7 (ces7), ``fcr`` yes / no;
- ``csi`` — seed 000's CSI question (csat5), and CSI's per-parameter pairs (domain.md: CSI =
  Σ wᵢ·sᵢ / Σ wᵢ): for each parameter an importance question (``csi.<p>.imp``, wᵢ) and a
  satisfaction question (``csi.<p>.sat``, sᵢ), both csat5 as seed 000 rates CSI "по 5-балльной
  шкале";
- ``cci.<block>.<item>`` — seed 002's customer-centricity blocks I–V (the job seekers'
  questionnaire): agreement statements on agree11 (8–10 positive), the yes / no questions and
  the one choice (the preferred channel) as the seed asks them.

Data, not logic: :data:`BANK` is the list; :func:`question` gives one as a survey question in the
contract's config format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_AGREE = "В какой мере Вы согласны со следующим утверждением: "
_AGREE_EN = "How far do you agree: "
_INFO = (
    "«Информация о ЦЗН, его услугах и сервисах сформулирована и представлена в понятной и доступной для "
    "меня форме»"
)
_INFO_EN = "“Information about the centre, its services and tools is put clearly and accessibly for me”"


@dataclass(frozen=True, slots=True)
class BankQuestion:
    """One question of the bank: its id and scale are fixed; ``metric`` names what it measures."""

    id: str
    scale: str
    metric: str  # csat, nps, enps, ces, fcr, csi, csi_importance, csi_satisfaction, cci, yes_share, choice
    ru: str
    en: str
    group: str  # main, loyalty, effort, csi, staff, cci.1 … cci.5
    source: str  # "seed 001", or "project, after seed 003" where no seed quotes a wording
    staff: bool = False
    #: a choice question's options: (id, ru, en)
    options: tuple[tuple[str, str, str], ...] = field(default=())

    def as_question(self) -> dict[str, Any]:
        """The question in the contract's config format (``{id, text, scale[, options]}``)."""
        out: dict[str, Any] = {"id": self.id, "text": {"ru": self.ru, "en": self.en}, "scale": self.scale}
        if self.options:
            out["options"] = [{"id": i, "text": {"ru": ru, "en": en}} for i, ru, en in self.options]
        return out


def _csi(param: str, what_ru: str, what_en: str) -> tuple[BankQuestion, BankQuestion]:
    src = "project, after seed 000 and domain.md (CSI)"
    return (
        BankQuestion(f"csi.{param}.imp", "csat5", "csi_importance", f"Насколько для вас важно: {what_ru}?",
                     f"How important is it to you: {what_en}?", "csi", src),
        BankQuestion(f"csi.{param}.sat", "csat5", "csi_satisfaction",
                     f"Насколько вы удовлетворены: {what_ru}?", f"How satisfied are you with: {what_en}?",
                     "csi", src),
    )  # fmt: skip


def _agree(qid: str, block: int, ru: str, en: str, suffix_ru: str = "", suffix_en: str = "") -> BankQuestion:
    return BankQuestion(
        qid, "agree11", "cci", _AGREE + ru + suffix_ru, _AGREE_EN + en + suffix_en, f"cci.{block}", "seed 002"
    )


BANK: tuple[BankQuestion, ...] = (
    BankQuestion(
        "csat", "csat5", "csat",
        "Оцените, пожалуйста, общее впечатление от оказанной услуги/консультации",
        "Please rate your overall impression of the service or consultation", "main", "seed 001",
    ),
    BankQuestion(
        "nps", "nps11", "nps", "С какой вероятностью вы порекомендуете нас другим?",
        "How likely are you to recommend us to others?", "loyalty", "seed 000",
    ),
    BankQuestion(
        "ces", "ces7", "ces", "Насколько легко вам было решить свой вопрос?",
        "How easy was it to get your issue solved?", "effort", "project, after seed 003 and domain.md (CES)",
    ),
    BankQuestion(
        "fcr", "yesno", "fcr", "Ваш вопрос решён сегодня?", "Was your question resolved today?", "effort",
        "project, after seed 003 and domain.md (FCR)",
    ),
    BankQuestion(
        "csi", "csat5", "csi", "Как вы оцениваете удовлетворение от услуги, которую получили?",
        "How do you rate your satisfaction with the service you received?", "csi", "seed 000",
    ),
    *_csi("wait", "время ожидания в очереди", "the waiting time in the queue"),
    *_csi("staff", "вежливость и компетентность сотрудника", "the staff member's courtesy and competence"),
    *_csi("info", "понятность информации об услуге", "clear information about the service"),
    *_csi("comfort", "комфорт в зале ожидания", "comfort in the waiting area"),
    BankQuestion(
        "enps", "nps11", "enps",
        "С какой вероятностью вы порекомендуете нашу организацию как место работы знакомым?",
        "How likely are you to recommend our organisation as a place to work to people you know?",
        "staff", "project, after seed 000 (eNPS)", staff=True,
    ),
    # seed 002, I. friendliness and partnership
    _agree("cci.1.competence", 1,
           "«Сотрудники ЦЗН обладают высоким уровнем профессиональных знаний для оказания услуг и сервисов в "
           "сфере занятости»",
           "“The centre's staff have a high level of professional knowledge for employment services”"),
    _agree("cci.1.communication", 1,
           "«Сотрудники ЦЗН обладают хорошими коммуникативными навыками (проявление чуткости, "
           "внимательности и т.д.)»",
           "“The centre's staff have good communication skills (sensitivity, attentiveness, etc.)”"),
    BankQuestion("cci.1.management", "yesno", "yes_share", "Приходилось ли Вам обращаться к руководству ЦЗН?",
                 "Have you ever had to contact the centre's management?", "cci.1", "seed 002"),
    # II. usefulness of the visit
    _agree("cci.2.useful", 2, "«Я считаю свое обращение в ЦЗН полезным»",
           "“I consider my visit to the centre useful”"),
    # III. minimal client effort
    _agree("cci.3.info_office", 3, _INFO, _INFO_EN, " (в офисе)", " (in the office)"),
    _agree("cci.3.info_site", 3, _INFO, _INFO_EN, " (на региональном сайте СЗН)",
           " (on the regional website)"),
    _agree("cci.3.info_social", 3, _INFO, _INFO_EN, " (в социальных сетях СЗН)", " (in social networks)"),
    _agree("cci.3.info_phone", 3, _INFO, _INFO_EN, " (в контакт-центре)", " (at the contact centre)"),
    _agree("cci.3.simple", 3,
           "«Мне было просто пройти все процедуры в ЦЗН (например, заполнить документы и пр.)»",
           "“It was simple for me to go through all the procedures (e.g. filling in documents)”"),
    _agree("cci.3.fast", 3, "«В ЦЗН быстро и оперативно реагируют на мои обращения»",
           "“The centre responds to my requests quickly”"),
    BankQuestion(
        "cci.3.channel", "choice", "choice",
        "Какой канал взаимодействия является для Вас наиболее удобным?",
        "Which way of contacting us is the most convenient for you?", "cci.3", "seed 002",
        options=(("office", "офис ЦЗН", "the centre's office"),
                 ("phone", "контакт-центр", "the contact centre"),
                 ("social", "социальные сети ЦЗН", "the centre's social networks"),
                 ("site", "сайт СЗН", "the website"), ("other", "другое", "other")),
    ),
    BankQuestion("cci.3.booking", "yesno", "yes_share", "Пользовались ли Вы функцией предварительной записи?",
                 "Have you used pre-booking?", "cci.3", "seed 002"),
    # IV. personal approach
    BankQuestion("cci.4.consultant", "yesno", "yes_share",
                 "Есть ли у Вас личный, закреплённый за Вами консультант (куратор)?",
                 "Do you have a personal consultant (curator) assigned to you?", "cci.4", "seed 002"),
    _agree("cci.4.circumstances", 4,
           "«Мои личные обстоятельства были учтены сотрудниками ЦЗН при оказании услуг»",
           "“The staff took my personal circumstances into account”"),
    # V. comfort
    _agree("cci.5.comfort", 5, "«Мое пребывание в ЦЗН было комфортным»",
           "“My stay at the centre was comfortable”"),
    _agree("cci.5.transport", 5, "«Мне было легко добраться до ЦЗН»",
           "“It was easy for me to get to the centre”"),
    _agree("cci.5.appearance", 5, "«Внешний вид сотрудников ЦЗН соответствует деловому стилю»",
           "“The staff's appearance fits a business style”"),
    _agree("cci.5.coordination", 5, "«Действия сотрудников ЦЗН между собой были согласованы и слажены»",
           "“The staff's actions were coordinated with each other”"),
)  # fmt: skip

BY_ID: dict[str, BankQuestion] = {q.id: q for q in BANK}
#: the groups in the order an editor lists them: (key, ru, en)
GROUPS = (
    ("main", "Главный вопрос", "The main question"),
    ("loyalty", "Лояльность", "Loyalty"),
    ("effort", "Усилия клиента", "Client effort"),
    ("csi", "CSI: важность и удовлетворённость", "CSI: importance and satisfaction"),
    ("staff", "Для сотрудников", "For staff"),
    ("cci.1", "Клиентоцентричность I: дружелюбие и партнёрство", "Customer-centricity I: friendliness"),
    ("cci.2", "Клиентоцентричность II: полезность обращения", "Customer-centricity II: usefulness"),
    ("cci.3", "Клиентоцентричность III: минимум усилий", "Customer-centricity III: minimal effort"),
    ("cci.4", "Клиентоцентричность IV: персональный подход", "Customer-centricity IV: personal approach"),
    ("cci.5", "Клиентоцентричность V: комфорт", "Customer-centricity V: comfort"),
)


def question(qid: str) -> dict[str, Any]:
    """The bank's question ``qid`` in the contract's config format (KeyError: not in the bank)."""
    return BY_ID[qid].as_question()
