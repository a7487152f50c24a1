# Event identity: device id + an incarnation id + a boot counter persisted in flash + a
# sequence number per boot. The hub's key is (device, inc, boot, seq).
#
# Why an incarnation id: the boot counter lives only on the device. After a wiped flash
# (esptool erase_flash, a new file system, a replacement board given the same id) it would
# start again at 1, and the hub would take the new presses for copies of old ones and drop
# them. ``inc`` is a random 32-bit number drawn when the identity files are created (or when
# both copies are unreadable), so a new incarnation never repeats an old key. Devices
# provisioned by firmware older than this keep inc 0 and their counter (their key cannot
# repeat: the counter goes on). The hub notices a new inc and says so (alert identity_reset).
#
# The state lives in two slot files, path + ".a" and path + ".b", each 24 bytes:
#     b"OTK2"  gen:4  boot:4  crash:4  inc:4  crc32:4 (of the 20 bytes before it)
# (the 20-byte b"OTKI" slots of older firmware, without inc, are still read: inc 0).
# Every write goes to the slot with the older generation (or a bad one), through a tmp file
# and os.rename(), so the newest good state is never the one being written. At boot:
#   - both slots good: boot = newest boot + 1;
#   - one slot bad or missing: the bad one may have held the newest boot, which is at most
#     one above the good one (writes alternate), so boot = good boot + 2 (a gap is harmless,
#     a repeat is not);
#   - both missing: a new device, boot 1 and a new inc; both bad: a new inc too, and
#     ``floor`` (the highest boot still in the outbox) keeps the boot above the pending events.
# crash_boots counts consecutive boots that ended in a crash (the caller decides from the
# reset cause and a recorded exception, see otk/crash.py): safe mode starts when it reaches
# its limit. A power cut is never a crash.
import os
import struct

try:
    from binascii import crc32
except ImportError:
    from otk.outbox import crc32

_MAGIC1 = b"OTKI"
_MAGIC2 = b"OTK2"


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(28)
    except OSError:
        return None, False  # missing
    if len(data) == 24 and data[:4] == _MAGIC2:
        gen, boot, crash, inc, crc = struct.unpack("<IIIII", data[4:])
        n = 20
    elif len(data) == 20 and data[:4] == _MAGIC1:
        gen, boot, crash, crc = struct.unpack("<IIII", data[4:])
        inc = 0
        n = 16
    else:
        return None, True
    if crc != crc32(data[:n]) & 0xFFFFFFFF:
        return None, True
    return (gen, boot, crash, inc), True


def _write(path, gen, boot, crash, inc):
    head = _MAGIC2 + struct.pack("<IIII", gen, boot, crash, inc)
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


def new_inc():
    """A random nonzero 32-bit incarnation id: the hardware RNG mixed with the chip id and time."""
    x = 0
    try:
        x = struct.unpack("<I", os.urandom(4))[0]
    except (AttributeError, OSError, NotImplementedError):
        pass
    try:
        import machine

        x ^= crc32(machine.unique_id())
    except (ImportError, AttributeError, OSError):
        pass
    try:
        import time

        x ^= time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1000000)
    except (AttributeError, OverflowError):
        pass
    x &= 0xFFFFFFFF
    return x or 1


class Identity:
    def __init__(self, path, device_id, floor=0, crashed=False):
        """crashed: the previous boot ended in a crash (counted towards safe mode)."""
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
            self.inc = newest[3]
            earlier = newest[2]
        else:
            self._gen = 0
            self.inc = new_inc()  # a new incarnation: its keys can never repeat an old one's
            earlier = 0
        self.crash_boots = earlier + 1 if crashed else 0
        self._states = [a, b]
        self.boot = max(boot, floor + 1, 1)
        self._seq = 0
        self.flash_errors = 0
        self._flash_inc = self.inc  # the incarnation on flash (this boot may run under another)
        if not self._save():
            # the new boot number is not on flash, so the next boot could repeat it: this boot
            # runs under an incarnation of its own (in RAM) so its keys stay unique anyway
            self.inc = new_inc()
        elif not good:  # a new device (or both slots lost): fill the second slot too
            self._save()

    def raise_floor(self, floor):
        """Keep the boot above ``floor`` (the newest boot still in the outbox), should the
        identity files have been lost while the outbox survived."""
        if floor >= self.boot:
            self.boot = floor + 1
            if not self._save():
                self.inc = new_inc()

    def next_seq(self):
        self._seq += 1
        return self._seq

    def mark_boot_ok(self):
        """This boot ran long enough (or left safe mode on purpose): the crash streak ends."""
        if self.crash_boots:
            self.crash_boots = 0
            self._save()

    def _save(self):
        a, b = self._states
        # the slot to overwrite: a bad one, else the older generation
        i = 0 if a is None else 1 if b is None else (0 if a[0] <= b[0] else 1)
        self._gen += 1
        try:
            _write(self._slots[i], self._gen, self.boot, self.crash_boots, self._flash_inc)
        except OSError as e:  # a full or failing flash: run on; the outbox floor guards the boot
            self.flash_errors += 1
            print("identity not saved:", e)
            return False
        self._states[i] = (self._gen, self.boot, self.crash_boots, self._flash_inc)
        return True
