"""Boot counter, sequence numbers, crash-boot counting (otk/identity.py) and the device config
(otk/config.py) on the real MicroPython Unix port. A "reboot" is a new MicroPython process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.firmware.upy import run_micropython


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
            "from otk.identity import Identity\ni = Identity('ident', 'desk-01')\n"
            "i.mark_boot_started(); i.mark_boot_ok()\nprint(1)",
            tmp_path,
        )
    used = upy(BOOT, tmp_path)[0][0]
    assert used == 6
    lines = upy(CUT_SLOT, tmp_path)
    assert len(lines) == 2 * 21 * 2 * 2  # two slots of 20 bytes, cut at 0..20, two kinds of damage
    for first, then in zip(lines[::2], lines[1::2], strict=True):
        assert first[3] > used, first
        assert then[3] > first[3], then
    # a missing slot counts as a damaged one
    (tmp_path / "ident.a").unlink()
    assert upy(BOOT, tmp_path)[0][0] > used


def test_crash_boots_count_consecutive_boots_that_never_reached_ok(tmp_path):
    crash = (
        "from otk.identity import Identity\ni = Identity('ident', 'd')\n"
        "print(json.dumps([i.boot, i.mark_boot_started()]))"
    )
    ok = (
        "from otk.identity import Identity\ni = Identity('ident', 'd')\n"
        "print(json.dumps([i.boot, i.mark_boot_started()]))\ni.mark_boot_ok()"
    )
    assert [upy(crash, tmp_path)[0] for _ in range(3)] == [[1, 0], [2, 1], [3, 2]]
    assert upy(ok, tmp_path) == [[4, 3]]  # main.py would enter safe mode here (3 crashes)
    assert upy(crash, tmp_path) == [[5, 0]]  # the ok boot reset the count
    assert upy(BOOT, tmp_path)[0][4] == 1


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
