# The touch kiosk's technician menu (hold the welcome screen's top-left corner for 5 s):
#   Калибровка / Calibrate   four crosshairs near the corners, one after another: touch the
#                            centre of each; the calibration is solved (otk/display/xpt2046.py
#                            solve()), checked on a fifth crosshair in the middle (within
#                            CHECK_PX), and only then saved to touch.json in flash; a failed check
#                            or a crosshair left untouched for 30 s keeps the old calibration
#   Состояние / Status       Wi-Fi, the broker, events waiting, config revision, firmware, heap
#   Выход / Back             back to the survey (also after 60 s without a touch)
# Texts in Russian and English at once: the technician may read either. Loaded only when the
# menu opens (the survey's screens do not pay its heap).
import gc

import screens
from otk import text
from otk.compat import sleep_ms, ticks_diff, ticks_ms
from otk.display import xpt2046

W = screens.W
H = screens.H
TARGET_MS = 30000
MENU_MS = 60000
CHECK_PX = 12
POINTS = ((30, 30), (290, 30), (290, 210), (30, 210))
CHECK = (160, 120)


def _title(fb, s):
    text.box(fb, screens.font("sans16"), s, screens.M, 4, W - 2 * screens.M, 40, screens.INK)


def _log(kind, targets=()):
    from kiosk import log_screen  # loaded already: the kiosk opened this menu

    log_screen(kind, None, "ru", targets)


def draw_menu(fb, note=None):
    fb.fill(screens.BG)
    _title(fb, "Меню техника / Technician")
    f = screens.font("sans16")
    labels = (
        ("calibrate", "Калибровка / Calibrate"),
        ("status", "Состояние / Status"),
        ("back", "Выход / Back"),
    )
    targets = []
    y = 48
    for key, label in labels:
        fill, ink = (screens.BLUE, screens.BG) if key == "back" else (screens.BTN, screens.INK)
        screens.button(fb, screens.M, y, W - 2 * screens.M, 52, label, fill, ink, f,
                       None if key == "back" else screens.EDGE)  # fmt: skip
        targets.append((screens.M, y, W - 2 * screens.M, 52, ("tech", key)))
        y += 52 + screens.GAP
    if note:
        text.box(fb, screens.font("sans12"), note, screens.M, y, W - 2 * screens.M, H - y, screens.INK)
    return targets


def draw_cross(fb, x, y, note):
    fb.fill(screens.BG)
    text.box(fb, screens.font("sans16"), note, 40, 70, W - 80, 100, screens.INK)
    fb.hline(x - 12, y, 25, screens.INK)
    fb.vline(x, y - 12, 25, screens.INK)
    fb.rect(x - 3, y - 3, 7, 7, screens.RED)


def status_lines(device):
    gc.collect()
    d = device
    ok = ("нет / no", "да / yes")
    return (
        "Устройство / device: " + d.id,
        "Wi-Fi: " + ok[bool(d.wifi.connected())],
        "Брокер / broker: " + ok[bool(d.mqtt.connected)],
        "В очереди / waiting: %d" % d.depth,
        "Конфигурация / config rev: %d" % d.config["rev"],
        "Прошивка / firmware: " + _fw(),
        "Свободно / heap free: %d B" % (gc.mem_free() if hasattr(gc, "mem_free") else 0),
    )


def _fw():
    from otk.device import FW_VERSION

    return FW_VERSION


def draw_status(fb, device):
    fb.fill(screens.BG)
    _title(fb, "Состояние / Status")
    f = screens.font("sans12")
    y = 44
    for line in status_lines(device):
        f.draw(fb, line, screens.M, y, screens.INK)
        y += f.height + 3
    screens.button(fb, screens.M, H - 58, W - 2 * screens.M, 52, "Назад / Back", screens.BLUE, screens.BG,
                   screens.font("sans16"))  # fmt: skip
    return [(screens.M, H - 58, W - 2 * screens.M, 52, ("tech", "menu"))]


def out_of_service(fb):
    fb.fill(screens.BG)
    text.box(fb, screens.font("sans24"), "Терминал временно не работает", screens.M, 20, W - 2 * screens.M, 120,
             screens.INK)  # fmt: skip
    text.box(fb, screens.font("sans16"), "Temporarily out of service", screens.M, 150, W - 2 * screens.M, 60,
             screens.MUTED)  # fmt: skip


async def _tap(kiosk, timeout_ms):
    """The next tap's target action, or None after timeout_ms without one."""
    t0 = ticks_ms()
    down = None
    while ticks_diff(ticks_ms(), t0) < timeout_ms:
        p = kiosk.touch.read()
        if p is not None and down is None:
            down = p
        elif p is None and down is not None:
            act = screens.hit(kiosk.targets, down[0], down[1])
            down = None
            if act is not None:
                return act
        await sleep_ms(20)
    return None


async def _raw_touch(touch, timeout_ms):
    """The median raw reading of the next touch (down and up again), or None on timeout."""
    t0 = ticks_ms()
    xs = []
    ys = []
    while ticks_diff(ticks_ms(), t0) < timeout_ms:
        touch.read()
        if touch.down:
            if touch.ohms is not None and touch.ohms <= touch.max_ohms:
                xs.append(touch.raw_x)
                ys.append(touch.raw_y)
        elif xs:
            return xpt2046._median(xs, len(xs)), xpt2046._median(ys, len(ys))
        await sleep_ms(20)
    return None


async def calibrate(kiosk):
    """Walk the crosshairs; save touch.json when the check passes. A sentence saying how it went."""
    fb = kiosk.fb
    touch = kiosk.touch
    points = []
    for i, (x, y) in enumerate(POINTS):
        draw_cross(fb, x, y, "Коснитесь центра крестика %d/4\nTouch the centre of cross %d/4" % (i + 1, i + 1))
        kiosk.show()
        _log("calibrate", [(x - 1, y - 1, 3, 3, ("cross", i + 1))])
        raw = await _raw_touch(touch, TARGET_MS)
        if raw is None:
            return "Не коснулись: калибровка прежняя / No touch: calibration unchanged"
        points.append((raw[0], raw[1], x, y))
    try:
        cal = xpt2046.solve(points, touch.cal.width, touch.cal.height)
    except ValueError:
        return "Точки на одной линии: ещё раз / Points on a line: try again"
    draw_cross(fb, CHECK[0], CHECK[1], "Проверка: коснитесь центра\nCheck: touch the centre")
    kiosk.show()
    _log("calibrate", [(CHECK[0] - 1, CHECK[1] - 1, 3, 3, ("cross", 5))])
    raw = await _raw_touch(touch, TARGET_MS)
    if raw is None:
        return "Не коснулись: калибровка прежняя / No touch: calibration unchanged"
    x, y = cal.map(raw[0], raw[1])
    if abs(x - CHECK[0]) > CHECK_PX or abs(y - CHECK[1]) > CHECK_PX:
        return "Проверка не прошла (%d, %d): калибровка прежняя / Check failed: unchanged" % (x, y)
    touch.cal = cal
    try:
        cal.save(kiosk.device.data_dir + "/" + "touch.json")
    except OSError:
        return "Не записано во flash / Not saved to flash"
    return "Калибровка сохранена / Calibration saved"


async def menu(kiosk):
    fb = kiosk.fb
    note = None
    screen = "menu"
    while True:
        if screen == "menu":
            kiosk.targets = draw_menu(fb, note)
        else:
            kiosk.targets = draw_status(fb, kiosk.device)
        kiosk.show()
        _log("tech_" + screen, kiosk.targets)
        while kiosk.touch.read() is not None:  # the hold that opened the menu, or the last tap
            await sleep_ms(20)
        act = await _tap(kiosk, MENU_MS)
        key = act[1] if act is not None and act[0] == "tech" else "back"
        if key == "back":
            kiosk.targets = []
            return
        if key == "calibrate":
            note = await calibrate(kiosk)
            print("calibration:", note)
            screen = "menu"
        else:
            screen = "status" if key == "status" else "menu"
