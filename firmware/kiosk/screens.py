# The touch kiosk's screens (ESP32-2432S028R, ILI9341 320x240 landscape): what otk.survey's
# screen() describes, drawn into the app's one framebuf.GS4_HMSB 320x240 buffer (38,400 bytes,
# allocated once by the app) with the fixed 16-colour PALETTE below.
#
#     fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
#     targets = screens.draw(fb, survey)
#     tft.show(fb, screens.palette565())
#     ...  # a touch at (x, y):
#     action = screens.hit(targets, x, y)   # ("begin", lang), ("answer", v), ("key", "7"), ... or None
#     if action and survey.act(action): ...  # the screen changed: draw it again
#
# Every touch target is at least 48x48 px (about 9 mm on the 2.8" panel). Layouts:
#   welcome   the welcome text; one button per language when the survey offers more than one,
#             else the whole screen starts the survey in its language
#   question  the question at the top (sans24, sans16 when it does not fit, … when even that
#             does not), "1/3" top right; csat5: 5 coloured buttons red..green; nps11/agree11:
#             0-5 and 6-10 in two rows; ces7: 1-4 and 5-7; yesno: two buttons (No left, Yes
#             right: the lower value on the left, as on every scale); choice: up to 6 labelled
#             buttons in two columns, in reading order
#   help      "Call an administrator?" No / Yes
#   callback  "Would you like us to call you back?" No / Yes (neutral both: no nudge to give a
#             number), "leaving a number is up to you" under it
#   consent   what the number is for, where it goes and that it is deleted (STRINGS "consent":
#             the device does not know the office's phone_keep_days, so "after the period the
#             office set, usually a few weeks"); Decline / Agree, neutral both
#   phone     the number typed on a 36-px line at the top, formatted as it will be sent
#             (phone_text: "+7 (916) 123-45-67"; a hint while empty); a keypad of 48-px rows:
#             1-9 and 0 in the phone layout, and a column of ← (delete the last digit), Cancel
#             and Done (two rows tall; blue once 7-15 digits are typed, white with grey text
#             before, when the survey refuses it). Actions ("key", "0".."9"), ("key", "del"),
#             ("phone", "cancel"), ("phone", "done")
#   thanks    a check mark and the thanks text; no targets
# Text/background pairs used are listed in PAIRS; each has a WCAG contrast >= 4.5:1
# (tests/firmware/test_screens.py computes it).
#
# Allocation per draw: the targets list and its tuples, the wrapped lines (a one-line label is
# drawn without wrapping), a memoryview per glyph in otk.text; never a buffer. 1-10.5 KB of
# garbage a screen on the 64-bit Unix port (edge-hub kiosk screens prints it).
from otk import text
from otk.survey import phone_number

W = 320
H = 240
M = 6  # side margin
GAP = 6  # between buttons

# colour indices of the palette
BG = 0  # white: the screen
INK = 1  # near-black: text on light
MUTED = 2  # grey: secondary text on white
BTN = 3  # light grey-blue: neutral buttons (INK text)
EDGE = 4  # the outline of neutral buttons
BLUE = 5  # primary buttons (white text)
RED = 6
ORANGE = 7
AMBER = 8
LIME = 9
GREEN = 10

# RGB888; the panel gets them as RGB565 (palette565())
PALETTE = (
    (255, 255, 255),  # 0 BG
    (24, 28, 36),  # 1 INK
    (88, 95, 108),  # 2 MUTED
    (226, 231, 240),  # 3 BTN
    (120, 130, 148),  # 4 EDGE
    (23, 78, 166),  # 5 BLUE
    (190, 30, 45),  # 6 RED
    (180, 76, 0),  # 7 ORANGE
    (247, 190, 40),  # 8 AMBER
    (150, 205, 90),  # 9 LIME
    (22, 122, 60),  # 10 GREEN
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
    (0, 0, 0),
)

# (text colour, background colour) of every text drawn
PAIRS = (
    (INK, BG),
    (MUTED, BG),
    (INK, BTN),
    (BG, BLUE),
    (BG, RED),
    (BG, ORANGE),
    (INK, AMBER),
    (INK, LIME),
    (BG, GREEN),
)

# csat5's buttons, value 1..5: (fill, text)
CSAT = ((RED, BG), (ORANGE, BG), (AMBER, INK), (LIME, INK), (GREEN, BG))

STRINGS = {
    "ru": {
        "yes": "Да",
        "no": "Нет",
        "help": "Позвать администратора?",
        "help2": "Администратор подойдёт к вам",
        "start": "Коснитесь экрана, чтобы начать",
        "welcome": "Нам важно ваше мнение",
        "thanks": "Спасибо!",
        "callback": "Хотите, чтобы мы вам перезвонили?",
        "callback2": "Номер — только по желанию",
        "consent_title": "Согласие на звонок",
        "consent": "Номер нужен только для звонка по этому визиту. Он попадёт только в систему "
        "этого офиса и будет удалён через срок, заданный офисом (обычно несколько недель).",
        "decline": "Отказаться",
        "agree": "Согласиться",
        "phone_hint": "Введите номер телефона",
        "cancel": "Отмена",
        "done": "Готово",
    },
    "en": {
        "yes": "Yes",
        "no": "No",
        "help": "Call an administrator?",
        "help2": "An administrator will come to you",
        "start": "Touch the screen to start",
        "welcome": "Your opinion matters to us",
        "thanks": "Thank you!",
        "callback": "Would you like us to call you back?",
        "callback2": "Leaving a number is up to you",
        "consent_title": "Consent to a call",
        "consent": "We use the number only to call you back about this visit. It goes only to "
        "this office's system and is deleted after the period the office set (usually a few "
        "weeks).",
        "decline": "Decline",
        "agree": "Agree",
        "phone_hint": "Type your phone number",
        "cancel": "Cancel",
        "done": "Done",
    },
}
LANG_NAMES = {"ru": "Русский", "en": "English"}
DEL = "\u2190"  # ←

_fonts = {}


def font(name):
    """The otk.fonts module ``name`` as a text.Font, loaded once."""
    f = _fonts.get(name)
    if f is None:
        f = _fonts[name] = text.Font(__import__("otk.fonts." + name, None, None, [name]))
    return f


def s(lang, key):
    return (STRINGS.get(lang) or STRINGS["ru"])[key]


def palette565():
    """The palette as RGB565 values for ILI9341.show()."""
    return tuple((r & 0xF8) << 8 | (g & 0xFC) << 3 | b >> 3 for r, g, b in PALETTE)


def hit(targets, x, y):
    """The action of the target under the touch point, or None."""
    for tx, ty, tw, th, action in targets:
        if tx <= x < tx + tw and ty <= y < ty + th:
            return action
    return None


def draw(fb, survey):
    """Draw the survey's current screen; returns its touch targets [(x, y, w, h, action)]."""
    kind, details = survey.screen()
    return draw_screen(fb, kind, details, survey.default_lang if kind == "welcome" else survey.lang)


def draw_screen(fb, kind, d, lang="ru"):
    fb.fill(BG)
    if kind == "welcome":
        return _welcome(fb, d, lang)
    if kind == "question":
        return _question(fb, d, lang)
    if kind == "help":
        return _help(fb, lang)
    if kind == "callback":
        return _yes_no(fb, s(lang, "callback"), lang, "callback", False, True, 16, s(lang, "callback2"))
    if kind == "consent":
        return _consent(fb, lang)
    if kind == "phone":
        return _phone(fb, d, lang)
    _thanks(fb, d.get("text") or s(lang, "thanks"))
    return []


# --- drawing helpers ---------------------------------------------------------------------


def button(fb, x, y, w, h, label, fill, ink, fnt, edge=None, smaller=None):
    """A button with 2-px rounded corners and its label wrapped and centred inside (in the
    ``smaller`` font when it does not fit whole in ``fnt``)."""
    fb.fill_rect(x, y, w, h, fill)
    if edge is not None:
        fb.rect(x, y, w, h, edge)
    fb.pixel(x, y, BG)
    fb.pixel(x + w - 1, y, BG)
    fb.pixel(x, y + h - 1, BG)
    fb.pixel(x + w - 1, y + h - 1, BG)
    lw = fnt.width(label)
    if lw <= w - 8:  # one line (numbers, Да/Нет): no wrapping, no lists
        fnt.draw(fb, label, x + (w - lw) // 2, y + (h - fnt.height) // 2, ink)
        return
    if smaller is not None and text.block_height(fnt, len(text.wrap(fnt, label, w - 8))) > h - 4:
        fnt = smaller
    text.box(fb, fnt, label, x + 4, y + 2, w - 8, h - 4, ink)


def _title(fb, s_, y, h):
    """A title in the box (M, y, W - 2M, h): sans24 when it fits whole, else sans16 (cut with …)."""
    f = font("sans24")
    lines = text.wrap(f, s_, W - 2 * M)
    if text.block_height(f, len(lines), 2) > h:
        f = font("sans16")
        lines = text.fit(f, text.wrap(f, s_, W - 2 * M), W - 2 * M, (h + 2) // (f.height + 2))
    text.draw_lines(fb, f, lines, M, y, W - 2 * M, h, INK, text.CENTER, text.CENTER, 2)


def _row(n, bw, xs, gap=GAP):
    """x of each of n buttons of width bw, ``gap`` apart, centred on the screen, into xs."""
    x = (W - n * bw - (n - 1) * gap) // 2
    for _ in range(n):
        xs.append(x)
        x += bw + gap


# --- screens -----------------------------------------------------------------------------


def _welcome(fb, d, lang):
    langs = d.get("langs") or [lang]
    if lang not in langs:
        lang = langs[0]
    if len(langs) > 1:
        _title(fb, d.get("text") or s(lang, "welcome"), 16, 136)
        targets = []
        bw = (W - 2 * M - GAP) // 2
        xs = []
        _row(len(langs[:2]), bw, xs)
        for i, code in enumerate(langs[:2]):
            button(fb, xs[i], 168, bw, 60, LANG_NAMES.get(code, code), BLUE, BG, font("sans24"))
            targets.append((xs[i], 168, bw, 60, ("begin", code)))
        return targets
    _title(fb, d.get("text") or s(lang, "welcome"), 16, 160)
    text.box(fb, font("sans16"), s(lang, "start"), M, 190, W - 2 * M, 40, MUTED)
    return [(0, 0, W, H, ("begin", lang))]


def _question(fb, d, lang):
    scale = d["scale"]
    values = d["values"]
    n = len(values)
    small = font("sans12")
    progress = "%d/%d" % (d.get("number") or 1, d.get("total") or 1)
    small.draw(fb, progress, W - M - small.width(progress), 2, MUTED)
    targets = []
    top = 20  # the question's box starts below the progress line
    if scale == "choice":
        labels = d.get("labels") or ()
        rows = (n + 1) // 2
        bh = 50 if rows > 2 else 60
        y0 = H - 6 - rows * bh - (rows - 1) * GAP
        _title(fb, d["text"], top, y0 - top - 6)
        bw = (W - 2 * M - GAP) // 2
        f = font("sans16")
        for i in range(n):
            x = M + (i % 2) * (bw + GAP)
            y = y0 + (i // 2) * (bh + GAP)
            button(fb, x, y, bw, bh, labels[i] if i < len(labels) else str(values[i]), BTN, INK, f, EDGE,
                   font("sans12"))  # fmt: skip
            targets.append((x, y, bw, bh, ("answer", values[i])))
        return targets
    if scale == "yesno":
        return _yes_no(fb, d["text"], lang, "answer", 0, 1, top)
    big = font("sans24")
    if n <= 5:  # csat5: one row of coloured buttons
        bh = 72
        bw = min(72, (W - 2 * M - (n - 1) * GAP) // n)
        rows = (values,)
        gap = GAP
    else:  # nps11, agree11, ces7: two rows, the first one the longer
        gap = 4  # 6 buttons of 48 px in 308
        bh = 52
        k = (n + 1) // 2
        bw = min(72, (W - 2 * M - (k - 1) * gap) // k)
        rows = (values[:k], values[k:])
    y = H - 6 - len(rows) * bh - (len(rows) - 1) * gap
    _title(fb, d["text"], top, y - top - 6)
    for row in rows:
        xs = []
        _row(len(row), bw, xs, gap)
        for i, v in enumerate(row):
            if scale == "csat5":
                fill, ink = CSAT[v - 1]
                edge = None
            else:
                fill, ink, edge = BTN, INK, EDGE
            button(fb, xs[i], y, bw, bh, str(v), fill, ink, big, edge)
            targets.append((xs[i], y, bw, bh, ("answer", v)))
        y += bh + gap
    return targets


def _yes_no(fb, title, lang, action, no, yes, top, sub=None):
    bh = 72
    y = H - 6 - bh
    if sub:
        _title(fb, title, top, y - top - 40)
        text.box(fb, font("sans16"), sub, M, y - 40, W - 2 * M, 30, MUTED)
    else:
        _title(fb, title, top, y - top - 6)
    bw = (W - 2 * M - GAP) // 2
    big = font("sans24")
    primary = action == "help"
    button(fb, M, y, bw, bh, s(lang, "no"), BTN, INK, big, EDGE)
    if primary:
        button(fb, M + bw + GAP, y, bw, bh, s(lang, "yes"), BLUE, BG, big)
    else:
        button(fb, M + bw + GAP, y, bw, bh, s(lang, "yes"), BTN, INK, big, EDGE)
    return [(M, y, bw, bh, (action, no)), (M + bw + GAP, y, bw, bh, (action, yes))]


def _help(fb, lang):
    return _yes_no(fb, s(lang, "help"), lang, "help", False, True, 16, s(lang, "help2"))


def _consent(fb, lang):
    bh = 72
    y = H - 6 - bh
    _title(fb, s(lang, "consent_title"), 6, 30)
    text.box(fb, font("sans16"), s(lang, "consent"), M, 40, W - 2 * M, y - 46, INK, text.LEFT, text.CENTER, 2)
    bw = (W - 2 * M - GAP) // 2
    for i, key in enumerate(("decline", "agree")):
        label = s(lang, key)
        f = font("sans24")
        if f.width(label) > bw - 8:  # one word: never cut between letters
            f = font("sans16")
        button(fb, M + i * (bw + GAP), y, bw, bh, label, BTN, INK, f, EDGE)
    return [(M, y, bw, bh, ("consent", False)), (M + bw + GAP, y, bw, bh, ("consent", True))]


def phone_text(digits):
    """The digits typed as the keypad shows them, the number that will be sent (otk.survey's
    phone_number) grouped: "+7 (916) 123-45-67"; "8 (916) 123-45-67" while a number begun
    with 8 is typed (sent as +7 once it has 11 digits); "+375291234567" as it is."""
    if digits[:1] == "8" and len(digits) <= 11:
        return _grouped("8", digits[1:])
    number = phone_number(digits)
    if number[:2] == "+7" and len(number) <= 12:
        return _grouped("+7", number[2:])
    return number


def _grouped(prefix, rest):
    if not rest:
        return prefix
    out = prefix + " (" + rest[:3]
    if len(rest) >= 3:
        out += ")"
    if len(rest) > 3:
        out += " " + rest[3:6]
    if len(rest) > 6:
        out += "-" + rest[6:8]
    if len(rest) > 8:
        out += "-" + rest[8:10]
    return out


KEY_H = 48  # the keypad's rows
KEY_GAP = 3
KEY_TOP = H - 4 * KEY_H - 3 * KEY_GAP - 3  # 36: the number's line above
KEY_W = 67  # the digits' columns; the actions' column takes the rest


def _phone(fb, d, lang):
    digits = d.get("digits") or ""
    if digits:
        shown = phone_text(digits)
        f = font("sans24")
        if f.width(shown) > W - 2 * M:
            f = font("sans16")
        text.box(fb, f, shown, M, 0, W - 2 * M, KEY_TOP - 2, INK)
    else:
        text.box(fb, font("sans16"), s(lang, "phone_hint"), M, 0, W - 2 * M, KEY_TOP - 2, MUTED)
    targets = []
    big = font("sans24")
    for k in range(10):
        if k:
            col, row = (k - 1) % 3, (k - 1) // 3
        else:
            col, row = 1, 3  # 0 under 8, as on a phone
        x = M + col * (KEY_W + GAP)
        y = KEY_TOP + row * (KEY_H + KEY_GAP)
        label = "0123456789"[k]
        button(fb, x, y, KEY_W, KEY_H, label, BTN, INK, big, EDGE)
        targets.append((x, y, KEY_W, KEY_H, ("key", label)))
    x = M + 3 * (KEY_W + GAP)
    w = W - M - x
    small = font("sans16")
    y = KEY_TOP
    button(fb, x, y, w, KEY_H, DEL, BTN, INK, big, EDGE)
    targets.append((x, y, w, KEY_H, ("key", "del")))
    y += KEY_H + KEY_GAP
    button(fb, x, y, w, KEY_H, s(lang, "cancel"), BTN, INK, small, EDGE)
    targets.append((x, y, w, KEY_H, ("phone", "cancel")))
    y += KEY_H + KEY_GAP
    h = 2 * KEY_H + KEY_GAP
    if d.get("ok"):
        button(fb, x, y, w, h, s(lang, "done"), BLUE, BG, small)
    else:  # not a number yet: the survey refuses Done
        button(fb, x, y, w, h, s(lang, "done"), BG, MUTED, small, EDGE)
    targets.append((x, y, w, h, ("phone", "done")))
    return targets


def _thanks(fb, thanks):
    cx, cy, r = W // 2, 64, 34
    fb.ellipse(cx, cy, r, r, GREEN, True)
    for t in range(-3, 4):  # a check mark 7 px thick
        fb.line(cx - 16, cy + t, cx - 5, cy + 11 + t, BG)
        fb.line(cx - 5, cy + 11 + t, cx + 17, cy - 11 + t, BG)
    _title(fb, thanks, 110, 120)
