# Safe mode's press recorder. After repeated crashes the app (console.py, otk/buttons.py) does not
# start, since it may be what crashes; this small loop, part of the runtime, still turns every
# button press into an event in the flash outbox, so no visitor's press is lost. No LEDs, no
# gesture: the runtime's status says safe_mode, and the hub raises an alert.
#
# A falling edge (pin interrupt) marks a button; the loop confirms it is still down after
# ``debounce_ms`` (or, when it runs late, that the pin stayed low that long before its rising
# edge) and records one press, then waits for a stable release before that button can press
# again. The lockout rule of the console holds (a press closer than lockout_ms to
# the previous one is recorded with repeat=True).
from otk.clock import uptime_at
from otk.compat import sleep_ms, ticks_diff, ticks_ms


async def record_presses(device, pins, poll_ms=10, debounce_ms=30):
    n = len(pins)
    edge = [None] * n  # ticks of the first falling edge not yet handled (set in the IRQ)
    rise = [None] * n  # ticks of the last rising edge after it
    down = [False] * n
    released_at = [None] * n
    last_up = None

    def handler(i):
        def h(pin):
            if pin.value() == 0:
                if edge[i] is None:
                    edge[i] = ticks_ms()
            elif edge[i] is not None:
                rise[i] = ticks_ms()

        return h

    for i, pin in enumerate(pins):
        pin.irq(handler(i), pin.IRQ_FALLING | pin.IRQ_RISING)
    while True:
        await sleep_ms(poll_ms)
        now = ticks_ms()
        for i, pin in enumerate(pins):
            level = pin.value()
            if down[i]:  # wait for a stable release
                if level == 0:
                    released_at[i] = None
                elif released_at[i] is None:
                    released_at[i] = now
                elif ticks_diff(now, released_at[i]) >= debounce_ms:
                    down[i] = False
                    edge[i] = rise[i] = None
                continue
            t = edge[i]
            if t is None or ticks_diff(now, t) < debounce_ms:
                continue
            r = rise[i]
            edge[i] = rise[i] = None
            if level != 0 and (r is None or ticks_diff(r, t) < debounce_ms):
                continue  # a bounce
            down[i] = level == 0  # released already (seen late): no release to wait for
            released_at[i] = None
            values = device.config["buttons"]
            if i >= len(values):
                continue
            up = uptime_at(t)
            lockout = device.config["lockout_ms"]
            repeat = last_up is not None and up - last_up < lockout
            last_up = up
            body = {"type": "press", "up": up, "button": i + 1, "value": values[i]}
            body["question"] = device.config["question"]
            body["repeat"] = repeat
            device.record(body)
