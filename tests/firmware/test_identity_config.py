"""Boot counter, incarnation id, sequence numbers, crash-boot counting (otk/identity.py), what
ended the previous boot (otk/crash.py) and the device config (otk/config.py) on the real
MicroPython Unix port. A "reboot" is a new MicroPython process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.firmware.upy import ROOT, run_micropython


def upy(code: str, cwd: Path):
    result = run_micropython("import json, os\n" + code + "\n", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.strip().splitlines()]


BOOT = (
    "from otk.identity import Identity\n"
    "i = Identity('ident', 'desk-01')\n"
    "print(json.dumps([i.boot, i.next_seq(), i.next_seq(), i.next_seq(), i.crash_boots]))"
)


def test_boot_increments_per_start_and_seq_restarts(tmp_path):
    runs = [upy(BOOT, tmp_path)[0] for _ in range(4)]
    assert runs == [[b, 1, 2, 3, 0] for b in (1, 2, 3, 4)]


def test_floor_keeps_boot_above_what_the_outbox_still_holds(tmp_path):
    code = "from otk.identity import Identity\nprint(json.dumps(Identity('ident', 'd', floor=41).boot))"
    assert upy(code, tmp_path) == [42]
    assert upy(code, tmp_path) == [43]


CUT_SLOT = """
from otk.identity import Identity
saved = {}
for name in ('ident.a', 'ident.b'):
    saved[name] = open(name, 'rb').read()
for victim in ('ident.a', 'ident.b'):
    for n in range(len(saved[victim]) + 1):
        for damage in ('cut', 'flip'):
            for name in saved:
                data = saved[name]
                if name == victim:
                    if damage == 'cut':
                        data = data[:n]
                    elif n < len(data):
                        data = data[:n] + bytes([data[n] ^ 0x55]) + data[n + 1:]
                with open(name, 'wb') as f:
                    f.write(data)
            i = Identity('ident', 'desk-01')
            print(json.dumps([victim, damage, n, i.boot]))
            # and the boot after that one is higher again
            print(json.dumps([victim, damage, n, Identity('ident', 'desk-01').boot]))
"""


def test_boot_never_goes_back_when_a_slot_is_cut_or_damaged_at_any_byte(tmp_path):
    upy(BOOT, tmp_path)
    for _ in range(4):
        upy(
            "from otk.identity import Identity\ni = Identity('ident', 'desk-01', crashed=True)\n"
            "i.mark_boot_ok()\nprint(1)",
            tmp_path,
        )
    used = upy(BOOT, tmp_path)[0][0]
    assert used == 6
    lines = upy(CUT_SLOT, tmp_path)
    assert len(lines) == 2 * 25 * 2 * 2  # two slots of 24 bytes, cut at 0..24, two kinds of damage
    for first, then in zip(lines[::2], lines[1::2], strict=True):
        assert first[3] > used, first
        assert then[3] > first[3], then
    # a missing slot counts as a damaged one
    (tmp_path / "ident.a").unlink()
    assert upy(BOOT, tmp_path)[0][0] > used


def test_crash_boots_count_consecutive_crashed_boots_and_a_clean_boot_ends_the_streak(tmp_path):
    def boot(crashed):
        code = (
            f"from otk.identity import Identity\ni = Identity('ident', 'd', crashed={crashed})\n"
            "print(json.dumps([i.boot, i.crash_boots]))"
        )
        return upy(code, tmp_path)[0]

    assert [boot(True) for _ in range(3)] == [[1, 1], [2, 2], [3, 3]]  # safe mode at 3
    assert boot(False) == [4, 0]  # a power cut, a planned reset, a wake: the streak is over
    assert boot(True) == [5, 1]
    ok = (
        "from otk.identity import Identity\ni = Identity('ident', 'd', crashed=True)\n"
        "i.mark_boot_ok()\nprint(1)"
    )
    upy(ok, tmp_path)  # up long enough (boot_ok_s): the streak ends without a new boot
    assert upy(BOOT, tmp_path)[0][4] == 0


INC = "from otk.identity import Identity\ni = Identity('ident', 'd')\nprint(json.dumps([i.inc, i.boot]))"


def test_a_new_identity_draws_a_random_incarnation_that_a_wiped_flash_never_repeats(tmp_path):
    first = upy(INC, tmp_path)[0]
    assert upy(INC, tmp_path)[0] == [first[0], 2], "the incarnation stays for the device's life"
    incs = {first[0]}
    for _ in range(5):  # esptool erase_flash: the identity files are gone, the counter restarts
        for slot in tmp_path.glob("ident.*"):
            slot.unlink()
        inc, boot = upy(INC, tmp_path)[0]
        assert boot == 1 and 1 <= inc <= 0xFFFFFFFF
        incs.add(inc)
    assert len(incs) == 6, "each wipe draws a new incarnation, so (inc, boot, seq) never repeats"
    for slot in tmp_path.glob("ident.*"):  # both copies unreadable: a new incarnation as well
        slot.write_bytes(b"garbage")
    assert upy(INC, tmp_path)[0][0] not in incs


def test_slots_of_older_firmware_keep_their_counter_under_incarnation_0(tmp_path):
    import binascii
    import struct

    head = b"OTKI" + struct.pack("<III", 7, 41, 0)  # generation 7, boot 41, no crash
    for name in ("ident.a", "ident.b"):
        (tmp_path / name).write_bytes(head + struct.pack("<I", binascii.crc32(head)))
    assert upy(INC, tmp_path)[0] == [0, 42]
    assert upy(INC, tmp_path)[0] == [0, 43], "written back in the new format, still inc 0"
    assert (tmp_path / "ident.a").read_bytes()[:4] == b"OTK2" or (tmp_path / "ident.b").read_bytes()[
        :4
    ] == b"OTK2"


@pytest.mark.parametrize(
    ("cause", "note", "platform", "crashed"),
    [
        (1, None, "linux", None),  # power on: a power cut or flicker is never a crash
        (4, None, "linux", None),  # a deep-sleep wake
        (5, None, "linux", None),  # a soft reset (Ctrl-D)
        (3, None, "linux", "wdt"),  # the watchdog
        (3, "planned: reboot command", "linux", None),  # rp2's machine.reset() is a watchdog reboot
        (2, "crash: task app: ValueError('boom',)", "linux", "task app: ValueError('boom',)"),
        (1, "crash: OSError(28,)", "linux", "OSError(28,)"),  # recorded, then the power went
        (2, None, "esp32", "panic"),  # the esp32 port: an unplanned HARD_RESET is a panic
        (2, "planned: config", "esp32", None),
        (2, None, "linux", None),  # elsewhere a hard reset is the reset button
    ],
)
def test_what_counts_as_a_crash(tmp_path, cause, note, platform, crashed):
    if note is not None:
        (tmp_path / "last_exit").write_text(note)
    code = (
        "from otk import crash\n"
        "c = crash.reset_cause()\n"
        f"print(json.dumps([c, crash.of_previous_boot(c, crash.take_last_exit('.'), {platform!r})]))"
    )
    result = run_micropython(
        "import json, os\n" + code + "\n", cwd=tmp_path, env={"OTK_RESET_CAUSE": str(cause)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])[1] == crashed
    assert not (tmp_path / "last_exit").exists(), "the note is read once"


# -- config ----------------------------------------------------------------------------------
PROVISIONED = {
    "device": "desk-01", "site": "office-7", "wifi_ssid": "otk", "wifi_password": "secret",
    "broker_host": "10.0.0.2", "broker_port": 8883, "broker_user": "desk-01", "broker_password": "pw",
    "brightness": 60,
}  # fmt: skip

SHOW = (
    "print(json.dumps([c.get(k) for k in ('device', 'broker_port', 'brightness', 'lockout_ms', "
    "'buttons', 'rev', 'lang', 'question', 'heartbeat_s', 'debounce_ms', 'questions')]))"
)
LOAD = "from otk.config import Config, DEFAULTS\nc = Config('device.json', 'config.json')\n"


def provision(tmp_path: Path) -> None:
    (tmp_path / "device.json").write_text(json.dumps(PROVISIONED))


def test_defaults_then_provisioned_then_saved(tmp_path):
    assert upy(LOAD + SHOW, tmp_path) == [
        ["", 1883, 80, 3000, [1, 2, 3, 4, 5], 0, "ru", "csat", 60, 50, None]
    ]
    provision(tmp_path)
    assert upy(LOAD + SHOW, tmp_path) == [
        ["desk-01", 8883, 60, 3000, [1, 2, 3, 4, 5], 0, "ru", "csat", 60, 50, None]
    ]
    saved = {"v": 1, "device": "desk-01", "rev": 3, "brightness": 20, "lang": "en"}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert upy(LOAD + SHOW, tmp_path) == [
        ["desk-01", 8883, 20, 3000, [1, 2, 3, 4, 5], 3, "en", "csat", 60, 50, None]
    ]
    # a saved config of another device (the board was re-provisioned) is not used
    (tmp_path / "config.json").write_text(json.dumps({**saved, "device": "desk-02"}))
    assert upy(LOAD + SHOW, tmp_path)[0][2] == 60


GOOD = {
    "v": 1, "device": "desk-01", "rev": 5, "buttons": [0, 5, 10], "question": "nps", "lockout_ms": 0,
    "lang": "en", "brightness": 100, "heartbeat_s": 10,
    "questions": [{"id": "csat", "text": {"ru": "Как вам?", "en": "How was it?"}, "scale": "csat5"}],
}  # fmt: skip


def test_valid_remote_config_is_applied_and_persisted(tmp_path):
    provision(tmp_path)
    out = upy(
        LOAD + f"print(json.dumps(c.apply_remote({json.dumps(json.dumps(GOOD))}.encode())))\n" + SHOW,
        tmp_path,
    )
    applied = ["desk-01", 8883, 100, 0, [0, 5, 10], 5, "en", "nps", 10, 50, GOOD["questions"]]
    assert out == [[True, "ok"], applied]
    assert json.loads((tmp_path / "config.json").read_text(encoding="utf-8")) == GOOD
    assert not (tmp_path / "config.json.tmp").exists()
    assert upy(LOAD + SHOW, tmp_path) == [applied]  # after a reboot


def bad(**change):
    msg = dict(GOOD, rev=6)
    for k, v in change.items():
        if v is DELETE:
            del msg[k]
        else:
            msg[k] = v
    return msg


DELETE = object()
Q = GOOD["questions"][0]
INVALID = {
    "not json": (b"{not json", "not JSON"),
    "not an object": ([1, 2], "not an object"),
    "unknown key": (bad(volume=3), "unknown key"),
    "secret override": (bad(broker_host="evil"), "unknown key"),
    "v missing": (bad(v=DELETE), "v must be 1"),
    "v 2": (bad(v=2), "v must be 1"),
    "v true": (bad(v=True), "v must be 1"),
    "other device": (bad(device="desk-02"), "device mismatch"),
    "rev missing": (bad(rev=DELETE), "rev out of range"),
    "rev not int": (bad(rev="7"), "rev out of range"),
    "rev negative": (bad(rev=-1), "rev out of range"),
    "rev same": (bad(rev=5), "rev not newer"),
    "rev older": (bad(rev=4), "rev not newer"),
    "2 buttons": (bad(buttons=[1, 2]), "buttons"),
    "6 buttons": (bad(buttons=[1, 2, 3, 4, 5, 6]), "buttons"),
    "button 11": (bad(buttons=[1, 2, 11]), "buttons"),
    "button float": (bad(buttons=[1, 2, 3.5]), "buttons"),
    "buttons not list": (bad(buttons="123"), "buttons"),
    "question id": (bad(question="NPS!"), "bad question"),
    "lockout big": (bad(lockout_ms=600001), "lockout_ms out of range"),
    "lockout negative": (bad(lockout_ms=-1), "lockout_ms out of range"),
    "lang de": (bad(lang="de"), "bad lang"),
    "brightness 101": (bad(brightness=101), "brightness out of range"),
    "brightness float": (bad(brightness=50.0), "brightness out of range"),
    "heartbeat 9": (bad(heartbeat_s=9), "heartbeat_s out of range"),
    "heartbeat big": (bad(heartbeat_s=86401), "heartbeat_s out of range"),
    "no questions": (bad(questions=[]), "questions"),
    "6 questions": (bad(questions=[Q] * 6), "questions"),
    "question no ru": (bad(questions=[dict(Q, text={"en": "Hi"})]), "questions: text.ru"),
    "question empty ru": (bad(questions=[dict(Q, text={"ru": ""})]), "questions: bad text"),
    "question long ru": (bad(questions=[dict(Q, text={"ru": "я" * 201})]), "questions: bad text"),
    "question text key": (bad(questions=[dict(Q, text={"ru": "Да", "de": "Ja"})]), "questions: bad text"),
    "question scale": (bad(questions=[dict(Q, scale="stars")]), "questions: bad scale"),
    "question key": (bad(questions=[dict(Q, weight=2)]), "questions: unknown key"),
    "question bad id": (bad(questions=[dict(Q, id="-x")]), "questions: bad id"),
}

REJECT_ALL = """
c.apply_remote(GOOD)
for name, payload in CASES:
    ok, reason = c.apply_remote(payload)
    print(json.dumps([name, ok, reason, c.get('rev'), c.get('buttons'), c.get('brightness')]))
"""


@pytest.fixture(scope="module")
def rejections(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("config")
    provision(tmp)
    cases = [[name, raw if isinstance(raw, bytes) else json.dumps(raw)] for name, (raw, _) in INVALID.items()]
    cases = [[n, p.decode() if isinstance(p, bytes) else p] for n, p in cases]
    code = (
        LOAD + f"GOOD = {json.dumps(json.dumps(GOOD))}.encode()\n"
        f"CASES = [(n, p.encode()) for n, p in {json.dumps(cases)}]\n" + REJECT_ALL
    )
    lines = upy(code, tmp)
    after_reboot = upy(LOAD + SHOW, tmp)[0]
    return {line[0]: line[1:] for line in lines}, after_reboot, tmp


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_remote_config_is_rejected_with_a_reason(rejections, name):
    results, _, _ = rejections
    ok, reason, rev, buttons, brightness = results[name]
    assert ok is False
    assert reason.startswith(INVALID[name][1]), reason
    assert [rev, buttons, brightness] == [5, [0, 5, 10], 100]  # the last good config stays


def test_last_good_config_survives_the_rejections_and_a_reboot(rejections):
    _, after_reboot, tmp = rejections
    assert after_reboot == ["desk-01", 8883, 100, 0, [0, 5, 10], 5, "en", "nps", 10, 50, GOOD["questions"]]
    assert json.loads((tmp / "config.json").read_text(encoding="utf-8")) == GOOD


def test_no_revision_can_freeze_remote_config(tmp_path):
    provision(tmp_path)
    apply = LOAD + "print(json.dumps(c.apply_remote(json.dumps({}))))\n"
    huge = {"v": 1, "device": "desk-01", "rev": 2**31, "brightness": 10}
    assert upy(apply.replace("{}", repr(huge)), tmp_path) == [[False, "rev out of range"]]
    # a config saved by older firmware with a revision near 2**53: ignored, so the hub's next
    # config (rev 1) is newer and applies
    (tmp_path / "config.json").write_text(json.dumps({**huge, "rev": 2**53 - 1}))
    first = {"v": 1, "device": "desk-01", "rev": 1, "brightness": 10}
    assert upy(apply.replace("{}", repr(first)), tmp_path) == [[True, "ok"]]
    assert upy(LOAD + SHOW, tmp_path)[0][2] == 10


def test_a_config_the_flash_refuses_is_still_applied_and_counted(tmp_path):
    provision(tmp_path)
    (tmp_path / "config.json.tmp").mkdir()  # the save cannot open its tmp file: OSError
    code = LOAD + (
        "cfg = {'v': 1, 'device': 'desk-01', 'rev': 2, 'brightness': 7}\n"
        "print(json.dumps(c.apply_remote(json.dumps(cfg))))\n"
        "print(json.dumps([c['brightness'], c.save_errors]))"
    )
    result = run_micropython("import json, os\n" + code + "\n", cwd=tmp_path)
    lines = result.stdout.strip().splitlines()
    assert [json.loads(line) for line in lines[-2:]] == [[True, "ok"], [7, 1]], result.stdout + result.stderr
    assert "config not saved" in lines[0]


def test_the_device_checks_every_config_example_as_the_contract_does(tmp_path):
    """A board has no JSON Schema validator: otk/config.py checks a config by hand. Every valid
    config example of the contract must pass it, and every invalid one be refused (the survey
    fields included)."""
    examples = {}
    for kind in ("valid", "invalid"):
        for path in sorted((ROOT / "mqtt_schemas" / "examples" / kind).glob("config-*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            examples[f"{kind}/{path.name}"] = [doc["topic"].split("/")[3], doc["payload"]]
    (tmp_path / "examples.json").write_text(json.dumps(examples), encoding="utf-8")
    # a check of the rules, not of a heap: every example is in memory at once
    script = Path(__file__).parent / "scripts" / "config_examples.py"
    result = run_micropython(script, cwd=tmp_path, heapsize="1m")
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    wrong = {n: v for n, v in verdicts.items() if (v is None) != n.startswith("valid/")}
    assert not wrong, wrong
    assert len(verdicts) >= 30
