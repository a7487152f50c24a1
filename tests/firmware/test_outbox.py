"""The flash-backed outbox (firmware/lib/otk/outbox.py) on the real MicroPython Unix port.

Each test runs a small script in a temporary folder (the "flash") and reads back one JSON line.
A "reboot" is a new MicroPython process opening the same files. The power-cut tests cut the log
(and a compaction's tmp file) at every byte and check the state against a model kept here.
The log stays bounded while the hub is away (compactions run inside add() too), and a flash
that really fills (a small tmpfs, and littlefs in MicroPython) refuses an add with OSError
without losing or tearing anything. Times belong in bench/firmware.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
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


def test_newest_boot_is_the_highest_stored_boot_across_a_reboot(tmp_path):
    # the device raises its boot counter to at least this when its identity files are lost
    assert upy("o = Outbox('ob.log')\nprint(json.dumps(o.newest_boot()))", tmp_path) == 0
    upy("o = Outbox('ob.log')\no.add(9, 1, b'a'); o.add(4, 1, b'b'); print(1)", tmp_path)
    assert upy("o = Outbox('ob.log')\nprint(json.dumps(o.newest_boot()))", tmp_path) == 9
    assert upy("o = Outbox('ob.log')\no.ack(9, [1])\nprint(json.dumps(o.newest_boot()))", tmp_path) == 4


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


# -- a bounded log -----------------------------------------------------------------------------
# A press as the console sends it (~185 bytes of JSON); press(seq) in the MicroPython scripts.
PRESS_JSON = (
    '{"v":1,"type":"press","device":"btn-01","inc":1,"boot":5,"seq":%d,"up":%d,"ts":1763900000000,'
    '"button":3,"value":4,"question":"csat","lang":"ru","repeat":false,"site":"office-1","sent_up":0}'
)
PRESS = f"def press(s):\n    return ({PRESS_JSON!r} % (s, s * 1000)).encode()\n"


def press_len(seq: int) -> int:
    return len(PRESS_JSON % (seq, seq * 1000))


def test_6000_offline_presses_keep_the_log_bounded_and_reopen_right(tmp_path):
    # the hub is away: no ack ever comes, every press past 300 drops the oldest one
    biggest, final, depth, drops, files, compactions, first = upy(
        PRESS + "o = Outbox('ob.log')\nbiggest = 0\n"
        "for s in range(1, 6001):\n"
        "    o.add(5, s, press(s))\n"
        "    biggest = max(biggest, os.stat('ob.log')[6])\n"
        # the state in RAM still finds the records after the compactions
        "first = [[b, s, p == press(s)] for b, s, p in o.pending(limit=20)]\n"
        "print(json.dumps([biggest, os.stat('ob.log')[6], o.depth, o.drops, sorted(os.listdir()),\n"
        "                  o.compactions, first]))",
        tmp_path,
    )
    assert (depth, drops, files) == (300, 5700, ["ob.log"])
    assert compactions > 10 and first == [[5, s, True] for s in range(5701, 5721)]
    # live <= 300 records of the longest kind (B: 27 bytes around the payload)
    live_max = 300 * (press_len(6000) + 27)
    assert biggest <= 2 * live_max + 8192, biggest  # without compaction: 1.26 MB
    # a reboot: the newest 300, in order, intact; the bounded log needs no rewrite at open
    out = upy(
        PRESS + "size = os.stat('ob.log')[6]\no = Outbox('ob.log')\n"
        "r = [o.drops, o.depth, size == os.stat('ob.log')[6]]\n"
        "seqs = []\nintact = True\n"
        "while o.depth:\n"  # as the console sends them: a window at a time, then the hub acks
        "    batch = o.pending(limit=50)\n"
        "    for b, s, p in batch:\n"
        "        seqs.append(s)\n"
        "        intact = intact and b == 5 and p == press(s)\n"
        "    o.ack(5, [e[1] for e in batch])\n"
        "print(json.dumps([seqs, intact] + r))",
        tmp_path,
    )
    assert out == [list(range(5701, 6001)), True, 5700, 300, True]
    assert final <= biggest


def test_open_compacts_a_log_grown_without_bound(tmp_path):
    # a log written with compaction on ack only (as before the bound): 1,000 presses, none acked
    upy(
        PRESS + "o = Outbox('ob.log', compact_bytes=1 << 30)\n"
        "for s in range(1, 1001):\n    o.add(5, s, press(s))\nprint('[]')",
        tmp_path,
    )
    before = (tmp_path / "ob.log").stat().st_size
    out = upy(
        PRESS + "o = Outbox('ob.log')\n"
        "print(json.dumps([[e[1] for e in o._idx], o.drops, os.stat('ob.log')[6]]))",
        tmp_path,
    )
    assert out[:2] == [list(range(701, 1001)), 700]
    # one D record (drops) and 300 A records
    assert out[2] == 11 + sum(press_len(s) + 15 for s in range(701, 1001)) < before / 3


# A compaction that add() (or ack()) runs by itself, with a power cut at every byte: of the
# record the operation appends, and of the compaction's .tmp (the old log still there).
CUT_AUTO_COMPACTION = """
class Spy(Outbox):
    def compact(self):
        pre = open(self.path, 'rb').read()
        Outbox.compact(self)
        SNAPS.append((pre, open(self.path, 'rb').read()))

def log():
    try:
        return open('full.log', 'rb').read()
    except OSError:
        return b''

def check(i, what, n, data, tmp=None):
    with open('c.log', 'wb') as f:
        f.write(data)
    if tmp is not None:
        with open('c.log.tmp', 'wb') as f:
            f.write(tmp)
    c = Outbox('c.log', max_events=100, policy=POLICY)
    s = %s
    c.add(9, 10000 + n, b'after')  # a torn tail was cut off: this survives the next boot
    last = Outbox('c.log', max_events=100).pending()[-1]
    print(json.dumps([i, what, n, s, last[:2] == (9, 10000 + n), 'c.log.tmp' not in os.listdir()]))
    os.remove('c.log')

POLICY = '%s'
o = Spy('full.log', max_events=%d, policy=POLICY, compact_bytes=%d)
for i, (op, b, a) in enumerate(%s):
    SNAPS = []
    before = log()
    if op == 'add':
        o.add(b, a, (('b%%ds%%d' %% (b, a)) * 3).encode())
    else:
        o.ack(b, a)
    after = log()
    whole = SNAPS[0][0] if SNAPS else after  # the log with this op's record, before any compaction
    assert whole[: len(before)] == before
    for n in range(len(before), len(whole) + 1):
        check(i, 'record', n, whole[:n])
    for pre, post in SNAPS:
        print(json.dumps([i, 'compacted-by', op]))
        for n in range(len(post) + 1):
            check(i, 'tmp', n, pre, post[:n])
        check(i, 'renamed', len(post), post)
"""


# OPS, then the hub away for a while: adds only, every one past MAX drops (or is refused)
OPS_AWAY = [*OPS, *[("add", 3, s) for s in range(1, 17)], ("ack", 3, [16, 14]), ("add", 3, 17)]


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_power_cut_in_a_compaction_that_add_runs(tmp_path, policy):
    code = CUT_AUTO_COMPACTION % (state("c"), policy, MAX, 120, json.dumps(OPS_AWAY))
    lines = upy_lines(code, tmp_path)
    states = model(OPS_AWAY, policy)
    compacted_by = [(line[0], line[2]) for line in lines if line[1] == "compacted-by"]
    # compactions ran inside add() (the drop path too) as well as inside ack()
    assert {op for _, op in compacted_by} == {"add", "ack"}, compacted_by
    dropping = [i for i, op in compacted_by if op == "add" and states[i + 1][1] > states[i][1]]
    assert dropping or policy == "drop_newest", compacted_by
    checks = [line for line in lines if line[1] != "compacted-by"]
    assert len(checks) > 500
    for i, what, n, got, add_ok, tmp_gone in checks:
        whole_record = what != "record" or n == max(c[2] for c in checks if c[0] == i and c[1] == "record")
        want = states[i + 1] if whole_record else states[i]
        assert got == [want[0], want[1]], f"op {i}, {what} cut at byte {n}"
        assert add_ok and tmp_gone, f"op {i}, {what} cut at byte {n}"


# -- a full flash ------------------------------------------------------------------------------
# Two real file systems that fill up, both 16 blocks: a tmpfs mounted as the outbox's folder
# (needs root), and littlefs, the boards' file system, in MicroPython itself (os.VfsLfs2) on an
# image file that stays between "reboots". Nothing of the outbox is mocked.
LITTLEFS = """
class Flash:  # a block device in an image file: erase, program and read as littlefs asks
    def __init__(self, path, blocks, size):
        self.blocks, self.size = blocks, size
        try:
            os.stat(path)
        except OSError:
            with open(path, 'wb') as f:
                f.write(b'\\xff' * (blocks * size))
        self.f = open(path, 'r+b')

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * self.size + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * self.size + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:
            self.writeblocks(arg, b'\\xff' * self.size)
        return 0

new = 'flash.img' not in os.listdir()
dev = Flash('flash.img', 16, %d)
if new:
    os.VfsLfs2.mkfs(dev)
os.mount(os.VfsLfs2(dev), '/flash')
os.chdir('/flash')
"""

FILL = """
def fill():
    # take every byte the file system will give: appends, each committed, halving on a refusal
    n = 4096
    while n:
        try:
            with open('filler', 'ab') as f:
                f.write(b'f' * n)
        except OSError as e:
            assert e.errno == 28, e
            n //= 2
"""


class SmallFlash:
    """Runs outbox scripts with their working folder on a small file system of 16 blocks."""

    def __init__(self, kind: str, folder: Path, block: int) -> None:
        self.kind, self.folder, self.block = kind, folder, block

    def run(self, code: str) -> list:
        prelude = LITTLEFS % self.block if self.kind == "littlefs" else ""
        return upy(prelude + FILL + code, self.folder)


@pytest.fixture(params=["tmpfs", "littlefs"])
def small_flash(request, tmp_path):
    block = os.sysconf("SC_PAGE_SIZE")  # tmpfs allocates whole pages
    if request.param == "littlefs":
        yield SmallFlash("littlefs", tmp_path, 4096)
        return
    folder = tmp_path / "flash"
    folder.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={16 * block}", "otklik-outbox-test", str(folder)]
    try:
        mounted = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        pytest.skip(f"no mount command ({e}); the littlefs case still runs")
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}; littlefs still runs")
    try:
        yield SmallFlash("tmpfs", folder, block)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_flash_refuses_an_add_and_nothing_is_lost_or_torn(small_flash):
    # 10 presses stored, then the flash fills up: add() raises OSError (ENOSPC) once the flash
    # refuses the record even after a compaction, and the outbox is as before that call
    first = small_flash.run(
        PRESS + "o = Outbox('ob.log')\n"
        "for s in range(1, 11):\n    o.add(5, s, press(s))\n"
        "fill()\n"
        "errno = None\nstored = 10\n"
        "for s in range(11, 200):\n"  # what still fits in the log's last block, then the refusal
        "    try:\n        o.add(5, s, press(s))\n"
        "    except OSError as e:\n        errno = e.errno\n        break\n"
        "    stored = s\n"
        "depth = o.depth\n"
        "try:\n    o.add(5, 999, press(999))\n    again = None\n"  # refused again, nothing changes
        "except OSError as e:\n    again = e.errno\n"
        "try:\n    o.compact()\n    compacted = None\n"  # no room for the .tmp: the old log stays
        "except OSError as e:\n    compacted = e.errno\n"
        "print(json.dumps([errno, again, compacted, stored, depth, o.depth, [e[1] for e in o._idx],\n"
        "                  os.stat('ob.log')[6] - o._size, sorted(os.listdir())]))",
    )
    errno, again, compacted, stored, depth, depth_now, seqs, tail, files = first
    assert (errno, again, compacted) == (28, 28, 28)
    assert depth == depth_now == stored and seqs == list(range(1, stored + 1))
    assert "ob.log.tmp" not in files
    # tmpfs keeps the part of the refused record that fitted (a torn tail); littlefs keeps none
    assert tail > 0 if small_flash.kind == "tmpfs" else tail == 0, tail
    # a reboot with the flash still full: the records before the torn one, and a working outbox
    # (its repair can wait); then the flash gets room, and the next add comes after a repair
    second = small_flash.run(
        PRESS + "o = Outbox('ob.log')\n"
        "seqs = [e[1] for e in o._idx]\n"
        "try:\n    o.add(6, 1, press(1))\n    refused = None\n"
        "except OSError as e:\n    refused = e.errno\n"
        "try:\n    o.ack(5, [1, 2])\n    ack_refused = None\n"  # the ack record does not fit either
        "except OSError as e:\n    ack_refused = e.errno\n"
        "after_refusals = [e[1] for e in o._idx]\n"
        "os.remove('filler')\n"
        "stored = o.add(6, 1, press(1))\n"
        "print(json.dumps([seqs, refused, ack_refused, after_refusals, stored, o.ack(5, [1, 2]),\n"
        "                  os.stat('ob.log')[6] == o._size, sorted(os.listdir())]))",
    )
    want = list(range(1, stored + 1))
    assert second == [want, 28, 28, want, True, 2, True, ["ob.log"]]
    third = small_flash.run(
        PRESS + "o = Outbox('ob.log')\n"
        "print(json.dumps([[[b, s, p == press(s)] for b, s, p in o.pending()], o.drops]))"
    )
    assert third == [[[5, s, True] for s in range(3, stored + 1)] + [[6, 1, True]], 0]


def test_a_full_flash_a_compaction_makes_room_and_the_add_goes_through(small_flash):
    # every event acked (drops 0) but the log not yet compacted, and no byte free after it: the
    # refused add compacts (the empty log needs no block) and then fits in the blocks that freed
    out = small_flash.run(
        PRESS + "o = Outbox('ob.log', compact_bytes=1 << 20)\n"
        "for s in range(1, 21):\n    o.add(5, s, press(s))\n"
        "o.ack(5, list(range(1, 21)))\n"
        # one more acked event sized to leave less than a record free in the log's last block
        f"pad = 2 * {small_flash.block} - 5 - o._size - 15 - 15\n"
        "o.add(5, 21, b'x' * pad)\no.ack(5, [21])\n"
        "logsize = o._size\n"
        "fill()\n"
        "ok = o.add(6, 1, press(1))\n"
        "print(json.dumps([logsize, ok, o.depth, o._size, os.stat('ob.log')[6], sorted(os.listdir())]))"
    )
    logsize, ok, depth, size, on_flash, files = out
    assert logsize == 2 * small_flash.block - 5
    assert ok is True and depth == 1
    assert size == on_flash == press_len(1) + 15  # compacted: only the new record
    assert files == ["filler", "ob.log"]
    again = small_flash.run("o = Outbox('ob.log')\nprint(json.dumps([[e[:2] for e in o._idx], o.drops]))")
    assert again == [[[6, 1]], 0]
