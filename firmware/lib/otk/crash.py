# What ended the previous boot: a crash, or not. Safe mode counts crashes only.
#
# A boot ended in a crash when
#   - the reset cause is the watchdog (machine.WDT starved: a hung loop, a dead task), or
#   - the previous boot recorded an unhandled exception in the file "last_exit" (main.py's
#     top-level handler and the runtime's task guard write "crash: ..." and then reset), or
#   - on the esp32 port, a HARD_RESET nobody asked for: that port reports both
#     machine.reset() and a panic (a crash in C) as HARD_RESET, so the firmware writes
#     "planned: ..." to "last_exit" before every reset it makes on purpose.
# Never a crash: power-on (a power cut or flicker; the esp32 port reports a brown-out as
# power-on too, so a sagging supply is not a crash loop either: it is a power problem the
# battery voltage in the heartbeat shows), a deep-sleep wake, a soft reset (Ctrl-D at the
# REPL), a planned reset.
import sys

import machine

LAST_EXIT = "/last_exit"
_PLANNED = "planned"
_CRASH = "crash"
_RESET_CAUSES = {
    getattr(machine, "PWRON_RESET", -1): "power_on",
    getattr(machine, "HARD_RESET", -2): "hard",
    getattr(machine, "WDT_RESET", -3): "wdt",
    getattr(machine, "DEEPSLEEP_RESET", -4): "deepsleep",
    getattr(machine, "SOFT_RESET", -5): "soft",
}


def reset_cause():
    try:
        return _RESET_CAUSES.get(machine.reset_cause(), "unknown")
    except (AttributeError, OSError):
        return "unknown"


def take_last_exit(data_dir):
    """The note the previous boot left ("planned: ..." / "crash: ..."), removing it; or None."""
    path = data_dir + LAST_EXIT
    try:
        with open(path) as f:
            note = f.read(240)
    except OSError:
        return None
    try:
        import os

        os.remove(path)
    except OSError:
        pass
    return note


def write_last_exit(data_dir, note):
    """Leave a note for the next boot; False when the flash refused it."""
    try:
        with open(data_dir + LAST_EXIT, "w") as f:
            f.write(note[:240])
        return True
    except OSError:
        return False


def of_previous_boot(cause, note, platform=sys.platform):
    """None when the previous boot did not crash, else a short description of the crash."""
    if note and note.startswith(_CRASH):
        return note[len(_CRASH) + 2 :][:200] or "exception"
    if note and note.startswith(_PLANNED):
        return None
    if cause == "wdt":
        return "wdt"
    if cause == "hard" and platform == "esp32":
        return "panic"
    return None


def describe(exc, where=None):
    """One line, at most 200 characters: where it happened and the exception."""
    text = repr(exc)
    if where:
        text = where + ": " + text
    return text[:200]


def planned_reset(data_dir, why):
    """Reset on purpose (a command, a new config, the end of safe mode): not a crash."""
    write_last_exit(data_dir, _PLANNED + ": " + why)
    machine.reset()


def fatal(exc, data_dir, where=None):
    """The last resort: print the exception, record it for the next boot, reset."""
    try:
        sys.print_exception(exc)
    except AttributeError:  # CPython
        import traceback

        traceback.print_exception(exc)
    write_last_exit(data_dir, _CRASH + ": " + describe(exc, where))
    machine.reset()
