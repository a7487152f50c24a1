# Debounced rating buttons: interrupt + asyncio.
#
# Each button is wired to ground with the internal pull-up (pressed = 0). The interrupt
# handler (both edges) only notes times and wakes the task (allowed in an ISR): the first
# falling edge, and the last rising edge after it. The task confirms the level after
# debounce_ms, so contact bounce yields one press, and waits for a stable release before the
# same button can press again. When the task runs late (the loop was blocked by a flash
# compaction, an NTP request, a TLS handshake) and the button is already released, the edge
# times still tell a press (low for debounce_ms or more) from a bounce: a short press is never
# lost to a busy loop.
# The lockout rule (HappyOrNot's "misuse" handling): a press closer than lockout_ms to the
# previous one is still reported, flagged repeat=True, so the hub can show it and leave it out.
import sys

from otk.clock import uptime_at
from otk.compat import asyncio, sleep_ms, ticks_diff, ticks_ms

# On a board the pin handler is a real interrupt: only ThreadSafeFlag may be set there.
# Under the Unix port and CPython the stubbed pins call handlers from an asyncio task, where
# an Event is right (the Unix port's ThreadSafeFlag misses sets made from inside the loop).
_Flag = asyncio.ThreadSafeFlag if sys.platform in ("esp32", "rp2") else None


class _EventFlag:
    # Stand-in for ThreadSafeFlag where handlers run inside the event loop.
    def __init__(self):
        self._event = asyncio.Event()

    def set(self):
        self._event.set()

    async def wait(self):
        await self._event.wait()
        self._event.clear()


class Buttons:
    debounce_ms = 50
    poll_ms = 10

    def __init__(self, pins, on_press, lockout_ms=3000):
        """pins: machine.Pin inputs, leftmost first; on_press(index, up_ms, repeat), index from 1."""
        self.pins = pins
        self.on_press = on_press
        self.lockout_ms = lockout_ms
        self._flag = _Flag() if _Flag is not None else _EventFlag()
        self._edge = [None] * len(pins)  # ticks of the first falling edge not yet handled
        self._rise = [None] * len(pins)  # ticks of the last rising edge after it
        self._down = [False] * len(pins)
        self._last_press_up = None
        self.presses = 0
        self.repeats = 0
        for i, pin in enumerate(pins):
            pin.irq(self._isr(i), pin.IRQ_FALLING | pin.IRQ_RISING)

    def _isr(self, index):
        def handler(pin):
            t = ticks_ms()
            if pin.value() == 0:
                if self._edge[index] is None:
                    self._edge[index] = t
            elif self._edge[index] is not None:
                self._rise[index] = t
            self._flag.set()

        return handler

    async def run(self):
        while True:
            await self._flag.wait()
            await sleep_ms(self.debounce_ms)
            for i, pin in enumerate(self.pins):
                edge = self._edge[i]
                if edge is None or self._down[i]:
                    continue  # nothing new, or the button is still held from before
                if pin.value() != 0:  # released by now
                    rise = self._rise[i]
                    self._edge[i] = self._rise[i] = None
                    if rise is not None and ticks_diff(rise, edge) >= self.debounce_ms:
                        self._press(i, uptime_at(edge))  # low long enough, seen late: a press
                    continue  # else a bounce
                self._edge[i] = self._rise[i] = None
                self._down[i] = True
                self._press(i, uptime_at(edge))
                asyncio.create_task(self._await_release(i))

    def held_at_boot(self, index):
        """Button ``index`` (from 1) woke the board from deep sleep: a press at uptime 0.

        It may still be held: it counts once, and presses again only after a release.
        """
        i = index - 1
        self._down[i] = True
        self._press(i, 0)
        asyncio.create_task(self._await_release(i))

    async def _await_release(self, index):
        pin = self.pins[index]
        stable_since = None
        while True:
            if pin.value() == 1:
                if stable_since is None:
                    stable_since = ticks_ms()
                elif ticks_diff(ticks_ms(), stable_since) >= self.debounce_ms:
                    break
            else:
                stable_since = None
            await sleep_ms(self.poll_ms)
        self._down[index] = False
        self._edge[index] = None
        self._rise[index] = None

    def _press(self, index, up):
        last = self._last_press_up
        repeat = last is not None and up - last < self.lockout_ms
        self._last_press_up = up
        self.presses += 1
        if repeat:
            self.repeats += 1
        self.on_press(index + 1, up, repeat)
