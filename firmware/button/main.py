# Loyalty button console: entry point on the board (and under the Unix port:
# `micropython main.py DATA_DIR`, DATA_DIR holding device.json).
import machine

from otk import wake
from otk.pinmaps import PINMAPS, board_name

# First thing after a reset, before the slow imports: which button woke a sleeping console
# (a short press may already be over by the time the app starts).
PINS = PINMAPS[board_name()]
BUTTONS = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in PINS["buttons"]]
WOKE = wake.reason(PINS["buttons"], BUTTONS, PINS.get("wake_status"))

from console import Console  # noqa: E402
from otk.compat import asyncio  # noqa: E402
from otk.device import Device, data_dir_from_argv  # noqa: E402


async def start():
    # everything is built inside the event loop: pin interrupts may start tasks
    vbat = PINS.get("vbat")
    adc = machine.ADC(vbat) if vbat is not None else None
    device = Device("button", data_dir_from_argv(), battery_adc=adc, woke=WOKE)
    count = len(device.config["buttons"])
    buttons = BUTTONS[:count]
    leds = [machine.Pin(p, machine.Pin.OUT, value=0) for p in PINS["leds"][:count]]
    console = Console(device, buttons, leds)
    await device.run(console.run)


asyncio.run(start())
