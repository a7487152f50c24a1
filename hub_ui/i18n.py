"""The UI's message catalogue, Russian (the default) and English, and number formatting.

Every string a page shows comes from :data:`MESSAGES` through :func:`t` (``{{ t("key") }}`` in a
template). A key maps to ``(ru, en)``; ``{name}`` placeholders are filled from the call's
keyword arguments. The language is ``?lang=`` when given (then kept in the ``lang`` cookie),
else the cookie, else Russian. A missing key raises KeyError: the tests render every page and
check that every key used in a template exists.

A word the metrics export writes too (a metric's name, "весь офис") is not repeated here: its
entry is the export's own, read from :data:`edge_hub.metrics.export.LABELS`.

Long: data, not logic: every string the office page shows, in Russian and English.
"""

from __future__ import annotations

from edge_hub.api.auth import MIN_PASSWORD
from edge_hub.metrics import export
from edge_hub.office.settings import OfficeSettings

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
    "metric.support_index": export.LABELS["support_index"],
    "metric.criticality_index": export.LABELS["criticality_index"],
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
    # the office's settings (hub_ui/pages/settings/)
    "nav.settings": ("Настройки", "Settings"),
    "settings.title": ("Настройки офиса", "Office settings"),
    "settings.tab.structure": ("Отделы, окна, операторы", "Departments, windows, operators"),
    "settings.tab.shifts": ("Смены и обслуженные", "Shifts and served clients"),
    "settings.tab.office": ("Часы работы и правила", "Hours and rules"),
    "settings.id": ("Идентификатор", "Id"),
    "settings.id_help": (
        "Латинские строчные буквы, цифры, - и _, до 32 символов; после создания не меняется.",
        "Lowercase Latin letters, digits, - and _, up to 32; fixed once created.",
    ),
    "settings.name": ("Название", "Name"),
    "settings.save": ("Сохранить", "Save"),
    "settings.add": ("Добавить", "Add"),
    "settings.delete": ("Удалить", "Delete"),
    "settings.confirm_delete": ("Удалить «{name}»?", "Delete “{name}”?"),
    "settings.none": ("—", "—"),
    "settings.empty": ("Пока ничего нет.", "Nothing yet."),
    "settings.departments": ("Отделы", "Departments"),
    "settings.department": ("Отдел", "Department"),
    "settings.add_department": ("Добавить отдел", "Add a department"),
    "settings.windows": ("Окна", "Windows"),
    "settings.window": ("Окно", "Window"),
    "settings.add_window": ("Добавить окно", "Add a window"),
    "settings.window_needs_department": (
        "Сначала добавьте отдел: окно принадлежит отделу.",
        "Add a department first: a window belongs to one.",
    ),
    "settings.operators": ("Операторы", "Operators"),
    "settings.operator": ("Оператор", "Operator"),
    "settings.add_operator": ("Добавить оператора", "Add an operator"),
    "settings.devices": ("Устройства у окон", "Devices at windows"),
    "settings.device": ("Устройство", "Device"),
    "settings.kind": ("Тип", "Kind"),
    # a device's kind as its status names it (mqtt_schemas/schemas/status.schema.json)
    "device_kind.button": ("кнопка оценки", "button console"),
    "device_kind.kiosk": ("сенсорный киоск", "touch kiosk"),
    "device_kind.survey": ("анкетёр", "survey terminal"),
    "device_kind.sensor": ("датчик", "sensor"),
    "device_kind.camera": ("камера", "camera"),
    "settings.last_seen": ("Последняя связь", "Last seen"),
    "settings.no_window": ("— не у окна —", "— no window —"),
    "settings.devices_help": (
        "Нажатия устройства засчитываются окну, у которого оно стоит; при переносе все его "
        "сохранённые нажатия пересчитываются на новое окно.",
        "A device's presses count for the window it is on; moving it credits all its stored "
        "presses to the new window.",
    ),
    "settings.no_devices": ("Устройства ещё не выходили на связь.", "No device has connected yet."),
    "settings.shifts": ("Смены", "Shifts"),
    "settings.shifts_period": ("Смены с {start} по {end}", "Shifts from {start} to {end}"),
    "settings.show": ("Показать", "Show"),
    "settings.from": ("С", "From"),
    "settings.to": ("По", "To"),
    "settings.start": ("Начало", "Start"),
    "settings.end": ("Конец", "End"),
    "settings.add_shift": ("Добавить смену", "Add a shift"),
    "settings.times_local": (
        "Время — местное время офиса ({zone}). Начало входит в смену, конец — нет. Уже сохранённые "
        "нажатия за время смены засчитываются оператору.",
        "Times are the office's local time ({zone}). The start belongs to the shift, the end does "
        "not. Presses already stored in its time are credited to the operator.",
    ),
    "settings.shifts_more": (
        "Показаны первые {n} смен; сузьте период.",
        "The first {n} shifts are shown; narrow the period.",
    ),
    "settings.import": ("Загрузить смены из CSV", "Upload shifts from CSV"),
    "settings.import_file": ("Файл CSV", "CSV file"),
    "settings.import_submit": ("Загрузить", "Upload"),
    "settings.import_help": (
        "Первая строка — заголовок: оператор;окно;начало;конец (или operator,window,start,end). "
        "Разделитель , или ; кодировка UTF-8 или Windows-1251; время вида 23.11.2026 09:00 или "
        "2026-11-23 09:00, местное. Всё или ничего: при любой ошибке не загружается ни одна строка.",
        "The first line is the header: operator,window,start,end (or оператор;окно;начало;конец). "
        "Separator , or ; UTF-8 or Windows-1251; times like 2026-11-23 09:00 or 23.11.2026 09:00, "
        "local. All or nothing: with any error no line is imported.",
    ),
    "settings.import_failed": (
        "Ничего не загружено, исправьте строки ({n}):",
        "Nothing was imported; fix these lines ({n}):",
    ),
    "settings.import_line": ("строка {line}", "line {line}"),
    "settings.import_done": ("Загружено смен: {n}.", "Shifts imported: {n}."),
    "settings.import_too_big": ("Файл слишком большой.", "The file is too large."),
    "settings.served": ("Обслужено клиентов", "Clients served"),
    "settings.served_help": (
        "Сколько клиентов обслужено за день — для доли оценивших и индексов на 100 клиентов. "
        "Запись за тот же день и окно заменяется.",
        "How many clients were served in a day, for the response rate and the per-100-clients "
        "indices. A figure for the same day and window is replaced.",
    ),
    "settings.day": ("День", "Day"),
    "settings.count": ("Число", "Count"),
    "settings.source": ("Источник", "Source"),
    "settings.whole_office": export.LABELS["office"],
    "settings.served_recent": ("За последние {days} дней", "The last {days} days"),
    "settings.bad_count": (
        "Число клиентов должно быть целым и не меньше 0.",
        "The count must be a whole number, 0 or more.",
    ),
    "settings.general": ("Общее", "General"),
    "settings.timezone": ("Часовой пояс (IANA)", "Time zone (IANA)"),
    "settings.min_n": (
        "Минимум ответов для показателя (меньше — «недостаточно данных»)",
        "Minimum answers for a value (fewer: “not enough data”)",
    ),
    "settings.main_question": ("Главный вопрос (оценки +/−)", "Main question (ratings +/−)"),
    "settings.phone_keep_days": (
        "Телефон для обратного звонка удаляется через (дней)",
        "A callback phone number is deleted after (days)",
    ),
    "settings.hours": ("Часы работы", "Opening hours"),
    "settings.hours_help": (
        "Местное время, например 09:00-19:00 или 09:00-13:00, 14:00-18:00; пусто — выходной.",
        "Local time, e.g. 09:00-19:00 or 09:00-13:00, 14:00-18:00; empty: closed.",
    ),
    "settings.trust": ("Правила доверия (подозрительные нажатия)", "Trust rules (suspicious presses)"),
    "settings.alerts": ("Пороги оповещений", "Alert thresholds"),
    "settings.default": ("по умолчанию: {value}", "default: {value}"),
    "settings.yes": ("да", "yes"),
    "settings.no": ("нет", "no"),
    "settings.save_office": ("Сохранить настройки", "Save the settings"),
    "settings.office_invalid": (
        "Настройки не сохранены: исправьте отмеченные поля.",
        "Not saved: fix the fields marked.",
    ),
    "settings.from_now_on": (
        "Новые правила доверия и часы работы применяются к нажатиям с этого момента; уже сохранённые "
        "нажатия остаются как были, пока вы их не пересчитаете.",
        "New trust rules and opening hours apply to presses from now on; presses already stored stay "
        "as they were until you recompute them.",
    ),
    "settings.rebuild": ("Пересчитать прошлые нажатия", "Recompute past presses"),
    "settings.rebuild_days": ("Последние дни", "The last days"),
    "settings.rebuild_submit": ("Пересчитать", "Recompute"),
    "settings.rebuild_help": (
        "Заново проверяет и распределяет по окнам, операторам и часам нажатия за последние N дней "
        "(сегодня включительно) по текущим настройкам, сменам и окнам устройств.",
        "Checks and credits the presses of the last N days (today included) again, to the windows, "
        "operators and hours, by the settings, shifts and device windows as they are now.",
    ),
    "settings.rebuild_admin": (
        "Пересчёт может запустить администратор.",
        "An admin can run the recomputation.",
    ),
    "settings.rebuild_bad": ("Число дней — от 1 до {max}.", "The number of days is 1 to {max}."),
    "settings.done.department": ("Отдел сохранён.", "Department saved."),
    "settings.done.department_deleted": ("Отдел удалён.", "Department deleted."),
    "settings.done.window": ("Окно сохранено.", "Window saved."),
    "settings.done.window_deleted": ("Окно удалено.", "Window deleted."),
    "settings.done.operator": ("Оператор сохранён.", "Operator saved."),
    "settings.done.operator_deleted": ("Оператор удалён.", "Operator deleted."),
    "settings.done.device": (
        "Устройство перенесено, его нажатия пересчитаны.",
        "Device moved; its presses recounted.",
    ),
    "settings.done.shift": ("Смена добавлена.", "Shift added."),
    "settings.done.shift_deleted": ("Смена удалена.", "Shift deleted."),
    "settings.done.served": ("Число обслуженных сохранено.", "Served clients saved."),
    "settings.done.office": ("Настройки сохранены.", "Settings saved."),
    "settings.done.rebuild": (
        "Нажатия пересчитаны; изменено часовых корзин: {n}.",
        "Presses recomputed; hourly buckets changed: {n}.",
    ),
    "settings.err.ge": ("Не меньше {limit}.", "At least {limit}."),
    "settings.err.gt": ("Больше {limit}.", "More than {limit}."),
    "settings.err.le": ("Не больше {limit}.", "At most {limit}."),
    "settings.err.lt": ("Меньше {limit}.", "Less than {limit}."),
    "settings.err.int": ("Нужно целое число.", "A whole number is needed."),
    "settings.err.number": ("Нужно число.", "A number is needed."),
    "settings.err.timezone": (
        "Неизвестный часовой пояс; пример: Europe/Moscow.",
        "Unknown time zone; e.g. Europe/Moscow.",
    ),
    "settings.err.hours": (
        "Нужны интервалы вида 09:00-19:00 через запятую, открытие раньше закрытия.",
        "Spans like 09:00-19:00, comma-separated, opening before closing.",
    ),
    "settings.err.question": ("Нет такого вопроса.", "No such question."),
    "action.settings.department.put": ("отдел добавлен или переименован", "department added or renamed"),
    "action.settings.department.delete": ("отдел удалён", "department deleted"),
    "action.settings.window.put": ("окно добавлено или изменено", "window added or changed"),
    "action.settings.window.delete": ("окно удалено", "window deleted"),
    "action.settings.operator.put": ("оператор добавлен или переименован", "operator added or renamed"),
    "action.settings.operator.delete": ("оператор удалён", "operator deleted"),
    "action.settings.device.window": ("устройство перенесено к окну", "device moved to a window"),
    "action.settings.shift.add": ("смена добавлена", "shift added"),
    "action.settings.shift.delete": ("смена удалена", "shift deleted"),
    "action.settings.shift.import": ("смены загружены из CSV", "shifts imported from CSV"),
    "action.settings.served": ("задано число обслуженных", "served clients set"),
    "action.settings.office": ("изменены настройки офиса", "office settings changed"),
    "action.settings.rebuild": ("пересчёт прошлых нажатий", "past presses recomputed"),
}

#: the office page's labels of the trust rules' and alert thresholds' fields (``settings.<group>.<field>``):
#: Russian here, English the field's own description in edge_hub.office.settings
_OFFICE_FIELDS_RU: dict[str, dict[str, str]] = {
    "trust": {
        "burst_max": "Больше стольких нажатий на одном устройстве …",
        "burst_window_s": "… за столько секунд — серия нажатий",
        "self_run": "Столько высших оценок подряд на одном устройстве …",
        "self_gap_s": "… каждая в пределах стольких секунд — похоже на самооценку",
        "flag_after_hours": "Отмечать нажатия вне часов работы",
        "flag_no_operator": "Отмечать нажатия у окна, где есть смены, но в это время никого нет",
        "flag_no_visitor": "Отмечать нажатия у окна под работающей камерой, если она не видела посетителя",
        "visitor_slack_s": "Визит засчитывается нажатиям за столько секунд до или после него",
    },
    "alerts": {
        "spike_share": "Всплеск недовольства: такая доля негативных оценок …",
        "spike_minutes": "… за столько минут …",
        "spike_min_n": "… при стольких оценках не меньше",
        "silent_minutes": "Устройство молчит столько минут, пока офис открыт",
        "offline_minutes": "Устройство не на связи столько минут",
        "low_battery_mv": "Батарея ниже стольких мВ",
    },
}


def _office_field_labels() -> dict[str, tuple[str, str]]:
    labels: dict[str, tuple[str, str]] = {}
    for group, ru in _OFFICE_FIELDS_RU.items():
        model = OfficeSettings.model_fields[group].annotation
        labels |= {
            f"settings.{group}.{name}": (ru[name], field.description or name)
            for name, field in model.model_fields.items()  # type: ignore[union-attr]
        }
    return labels


MESSAGES.update(_office_field_labels())

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
