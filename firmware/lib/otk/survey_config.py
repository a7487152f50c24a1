# The rules of a feedback terminal's survey in a config from the hub (mqtt_schemas/schemas/
# config.schema.json: questions with options and show_if, welcome, thanks, langs, critic_help,
# callback), checked by hand as otk/config.py checks the rest. Imported by config.validate() only
# when a config holds a survey, so a button console never loads it.
from otk.config import _id_ok, _is_int

_SCALES = ("csat5", "nps11", "ces7", "yesno", "agree11", "choice")


def _text_ok(s, longest=200):
    return type(s) is str and 1 <= len(s) <= longest


def _texts_error(t, what, longest=200):
    if type(t) is not dict or "ru" not in t:
        return what + ": text.ru required"
    for k in t:
        if k not in ("ru", "en") or not _text_ok(t[k], longest):
            return what + ": bad text." + str(k)
    return None


def _options_error(opts):
    if type(opts) is not list or not 1 <= len(opts) <= 6:
        return "questions: 1 to 6 options required"
    for o in opts:
        if type(o) is not dict or sorted(o) != ["id", "text"] or not _id_ok(o["id"], "_.-"):
            return "questions: bad option"
        err = _texts_error(o["text"], "options", 60)
        if err:
            return err
    return None


def _show_if_error(c):
    if type(c) is not dict or sorted(c) != ["question", "values"] or not _id_ok(c["question"], "_.-"):
        return "questions: bad show_if"
    vs = c["values"]
    if type(vs) is not list or not 1 <= len(vs) <= 11 or len(set(vs)) != len(vs):
        return "questions: show_if values 1 to 11 distinct"
    for x in vs:
        if not _is_int(x) or not 0 <= x <= 10:
            return "questions: show_if values 0..10"
    return None


def _question_error(q, main):
    if type(q) is not dict:
        return "questions: not an object"
    for k in q:
        if k not in ("id", "text", "scale", "options", "show_if"):
            return "questions: unknown key " + str(k)
    if not _id_ok(q.get("id"), "_.-"):
        return "questions: bad id"
    err = _texts_error(q.get("text"), "questions")
    if err:
        return err
    scale = q.get("scale")
    if scale not in _SCALES:
        return "questions: bad scale"
    if (scale == "choice") != ("options" in q):
        return "questions: options go with the choice scale, and only with it"
    if "options" in q:
        err = _options_error(q["options"])
        if err:
            return err
    if "show_if" in q:
        err = _show_if_error(q["show_if"])
        if err:
            return err
    if main and (scale == "choice" or "show_if" in q):
        return "questions: the main question is a rating, always asked"
    return None


def survey_error(msg):
    """None when the survey fields of ``msg`` keep the contract's rules; else why not."""
    if "questions" in msg:
        qs = msg["questions"]
        if type(qs) is not list or not 1 <= len(qs) <= 5:
            return "questions: 1 to 5 required"
        for i, q in enumerate(qs):
            err = _question_error(q, i == 0)
            if err:
                return err
    for k in ("welcome", "thanks"):
        if k in msg:
            err = _texts_error(msg[k], k)
            if err:
                return err
    if "langs" in msg:
        ls = msg["langs"]
        if type(ls) is not list or not 1 <= len(ls) <= 2 or len(set(ls)) != len(ls):
            return "langs: 1 or 2 distinct"
        for x in ls:
            if x not in ("ru", "en"):
                return "bad langs"
    for k in ("critic_help", "callback"):
        if k in msg and type(msg[k]) is not bool:
            return k + " must be true or false"
    return None
