# Loyalty button console: entry point on the board (and under the Unix port:
# `micropython main.py DATA_DIR`, DATA_DIR holding device.json).
import machine

from console import Console
from otk.compat import asyncio
from otk.device import Device, data_dir_from_argv
from otk.pinmaps import PINMAPS, board_name


async def start():
    # everything is built inside the event loop: pin interrupts may start tasks
    pins = PINMAPS[board_name()]
    vbat = pins.get("vbat")
    device = Device("button", data_dir_from_argv(), battery_adc=machine.ADC(vbat) if vbat is not None else None)
    count = len(device.config["buttons"])
    buttons = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in pins["buttons"][:count]]
    leds = [machine.Pin(p, machine.Pin.OUT, value=0) for p in pins["leds"][:count]]
    console = Console(device, buttons, leds)
    await device.run(console.run)


asyncio.run(start())
