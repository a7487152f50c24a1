# The touch kiosk (ESP32-2432S028R, "CYD"): the survey engine (otk/survey.py) on the ILI9341,
# fed by the XPT2046. One framebuf (GS4, 38,400 bytes, allocated by main.py first thing) is
# drawn by screens.py and sent to the panel through the palette after each change.
#
# - A tap is a touch that goes down and up again; it acts on the target under the point where
#   it went down, when it comes up (a finger sliding off a button does nothing). The next tap
#   needs the finger lifted: a held finger is one tap.
# - Every answer is recorded by the engine the moment it is given (the flash outbox, the
#   runtime's end-to-end ack): a visitor who walks away, or a power cut, loses no answer given.
# - The hub's new config (a new survey) reaches the engine at once; a visitor in the middle of
#   a survey finishes the question on screen first (otk/survey.py configure()).
# - The technician's menu: hold the top-left corner (48x48 px) of the welcome screen for 5 s
#   (tech.py): touch calibration, the device's status, back to the survey.
# - The RGB LED (active low): red while the hub's broker is unreachable, else dark.
# - Each screen shown is logged on the console as one line `screen {json}` (its kind, question
#   id, language and touch targets): the serial log a technician reads, and what the simulator's
#   visitors look at (edge_hub/tools/simulate_kiosk.py).
import json

import machine
import screens
from otk.compat import asyncio, sleep_ms, ticks_diff, ticks_ms
from otk.display import cyd
from otk.survey import Survey

HOLD_MS = 5000  # the technician's corner held this long
CORNER = 48
POLL_MS = 20
TICK_MS = 250


def log_screen(kind, qid, lang, targets):
    """The serial log's line for a screen on show: its kind, question, language, touch targets."""
    print("screen " + json.dumps({
        "kind": kind, "id": qid, "lang": lang,
        "targets": [[t[0], t[1], t[2], t[3], t[4][0], t[4][1]] for t in targets],
    }))  # fmt: skip


class TouchKiosk:
    def __init__(self, device, fb, pins):
        self.device = device
        self.fb = fb
        self.tft = cyd.display()
        self.touch = cyd.touch(device.data_dir + "/" + cyd.CALIBRATION)
        self.palette = screens.palette565()
        self.targets = []
        self.rgb = [machine.Pin(p, machine.Pin.OUT, value=1) for p in pins.get("rgb") or ()]
        self.survey = None
        self.frames = 0
        device.on_config = self._on_config
        device.on_command = self._on_command

    # --- the runtime's hooks -------------------------------------------------------------

    def _on_config(self):
        survey = self.survey
        if survey is None:
            return
        welcome = survey.state == "welcome"
        survey.configure(self.device.config)
        self.tft.backlight(self.device.config["brightness"])
        if welcome:
            self.redraw()

    def _on_command(self, cmd):
        if cmd["cmd"] == "identify":
            asyncio.create_task(self._identify())

    async def _identify(self):
        for _ in range(10):  # the backlight blinks for 5 s
            self.tft.backlight(0)
            await sleep_ms(250)
            self.tft.backlight(self.device.config["brightness"])
            await sleep_ms(250)

    # --- the screen ----------------------------------------------------------------------

    def show(self):
        self.tft.show(self.fb, self.palette)
        self.frames += 1

    def redraw(self):
        self.targets = screens.draw(self.fb, self.survey)
        self.show()
        self._log()

    def _log(self):
        kind, d = self.survey.screen()
        log_screen(kind, d.get("id"), self.survey.lang, self.targets)

    def _lamp(self):
        if self.rgb:
            self.rgb[0].value(0 if not self.device.mqtt.connected else 1)

    # --- the loop ------------------------------------------------------------------------

    async def run(self):
        self.survey = Survey(self.device.config, self.device.record)
        self.tft.backlight(self.device.config["brightness"])
        self.redraw()
        down_at = None  # where and when the finger went down: (x, y, ticks)
        last_tick = ticks_ms()
        while True:
            point = self.touch.read()
            now = ticks_ms()
            if point is not None and down_at is None:
                down_at = (point[0], point[1], now)
            elif point is not None and self._tech_hold(down_at, now):
                down_at = None
                await self._tech()
                await self._lifted()
                self.redraw()
            elif point is None and down_at is not None:
                action = screens.hit(self.targets, down_at[0], down_at[1])
                down_at = None
                if action is not None and self.survey.act(action):
                    self.redraw()
            if ticks_diff(now, last_tick) >= TICK_MS:
                last_tick = now
                self._lamp()
                if self.survey.tick():
                    self.redraw()
            await sleep_ms(POLL_MS)

    def _tech_hold(self, down_at, now):
        return (
            down_at is not None
            and self.survey.state == "welcome"
            and down_at[0] < CORNER
            and down_at[1] < CORNER
            and ticks_diff(now, down_at[2]) >= HOLD_MS
        )

    async def _lifted(self):
        while self.touch.read() is not None:
            await sleep_ms(POLL_MS)

    async def _tech(self):
        import tech

        await tech.menu(self)

    # --- safe mode -----------------------------------------------------------------------

    async def safe(self):
        """Safe mode (repeated crashes): the survey does not start, the screen says the terminal
        is out of service, the runtime keeps reporting; a new config or safe_mode_s ends it."""
        import tech

        tech.out_of_service(self.fb)
        self.tft.backlight(self.device.config["brightness"])
        self.show()
        log_screen("safe_mode", None, "ru", ())
        while True:
            await sleep_ms(1000)
