"""The flash-backed outbox (firmware/lib/otk/outbox.py) on the real MicroPython Unix port.

Each test runs a small script in a temporary folder (the "flash") and reads back one JSON line.
A "reboot" is a new MicroPython process opening the same files. The power-cut tests cut the log
(and a compaction's tmp file) at every byte and check the state against a model kept here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.firmware.upy import run_micropython

HEAD = "import json, os\nfrom otk.outbox import Outbox\n"


def upy(code: str, cwd: Path, heapsize: str = "160k"):
    result = run_micropython(HEAD + code + "\n", cwd=cwd, heapsize=heapsize)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def upy_lines(code: str, cwd: Path) -> list:
    """One JSON value per printed line (the script keeps nothing, so the heap stays device-like)."""
    result = run_micropython(HEAD + code + "\n", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.strip().splitlines()]


STATE = "[[b, s, p.decode()] for b, s, p in {o}.pending()], {o}.drops"


def state(o: str = "o") -> str:
    return "[" + STATE.format(o=o) + "]"


def test_add_pending_ack_in_order_and_across_reboot(tmp_path):
    first = upy(
        "o = Outbox('ob.log')\n"
        "for s in range(1, 6): o.add(7, s, b'e%d' % s)\n"
        "o.add(8, 1, b'next-boot')\n"
        "n = o.ack(7, [2, 4, 99])\n"
        "print(json.dumps([n, o.depth, " + state() + "]))",
        tmp_path,
    )
    expected = [[7, 1, "e1"], [7, 3, "e3"], [7, 5, "e5"], [8, 1, "next-boot"]]
    assert first == [2, 4, [expected, 0]]
    # reboot: a new process replays the log; an ack for another boot's seq leaves it alone
    second = upy(
        "o = Outbox('ob.log')\nr = " + state() + "\no.ack(8, [3]); o.ack(7, [1])\n"
        "print(json.dumps([r, o.depth]))",
        tmp_path,
    )
    assert second == [[expected, 0], 3]
    third = upy("o = Outbox('ob.log')\nprint(json.dumps(" + state() + "))", tmp_path)
    assert third == [expected[1:], 0]


def test_add_is_on_flash_before_it_returns(tmp_path):
    # the process dies (os._exit-like: no close, no atexit) right after add() returned
    upy("o = Outbox('ob.log')\no.add(1, 1, b'x')\nprint('[]')\nimport sys\nsys.exit(0)", tmp_path)
    assert upy("print(json.dumps(" + state("Outbox('ob.log')") + "))", tmp_path) == [[[1, 1, "x"]], 0]


def test_overflow_drop_oldest_counts_and_persists_drops(tmp_path):
    out = upy(
        "o = Outbox('ob.log', max_events=3)\n"
        "r = [o.add(1, s, b'%d' % s) for s in range(1, 6)]\n"
        "print(json.dumps([r, " + state() + "]))",
        tmp_path,
    )
    assert out == [[True] * 5, [[[1, 3, "3"], [1, 4, "4"], [1, 5, "5"]], 2]]
    again = upy("o = Outbox('ob.log', max_events=3)\nprint(json.dumps(" + state() + "))", tmp_path)
    assert again == [[[1, 3, "3"], [1, 4, "4"], [1, 5, "5"]], 2]
    # drops survive a compaction too
    upy("o = Outbox('ob.log', max_events=3)\no.ack(1, [3, 4, 5])\no.compact()\nprint('[]')", tmp_path)
    assert upy("print(json.dumps(" + state("Outbox('ob.log')") + "))", tmp_path) == [[], 2]


def test_overflow_drop_newest_refuses_and_counts(tmp_path):
    out = upy(
        "o = Outbox('ob.log', max_events=2, policy='drop_newest')\n"
        "r = [o.add(1, s, b'%d' % s) for s in range(1, 5)]\n"
        "print(json.dumps([r, " + state() + "]))",
        tmp_path,
    )
    assert out == [[True, True, False, False], [[[1, 1, "1"], [1, 2, "2"]], 2]]
    again = upy(
        "o = Outbox('ob.log', max_events=2, policy='drop_newest')\nprint(json.dumps(" + state() + "))",
        tmp_path,
    )
    assert again == [[[1, 1, "1"], [1, 2, "2"]], 2]


def test_unknown_policy_is_refused(tmp_path):
    out = upy(
        "try:\n    Outbox('ob.log', policy='keep_all')\n    print('[0]')\n"
        "except ValueError:\n    print('[1]')",
        tmp_path,
    )
    assert out == [1]


# -- power cut at any byte -------------------------------------------------------------------
# (op, boot, seq-or-seqs): a run that mixes adds, acks, drop_oldest overflow and drop_newest.
OPS = [
    ("add", 1, 1), ("add", 1, 2), ("add", 1, 3), ("ack", 1, [2]), ("add", 2, 1),
    ("add", 2, 2), ("add", 2, 3),  # the 5th pending event: drops (1, 1) at max_events=4
    ("ack", 2, [1, 3]), ("ack", 1, [3]), ("add", 2, 4), ("add", 2, 5), ("add", 2, 6),
    ("add", 2, 7),  # drops (2, 2)
    ("ack", 2, [5, 4]),
]  # fmt: skip
MAX = 4


def model(ops, policy="drop_oldest"):
    """State ([(boot, seq, payload)], drops) after each op, computed independently of the firmware."""
    pending: list[tuple[int, int, str]] = []
    drops = 0
    states = [([], 0)]
    for op, boot, arg in ops:
        if op == "add":
            if len(pending) >= MAX:
                drops += 1
                if policy == "drop_oldest":
                    pending.pop(0)
                    pending.append((boot, arg, f"b{boot}s{arg}" * 3))
            else:
                pending.append((boot, arg, f"b{boot}s{arg}" * 3))
        else:
            pending = [e for e in pending if not (e[0] == boot and e[1] in arg)]
        states.append(([list(e) for e in pending], drops))
    return states


def build_log(tmp_path: Path, ops, policy: str) -> list[int]:
    """Run the ops on the firmware (no automatic compaction); returns the log size after each op."""
    code = (
        f"o = Outbox('full.log', max_events={MAX}, policy='{policy}', compact_bytes=1 << 30)\n"
        "sizes = [os.stat('full.log')[6]]\n"
        f"for op, b, a in {json.dumps(ops)}:\n"
        "    if op == 'add':\n"
        "        o.add(b, a, (('b%ds%d' % (b, a)) * 3).encode())\n"
        "    else:\n"
        "        o.ack(b, a)\n"
        "    sizes.append(os.stat('full.log')[6])\n"
        "print(json.dumps(sizes))"
    )
    return upy(code, tmp_path)


CUT_EVERY_BYTE = """
data = open('full.log', 'rb').read()
for n in range(len(data) + 1):
    with open('cut.log', 'wb') as f:
        f.write(data[:n])
    o = Outbox('cut.log', max_events=100, policy='%s')  # replay does not depend on the limit
    s = %s
    again = %s
    # a torn tail was repaired: what is added now survives the next reboot
    o.add(9, n + 1, b'after')
    after = Outbox('cut.log').pending()[-1]
    print(json.dumps([s, again == s, after[0] == 9 and after[1] == n + 1, o.depth == len(s[0]) + 1]))
    os.remove('cut.log')
"""


def check_every_cut(tmp_path: Path, policy: str) -> int:
    sizes = build_log(tmp_path, OPS, policy)
    states = model(OPS, policy)
    assert len(set(sizes)) == len(sizes), "every op must write a record"
    code = CUT_EVERY_BYTE % (policy, state(), state("Outbox('cut.log')"))
    results = upy_lines(code, tmp_path)
    assert len(results) == sizes[-1] + 1
    for n, (got, same_again, add_ok, depth_ok) in enumerate(results):
        last_complete = max(i for i, size in enumerate(sizes) if size <= n)
        want = states[last_complete]
        assert got == [want[0], want[1]], f"cut at byte {n}"
        assert same_again and add_ok and depth_ok, f"cut at byte {n}"
    return sizes[-1]


def test_power_cut_at_any_byte_drop_oldest(tmp_path):
    assert check_every_cut(tmp_path, "drop_oldest") > 300


def test_power_cut_at_any_byte_drop_newest(tmp_path):
    assert check_every_cut(tmp_path, "drop_newest") > 200


@pytest.mark.parametrize(
    "tail",
    [
        b"A\x05\x00junkjunkjunk" + bytes(40) + b"\xff" * 40,  # too short for an add
        # well formed (an add of boot 7, seq 1), but a wrong checksum
        b"A\x0c\x00\x07\x00\x00\x00\x01\x00\x00\x00junk\x00\x00\x00\x00",
        bytes(64),  # erased/zeroed sectors
    ],
)
def test_garbage_tail_is_ignored(tmp_path, tail):
    build_log(tmp_path, OPS[:3], "drop_oldest")
    with open(tmp_path / "full.log", "ab") as f:
        f.write(tail)
    out = upy("o = Outbox('full.log')\nprint(json.dumps(" + state() + "))", tmp_path)
    assert out == [model(OPS[:3])[-1][0], 0]


def test_a_damaged_record_is_not_trusted(tmp_path):
    sizes = build_log(tmp_path, OPS[:3], "drop_oldest")
    log = tmp_path / "full.log"
    data = bytearray(log.read_bytes())
    data[sizes[2] + 12] ^= 0x01  # one bit of the third event's payload
    log.write_bytes(bytes(data))
    out = upy("o = Outbox('full.log')\nprint(json.dumps(" + state() + "))", tmp_path)
    assert out == [model(OPS[:2])[-1][0], 0]


CRASH_IN_COMPACTION = """
data = open('full.log', 'rb').read()
o = Outbox('full.log', max_events=%d)
want = %s
o.compact()
packed = open('full.log', 'rb').read()
print(json.dumps([want, len(data), len(packed)]))
for n in range(len(packed) + 1):
    # the old log intact, a tmp file cut anywhere: the rename never happened
    with open('c.log', 'wb') as f:
        f.write(data)
    with open('c.log.tmp', 'wb') as f:
        f.write(packed[:n])
    c = Outbox('c.log', max_events=%d)
    print(json.dumps([%s == want, 'c.log.tmp' not in os.listdir()]))
    os.remove('c.log')
# a port whose rename cannot replace: the old log removed, the complete tmp not yet renamed
with open('c.log.tmp', 'wb') as f:
    f.write(packed)
c = Outbox('c.log', max_events=%d)
print(json.dumps([%s == want, 'c.log.tmp' not in os.listdir()]))
"""


def test_power_cut_during_compaction(tmp_path):
    build_log(tmp_path, OPS, "drop_oldest")
    want = model(OPS)[-1]
    code = CRASH_IN_COMPACTION % (MAX, state(), MAX, state("c"), MAX, state("c"))
    out = upy_lines(code, tmp_path)
    got_state, old_len, new_len = out[0]
    assert got_state == [want[0], want[1]]
    assert new_len < old_len
    assert len(out[1:]) == new_len + 2
    for n, (same, tmp_gone) in enumerate(out[1:]):
        assert same and tmp_gone, f"tmp cut at byte {n}"


def test_compaction_runs_by_itself_and_keeps_the_state(tmp_path):
    out = upy(
        "o = Outbox('ob.log', compact_bytes=2048)\nbiggest = 0\n"
        "for s in range(1, 301):\n"
        "    o.add(3, s, b'p' * 40)\n"
        "    biggest = max(biggest, os.stat('ob.log')[6])\n"
        "    if s % 10 == 0:\n"
        "        o.ack(3, list(range(s - 9, s - 1)))\n"  # leaves s-1 and s pending
        "print(json.dumps([biggest, os.stat('ob.log')[6], o.depth, [e[1] for e in o.pending()]]))",
        tmp_path,
    )
    biggest, final, depth, seqs = out
    # 300 adds of 55 bytes would be 16.5 kB without compaction; 60 live events are 3.3 kB
    assert biggest < 8192 and final < 8192
    assert depth == 60 and seqs == [s for s in range(1, 301) if s % 10 in (9, 0)]
    again = upy("o = Outbox('ob.log')\nprint(json.dumps([e[1] for e in o.pending()]))", tmp_path)
    assert again == seqs


def test_200_events_fit_a_64k_heap(tmp_path):
    out = upy(
        "import gc\n"
        'PAYLOAD = b\'{"v":1,"device":"desk-01","boot":5,"seq":%d,"value":4,"uptime_ms":1234567}\'\n'
        "o = Outbox('ob.log', max_events=250)\n"
        "for s in range(1, 201):\n"
        "    o.add(5, s, PAYLOAD % s)\n"
        "del o\ngc.collect()\n"
        "o = Outbox('ob.log', max_events=250)\n"  # reboot: replay 200 events
        "n = 0\n"
        "while o.depth:\n"
        "    batch = o.pending(limit=20)\n"
        "    n += len(batch)\n"
        "    o.ack(5, [e[1] for e in batch])\n"
        "print(json.dumps([n, o.depth, gc.mem_free() > 0]))",
        tmp_path,
        heapsize="64k",
    )
    assert out == [200, 0, True]
