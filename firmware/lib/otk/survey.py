# The survey engine shared by the touch kiosk and the button-survey terminal: a state machine
# over the survey in the hub's retained config, and nothing about screens or buttons.
#
#   welcome -> question 1 (the main one) -> [help offer] -> [call back? -> consent -> phone]
#           -> question 2 ... -> thanks -> welcome
#
# The app shows what screen() describes and feeds the visitor's actions in, the tuples the
# screens return, through act(action): ("begin", lang), ("answer", value), ("help", bool),
# ("callback", bool), ("consent", bool), ("key", "0".."9" or "del"), ("phone", "done" or
# "cancel"); and tick() every few hundred ms for the timeouts. Every answer is recorded the
# moment it is given, as one press event through the device runtime (flash outbox, end-to-end
# ack), with the visitor's session id and the time spent on the question, so a visitor who walks
# away or a power cut mid-survey loses no answer already given.
#
# - A question with show_if {"question": id, "values": [...]} is asked only when that earlier
#   question was answered with one of the values (e.g. "what went wrong" after a poor rating).
# - A choice question's answer is the option's 1-based index, with the option's id.
# - After a negative answer to the main question, a survey with critic_help offers "call an
#   administrator now"; accepting records a help event (question "help", no personal data).
# - After a negative answer to the main question (and after the help offer, whatever the reply),
#   a survey with callback offers a call back: "Would you like us to call you back?" No / Yes;
#   Yes shows the consent screen (what the number is used for, where it goes, that it is
#   deleted); Agree shows a keypad; Done records ONE event, question "callback", with the phone
#   number, callback=True and consent=True, and the survey goes on with its next question. No,
#   Decline or Cancel go on at once and record nothing. The number typed lives in a 15-byte
#   buffer wiped when the keypad closes (done, cancel, idle timeout): it is never logged, and it
#   is written only into that event (the outbox holds it until the hub acks; the hub deletes it
#   after the office's phone_keep_days). A build that cannot type a number (the button-survey terminal:
#   Survey(..., phone=False)) never offers the call back.
# - No touch for idle_s on any screen but welcome and thanks (busy(); each key typed counts as a
#   touch): the survey ends (its answers are kept, a number being typed is not) and the welcome
#   screen returns. The thanks screen returns to welcome after thanks_ms.
# - One response per visitor: answers of a survey begun within lockout_ms of the previous
#   survey's end are sent with repeat=True (stored and shown, left out of the results), as the
#   button console marks its repeats.
from os import urandom  # every port we target has it (esp32, rp2, unix)

from otk.compat import ticks_diff, ticks_ms

WELCOME = "welcome"
QUESTION = "question"
HELP = "help"
CALLBACK = "callback"
CONSENT = "consent"
PHONE = "phone"
THANKS = "thanks"

# scale -> (lowest value, highest value, (negative band)); the same bands as the hub's
# edge_hub/metrics/formulas.py SCALES (a test holds them equal). choice: 1..number of options.
SCALES = {
    "csat5": (1, 5, (1, 2)),
    "nps11": (0, 10, (0, 6)),
    "ces7": (1, 7, (1, 3)),
    "yesno": (0, 1, (0, 0)),
    "agree11": (0, 10, (0, 4)),
}
HELP_QUESTION = "help"
CALLBACK_QUESTION = "callback"
PHONE_MIN = 7  # digits of a number the contract accepts: ^\+?[0-9]{7,15}$
PHONE_MAX = 15
IDLE_S = 30
THANKS_MS = 4000
_SESSION_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_session():
    """A random session id of 8 characters [0-9a-z] (41 bits)."""
    return "".join(_SESSION_CHARS[b % 36] for b in urandom(8))


def text_of(texts, lang):
    """A text in the visitor's language, else Russian (the contract requires ru)."""
    if not texts:
        return ""
    return texts.get(lang) or texts.get("ru") or ""


def values_of(question):
    """The answer values a question offers, in screen order (lowest first)."""
    scale = question["scale"]
    if scale == "choice":
        return list(range(1, len(question.get("options") or ()) + 1))
    low, high, _ = SCALES[scale]
    return list(range(low, high + 1))


def is_negative(question, value):
    scale = SCALES.get(question["scale"])
    return scale is not None and scale[2][0] <= value <= scale[2][1]


def phone_number(digits):
    """The number recorded for the digits typed (a str of 0-9), as the contract wants it. The
    visitor types a Russian number: 10 digits get +7; 11 digits beginning with 8 (the trunk
    prefix) become +7 and the other 10; a number beginning with 7 is +7...; more than 10 digits
    not beginning with 7 or 8 are a number with its country code (+...); anything else stays
    as typed (an 8... number that is not 11 digits long)."""
    n = len(digits)
    if not n:
        return ""
    first = digits[0]
    if first == "7":
        return "+" + digits
    if first == "8":
        return "+7" + digits[1:] if n == 11 else digits
    return "+7" + digits if n <= 10 else "+" + digits


class Survey:
    def __init__(self, config, record, clock=ticks_ms, session=new_session, phone=True):
        """config: the device's Config (or a dict) holding the hub's survey; record: the
        runtime's record(body) that stores an event in the flash outbox before it returns;
        phone: whether this build can type a phone number (False on the button-survey
        terminal: it never offers the call back)."""
        self.record = record
        self.phone = phone
        self._digits = bytearray(PHONE_MAX)  # the number being typed; wiped when the keypad closes
        self._n = 0
        self.clock = clock
        self.new_session = session
        self.state = WELCOME
        self.lang = "ru"
        self.session = None
        self.index = -1  # the question on screen
        self.answers = {}  # question id -> value, this visitor's
        self.repeat = False
        self.shown_at = 0  # when the screen on show appeared (ticks)
        self.touched_at = 0  # the visitor's last action (ticks)
        self.ended_at = None  # when the previous survey ended (ticks), for the lockout
        self.completed = 0
        self.abandoned = 0
        self._pending = None
        self.configure(config)

    def configure(self, config):
        """Take a new survey from the config. A visitor in the middle of a survey answers the
        question on screen as it reads; then the survey ends there (thanks) and the next visitor
        gets the new one, so no answer is ever given to a question the visitor did not read."""
        if self.busy():
            self._pending = config
            return
        self._pending = None
        get = config.get
        self.questions = get("questions") or [
            {"id": get("question") or "csat", "text": {}, "scale": "csat5"}
        ]
        self.welcome = get("welcome")
        self.thanks = get("thanks")
        self.langs = get("langs") or [get("lang") or "ru"]
        self.default_lang = get("lang") or self.langs[0]
        self.idle_ms = (get("idle_s") or IDLE_S) * 1000
        self.lockout_ms = get("lockout_ms") or 0
        self.critic_help = bool(get("critic_help"))
        self.offers_callback = bool(get("callback"))

    def busy(self):
        """Whether a visitor is in the middle of a survey (any screen but welcome and thanks)."""
        return self.state != WELCOME and self.state != THANKS

    # --- what to show -------------------------------------------------------------------

    def screen(self):
        """What the app draws now: (kind, details) with texts in the visitor's language.

        welcome: {"text", "langs"}; question: {"id", "text", "scale", "values", "labels"
        (choice options' texts, else None), "number", "total"}; help: {"main": value};
        callback: {}; consent: {} (its text is the touch kiosk's, in kiosk/screens.py: the
        only build that shows it); phone: {"digits" typed (a str), "ok" (Done takes them: 7 to
        15 digits; the number recorded is phone_number(digits))}; thanks: {"text"}."""
        lang = self.lang
        if self.state == WELCOME:
            return WELCOME, {"text": text_of(self.welcome, self.default_lang), "langs": self.langs}
        if self.state == QUESTION:
            q = self.questions[self.index]
            labels = None
            if q["scale"] == "choice":
                labels = [text_of(o.get("text"), lang) for o in q.get("options") or ()]
            return QUESTION, {
                "id": q["id"],
                "text": text_of(q.get("text"), lang),
                "scale": q["scale"],
                "values": values_of(q),
                "labels": labels,
                "number": self._number(),
                "total": self._total(),
            }
        if self.state == HELP:
            return HELP, {"main": self.answers.get(self.questions[0]["id"])}
        if self.state == PHONE:
            return PHONE, {"digits": self._typed(), "ok": PHONE_MIN <= self._n}
        if self.state == CALLBACK or self.state == CONSENT:
            return self.state, {}
        return THANKS, {"text": text_of(self.thanks, lang)}

    def _asked(self, i):
        """Whether question i is asked given the answers so far (show_if)."""
        cond = self.questions[i].get("show_if")
        if not cond:
            return True
        return self.answers.get(cond.get("question")) in (cond.get("values") or ())

    def _number(self):
        return 1 + sum(1 for i in range(self.index) if self.questions[i]["id"] in self.answers)

    def _total(self):
        # the questions answered, this one, and the later ones the answers so far lead to
        later = range(self.index + 1, len(self.questions))
        return self._number() + sum(1 for i in later if self._asked(i))

    def _typed(self):
        return bytes(self._digits[: self._n]).decode()

    # --- what the visitor does ----------------------------------------------------------

    def act(self, action):
        """One of the actions the screens return, e.g. ("answer", 4), handed to its method. True
        when the survey's screen changed; False for an action the screen on show does not take
        (or an unknown one: ("view", ...) is the OLED's own, not the survey's)."""
        if not action:
            return False
        kind = action[0]
        arg = action[1] if len(action) > 1 else None
        if kind == "answer":
            return self.answer(arg)
        if kind == "key":
            return self.key(arg)
        if kind == "begin":
            return self.begin(arg)
        if kind == "help":
            return self.help(arg)
        if kind == "callback":  # yes: the consent screen
            return self._reply(CALLBACK, arg, CONSENT)
        if kind == "consent":  # agreed: the keypad
            return self._reply(CONSENT, arg, PHONE)
        if kind == "phone":
            if arg == "done":
                return self.phone_done()
            if arg == "cancel":  # the visitor changed their mind: nothing recorded
                return self._reply(PHONE, False, None)
        return False

    def begin(self, lang=None):
        """The visitor starts the survey (a tap on welcome, or a language chosen there)."""
        if self.state != WELCOME:
            return False
        now = self.clock()
        self.lang = lang if lang in self.langs else self.default_lang
        self.session = self.new_session()
        self.answers = {}
        self.repeat = self.ended_at is not None and ticks_diff(now, self.ended_at) < self.lockout_ms
        self.index = -1
        self._next(now)
        return True

    def answer(self, value):
        """The visitor answers the question on screen with one of its values."""
        if self.state != QUESTION:
            return False
        q = self.questions[self.index]
        if value not in values_of(q):
            return False
        now = self.clock()
        body = {
            "type": "press",
            "question": q["id"],
            "value": value,
            "session": self.session,
            "dwell_ms": max(0, ticks_diff(now, self.shown_at)),
            "repeat": self.repeat,
        }
        if q["scale"] == "choice":
            body["option"] = q["options"][value - 1]["id"]
        self.record(body)  # on flash before anything else happens
        self.answers[q["id"]] = value
        if self._pending is not None:  # a new survey came: nothing more of the old one
            self._end(now, False, THANKS)
            return True
        if self.index == 0 and is_negative(q, value):
            if self.critic_help:
                self._show(HELP, now)
                return True
            if self._calls_back():
                self._show(CALLBACK, now)
                return True
        self._next(now)
        return True

    def help(self, wanted):
        """The visitor's reply to "call an administrator now?"."""
        if self.state != HELP:
            return False
        now = self.clock()
        if wanted:
            self.record({
                "type": "press",
                "question": HELP_QUESTION,
                "value": 1,
                "help": True,
                "session": self.session,
                "dwell_ms": max(0, ticks_diff(now, self.shown_at)),
                "repeat": self.repeat,
            })  # fmt: skip
        if self._pending is None and self._calls_back():
            self._show(CALLBACK, now)
        else:
            self._go_on(now)
        return True

    def _reply(self, state, yes, then):
        """Yes or no on the call-back offer (state CALLBACK), the consent screen (CONSENT), or
        cancel on the keypad (PHONE): yes shows ``then``, no goes on with the survey."""
        if self.state != state:
            return False
        now = self.clock()
        if yes:
            self._show(then, now)
        else:
            self._go_on(now)
        return True

    def key(self, k):
        """A key of the keypad: "0".."9" adds a digit (up to 15), "del" takes the last one off.
        True when the number changed. No allocation: the digits go into a fixed buffer."""
        if self.state != PHONE:
            return False
        self.touched_at = self.clock()  # typing is not idling
        if k == "del":
            if not self._n:
                return False
            self._n -= 1
            self._digits[self._n] = 0
            return True
        if type(k) is not str or len(k) != 1 or not "0" <= k <= "9" or self._n >= PHONE_MAX:
            return False
        self._digits[self._n] = ord(k)
        self._n += 1
        return True

    def phone_done(self):
        """Done on the keypad: one event with the number (7 to 15 digits, else refused)."""
        if self.state != PHONE or self._n < PHONE_MIN:
            return False
        now = self.clock()
        self.record({
            "type": "press",
            "question": CALLBACK_QUESTION,
            "value": 1,
            "callback": True,
            "phone": phone_number(self._typed()),
            "consent": True,
            "session": self.session,
            "dwell_ms": max(0, ticks_diff(now, self.shown_at)),
            "repeat": self.repeat,
        })  # fmt: skip
        self._go_on(now)
        return True

    def tick(self):
        """The timeouts; call every few hundred ms. True when the screen changed."""
        now = self.clock()
        if self.busy() and ticks_diff(now, self.touched_at) >= self.idle_ms:
            self._end(now, False, WELCOME)  # the visitor walked away: the answers given stay
            return True
        if self.state == THANKS and ticks_diff(now, self.shown_at) >= THANKS_MS:
            self.state = WELCOME
            self.shown_at = now
            return True
        return False

    # --- moves --------------------------------------------------------------------------

    def _calls_back(self):
        return self.offers_callback and self.phone

    def _go_on(self, now):
        """After an offer (help, call back): the next question, or the end when a new survey
        is waiting."""
        if self._pending is not None:
            self._end(now, False, THANKS)
        else:
            self._next(now)

    def _show(self, state, now):
        if self.state == PHONE:  # the keypad closes: the number typed is forgotten
            for i in range(PHONE_MAX):
                self._digits[i] = 0
            self._n = 0
        self.state = state
        self.shown_at = now
        self.touched_at = now

    def _next(self, now):
        i = self.index + 1
        while i < len(self.questions) and not self._asked(i):
            i += 1
        if i < len(self.questions):
            self.index = i
            self._show(QUESTION, now)
        else:
            self._end(now, True, THANKS)

    def _end(self, now, completed, screen):
        if completed:
            self.completed += 1
        else:
            self.abandoned += 1
        self.ended_at = now
        self.index = -1
        self.session = None
        self._show(screen, now)
        if self._pending is not None:
            self.configure(self._pending)
