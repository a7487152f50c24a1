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
#
# Compaction writes path + ".tmp" with only the pending events (and the drop total), syncs it,
# then os.rename()s it over the log, which is atomic on littlefs; a leftover .tmp is ignored,
# and is used only when the log itself is missing (a port whose rename could not replace a
# file and had removed it first). A power cut during a compaction leaves the old log.
#
# The bound. "live" = the bytes of the records the pending events are in, "dead" = the rest.
# add(), ack() and open() compact when the log is compact_bytes or more and dead >= live, so
# between two operations
#     log < max(2 x live, compact_bytes) <= 2 x live + compact_bytes
# (plus one record during an operation, and the .tmp, about live bytes, during a compaction;
# and unless a compaction found no room on a full flash). A compaction copies live bytes once
# at least as many have died since the last one, and a byte dies once: the flash is written at
# most about twice per byte appended. outbox_max 300 presses of ~190 B: live <= ~67 KB, the
# log stays under ~142 KB however long the hub is away (6,000 presses: 132 KB, not 1.3 MB),
# and a reopen reads no more than that.
#
# A full (or failing) flash. An append that raises OSError (ENOSPC, 28) may leave part of its
# record on flash (a torn tail); the state in RAM never counts it. The next append compares
# the file's size with the log's first and, when they differ, compacts (the log is written
# again from RAM, without the tail): a torn tail is never appended to. A refused append is
# retried once after a compaction (it frees the dead part); when that fails too, add() and
# ack() raise OSError and the outbox is as before the call, in RAM and on flash. A failed
# compaction (no room for the .tmp) removes its .tmp and leaves the log and the state as they
# were. open() on a full flash still works; its repair waits for the next append.
#
# Comments, not docstrings: compiled from source, every token costs heap at import.
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


def _size_of(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1  # missing


def _record(kind, body):
    head = struct.pack(_HDR, kind, len(body))
    crc = crc32(body, crc32(head)) & 0xFFFFFFFF
    return head + body + struct.pack("<I", crc)


class _Index:
    # The pending events, oldest first, in one bytearray allocated once (no heap churn): a ring
    # of 16-byte slots (boot, seq, record offset, record length); length 0 marks a removed
    # slot. Slot k (0 = the head) is in use for k < n, removed ones included.
    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(16 * cap)
        self.head = self.n = self.live = 0

    def get(self, k):
        return struct.unpack_from("<IIII", self.buf, 16 * ((self.head + k) % self.cap))

    def put(self, k, boot, seq, off, length):
        struct.pack_into("<IIII", self.buf, 16 * ((self.head + k) % self.cap), boot, seq, off, length)

    def __iter__(self):
        for k in range(self.n):
            e = self.get(k)
            if e[3]:
                yield e

    def trim(self):
        # removed slots at the head are free again: the head is then the oldest event
        while self.n and not self.get(0)[3]:
            self.head = (self.head + 1) % self.cap
            self.n -= 1

    def append(self, boot, seq, off, length):
        if self.n == self.cap:
            self.trim()
        if self.n == self.cap:
            self.rebase()
        self.put(self.n, boot, seq, off, length)
        self.n += 1
        self.live += 1

    def mark(self, k, length):
        # length 0: slot k's event leaves; its old length: it is back (an ack the flash refused)
        e = self.get(k)
        self.put(k, e[0], e[1], e[2], length)
        self.live += 1 if length else -1
        return e

    def pop(self):
        self.trim()
        return self.mark(0, 0)

    def remove(self, boot, seqs):
        # The live events of boot whose seq is in seqs leave; returns [(k, event)]. An id is in
        # the outbox once, so the search ends when it found them all (the oldest: at once).
        self.trim()
        gone = []
        for k in range(self.n):
            e = self.get(k)
            if e[3] and e[0] == boot and e[1] in seqs:
                gone.append((k, self.mark(k, 0)))
                if len(gone) == len(seqs):
                    break
        return gone

    def rebase(self, off=None, shrunk=None):
        # Close the gaps (slot j is written at or behind the slot k read: nothing unread is
        # overwritten). After a compaction, with off: the live records lie back to back from
        # off, the j-th one 12 bytes shorter where bit j of shrunk is set (a B written as an A).
        j = 0
        for k in range(self.n):
            b, s, o, n = self.get(k)
            if n:
                if off is not None:
                    if shrunk[j >> 3] & (1 << (j & 7)):
                        n -= 12
                    o = off
                    off += n
                self.put(j, b, s, o, n)
                j += 1
        self.n = j


class Outbox:
    max_events = 300  # RAM: 16 bytes of index per pending event
    compact_bytes = 8192  # compact once the log is this big and at least half dead records

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
        self.compactions = 0  # done since open (ack() tells by it whether its events are on flash)
        self._idx = _Index(self.max_events)
        self._size = 0  # bytes of the log: its complete records
        self._live = 0  # bytes of the records the pending events are in
        self._torn = False  # the file may hold bytes past _size (a refused append)
        self._open()

    # -- public API --------------------------------------------------------------------------
    @property
    def depth(self):
        return self._idx.live

    def newest_boot(self):
        # The highest boot counter among the stored events (0 when empty): a floor for the
        # device's boot counter should its identity files be lost.
        return max([e[0] for e in self._idx] or [0])

    def add(self, boot, seq, payload):
        # Persist an event: True when stored, False when refused (drop_newest, full). OSError
        # when the flash refuses it even after a compaction: nothing changed, keep it elsewhere.
        drops = self.drops + 1
        full = self._idx.live >= self.max_events
        if not full:
            rec = _record(_A, struct.pack("<II", boot, seq) + payload)
        elif self.policy == "drop_newest":
            self._put(_record(_D, struct.pack("<I", drops)))
            self.drops = drops
            self._bound()
            return False
        else:
            self._idx.trim()
            old = self._idx.get(0)
            rec = _record(_B, struct.pack("<IIIII", drops, old[0], old[1], boot, seq) + payload)
        off = self._put(rec)
        if full:
            self.drops = drops
            self._live -= self._idx.pop()[3]
        self._idx.append(boot, seq, off, len(rec))
        self._live += len(rec)
        self._bound()
        return True

    def pending(self, limit=None):
        # [(boot, seq, payload), ...] oldest first; at most limit of them (RAM)
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
        # Remove the acknowledged events of boot; returns how many left the outbox. OSError when
        # the flash refuses the ack and a compaction: they stay pending (sent and acked again).
        gone = self._idx.remove(boot, set(seqs))
        if not gone:
            return 0
        body = struct.pack("<I", boot)
        for _, e in gone:
            self._live -= e[3]
            body += struct.pack("<I", e[1])
        done = self.compactions
        try:
            self._append(_record(_K, body))
        except OSError:
            if self.compactions == done:  # no compaction wrote the log without them yet
                try:
                    self.compact()
                except OSError:
                    for k, e in gone:
                        self._idx.mark(k, e[3])
                        self._live += e[3]
                    raise
        self._bound()
        return len(gone)

    def compact(self):
        # Rewrite the log with only the pending events, atomically (tmp file + rename). On
        # OSError (no room for the tmp file) the old log and the state stay as they were.
        tmp = self.path + _SUFFIX_TMP
        shrunk = bytearray(self._idx.live // 8 + 1)  # which records shrink: 1 bit, not an index
        first = 0
        src = open(self.path, "rb") if self._idx.live else None
        try:
            with open(tmp, "wb") as out:
                if self.drops:
                    first = self._write(out, _record(_D, struct.pack("<I", self.drops)))
                size = first
                j = 0
                for _, _, off, length in self._idx:
                    src.seek(off)
                    rec = src.read(length)
                    if rec[0] == _B:  # the drop it records is in the D record above
                        rec = _record(_A, rec[15 : length - 4])
                        shrunk[j >> 3] |= 1 << (j & 7)
                    size += self._write(out, rec)
                    j += 1
                _sync(out)
        except OSError:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        finally:
            if src:
                src.close()
        self._replace(tmp)
        self._idx.rebase(first, shrunk)
        self._size = size
        self._live = size - first
        self._torn = False
        self.compactions += 1

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _write(f, rec):
        if f.write(rec) != len(rec):  # a short write without an error: the flash is full
            raise OSError(28)  # ENOSPC
        return len(rec)

    def _bound(self, now=False):
        # compact when the log is big and at least half dead (the bound, at the top)
        if now or self._size >= self.compact_bytes and self._size - self._live >= self._live:
            try:
                self.compact()
            except OSError:  # no room for the tmp file: the log is intact, the next one retries
                pass

    def _put(self, rec):
        # append; refused: compact once (frees the dead part, cuts a torn tail) and retry
        try:
            return self._append(rec)
        except OSError:
            self.compact()
            return self._append(rec)

    def _append(self, rec):
        if self._torn and _size_of(self.path) != self._size:
            self.compact()  # cut the part of a refused record off
        off = self._size
        self._torn = True  # until the whole record is known to be on flash
        with open(self.path, "ab") as f:
            self._write(f, rec)
            _sync(f)
        self._torn = False
        self._size += len(rec)
        return off

    def _replace(self, tmp):
        try:
            os.rename(tmp, self.path)
        except OSError:  # a filesystem whose rename will not replace: open() uses the .tmp
            os.remove(self.path)
            os.rename(tmp, self.path)

    def _open(self):
        tmp = self.path + _SUFFIX_TMP
        if _size_of(self.path) < 0 and _size_of(tmp) >= 0:
            os.rename(tmp, self.path)  # rename was interrupted after the old log was removed
        try:
            if _size_of(tmp) >= 0:
                os.remove(tmp)  # a compaction that never reached its rename: the log rules
            if _size_of(self.path) < 0:
                open(self.path, "wb").close()
        except OSError:  # a full flash: a .tmp is harmless; the first append makes the log
            pass
        if self._replay():
            # a torn tail (never append to it), or drops that max_events now forces: rewrite
            self._torn = True
            self._bound(True)
        else:
            self._bound()

    def _replay(self):
        # Rebuild the state from the log. True when it must be rewritten: it ends in a torn or
        # bad record, or replaying it at this max_events dropped events.
        end = _size_of(self.path)
        if end <= 0:
            return False
        rewrite = False
        with open(self.path, "rb") as f:
            while self._size < end:
                head = f.read(3)
                if len(head) < 3:
                    return True  # 1 or 2 bytes of a header
                kind, n = struct.unpack(_HDR, head)
                if kind not in (_A, _B, _D, _K) or self._size + n + 7 > end:
                    return True  # garbage, or the tail of an interrupted append
                r = self._replayed(kind, n, head, f.read(n + 4))
                if r is None:
                    return True  # bad: the records before it are the state
                rewrite |= r
                self._size += n + 7
        return rewrite

    def _replayed(self, kind, n, head, data):
        # Apply one record (data: its body and CRC) found at self._size: None when it is bad,
        # True when it dropped an event (max_events was lowered since it was written).
        u = struct.unpack_from
        if len(data) < n + 4 or u("<I", data, n)[0] != crc32(memoryview(data)[:n], crc32(head)) & 0xFFFFFFFF:
            return None
        if kind == _D and n >= 4:
            self.drops = u("<I", data)[0]
            return False
        if kind == _K and n >= 8 and n % 4 == 0:
            self._forget(u("<I", data)[0], set(u("<I", data, i)[0] for i in range(4, n, 4)))
            return False
        if kind == _B and n >= 20:
            self.drops, b, s = u("<III", data)
            self._forget(b, (s,))
            data = memoryview(data)[12:]
        elif kind != _A or n < 8:
            return None
        full = self._idx.live >= self.max_events  # max_events was lowered since it was written
        if full:
            self.drops += 1
            self._live -= self._idx.pop()[3]
        b, s = u("<II", data)
        self._idx.append(b, s, self._size, n + 7)
        self._live += n + 7
        return full  # True: rewrite the log so that the drop is on flash

    def _forget(self, boot, seqs):
        for _, e in self._idx.remove(boot, seqs):
            self._live -= e[3]
