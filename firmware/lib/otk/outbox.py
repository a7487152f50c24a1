# Flash-backed outbox: every event stays here until the hub acknowledges it (after its commit).
#
# On-flash format: one append-only log file of records, each
#     type:1  length:2 (little endian)  body:length  crc32:4 (of type + length + body)
# One public operation appends exactly one record, so after a power cut at any byte the log is
# "the records before the first incomplete or bad one", i.e. the state after the last complete
# operation. Record types:
#     A  boot:4 seq:4 payload              add
#     B  drops:4 dboot:4 dseq:4 boot:4 seq:4 payload
#                                          add that pushed out the oldest event (drop_oldest)
#     D  drops:4                           an event refused because the outbox was full
#     K  boot:4 seq:4 [seq:4 ...]          ack: these events may leave the outbox
# Drop totals are absolute, so replaying a record twice can never miscount.
# A torn tail is never appended to: open() rewrites the log when it found one. Compaction
# (and that repair) writes path + ".tmp", syncs it, then os.rename()s it over the log, which
# is atomic on littlefs; a leftover .tmp is ignored, and is used only when the log itself is
# missing (a port whose rename could not replace a file and had removed it first).
import os
import struct

try:
    from binascii import crc32
except ImportError:  # a port built without it: a small checksum of our own (Adler-32)

    def crc32(data, value=1):
        a = value & 0xFFFF
        b = (value >> 16) & 0xFFFF
        for c in data:
            a = (a + c) % 65521
            b = (b + a) % 65521
        return (b << 16) | a


_HDR = "<BH"
_A, _B, _D, _K = 65, 66, 68, 75  # b"A", b"B", b"D", b"K"
_SUFFIX_TMP = ".tmp"


def _sync(f):
    f.flush()
    try:
        os.fsync(f.fileno())  # CPython
    except (AttributeError, OSError):
        if hasattr(os, "sync"):  # MicroPython ports that have it
            os.sync()


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _record(kind, body):
    head = struct.pack(_HDR, kind, len(body))
    crc = crc32(body, crc32(head)) & 0xFFFFFFFF
    return head + body + struct.pack("<I", crc)


class _Index:
    # The pending events, oldest first, in one bytearray allocated once (no heap churn):
    # 16 bytes a slot (boot, seq, record offset, record length); length 0 marks a removed slot.
    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(16 * cap)
        self.n = 0  # slots in use, removed ones included
        self.live = 0

    def get(self, i):
        return struct.unpack_from("<IIII", self.buf, 16 * i)

    def __iter__(self):
        for i in range(self.n):
            e = self.get(i)
            if e[3]:
                yield e

    def append(self, boot, seq, off, length):
        if self.n == self.cap:
            self.squeeze()
        struct.pack_into("<IIII", self.buf, 16 * self.n, boot, seq, off, length)
        self.n += 1
        self.live += 1

    def kill(self, i):
        e = self.get(i)
        struct.pack_into("<I", self.buf, 16 * i + 12, 0)
        self.live -= 1
        return e

    def pop_oldest(self):
        for i in range(self.n):
            if self.get(i)[3]:
                return self.kill(i)

    def remove(self, boot, seqs):
        """Remove the live events of ``boot`` whose seq is in ``seqs``; returns them."""
        gone = []
        for i in range(self.n):
            e = self.get(i)
            if e[3] and e[0] == boot and e[1] in seqs:
                gone.append(self.kill(i))
        return gone

    def squeeze(self):
        j = 0
        for i in range(self.n):
            e = self.get(i)
            if e[3]:
                if i != j:
                    struct.pack_into("<IIII", self.buf, 16 * j, e[0], e[1], e[2], e[3])
                j += 1
        self.n = j


class Outbox:
    max_events = 300  # RAM: one small tuple per pending event
    compact_bytes = 8192  # compact once the log is this big and mostly acked records

    def __init__(self, path, max_events=None, policy="drop_oldest", compact_bytes=None):
        if policy not in ("drop_oldest", "drop_newest"):
            raise ValueError("policy")
        self.path = path
        self.policy = policy
        if max_events is not None:
            self.max_events = max_events
        if compact_bytes is not None:
            self.compact_bytes = compact_bytes
        self.drops = 0
        self._idx = _Index(self.max_events)
        self._size = 0  # bytes of the log
        self._live = 0  # bytes of the records the pending events live in
        self._open()

    # -- public API --------------------------------------------------------------------------
    @property
    def depth(self):
        return self._idx.live

    def add(self, boot, seq, payload):
        """Persist an event; returns True when stored, False when refused (drop_newest, full)."""
        if self._idx.live >= self.max_events:
            self.drops += 1
            if self.policy == "drop_newest":
                self._append(_D, struct.pack("<I", self.drops))
                return False
            old = self._idx.pop_oldest()
            self._live -= old[3]
            off = self._append(_B, struct.pack("<IIIII", self.drops, old[0], old[1], boot, seq) + payload)
        else:
            off = self._append(_A, struct.pack("<II", boot, seq) + payload)
        self._idx.append(boot, seq, off, self._size - off)
        self._live += self._size - off
        return True

    def pending(self, limit=None):
        """[(boot, seq, payload), ...] oldest first; at most ``limit`` of them (RAM)."""
        out = []
        if not self._idx.live:
            return out
        with open(self.path, "rb") as f:
            for boot, seq, off, _ in self._idx:
                if limit is not None and len(out) >= limit:
                    break
                f.seek(off)
                kind, n = struct.unpack(_HDR, f.read(3))
                body = f.read(n)
                out.append((boot, seq, body[20:] if kind == _B else body[8:]))
        return out

    def ack(self, boot, seqs):
        """Remove the acknowledged events of ``boot``; returns how many left the outbox."""
        gone = self._idx.remove(boot, set(seqs))
        if not gone:
            return 0
        body = struct.pack("<I", boot) + b"".join(struct.pack("<I", e[1]) for e in gone)
        self._append(_K, body)
        for e in gone:
            self._live -= e[3]
        if self._size >= self.compact_bytes and self._size - self._live >= self._live:
            self.compact()
        return len(gone)

    def compact(self):
        """Rewrite the log with only the pending events, atomically (tmp file + rename)."""
        tmp = self.path + _SUFFIX_TMP
        idx = _Index(self._idx.cap)
        size = 0
        live = 0
        src = open(self.path, "rb") if self._idx.live else None
        try:
            with open(tmp, "wb") as out:
                if self.drops:
                    size += out.write(_record(_D, struct.pack("<I", self.drops)))
                for boot, seq, off, _ in self._idx:
                    src.seek(off)
                    kind, n = struct.unpack(_HDR, src.read(3))
                    body = src.read(n)
                    if kind == _B:
                        body = body[12:]
                    rec = _record(_A, body)
                    out.write(rec)
                    idx.append(boot, seq, size, len(rec))
                    size += len(rec)
                    live += len(rec)
                _sync(out)
        finally:
            if src:
                src.close()
        self._replace(tmp)
        self._idx = idx
        self._size = size
        self._live = live

    # -- internals ---------------------------------------------------------------------------
    def _replace(self, tmp):
        try:
            os.rename(tmp, self.path)
        except OSError:  # a filesystem whose rename will not replace: open() uses the .tmp
            os.remove(self.path)
            os.rename(tmp, self.path)

    def _append(self, kind, body):
        rec = _record(kind, body)
        off = self._size
        with open(self.path, "ab") as f:
            f.write(rec)
            _sync(f)
        self._size += len(rec)
        return off

    def _open(self):
        tmp = self.path + _SUFFIX_TMP
        if not _exists(self.path):
            if _exists(tmp):
                os.rename(tmp, self.path)  # rename was interrupted after the old log was removed
            else:
                open(self.path, "wb").close()
        elif _exists(tmp):
            os.remove(tmp)  # a compaction that never reached its rename: the log is authoritative
        torn = self._replay()
        if torn:
            self.compact()

    def _replay(self):
        """Rebuild the state from the log; returns True when it ends in a torn/bad record."""
        off = 0
        torn = False
        with open(self.path, "rb") as f:
            while True:
                head = f.read(3)
                if not head:
                    break
                if len(head) < 3:
                    return True
                kind, n = struct.unpack(_HDR, head)
                body = f.read(n)
                tail = f.read(4)
                if len(body) < n or len(tail) < 4:
                    return True
                if struct.unpack("<I", tail)[0] != crc32(body, crc32(head)) & 0xFFFFFFFF:
                    return True
                size = n + 7
                if kind == _A and n >= 8:
                    b, s = struct.unpack("<II", body[:8])
                    torn |= self._replayed(b, s, off, size)
                elif kind == _B and n >= 20:
                    d, db, ds, b, s = struct.unpack("<IIIII", body[:20])
                    self.drops = d
                    self._forget(db, (ds,))
                    torn |= self._replayed(b, s, off, size)
                elif kind == _D and n >= 4:
                    self.drops = struct.unpack("<I", body[:4])[0]
                elif kind == _K and n >= 8 and n % 4 == 0:
                    b = struct.unpack("<I", body[:4])[0]
                    self._forget(b, set(struct.unpack("<I", body[i : i + 4])[0] for i in range(4, n, 4)))
                else:
                    return True
                off += size
        self._size = off
        return torn

    def _forget(self, boot, seqs):
        for e in self._idx.remove(boot, seqs):
            self._live -= e[3]

    def _replayed(self, boot, seq, off, size):
        full = self._idx.live >= self.max_events  # max_events was lowered since the log was written
        if full:
            self.drops += 1
            self._live -= self._idx.pop_oldest()[3]
        self._idx.append(boot, seq, off, size)
        self._live += size
        return full  # True: rewrite the log so that the drop is on flash
