# The button-survey terminal ("кнопка-анкетёр"): the loyalty console's 3-5 buttons and LEDs
# with an SSD1306 OLED above them, walking through the same survey as the touch kiosk
# (otk/survey.py). oled.py draws each screen and says what each button does; a button whose
# label is empty does nothing, and its LED is dark (the LEDs of the buttons that do something are
# lit, so a visitor sees which to press).
#
# - Buttons are debounced by otk/buttons.py; the survey's lockout (one response per visitor)
#   is the engine's, so the buttons have none.
# - A scale with more values than buttons is a two-step choice (oled.py's header): the first
#   press narrows, the second answers.
# - A phone number cannot be typed on 3-5 buttons: this build never offers the call back
#   (the survey's `callback`); the "call an administrator now" offer it does show.
# - Holding the leftmost and rightmost buttons for 3 s (the console's maintenance gesture)
#   shows the status for 5 s: Wi-Fi, broker, events waiting, config revision.
# - Each screen shown is logged as one line `screen {json}` (kind, question id, language, what
#   each button does), as the touch kiosk logs its own.
import json

import machine
import oled
from otk.buttons import Buttons
from otk.compat import asyncio, sleep_ms, ticks_add, ticks_diff, ticks_ms
from otk.display.ssd1306 import SSD1306
from otk.survey import Survey

GESTURE_MS = 3000
TICK_MS = 250


class Terminal:
    def __init__(self, device, fb, pins):
        self.device = device
        self.fb = fb
        count = len(device.config["buttons"])
        self.pins = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in pins["buttons"][:count]]
        self.leds = [machine.Pin(p, machine.Pin.OUT, value=0) for p in pins["leds"][:count]]
        bus = pins["i2c"]
        i2c = machine.I2C(bus["id"], scl=machine.Pin(bus["scl"]), sda=machine.Pin(bus["sda"]), freq=400000)
        self.oled = SSD1306(i2c)
        self.survey = None
        self.actions = [None] * count
        self.view = None
        self._status_until = None
        device.on_config = self._on_config
        device.on_command = self._on_command
        device.wake_pins = self.pins

    def _on_config(self):
        if self.survey is None:
            return
        welcome = self.survey.state == "welcome"
        self.survey.configure(self.device.config)
        if welcome:
            self.redraw()

    def _on_command(self, cmd):
        if cmd["cmd"] == "identify":
            asyncio.create_task(self._identify())

    async def _identify(self):
        for i in range(20):
            for led in self.leds:
                led.value(i % 2)
            await sleep_ms(250)
        self._leds()

    # --- the screen ----------------------------------------------------------------------

    def redraw(self):
        self.actions = oled.draw(self.fb, self.survey, len(self.pins), self.view)
        self.oled.show(self.fb)
        self._leds()
        kind, d = self.survey.screen()
        print("screen " + json.dumps({
            "kind": kind, "id": d.get("id"), "lang": self.survey.lang, "view": self.view, "values": d.get("values"),
            "buttons": [list(a) if a else None for a in self.actions],
        }))  # fmt: skip

    def _leds(self):
        for led, act in zip(self.leds, self.actions):
            led.value(act is not None)

    def _on_press(self, index, up, repeat):
        if self._status_until is not None:
            return
        act = self.actions[index - 1] if index <= len(self.actions) else None
        if act is None:
            return
        if act[0] == "view":  # the first step of a two-step choice
            self.view = act[1]
            self.redraw()
            return
        if self.survey.act(act):
            self.view = None
            self.redraw()

    # --- the loop ------------------------------------------------------------------------

    async def run(self):
        self.survey = Survey(self.device.config, self.device.record, phone=False)
        self.buttons = Buttons(self.pins, self._on_press, lockout_ms=0)
        self.buttons.debounce_ms = self.device.config["debounce_ms"]
        self.redraw()
        asyncio.create_task(self.buttons.run())
        held_since = None
        while True:
            await sleep_ms(TICK_MS)
            now = ticks_ms()
            if self._status_until is not None:
                if ticks_diff(now, self._status_until) >= 0:
                    self._status_until = None
                    self.redraw()
                continue
            if self.pins[0].value() == 0 and self.pins[-1].value() == 0:
                if held_since is None:
                    held_since = now
                elif ticks_diff(now, held_since) >= GESTURE_MS:
                    held_since = None
                    self._show_status()
                    continue
            else:
                held_since = None
            if self.survey.tick():
                self.view = None
                self.redraw()

    def _show_status(self):
        from otk import text

        d = self.device
        fb = self.fb
        fb.fill(0)
        yes = ("-", "+")
        s = "WiFi %s MQTT %s\nqueue %d rev %d" % (
            yes[bool(d.wifi.connected())], yes[bool(d.mqtt.connected)], d.depth, d.config["rev"])  # fmt: skip
        text.box(fb, oled.font(), s, 0, 0, oled.W, oled.H, 1)
        self.oled.show(fb)
        self._status_until = ticks_add(ticks_ms(), 5000)
        print('screen {"kind": "status", "id": null, "lang": "ru", "view": null, "buttons": []}')

    async def safe(self):
        """Safe mode (repeated crashes): the runtime's press recorder (otk/safe.py) turns each
        button into a rating of the console's question, as on the loyalty console; the OLED
        says so."""
        from otk import text
        from otk.safe import record_presses

        self.fb.fill(0)
        text.box(self.fb, oled.font(), "Оцените обслуживание: 1 … %d" % len(self.pins), 0, 0, oled.W, oled.H, 1)
        self.oled.show(self.fb)
        await record_presses(self.device, self.pins)
