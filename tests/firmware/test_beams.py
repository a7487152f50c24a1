"""The door's visitor counter (firmware/lib/otk/beams.py) on the real MicroPython Unix port, fed
scripted crossings of its two break-beams (the pins are the stand-in: edges with their times):
one person in, one out, two in a row, two abreast, one turning back, a hand in one beam, a beam
blocked for minutes (reported, never counted), and repeated levels (a bounce) ignored."""

from __future__ import annotations

import json

from tests.firmware.upy import run_micropython

# (name, [(beam, broken, ms), ...], check_at_ms or None) -> (entries, exits, turned, blocked)
CROSSINGS = {
    "one in": ([("A", 1, 0), ("B", 1, 300), ("A", 0, 600), ("B", 0, 900)], None, (1, 0, 0, None)),
    "one out": ([("B", 1, 0), ("A", 1, 250), ("B", 0, 500), ("A", 0, 800)], None, (0, 1, 0, None)),
    "two in a row": (
        [("A", 1, 0), ("B", 1, 300), ("A", 0, 500), ("A", 1, 700), ("B", 0, 800), ("B", 1, 1000),
         ("A", 0, 1200), ("B", 0, 1500)],
        None, (2, 0, 0, None),
    ),
    "two abreast": ([("A", 1, 0), ("B", 1, 280), ("A", 0, 700), ("B", 0, 950)], None, (1, 0, 0, None)),
    "turns back": ([("A", 1, 0), ("B", 1, 300), ("B", 0, 900), ("A", 0, 1300)], None, (0, 0, 1, None)),
    "a hand in A": ([("A", 1, 0), ("A", 0, 200)], None, (0, 0, 1, None)),
    "a bounce": (
        [("A", 1, 0), ("A", 1, 5), ("B", 1, 300), ("B", 1, 301), ("A", 0, 600), ("B", 0, 900), ("B", 0, 905)],
        None, (1, 0, 0, None),
    ),
    "blocked, then one in": (
        [("A", 1, 0), ("B", 1, 61_000), ("B", 0, 61_500), ("A", 0, 120_000),
         ("A", 1, 130_000), ("B", 1, 130_300), ("A", 0, 130_600), ("B", 0, 130_900)],
        60_500, (1, 0, 0, "A"),
    ),
}

SCRIPT = r"""
import json
from otk.beams import A, B, DoorCounter
cases = json.loads(CASES)
out = {}
for name, (edges, check_at, _) in cases.items():
    c = DoorCounter()
    blocked = None
    for beam, broken, ms in edges:
        if check_at is not None and ms > check_at and blocked is None:
            blocked = c.check(check_at)
        c.feed(A if beam == "A" else B, bool(broken), ms)
    entries, exits = c.take()
    again = c.take()
    out[name] = [entries, exits, c.turned, "A" if blocked == A else "B" if blocked == B else None, again]
print("RESULT " + json.dumps(out))
"""


def test_scripted_crossings_count_entries_and_exits_apart():
    code = "CASES = " + repr(json.dumps(CROSSINGS)) + "\n" + SCRIPT
    done = run_micropython(code, timeout=30)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stdout + done.stderr
    out = json.loads(line[7:])
    for name, (_, _, expected) in CROSSINGS.items():
        assert tuple(out[name][:4]) == expected, (name, out[name])
        assert out[name][4] == [0, 0], "take() clears the interval's counts"
