# The button-survey terminal's screens: otk.survey's screen() drawn into the SSD1306's
# framebuf.MONO_VLSB 128x64 buffer (1,024 bytes, allocated once by the app), above a row of
# 3-5 physical buttons.
#
#     fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)
#     actions = oled.draw(fb, survey, buttons=5)
#     ssd.show(fb)
#     ...  # button i (0 = leftmost) pressed:
#     act = actions[i]   # None, ("begin", lang), ("answer", v), ("help", bool) or ("view", view)
#     if act and act[0] == "view":
#         actions = oled.draw(fb, survey, 5, act[1])   # a narrower step of the same question
#
# Layout: the text (question, welcome, ...) in sans12 wrapped in the top 48 rows (3 lines, the
# last ending in … when it is longer); each button's label in the bottom row, centred over the
# button under a short bar marking the button's fifth (third, ...) of the width: the buttons are
# spread evenly under the display; a button doing nothing has neither.
#
# Values onto buttons:
# - as many values as buttons or fewer (csat5 on 5 buttons, yesno, ces7 in a second step):
#   the values are spread evenly, lowest on the left: value i of m on button
#   round(i * (n - 1) / (m - 1)); yesno on 5 buttons is No on the leftmost, Yes on the
#   rightmost; the buttons between do nothing and show no label.
# - more values than buttons (nps11/agree11 anywhere, ces7 on 3-5 buttons, csat5 on 3-4): a
#   two-step choice. The values are cut into one contiguous group per button, as even as can be
#   (the larger groups on the left); a group of one value answers at once, a larger group's
#   button is labelled "a-b" ("a+" for the group that ends the scale) and opens a second step
#   with that group's values spread over the buttons. nps11 on 5 buttons: 0-2, 3-4, 5-6, 7-8,
#   9+ (the promoters' two values together), then e.g. 7 / 8. A group still larger than the
#   buttons (nps11 on 3 buttons: 0-3, 4-7, 8+) narrows again, so every value stays reachable
#   in at most three presses. No step back: the idle timeout ends an abandoned survey.
# - choice: its options are listed two at a time under the question's first line ("1 Долго
#   ждал(а)…"); the two leftmost buttons pick them (their labels are the options' numbers)
#   and, when there are more than two options, the rightmost button ("→") shows the next two,
#   round and round.
# - welcome: with two languages "RU" on the leftmost button and "EN" on the rightmost, else
#   any button starts. help: No leftmost, Yes rightmost. thanks: no button does anything.
# - No call back: a phone number cannot be typed on 3-5 buttons, so this build never shows the
#   callback, consent and phone screens of a survey with "callback": true. The app builds its
#   engine with Survey(config, record, phone=False), which then goes from a negative main answer
#   (and the help offer) straight on to the next question; draw_screen() has no layout for them.
from otk import text

W = 128
H = 64
TOP_H = 48  # the text's area: 3 lines of sans12
LABEL_Y = 49
PER_PAGE = 2  # choice options per page

STRINGS = {
    "ru": {
        "yes": "Да",
        "no": "Нет",
        "help": "Позвать администратора?",
        "start": "Нажмите любую кнопку",
        "welcome": "Оцените нас",
        "thanks": "Спасибо!",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "help": "Call an administrator?",
        "start": "Press any button",
        "welcome": "Rate us",
        "thanks": "Thank you!",
    },
}
MORE = "\u2192"  # →
DASH = "\u2013"  # –

_font = []


def font():
    if not _font:
        from otk.fonts import sans12

        _font.append(text.Font(sans12))
    return _font[0]


def s(lang, key):
    return (STRINGS.get(lang) or STRINGS["ru"])[key]


def spread(m, n):
    """The buttons (0..n-1) of m <= n items spread evenly, the first leftmost."""
    if m == 1:
        return [n // 2]
    return [(i * (n - 1) * 2 + (m - 1)) // (2 * (m - 1)) for i in range(m)]


def groups(m, n):
    """m items cut into n contiguous groups as even as can be, the larger on the left:
    [(start, end)] with end exclusive."""
    out = []
    start = 0
    for i in range(n):
        size = m // n + (1 if i < m % n else 0)
        out.append((start, start + size))
        start += size
    return out


def draw(fb, survey, buttons=5, view=None):
    """Draw the survey's screen; returns what each button does (a list of ``buttons``)."""
    kind, details = survey.screen()
    lang = survey.default_lang if kind == "welcome" else survey.lang
    return draw_screen(fb, kind, details, lang, buttons, view)


def draw_screen(fb, kind, d, lang="ru", buttons=5, view=None):
    fb.fill(0)
    f = font()
    n = buttons
    actions = [None] * n
    labels = [None] * n
    if kind == "welcome":
        langs = d.get("langs") or [lang]
        text.box(fb, f, d.get("text") or s(lang, "welcome"), 0, 0, W, TOP_H, 1)
        if len(langs) > 1:
            for i, b in enumerate(spread(len(langs), n)):
                actions[b] = ("begin", langs[i])
                labels[b] = langs[i].upper()
        else:
            for i in range(n):
                actions[i] = ("begin", langs[0])
            text.box(fb, f, s(lang, "start"), 0, LABEL_Y, W, H - LABEL_Y, 1)
    elif kind == "question":
        if d["scale"] == "choice":
            _choice(fb, f, d, n, view or 0, actions, labels)
        else:
            text.box(fb, f, d["text"], 0, 0, W, TOP_H, 1)
            _scale(d, n, view, actions, labels, lang)
    elif kind == "help":
        text.box(fb, f, s(lang, "help"), 0, 0, W, TOP_H, 1)
        a, b = spread(2, n)
        actions[a] = ("help", False)
        labels[a] = s(lang, "no")
        actions[b] = ("help", True)
        labels[b] = s(lang, "yes")
    else:
        text.box(fb, f, d.get("text") or s(lang, "thanks"), 0, 0, W, H, 1)
    _labels(fb, f, labels)
    return actions


def _scale(d, n, view, actions, labels, lang):
    values = d["values"]
    lo, hi = view or (0, len(values))
    m = hi - lo
    yesno = d["scale"] == "yesno"
    if m <= n:
        for i, b in enumerate(spread(m, n)):
            v = values[lo + i]
            actions[b] = ("answer", v)
            labels[b] = s(lang, "yes" if v else "no") if yesno else str(v)
        return
    for b, (a, e) in enumerate(groups(m, n)):
        first = values[lo + a]
        if e - a == 1:
            actions[b] = ("answer", first)
            labels[b] = str(first)
        else:
            actions[b] = ("view", (lo + a, lo + e))
            if lo + e == len(values):
                labels[b] = str(first) + "+"
            else:
                labels[b] = str(first) + DASH + str(values[lo + e - 1])


def _choice(fb, f, d, n, page, actions, labels):
    values = d["values"]
    names = d.get("labels") or ()
    m = len(values)
    pages = (m + PER_PAGE - 1) // PER_PAGE
    page %= pages
    lines = text.fit(f, text.wrap(f, d["text"], W), W, 1)
    text.draw_lines(fb, f, lines, 0, 0, W, 15, 1, text.LEFT, text.TOP)
    fb.hline(0, 15, W, 1)
    for i in range(PER_PAGE):
        k = page * PER_PAGE + i
        if k >= m:
            break
        num = str(values[k])
        name = names[k] if k < len(names) else ""
        x = f.draw(fb, num, 0, 16 + i * 15, 1) + 4
        f.draw(fb, _clip(f, name, W - x), x, 16 + i * 15, 1, W)
        actions[i] = ("answer", values[k])
        labels[i] = num
    if pages > 1:
        actions[n - 1] = ("view", (page + 1) % pages)
        labels[n - 1] = MORE


def _clip(f, s_, w):
    """``s_`` cut between characters to fit ``w`` px, ending in … when cut (one slice)."""
    if f.width(s_) <= w:
        return s_
    room = w - f.width(text._ELLIPSIS)
    x = 0
    i = 0
    for ch in s_:
        x += f.advance(ord(ch))
        if x > room:
            break
        i += 1
    return s_[:i].rstrip(" ,") + text._ELLIPSIS


def _labels(fb, f, labels):
    n = len(labels)
    for i, label in enumerate(labels):
        if label is None:
            continue
        left = i * W // n
        fb.hline(left + 2, LABEL_Y - 1, (i + 1) * W // n - left - 4, 1)  # the button's key
        lw = f.width(label)
        x = (2 * i + 1) * W // (2 * n) - lw // 2
        x = max(0, min(W - lw, x))
        f.draw(fb, label, x, LABEL_Y, 1)
