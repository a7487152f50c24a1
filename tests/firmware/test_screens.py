"""The kiosk's screens (firmware/kiosk/screens.py, touch 320x240) and the button-survey
terminal's (firmware/kiosk/oled.py, SSD1306 128x64), drawn on the real MicroPython Unix port by
``edge-hub kiosk screens`` (edge_hub/tools/kiosk_screens.py).

The example survey (mqtt_schemas/examples/valid/config-kiosk-survey.json) is drawn for both
builds and both languages and compared pixel for pixel with the committed PNGs in
tests/firmware/reference/; so are the call back's screens (offer, consent, keypad empty and with a
number typed: touch-{lang}-04-callback, -05-consent, -06-phone[-typed]) of the survey in
tests/firmware/survey-callback.json, which the button-survey terminal never shows. After a
deliberate change to the screens, regenerate them (only the new and changed images are written)
and LOOK at them before committing:

    OTK_UPDATE_REFERENCE=1 .venv/bin/python -m pytest tests/firmware/test_screens.py -k reference
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from edge_hub.cli import cli
from edge_hub.tools import kiosk_screens
from tests.firmware.test_text import LONGEST
from tests.firmware.upy import ROOT, run_micropython

REFERENCE = Path(__file__).parent / "reference"
EXAMPLE = ROOT / "mqtt_schemas" / "examples" / "valid" / "config-kiosk-survey.json"
CALLBACK = Path(__file__).parent / "survey-callback.json"
CALLBACK_KINDS = ("callback", "consent", "phone")
JOB = Path(__file__).parent / "scripts" / "screens_job.py"
UPDATE = os.environ.get("OTK_UPDATE_REFERENCE") == "1"


def run_job(job: dict, tmp_path: Path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    result = run_micropython(JOB, str(path), heapsize="2m")  # the job's JSON, not the screens
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("screens")
    return kiosk_screens.render(kiosk_screens.load_config(EXAMPLE), out)


@pytest.fixture(scope="module")
def callback_example(tmp_path_factory):
    out = tmp_path_factory.mktemp("callback")
    return kiosk_screens.render(kiosk_screens.load_config(CALLBACK), out)


def survey(questions: list, **extra) -> dict:
    return {"v": 1, "device": "kiosk-09", "rev": 1, "langs": ["ru", "en"], "critic_help": True,
            "questions": questions, **extra}  # fmt: skip


def question(qid: str, scale: str, text: str = "Оцените, пожалуйста", **extra) -> dict:
    return {"id": qid, "text": {"ru": text, "en": text}, "scale": scale, **extra}


def options(n: int, text: str = "Вариант") -> list:
    return [{"id": f"o{i}", "text": {"ru": f"{text} {i}", "en": f"{text} {i}"}} for i in range(1, n + 1)]


def pixels(path: Path) -> bytes:
    with Image.open(path) as im:
        return im.convert("RGB").tobytes()


# --- what the example survey looks like ----------------------------------------------------------


def test_example_walks_every_screen(example):
    names = [s.path.stem for s in example]
    for build in ("touch", "oled"):
        for lang in ("ru", "en"):
            assert [
                n for n in names if n.startswith(f"{build}-{lang}-") and "-p" not in n and "step" not in n
            ] == [
                f"{build}-{lang}-01-welcome",
                f"{build}-{lang}-02-question-csat",
                f"{build}-{lang}-03-help",
                f"{build}-{lang}-04-question-what_wrong",
                f"{build}-{lang}-05-question-nps",
                f"{build}-{lang}-06-thanks",
            ]
    assert "oled-ru-04-question-what_wrong-p3" in names and "oled-ru-05-question-nps-step2" in names


def test_the_call_back_is_walked_on_the_touch_kiosk_only(callback_example):
    names = [s.path.stem for s in callback_example]
    for lang in ("ru", "en"):
        assert [n for n in names if n.startswith(f"touch-{lang}-")] == [
            f"touch-{lang}-01-welcome", f"touch-{lang}-02-question-csat", f"touch-{lang}-03-help",
            f"touch-{lang}-04-callback", f"touch-{lang}-05-consent", f"touch-{lang}-06-phone",
            f"touch-{lang}-06-phone-typed", f"touch-{lang}-07-question-nps", f"touch-{lang}-08-thanks",
        ]  # fmt: skip
    oled = [s for s in callback_example if s.path.name.startswith("oled")]
    assert oled and not [s for s in oled if s.kind in CALLBACK_KINDS]
    assert [s.kind for s in oled if s.path.name.startswith("oled-ru")][2:4] == ["help", "question"]


def test_the_keypad_has_every_digit_once_and_done_only_takes_a_number(callback_example):
    pads = {s.path.stem: s for s in callback_example if s.kind == "phone"}
    assert len(pads) == 4
    for name, s in pads.items():
        actions = [tuple(a) for *_, a in s.result]
        assert sorted(a[1] for a in actions if a[0] == "key") == [*"0123456789", "del"], name
        assert actions[-2:] == [("phone", "cancel"), ("phone", "done")], name
    for lang in ("ru", "en"):
        empty, typed = pads[f"touch-{lang}-06-phone"], pads[f"touch-{lang}-06-phone-typed"]
        assert empty.result == typed.result
        x, y, *_ = empty.result[-1]  # Done: white before a number is typed, blue after
        blue = kiosk_screens.touch_palette()[5]
        with Image.open(empty.path) as a, Image.open(typed.path) as b:
            assert a.convert("RGB").getpixel((x + 3, y + 3)) == (255, 255, 255)
            assert b.convert("RGB").getpixel((x + 3, y + 3)) == blue


def test_the_call_backs_texts_are_never_cut(tmp_path):
    # "…" would end a text cut to its box (text.fit); a 15-digit number is the longest typed
    kinds = [
        ["callback", {}],
        ["consent", {}],
        ["phone", {"digits": "123456789012345", "ok": True}],
        ["phone", {"digits": "", "ok": False}],
    ]
    assert run_job({"op": "cut", "kinds": kinds}, tmp_path) == []


def test_screens_match_reference_images(example, callback_example):
    screens = example + [s for s in callback_example if s.kind in CALLBACK_KINDS]
    if UPDATE:  # only the new and changed images, so git shows what changed
        REFERENCE.mkdir(exist_ok=True)
        names = {s.path.name for s in screens}
        for old in REFERENCE.glob("*.png"):
            if old.name not in names:
                old.unlink()
        for s in screens:
            ref = REFERENCE / s.path.name
            if not ref.exists() or pixels(ref) != pixels(s.path):
                shutil.copyfile(s.path, ref)
    want = sorted(p.name for p in REFERENCE.glob("*.png"))
    assert sorted(s.path.name for s in screens) == want, "run with OTK_UPDATE_REFERENCE=1 (see the docstring)"
    for s in screens:
        ref = REFERENCE / s.path.name
        with Image.open(s.path) as got, Image.open(ref) as exp:
            assert got.size == exp.size, s.path.name
        assert pixels(s.path) == pixels(ref), f"{s.path.name} differs from {ref}: look at both"


def test_drawing_takes_little_heap(example, callback_example):
    # garbage only (the targets, wrapped lines, a memoryview per glyph on this 64-bit port):
    # the framebuf and the fonts are allocated once, before
    screens = example + callback_example
    assert max(s.heap for s in screens) < 12_000, [(s.path.name, s.heap) for s in screens]


# --- touch targets --------------------------------------------------------------------------------

ALL_SCALES = survey(
    [question("main", "csat5"), question("yn", "yesno"), question("ces", "ces7"),
     question("agree", "agree11"), question("pick", "choice", options=options(5))],
)  # fmt: skip
ALL_SCALES_NPS = survey([question("main", "nps11"), question("pick", "choice", options=options(1))])


@pytest.fixture(scope="module")
def every_scale(tmp_path_factory):
    out = tmp_path_factory.mktemp("scales")
    screens = kiosk_screens.render(ALL_SCALES, out / "a", langs=("ru",))
    return screens + kiosk_screens.render(ALL_SCALES_NPS, out / "b", langs=("en",))


def test_every_target_is_at_least_48_px(example, every_scale, callback_example):
    touch = [s for s in example + every_scale + callback_example if s.path.name.startswith("touch")]
    assert len(touch) > 15
    for s in touch:
        if s.kind != "thanks":
            assert s.result, s.path.name
        for x, y, w, h, _ in s.result:
            assert w >= 48 and h >= 48, (s.path.name, x, y, w, h)
            assert x >= 0 and x + w <= 320 and y >= 0 and y + h <= 240, s.path.name


def test_targets_cover_each_value_once(every_scale, example):
    want = {
        "csat": list(range(1, 6)), "yn": [0, 1], "ces": list(range(1, 8)), "agree": list(range(11)),
        "nps": list(range(11)), "what_wrong": list(range(1, 7)),
    }  # fmt: skip
    for s in every_scale + example:
        if not s.path.name.startswith("touch") or s.kind != "question":
            continue
        values = [a[1] for *_, a in s.result]
        assert all(a[0] == "answer" for *_, a in s.result)
        if want.get(s.question):
            assert values == want[s.question], s.path.name
        assert len(set(values)) == len(values)


def _inside(targets, x, y):
    for tx, ty, tw, th, action in targets:
        if tx <= x < tx + tw and ty <= y < ty + th:
            return action
    return None


def test_hit_maps_touches_to_actions(example, every_scale, callback_example, tmp_path):
    for s in example + every_scale + [s for s in callback_example if s.kind in CALLBACK_KINDS]:
        if not s.path.name.startswith("touch"):
            continue
        targets = s.result
        # a touch between two neighbouring targets (same row) does nothing
        rows = sorted(targets, key=lambda t: (t[1], t[0]))
        gaps = [
            (a[0] + a[2] + (b[0] - a[0] - a[2]) // 2, a[1] + a[3] // 2)
            for a, b in itertools.pairwise(rows)
            if a[1] == b[1] and b[0] > a[0] + a[2]
        ]
        points = list(gaps)
        for x, y, w, h, _ in targets:
            points += [(x, y), (x + w - 1, y + h - 1), (x + w // 2, y + h // 2), (x - 1, y), (x + w, y + h)]
        points += [(x, y) for x in range(0, 320, 4) for y in range(0, 240, 4)]
        got = run_job({"op": "hit", "targets": targets, "points": points}, tmp_path)
        assert got == [_inside(targets, x, y) for x, y in points], s.path.name
        assert got[: len(gaps)] == [None] * len(gaps)
        if len(targets) > 1:
            assert gaps, s.path.name
        for i, (*_, action) in enumerate(targets):  # each target's own action, inside it
            assert got[len(gaps) + 5 * i : len(gaps) + 5 * i + 3] == [action] * 3, s.path.name
    kinds = {s.result[0][4][0] for s in example if s.path.name.startswith("touch") and s.result}
    assert kinds == {"begin", "answer", "help"}
    kinds = {a[4][0] for s in callback_example if s.kind in CALLBACK_KINDS for a in s.result}
    assert kinds == {"callback", "consent", "key", "phone"}


# --- colours --------------------------------------------------------------------------------------


def _luminance(rgb) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_contrast_at_least_4_5(tmp_path):
    res = run_job({"op": "palette"}, tmp_path)
    palette = [tuple(c) for c in res["palette"]]
    assert len(palette) == 16 and palette == kiosk_screens.touch_palette()
    assert contrast((255, 255, 255), (0, 0, 0)) == pytest.approx(21)
    assert len(res["pairs"]) >= 8
    for fg, bg in res["pairs"]:
        assert contrast(palette[fg], palette[bg]) >= 4.5, (fg, bg, contrast(palette[fg], palette[bg]))
        # as the panel shows them: RGB565, expanded back to 8 bits
        c565 = [
            ((v >> 11) * 255 // 31, (v >> 5 & 63) * 255 // 63, (v & 31) * 255 // 31) for v in res["rgb565"]
        ]
        assert contrast(c565[fg], c565[bg]) >= 4.5, (fg, bg)


# --- the OLED's buttons ---------------------------------------------------------------------------


def test_oled_reaches_every_value_in_few_presses(tmp_path):
    scales = [
        ["csat5", 5],
        ["nps11", 11],
        ["ces7", 7],
        ["yesno", 2],
        ["agree11", 11],
        ["choice", 6],
        ["choice", 2],
    ]
    res = run_job({"op": "oled_map", "scales": scales, "buttons": [3, 4, 5]}, tmp_path)
    for scale, count in scales:
        values = list(range(1, count + 1)) if scale == "choice" else None
        values = values or {"csat5": list(range(1, 6)), "nps11": list(range(11)), "ces7": list(range(1, 8)),
                            "yesno": [0, 1], "agree11": list(range(11))}[scale]  # fmt: skip
        for n in (3, 4, 5):
            reached = dict(res[f"{scale}{count}/{n}"])
            assert sorted(reached) == values, (scale, n)
            assert max(reached.values()) <= 3, (scale, n, reached)
            if len(values) <= n:  # one press
                assert set(reached.values()) == {1}, (scale, n)
    assert dict(res["nps1111/5"])[10] == 2 and dict(res["csat55/5"])[3] == 1


# --- the longest texts ----------------------------------------------------------------------------


def _region(path: Path, box) -> bytes:
    with Image.open(path) as im:
        return im.convert("RGB").crop(box).tobytes()


@pytest.mark.parametrize("scale", ["csat5", "nps11", "ces7", "yesno", "choice"])
def test_longest_question_never_overflows(scale, tmp_path):
    extra = {}
    if scale == "choice":
        extra["options"] = [
            {"id": f"o{i}", "text": {"ru": LONGEST[:60], "en": LONGEST[:60]}} for i in range(6)
        ]
    first = question("main", "csat5", "?")
    long_ = survey([first, question("q", scale, LONGEST, **extra)], critic_help=False,
                   welcome={"ru": LONGEST}, thanks={"ru": LONGEST})  # fmt: skip
    short = survey([first, question("q", scale, "?", **extra)], critic_help=False,
                   welcome={"ru": "?"}, thanks={"ru": "?"})  # fmt: skip
    a = {s.path.name: s for s in kiosk_screens.render(long_, tmp_path / "long", langs=("ru",))}
    b = {s.path.name: s for s in kiosk_screens.render(short, tmp_path / "short", langs=("ru",))}
    assert sorted(a) == sorted(b)
    for name, s in a.items():
        if "question-q" not in name and "welcome" not in name:
            continue
        if name.startswith("touch"):
            assert s.result == b[name].result  # the layout does not depend on the text
            # the progress line and every button are untouched by the question's text
            boxes = [(250, 0, 320, 18)] + [(x, y, x + w, y + h) for x, y, w, h, _ in s.result]
        elif (
            scale == "choice" and "question-q" in name
        ):  # the header line holds the question: options and labels stay
            boxes = [(0, 15 * 3, 128 * 3, 64 * 3)]
        else:  # the button labels stay where they are
            boxes = [(0, 47 * 3, 128 * 3, 64 * 3)]
        for box in boxes:
            assert _region(s.path, box) == _region(b[name].path, box), (name, box)
        # the text is cut (…), not spilled: the whole image has no ink in the margins
        with Image.open(s.path) as im:
            rgb = im.convert("RGB")
            w, h = rgb.size
            if name.startswith("touch"):
                bg = rgb.getpixel((0, 0))
                for x in (0, 1, 2, w - 1, w - 2, w - 3):
                    assert all(rgb.getpixel((x, y)) == bg for y in range(h)), (name, x)


# --- the command ----------------------------------------------------------------------------------


def test_cli_renders_the_example(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "kiosk",
            "screens",
            "--config",
            str(EXAMPLE),
            "--out",
            str(tmp_path),
            "--build",
            "touch",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert files == [f"touch-en-0{i}" + rest for i, rest in enumerate(
        ["-welcome.png", "-question-csat.png", "-help.png", "-question-what_wrong.png", "-question-nps.png",
         "-thanks.png"], start=1)]  # fmt: skip
    for name in files:
        assert name in result.output  # progress per file
        with Image.open(tmp_path / name) as im:
            assert im.size == (320, 240)
    assert "6 screens" in result.output


def test_cli_oled_pngs_are_scaled(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "kiosk",
            "screens",
            "--config",
            str(EXAMPLE),
            "--out",
            str(tmp_path),
            "--build",
            "oled",
            "--lang",
            "ru",
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "oled-ru-05-question-nps.png") as im:
        assert im.size == (128 * 3, 64 * 3)


@pytest.mark.parametrize(
    ("content", "english", "russian"),
    [
        ('{"v": 1, "device": ', "is not JSON", "не JSON"),
        ("[1, 2]", "is not a config object", "не объект настроек"),
        (json.dumps(survey([question("main", "stars10")])), "is not a valid device config", "по контракту"),
        (json.dumps({"v": 1, "rev": 1, "questions": []}), "is not a valid device config", "по контракту"),
    ],
)
def test_cli_refuses_a_broken_config(content, english, russian, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["kiosk", "screens", "--config", str(bad), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    assert english in result.output and russian in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_missing_config_file(tmp_path):
    result = CliRunner().invoke(
        cli, ["kiosk", "screens", "--config", str(tmp_path / "nope.json"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and "cannot read" in result.output
