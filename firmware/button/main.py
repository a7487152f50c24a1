# Loyalty button console: entry point on the board (and under the Unix port:
# `micropython main.py DATA_DIR`, DATA_DIR holding device.json).
import machine


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
    from otk import wake
    from otk.pinmaps import PINMAPS, board_name

    # First thing after a reset, before the slow imports: which button woke a sleeping console
    # (a short press may already be over by the time the app starts).
    pins = PINMAPS[board_name()]
    all_buttons = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in pins["buttons"]]
    woke = wake.reason(pins["buttons"], all_buttons, pins.get("wake_status"))

    from console import Console
    from otk.compat import asyncio
    from otk.device import Device, data_dir_from_argv
    from otk.safe import record_presses

    async def start():
        # everything is built inside the event loop: pin interrupts may start tasks
        device = Device("button", data_dir_from_argv(), battery_adc=battery_adc(pins.get("vbat")), woke=woke)
        count = len(device.config["buttons"])
        buttons = all_buttons[:count]
        device.wake_pins = buttons
        if device.safe_mode:  # the app may be what crashes: only the runtime's press recorder
            await device.run(safe_app=lambda: record_presses(device, buttons))
            return
        leds = [machine.Pin(p, machine.Pin.OUT, value=0) for p in pins["leds"][:count]]
        console = Console(device, buttons, leds)
        await device.run(console.run)

    asyncio.run(start())


try:
    main()
except Exception as e:  # anything the runtime did not catch: record it, reset (a crash)
    import sys

    from otk import crash

    crash.fatal(e, sys.argv[1] if len(sys.argv) > 1 else ".")
