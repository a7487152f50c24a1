"""The UI's message catalogue, Russian (the default) and English, and number formatting.

Every string a page shows comes from :data:`MESSAGES` through :func:`t` (``{{ t("key") }}`` in a
template). A key maps to ``(ru, en)``; ``{name}`` placeholders are filled from the call's
keyword arguments. The language is ``?lang=`` when given (then kept in the ``lang`` cookie),
else the cookie, else Russian. A missing key raises KeyError: the tests render every page and
check that every key used in a template exists.
"""

from __future__ import annotations

from hub_ui.auth import MIN_PASSWORD

LANGS = ("ru", "en")
DEFAULT_LANG = "ru"
LANG_COOKIE = "lang"

#: a reason of ``edge_hub.metrics.formulas.Result`` -> its message key
REASON_KEYS = {
    "not enough data": "reason.few",
    "served clients unknown": "reason.served_unknown",
    "no served clients": "reason.no_served",
}

_RATE_LIMITED = (
    "Слишком много неудачных попыток входа. Повторите через {seconds} с. / "
    "Too many failed sign-in attempts. Try again in {seconds} s."
)

MESSAGES: dict[str, tuple[str, str]] = {
    # the frame
    "app.name": ("Отклик", "Otklik"),
    "app.hub": ("хаб офиса", "office hub"),
    "lang.switch": ("English", "Русский"),
    "nav.dashboard": ("Сводка", "Dashboard"),
    "nav.board": ("Табло", "TV board"),
    "nav.users": ("Пользователи", "Users"),
    "nav.audit": ("Журнал действий", "Audit log"),
    "nav.menu": ("Меню", "Menu"),
    "role.admin": ("администратор", "admin"),
    "role.manager": ("менеджер по качеству", "quality manager"),
    "role.technician": ("техник", "technician"),
    "unit.%": ("\u00a0%", "%"),
    "unit.pts": ("", ""),
    # sign-in and first run
    "auth.logout": ("Выйти", "Sign out"),
    "auth.username": ("Имя пользователя", "User name"),
    "auth.password": ("Пароль", "Password"),
    "auth.password_again": ("Пароль ещё раз", "Password again"),
    "login.title": ("Вход", "Sign in"),
    "login.submit": ("Войти", "Sign in"),
    "login.failed": ("Неверное имя пользователя или пароль.", "Wrong user name or password."),
    "login.rate_limited": (_RATE_LIMITED, _RATE_LIMITED),
    "login.signed_out": ("Вы вышли.", "You have signed out."),
    "setup.title": ("Первый запуск", "First run"),
    "setup.intro": (
        "На хабе ещё нет ни одной учётной записи. Создайте администратора: он сможет добавить "
        "остальных пользователей. Пароль — не короче {min_password} символов.",
        "The hub has no account yet. Create the admin, who can then add the other users. "
        "The password needs at least {min_password} characters.",
    ),
    "setup.submit": ("Создать администратора", "Create the admin"),
    # one's own password (/account)
    "account.link": ("Сменить пароль", "Change password"),
    "account.title": ("Смена пароля", "Change password"),
    "account.intro": (
        "Вы вошли как {name} ({role}). Новый пароль — не короче {min_password} символов; другие ваши "
        "сеансы (в других браузерах) будут завершены.",
        "You are signed in as {name} ({role}). The new password needs at least {min_password} "
        "characters; your other sessions (in other browsers) will end.",
    ),
    "account.current": ("Текущий пароль", "Current password"),
    "account.submit": ("Сменить пароль", "Change password"),
    "account.wrong_password": ("Текущий пароль неверен.", "The current password is wrong."),
    "account.done": (
        "Пароль изменён; другие ваши сеансы завершены.",
        "Password changed; your other sessions have ended.",
    ),
    # errors
    "err.title": ("Ошибка", "Error"),
    "err.home": ("На главную", "Home"),
    "err.username": (
        "Имя пользователя: от 2 до 64 букв, цифр или знаков . @ - _",
        "User name: 2 to 64 letters, digits or . @ - _",
    ),
    "err.password_short": (
        "Пароль слишком короткий: нужно не меньше {min_password} символов.",
        "The password is too short: at least {min_password} characters.",
    ),
    "err.password_long": ("Пароль слишком длинный.", "The password is too long."),
    "err.password_mismatch": ("Пароли не совпадают.", "The passwords do not match."),
    "err.user_exists": ("Такой пользователь уже есть.", "This user name is taken."),
    "err.role": ("Неизвестная роль.", "Unknown role."),
    "err.no_user": ("Нет такого пользователя.", "No such user."),
    "err.disable_self": ("Нельзя отключить самого себя.", "You cannot disable yourself."),
    "err.last_admin": (
        "Нельзя отключить последнего администратора.",
        "You cannot disable the last admin.",
    ),
    "err.setup_done": (
        "Первый запуск уже выполнен: войдите со своей учётной записью.",
        "The first run is done already: sign in with your account.",
    ),
    "err.forbidden": (
        "Недостаточно прав: эта страница не для вашей роли.",
        "Forbidden: this page is not for your role.",
    ),
    "err.csrf": (
        "Запрос отклонён: нет токена защиты от подделки (CSRF) или он неверен. Обновите страницу и "
        "повторите.",
        "Request refused: the anti-forgery (CSRF) token is missing or wrong. Reload the page and try again.",
    ),
    "err.board_token": (
        "Табло: ссылка недействительна. Попросите администратора выдать новую.",
        "Board: this link is not valid. Ask an admin for a new one.",
    ),
    # the dashboard
    "dash.title": ("Сводка", "Dashboard"),
    "dash.live": ("в реальном времени", "live"),
    "dash.offline": ("нет связи с хабом", "no connection to the hub"),
    "dash.numbers": ("Показатели", "Scores"),
    "dash.metric": ("Показатель", "Metric"),
    "dash.ratings": ("Оценок (главный вопрос)", "Ratings (main question)"),
    "dash.pos_neg": ("+{positive} / −{negative}", "+{positive} / −{negative}"),
    "dash.flagged": ("Подозрительных нажатий (не учтены)", "Suspicious presses (left out)"),
    "dash.n": ("n\u00a0=\u00a0{n}", "n\u00a0=\u00a0{n}"),
    "dash.min_n": (
        "Значение показывается от {min_n} ответов; меньше — «недостаточно данных».",
        "A value needs at least {min_n} answers; fewer show as “not enough data”.",
    ),
    "dash.trend": ("CSAT по дням, последние {days} дней", "CSAT per day, the last {days} days"),
    "dash.trend_data": ("Данные графика", "Chart data"),
    "dash.day": ("День", "Day"),
    "dash.value": ("Значение", "Value"),
    "dash.heatmap": (
        "Когда недовольны: негативные оценки по дням недели и часам",
        "When visitors are unhappy: negative ratings by weekday and hour",
    ),
    "dash.heatmap_note": (
        "Последние {days} дней, вопрос «{question}», негативные ответы по его шкале; подозрительные "
        "нажатия не учтены. Всего негативных: {total}.",
        "The last {days} days, question “{question}”, negative answers on its scale; suspicious "
        "presses left out. Negative in all: {total}.",
    ),
    "dash.heat_cell": (
        "{day}, {hour}:00–{next}:00: негативных {negative} из {answers}",
        "{day}, {hour}:00–{next}:00: {negative} negative of {answers}",
    ),
    "dash.hour": ("Час", "Hour"),
    "dash.latest": ("Последние нажатия", "Latest presses"),
    "dash.no_presses": ("Нажатий пока нет.", "No presses yet."),
    "dash.callback": ("просит перезвонить", "asks for a call back"),
    "col.time": ("Время", "Time"),
    "col.device": ("Устройство", "Device"),
    "col.window": ("Окно", "Window"),
    "col.answer": ("Ответ", "Answer"),
    "col.comment": ("Комментарий", "Comment"),
    "col.flag": ("Отметка", "Flag"),
    "period.today": ("Сегодня", "Today"),
    "period.week": ("Эта неделя", "This week"),
    "period.month": ("Этот месяц", "This month"),
    "metric.csat": ("CSAT, удовлетворённость", "CSAT, satisfaction"),
    "metric.nps": ("NPS, лояльность", "NPS, loyalty"),
    "metric.ces": ("CES, лёгкость обращения", "CES, customer effort"),
    "metric.emotional_nps": ("Эмоциональный NPS", "Emotional NPS"),
    "metric.response_rate": ("Доля оценивших", "Response rate"),
    "metric.support_index": ("Индекс поддержки", "Support index"),
    "metric.criticality_index": ("Индекс критичности", "Criticality index"),
    "reason.few": ("недостаточно данных", "not enough data"),
    "reason.served_unknown": ("нет числа обслуженных", "served clients unknown"),
    "reason.no_served": ("нет обслуженных", "no served clients"),
    "weekday.mon": ("Пн", "Mon"),
    "weekday.tue": ("Вт", "Tue"),
    "weekday.wed": ("Ср", "Wed"),
    "weekday.thu": ("Чт", "Thu"),
    "weekday.fri": ("Пт", "Fri"),
    "weekday.sat": ("Сб", "Sat"),
    "weekday.sun": ("Вс", "Sun"),
    "flag.repeat": ("повтор", "repeat"),
    "flag.burst": ("серия нажатий", "burst"),
    "flag.self_rating": ("похоже на самооценку", "looks like self-rating"),
    "flag.after_hours": ("вне часов работы", "after hours"),
    "flag.no_operator": ("нет оператора на смене", "no operator on shift"),
    "flag.no_visitor": ("камера не видела посетителя", "no visitor seen"),
    # the TV board
    "board.title": ("Табло", "Board"),
    "board.today": ("Сегодня", "Today"),
    "board.ratings": ("Оценок сегодня", "Ratings today"),
    "board.league.operator": ("Лига операторов", "Operator league"),
    "board.league.window": ("Лига окон", "Window league"),
    "board.rank": ("Место", "Rank"),
    "board.name": ("Кто", "Who"),
    "board.share": ("Доля положительных", "Positive share"),
    "board.count": ("Оценок", "Ratings"),
    "board.empty": ("Сегодня оценок ещё нет.", "No ratings today yet."),
    "board.unranked": ("мало оценок", "too few ratings"),
    "board.back": ("← Сводка", "← Dashboard"),
    # users and the board link
    "users.title": ("Пользователи", "Users"),
    "users.add": ("Добавить пользователя", "Add a user"),
    "users.role": ("Роль", "Role"),
    "users.state": ("Состояние", "State"),
    "users.active": ("активен", "active"),
    "users.disabled": ("отключён", "disabled"),
    "users.created": ("Создан", "Created"),
    "users.last_login": ("Последний вход", "Last sign-in"),
    "users.actions": ("Действия", "Actions"),
    "users.reset": ("Сменить пароль", "Set password"),
    "users.new_password": ("Новый пароль", "New password"),
    "users.disable": ("Отключить", "Disable"),
    "users.enable": ("Включить", "Enable"),
    "users.confirm_disable": ("Отключить пользователя {name}?", "Disable user {name}?"),
    "users.you": ("это вы", "you"),
    "users.roles_help": (
        "Администратор — всё, включая пользователей и журнал; менеджер по качеству — всё, кроме "
        "пользователей и журнала; техник — сводка и устройства.",
        "Admin: everything, users and the audit log included; quality manager: everything but users "
        "and the audit log; technician: the dashboard and the devices.",
    ),
    "users.done.created": ("Пользователь добавлен.", "User added."),
    "users.done.password": (
        "Пароль изменён, сеансы пользователя завершены.",
        "Password set; the user's sessions have ended.",
    ),
    "users.done.disabled": ("Пользователь отключён.", "User disabled."),
    "users.done.enabled": ("Пользователь включён.", "User enabled."),
    "users.done.board": (
        "Выдана новая ссылка на табло; старая больше не работает.",
        "New board link issued; the old one no longer works.",
    ),
    "board_link.title": ("Ссылка на табло", "Board link"),
    "board_link.intro": (
        "Откройте эту ссылку на телевизоре в зале: табло обновляется само и входа не требует. "
        "Ссылка открывает только табло (оценки за сегодня и лигу), без комментариев посетителей.",
        "Open this link on the TV in the hall: the board updates itself and needs no sign-in. "
        "The link opens the board only (today's scores and the league), no visitor comments.",
    ),
    "board_link.rotate": ("Выдать новую ссылку", "Issue a new link"),
    # the audit log
    "audit.title": ("Журнал действий", "Audit log"),
    "audit.at": ("Когда", "When"),
    "audit.who": ("Кто", "Who"),
    "audit.action": ("Действие", "Action"),
    "audit.detail": ("Подробности", "Detail"),
    "audit.ip": ("Адрес", "Address"),
    "audit.older": ("Ранее", "Older"),
    "audit.empty": ("Записей нет.", "No entries."),
    "action.setup": ("первый запуск: создан администратор", "first run: admin created"),
    "action.login": ("вход", "sign-in"),
    "action.logout": ("выход", "sign-out"),
    "action.login.blocked": ("вход заблокирован после ошибок", "sign-in blocked after failures"),
    "action.user.create": ("добавлен пользователь", "user added"),
    "action.user.password": ("сменён пароль", "password set"),
    "action.user.password.self": ("пароль сменён самим пользователем", "own password changed"),
    "action.user.disable": ("пользователь отключён", "user disabled"),
    "action.user.enable": ("пользователь включён", "user enabled"),
    "action.board.token": ("новая ссылка на табло", "new board link"),
}

#: placeholders every message may use without the caller passing them
_DEFAULTS = {"min_password": MIN_PASSWORD}


def register(messages: dict[str, tuple[str, str]]) -> None:
    """Add a page module's own messages (key -> (Russian, English)); a key may not be taken twice."""
    taken = sorted(messages.keys() & MESSAGES.keys())
    if taken:
        raise ValueError(f"message keys defined twice: {', '.join(taken)}")
    MESSAGES.update(messages)


def has(key: str) -> bool:
    return key in MESSAGES


def t(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The message ``key`` in ``lang`` with its ``{placeholders}`` filled."""
    text = MESSAGES[key][1 if lang == "en" else 0]
    return text.format_map({**_DEFAULTS, **params}) if "{" in text else text


def pick(query: str | None, cookie: str | None) -> str:
    """``?lang=`` if valid, else the cookie if valid, else Russian."""
    for choice in (query, cookie):
        if choice in LANGS:
            return choice
    return DEFAULT_LANG


def other(lang: str) -> str:
    return "en" if lang == "ru" else "ru"


def number(value: float | None, lang: str, digits: int = 1, sign: bool = False) -> str:
    """``73,3`` (ru) / ``73.3`` (en); ``sign``: ``+15,0`` and a true minus sign ``−15,0``."""
    if value is None:
        return "—"
    text = f"{abs(value):.{digits}f}" if sign else f"{value:.{digits}f}"
    if sign:
        text = (
            "−" if value < 0 and float(text) != 0 else "+" if value > 0 and float(text) != 0 else ""
        ) + text
    return text.replace(".", ",") if lang == "ru" else text
