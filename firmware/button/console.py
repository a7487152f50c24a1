# The loyalty button console: 3-5 rating buttons, an LED per button.
# A press becomes an event through the device runtime; the LED of the pressed button plays a
# thank-you animation; the hub's identify command blinks every LED; holding the leftmost and
# rightmost buttons together for 3 s (the maintenance gesture) shows the status on the LEDs:
# LED 1 = Wi-Fi up, LED 2 = connected to the broker, LED 3 = outbox empty.
from otk.buttons import Buttons

from otk.compat import asyncio, sleep_ms, ticks_add, ticks_diff, ticks_ms


class Console:
    gesture_ms = 3000
    thank_you_blinks = 3

    def __init__(self, device, pins, leds):
        self.device = device
        self.pins = pins
        self.leds = leds
        cfg = device.config
        self.buttons = Buttons(pins, self._on_press, lockout_ms=cfg["lockout_ms"])
        self.buttons.debounce_ms = cfg["debounce_ms"]
        device.on_command = self._on_command
        device.on_config = self._on_config
        device.wake_pins = pins
        device.busy = self._busy
        self._identifying = False

    def _on_config(self):
        self.buttons.lockout_ms = self.device.config["lockout_ms"]

    def _on_press(self, index, up, repeat):
        values = self.device.config["buttons"]
        if index > len(values):
            return  # a button not in use under the current config
        self.device.record(
            {
                "type": "press",
                "up": up,
                "button": index,
                "value": values[index - 1],
                "question": self.device.config["question"],
                "repeat": repeat,
            }
        )
        asyncio.create_task(self.thank_you(index))

    async def thank_you(self, index):
        led = self.leds[index - 1] if index <= len(self.leds) else None
        if led is None:
            return
        for _ in range(self.thank_you_blinks):
            led.on()
            await sleep_ms(120)
            led.off()
            await sleep_ms(120)

    def _on_command(self, cmd):
        if cmd["cmd"] == "identify":
            args = cmd.get("args")
            seconds = args.get("seconds", 5) if type(args) is dict else 5
            asyncio.create_task(self.identify(seconds))

    async def identify(self, seconds):
        try:  # the contract says 1..300 whole seconds; anything else must not stick the LEDs
            seconds = min(max(int(seconds), 1), 300)
        except (TypeError, ValueError, OverflowError):
            seconds = 5
        self._identifying = True
        end = ticks_add(ticks_ms(), seconds * 1000)
        on = True
        while ticks_diff(end, ticks_ms()) > 0:
            for led in self.leds:
                led.value(on)
            on = not on
            await sleep_ms(250)
        for led in self.leds:
            led.off()
        self._identifying = False

    def _busy(self):
        # a battery console stays awake while a button is down or the LEDs are blinking
        return self._identifying or any(pin.value() == 0 for pin in self.pins)

    async def show_status(self):
        d = self.device
        lights = (d.wifi.connected(), d.mqtt.connected, d.outbox.depth == 0)
        for led, lit in zip(self.leds, lights):
            led.value(lit)
        await sleep_ms(3000)
        for led in self.leds:
            led.off()

    async def _watch_gesture(self):
        first, last = self.pins[0], self.pins[-1]
        held_since = None
        while True:
            if first.value() == 0 and last.value() == 0:
                if held_since is None:
                    held_since = ticks_ms()
                elif ticks_diff(ticks_ms(), held_since) >= self.gesture_ms:
                    await self.show_status()
                    held_since = None
            else:
                held_since = None
            await sleep_ms(100)

    async def run(self):
        woke = self.device.woke
        if woke is not None and woke[0] == "button" and woke[1] is not None and woke[1] <= len(self.pins):
            self.buttons.held_at_boot(woke[1])  # the press that woke a battery console
        asyncio.create_task(self._watch_gesture())
        await self.buttons.run()
