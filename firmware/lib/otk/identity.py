# Event identity: device id + a boot counter persisted in flash + a sequence number per boot.
#
# The hub drops an event whose (device, boot, seq) it already stored, so the boot counter must
# never repeat a value once used, even after a power cut or a damaged file. It lives in two
# slot files, path + ".a" and path + ".b", each 20 bytes:
#     b"OTKI"  gen:4  boot:4  crash:4  crc32:4 (of the 16 bytes before it)
# Every write goes to the slot with the older generation (or a bad one), through a tmp file
# and os.rename(), so the newest good state is never the one being written. At boot:
#   - both slots good: boot = newest boot + 1;
#   - one slot bad or missing: the bad one may have held the newest boot, which is at most
#     one above the good one (writes alternate), so boot = good boot + 2 (a gap is harmless,
#     a repeat is not);
#   - both missing: a new device, boot 1; both bad: no way to know, so ``floor`` (e.g. the
#     highest boot still in the outbox) is the only guard: boot = floor + 1 at least.
# crash is the number of consecutive boots that started (mark_boot_started) and never reached
# mark_boot_ok: main.py enters safe mode when crash_boots reaches its limit.
import os
import struct

try:
    from binascii import crc32
except ImportError:
    from otk.outbox import crc32

_MAGIC = b"OTKI"


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(24)
    except OSError:
        return None, False  # missing
    if len(data) != 20 or data[:4] != _MAGIC:
        return None, True
    gen, boot, crash, crc = struct.unpack("<IIII", data[4:])
    if crc != crc32(data[:16]) & 0xFFFFFFFF:
        return None, True
    return (gen, boot, crash), True


def _write(path, gen, boot, crash):
    head = _MAGIC + struct.pack("<III", gen, boot, crash)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head + struct.pack("<I", crc32(head) & 0xFFFFFFFF))
        f.flush()
        try:
            os.fsync(f.fileno())
        except (AttributeError, OSError):
            if hasattr(os, "sync"):
                os.sync()
    try:
        os.rename(tmp, path)
    except OSError:  # a filesystem whose rename will not replace
        os.remove(path)
        os.rename(tmp, path)


class Identity:
    def __init__(self, path, device_id, floor=0):
        self.device_id = device_id
        self._slots = (path + ".a", path + ".b")
        a, a_exists = _read(self._slots[0])
        b, b_exists = _read(self._slots[1])
        good = [s for s in (a, b) if s]
        if len(good) == 2:
            newest = a if a[0] >= b[0] else b
            boot = newest[1] + 1
        elif good:
            newest = good[0]
            boot = newest[1] + 2
        else:
            newest = None
            boot = 0 if (a_exists or b_exists) else 1
        if newest:
            self._gen = newest[0]
            self.crash_boots = newest[2]
        else:
            self._gen = 0
            self.crash_boots = 0
        self._states = [a, b]
        self.boot = max(boot, floor + 1, 1)
        self._seq = 0
        self._save(self.crash_boots)
        if not good:  # a new device (or both slots lost): fill the second slot too
            self._save(self.crash_boots)

    def next_seq(self):
        self._seq += 1
        return self._seq

    def mark_boot_started(self):
        """This boot counts as a crash until mark_boot_ok(); returns crash_boots (the earlier ones)."""
        self._save(self.crash_boots + 1)
        return self.crash_boots

    def mark_boot_ok(self):
        self.crash_boots = 0
        self._save(0)

    def _save(self, crash):
        a, b = self._states
        # the slot to overwrite: a bad one, else the older generation
        i = 0 if a is None else 1 if b is None else (0 if a[0] <= b[0] else 1)
        self._gen += 1
        _write(self._slots[i], self._gen, self.boot, crash)
        self._states[i] = (self._gen, self.boot, crash)
