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


def battery_adc(pin):
    """The battery ADC with its attenuation set explicitly (the esp32 port's read_uv() is then
    calibrated for 0-~3.1 V); ports whose ADC takes no attenuation (rp2) get a plain one."""
    if pin is None:
        return None
    try:
        return machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)
    except (TypeError, AttributeError, ValueError):
        return machine.ADC(pin)


def main():
    from console import Console
    from otk.compat import asyncio
    from otk.device import Device, data_dir_from_argv
    from otk.safe import record_presses

    async def start():
        # everything is built inside the event loop: pin interrupts may start tasks
        device = Device("button", data_dir_from_argv(), battery_adc=battery_adc(PINS.get("vbat")), woke=WOKE)
        count = len(device.config["buttons"])
        buttons = BUTTONS[:count]
        device.wake_pins = buttons
        if device.safe_mode:  # the app may be what crashes: only the runtime's press recorder
            await device.run(safe_app=lambda: record_presses(device, buttons))
            return
        leds = [machine.Pin(p, machine.Pin.OUT, value=0) for p in PINS["leds"][:count]]
        console = Console(device, buttons, leds)
        await device.run(console.run)

    asyncio.run(start())


try:
    main()
except Exception as e:  # anything the runtime did not catch: record it, reset (a crash)
    import sys

    from otk import crash

    crash.fatal(e, sys.argv[1] if len(sys.argv) > 1 else ".")
