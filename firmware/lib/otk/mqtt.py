# otk.mqtt: a small asyncio MQTT 3.1.1 client of our own, for the button consoles.
#
# Why our own: umqtt is not on every board (the Pico W lacks it) and cannot be installed from
# PyPI for the tests; mqtt_as (peterhinch) is the model for the habits kept here, but its first
# connection must succeed. This client runs unchanged on MicroPython (boards and the Unix port)
# and on CPython: it only uses asyncio streams, struct-free byte handling and otk.compat ticks.
# TLS (optional) needs MicroPython >= 1.22 (open_connection with ssl= and server_hostname=).
#
# Design
# - One supervisor coroutine, run(), owns the connection. It connects forever with exponential
#   backoff (backoff_min_ms .. backoff_max_ms); the first connection may fail (broker down at
#   boot) without raising. Once connected it starts one reader task and then watches keepalive:
#   PINGREQ when the link was idle for keepalive/2, reconnect when nothing was received for a
#   whole keepalive (a missing PINGRESP), or as soon as the reader or a writer saw an error.
# - publish() never raises for network problems. QoS 0: waits for a connection and writes once.
#   QoS 1: keeps the packet (one bytearray) until the PUBACK, retransmits it with DUP after
#   retry_ms and after every reconnect, and returns only when acknowledged. Callers that want
#   a deadline wrap it in asyncio.wait_for. Packet ids run 1..65535, wrap, and skip ids in use.
# - subscribe() remembers the topic; after a reconnect whose CONNACK says "no session present"
#   the supervisor resubscribes everything. on_connect() (plain or async) runs after every
#   (re)connect so the app can republish its status.
# - Every write is bounded: a drain that takes longer than write_timeout_ms (a broker or a link
#   that stopped reading) marks the connection dead, so the supervisor reconnects instead of
#   waiting on the send lock forever.
# - The server name is resolved by otk.dns (non-blocking, cached, with a timeout) before each
#   connection attempt; with TLS the certificate is checked against the name, not the IP.
# - disconnect() sends DISCONNECT, waits (bounded) until the broker closes the link, which
#   proves it got the DISCONNECT (no will), and closes the socket: safe to deep-sleep after it.
# - Incoming PUBLISH QoS 0/1: on_message(topic, payload, retained) is called (plain or async),
#   then the PUBACK is sent; an exception in the callback is reported and the message dropped.
#   The payload is a bytearray of its own (the callback may keep it).
# - Memory: no readexactly(): on MicroPython it grows its result with += (a 7 KB message read
#   in Wi-Fi-sized pieces needs two or three times its size, in ever larger blocks). Packets
#   are read with readinto() through memoryviews: headers, topics and control packets into one
#   small buffer allocated once (head_buf), a PUBLISH payload straight into a bytearray of its
#   exact size, which is what on_message gets: one allocation of the payload's size, no copy.
#   CPython's StreamReader has no readinto(); there readexactly() fills the same buffers.
#   Packets larger than max_packet are read through the small buffer and dropped (and
#   acknowledged) instead of exhausting the heap.
# - Counters for the heartbeat: connects, reconnects, attempts, last_error.
# Settings are class attributes (mqtt_as style) so a test or a site can shrink them.
from otk import dns
from otk.compat import asyncio, sleep_ms, ticks_diff, ticks_ms

_CONNACK_REASONS = (
    "accepted",
    "unacceptable protocol version",
    "client id rejected",
    "server unavailable",
    "bad username or password",
    "not authorized",
)


class MQTTError(Exception):
    """A protocol-level problem with the broker (refused connect, malformed packet)."""


def _varint(n):
    out = bytearray()
    while True:
        d = n & 0x7F
        n >>= 7
        if n:
            out.append(d | 0x80)
        else:
            out.append(d)
            return out


def _bytes(s):
    if isinstance(s, str):
        return s.encode()
    return bytes(s)


def _field(data):
    # a length-prefixed MQTT string/binary field
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def tls_context(ca_path):
    """A client SSLContext that accepts only a broker certified by the CA in ca_path.

    The file may be PEM (one or more certificates) or DER; it is handed to the TLS library as
    DER, which every MicroPython port (with or without PEM support in its mbedTLS) and CPython
    take. The broker's name is checked too: pass it as the client's server (or server_hostname).
    """
    import ssl

    with open(ca_path, "rb") as f:
        data = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default for a client is CERT_NONE
    if hasattr(ssl, "TLSVersion"):  # CPython; MicroPython's mbedTLS speaks TLS 1.2 only
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if b"-----BEGIN" in data:
        from binascii import a2b_base64

        parts = data.split(b"-----BEGIN CERTIFICATE-----")[1:]
        del data
        if not parts:
            raise ValueError("no certificate in " + ca_path)
        for part in parts:
            ctx.load_verify_locations(cadata=a2b_base64(part.split(b"-----END")[0]))
    else:
        ctx.load_verify_locations(cadata=data)
    return ctx


async def _maybe_await(result):
    # callbacks may be plain functions or coroutines (a generator on MicroPython)
    if result is not None and hasattr(result, "send"):
        await result


class MQTTClient:
    # settings (class attributes: a test or a site file may override them)
    retry_ms = 5000  # QoS 1 retransmission (DUP) when no PUBACK/SUBACK arrived
    backoff_min_ms = 500  # first wait after a failed attempt or a dropped connection
    backoff_max_ms = 30000  # the backoff doubles up to this
    connect_timeout_ms = 10000  # TCP connect (+ TLS handshake) + CONNACK
    write_timeout_ms = 10000  # a packet not written by then: the connection is dead
    disconnect_wait_ms = 1000  # disconnect(): how long to wait for the broker to close the link
    dns_timeout_ms = 3000  # resolving a server name (otk.dns), per connection attempt
    tick_ms = 100  # supervisor poll period (keepalive checks, reader death)
    max_packet = 8192  # larger incoming packets are discarded (and acknowledged)
    head_buf = 256  # the fixed receive buffer: control packets, a PUBLISH's topic (longer: dropped)
    verbose = False  # print a line on connects and errors

    def __init__(
        self,
        client_id,
        server,
        port=1883,
        user=None,
        password=None,
        keepalive=30,
        clean_session=False,
        will=None,
        ssl=None,
        server_hostname=None,
    ):
        self.client_id = client_id
        self.server = server  # a name (resolved by otk.dns before each attempt) or an IPv4
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.clean_session = clean_session
        self.will = will  # (topic, payload_bytes, qos, retain) or None
        self.ssl = ssl  # an SSLContext (see tls_context()) or None for plain TCP
        self.server_hostname = server_hostname  # the name TLS checks; default: server
        self.on_message = None  # on_message(topic_str, payload_bytearray, retained_bool)
        self.on_connect = None  # on_connect(), after every (re)connect
        # heartbeat counters
        self.connects = 0
        self.reconnects = 0
        self.attempts = 0
        self.last_error = ""
        # state
        self._up = asyncio.Event()
        self._lock = asyncio.Lock()
        self._reader = None
        self._writer = None
        self._rtask = None
        self._task = None
        self._dead = False
        self._stop = False
        self._pid = 0
        self._pend = {}  # pid -> [packet bytearray, Event, acked]
        self._subp = {}  # pid -> [granted qos or None, Event]
        self._subs = {}  # topic -> qos, resubscribed when the session is lost
        self._last_rx = self._last_tx = self._last_ping = ticks_ms()
        self._session_present = False
        # one small buffer, allocated once, for packet headers, topics and control packets
        self._buf = bytearray(self.head_buf)
        self._mv = memoryview(self._buf)
        self._m1 = self._mv[:1]
        self._rinto = True  # the reader has readinto() (MicroPython); CPython's has not

    # ---- public API ----------------------------------------------------------------------

    @property
    def connected(self):
        return self._up.is_set()

    async def wait_connected(self):
        await self._up.wait()

    def start(self):
        """Create the supervisor task (once) and return it."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

    async def run(self):
        """Connect, serve and reconnect forever (until disconnect())."""
        backoff = self.backoff_min_ms
        while not self._stop:
            self.attempts += 1
            ok = False
            try:
                ok = await self._connect()
            except Exception as e:  # OSError, timeout, EOF, refused: all mean "try again"
                self._error("connect", e)
            if ok:
                backoff = self.backoff_min_ms
                await self._serve()
                if self._stop:
                    break
                wait = self.backoff_min_ms
            else:
                await self._close()
                wait = backoff
                backoff = min(backoff * 2, self.backoff_max_ms)
            await sleep_ms(wait)

    async def disconnect(self):
        """Leave cleanly and stop reconnecting: safe to deep-sleep or power off afterwards.

        Sends DISCONNECT (the broker then drops the will), waits up to disconnect_wait_ms for
        the broker to close the connection (proof that it read the DISCONNECT), closes the
        socket and waits for that (1 s at most). Bounded even when the broker or the link is
        stuck: the DISCONNECT's write by write_timeout_ms (plus, at worst, one other write
        already stuck), the wait by disconnect_wait_ms.
        """
        self._stop = True
        await self._leave()
        task = self._task
        self._task = None
        if task is not None and task is not asyncio.current_task():
            try:
                task.cancel()  # a connection attempt or a backoff sleep in progress
            except Exception:
                pass
        await self._teardown()

    async def _leave(self):
        if not self._up.is_set():
            return
        self._up.clear()  # no more publishes on this connection
        if await self._send(b"\xe0\x00"):
            start = ticks_ms()
            while not self._dead and ticks_diff(ticks_ms(), start) < self.disconnect_wait_ms:
                await sleep_ms(10)  # the reader sees the broker's EOF and marks the link dead

    async def publish(self, topic, payload, qos=0, retain=False):
        """Publish; never raises for network problems. QoS 1 returns once PUBACKed."""
        t = _bytes(topic)
        p = _bytes(payload)
        pid = self._new_pid() if qos else 0
        hdr = 0x30 | (2 if qos else 0) | (1 if retain else 0)
        n = 2 + len(t) + len(p) + (2 if qos else 0)
        pkt = bytearray((hdr,))
        pkt += _varint(n)
        pkt += _field(t)
        if qos:
            pkt += bytes((pid >> 8, pid & 0xFF))
        pkt += p
        del p
        if not qos:
            while True:
                await self._up.wait()
                if await self._send(pkt):
                    return
                await sleep_ms(self.tick_ms)
        ev = asyncio.Event()
        entry = [pkt, ev, False]
        self._pend[pid] = entry
        try:
            while not entry[2]:
                await self._up.wait()
                ev.clear()
                if await self._send(pkt):
                    pkt[0] |= 0x08  # every later copy is a DUP
                    await self._wait(ev, self.retry_ms)
                else:
                    await sleep_ms(self.tick_ms)
        finally:
            self._pend.pop(pid, None)

    async def subscribe(self, topic, qos=1):
        """Subscribe and wait for the SUBACK; returns the granted QoS (0x80 = refused)."""
        t = _bytes(topic)
        self._subs[t] = qos
        pid = self._new_pid()
        ev = asyncio.Event()
        entry = [None, ev]
        self._subp[pid] = entry
        try:
            while entry[0] is None:
                await self._up.wait()
                ev.clear()
                if await self._send(self._subscribe_packet(pid, ((t, qos),))):
                    await self._wait(ev, self.retry_ms)
                else:
                    await sleep_ms(self.tick_ms)
            return entry[0]
        finally:
            self._subp.pop(pid, None)

    # ---- connection ------------------------------------------------------------------------

    async def _connect(self):
        t = self.connect_timeout_ms / 1000
        self._dead = False
        host = await dns.resolve(self.server, self.dns_timeout_ms)
        if host is None:
            raise OSError("cannot resolve " + self.server)
        if self.ssl:
            opened = asyncio.open_connection(
                host, self.port, ssl=self.ssl, server_hostname=self.server_hostname or self.server
            )
        else:
            opened = asyncio.open_connection(host, self.port)
        self._reader, self._writer = await asyncio.wait_for(opened, t)
        self._rinto = hasattr(self._reader, "readinto")
        flags = 0x02 if self.clean_session else 0
        body = bytearray(b"\x00\x04MQTT\x04")
        payload = _field(_bytes(self.client_id))
        if self.will:
            wt, wp, wq, wr = self.will
            flags |= 0x04 | (wq << 3) | (0x20 if wr else 0)
            payload += _field(_bytes(wt)) + _field(_bytes(wp))
        if self.user is not None:
            flags |= 0x80
            payload += _field(_bytes(self.user))
            if self.password is not None:
                flags |= 0x40
                payload += _field(_bytes(self.password))
        body.append(flags)
        body += bytes((self.keepalive >> 8, self.keepalive & 0xFF))
        body += payload
        pkt = bytearray(b"\x10") + _varint(len(body)) + body
        del body, payload
        self._writer.write(pkt)
        await asyncio.wait_for(self._writer.drain(), t)
        typ, data = await asyncio.wait_for(self._read_packet(), t)
        if typ >> 4 != 2 or len(data) != 2:
            raise MQTTError("expected CONNACK, got type %d" % (typ >> 4))
        rc = data[1]
        if rc:
            why = _CONNACK_REASONS[rc] if rc < len(_CONNACK_REASONS) else "unknown"
            raise MQTTError("connection refused: rc=%d %s" % (rc, why))
        self._session_present = bool(data[0] & 1)
        return True

    async def _serve(self):
        # the connection is up: run the reader, resubscribe, watch keepalive until it dies
        self._last_rx = self._last_tx = self._last_ping = ticks_ms()
        self._rtask = asyncio.create_task(self._read_loop())
        self.connects += 1
        if self.connects > 1:
            self.reconnects += 1
        self._log("connected (session present: %s)" % self._session_present)
        self._up.set()
        if self._subs and not self._session_present:
            subs = tuple(self._subs.items())
            await self._send(self._subscribe_packet(self._new_pid(), subs))
        # QoS 1 publishers woke up on _up (set above) and resend their packets with DUP
        if self.on_connect:
            asyncio.create_task(self._callback(self.on_connect))
        ka = self.keepalive * 1000
        half = ka // 2
        while not self._dead:
            await sleep_ms(self.tick_ms)
            if not ka:
                continue
            now = ticks_ms()
            if ticks_diff(now, self._last_rx) > ka:
                self._error("keepalive", MQTTError("no PINGRESP from broker"))
                break
            if ticks_diff(now, self._last_ping) >= half and (
                ticks_diff(now, self._last_tx) >= half or ticks_diff(now, self._last_rx) >= half
            ):
                self._last_ping = now
                await self._send(b"\xc0\x00")
        if not self._stop:  # disconnect() closes the link itself
            await self._teardown()

    async def _teardown(self):
        self._up.clear()
        self._dead = True
        t = self._rtask
        self._rtask = None
        if t is not None:
            try:
                t.cancel()
            except Exception:
                pass
        await self._close()
        for entry in self._pend.values():
            entry[1].set()
        for entry in self._subp.values():
            entry[1].set()

    async def _close(self):
        # idempotent; the writer is forgotten only once closed, so a close interrupted by a
        # cancellation is completed by the next call (MicroPython closes in wait_closed())
        w = self._writer
        if w is None:
            return
        try:
            w.close()
            await asyncio.wait_for(w.wait_closed(), 1)
        except Exception:
            pass
        if self._writer is w:
            self._writer = self._reader = None

    # ---- I/O -----------------------------------------------------------------------------------

    async def _send(self, data):
        # write one whole packet; False (and the connection marked dead) on any error
        async with self._lock:
            w = self._writer
            if w is None or self._dead:
                return False
            try:
                w.write(data)
                await asyncio.wait_for(w.drain(), self.write_timeout_ms / 1000)
            except asyncio.TimeoutError:
                self._error("send", MQTTError("write timed out after %d ms" % self.write_timeout_ms))
                self._dead = True
                return False
            except Exception as e:
                self._error("send", e)
                self._dead = True
                return False
            self._last_tx = ticks_ms()
            return True

    async def _fill(self, mv):
        # fill the memoryview mv from the connection (no allocation beyond a view per chunk)
        r = self._reader
        if not self._rinto:  # CPython's StreamReader
            mv[:] = await r.readexactly(len(mv))
            return
        i = 0
        n = len(mv)
        while i < n:
            k = await r.readinto(mv[i:] if i else mv)
            if k is None:  # nothing yet (a TLS record still incomplete)
                continue
            if not k:
                raise EOFError
            i += k

    async def _byte(self):
        await self._fill(self._m1)
        return self._buf[0]

    async def _read_packet(self):
        # -> (first byte, data): for a PUBLISH, data is (topic, pid, payload) or None when it
        # was too large and dropped; otherwise a memoryview of the fixed buffer, valid until
        # the next read
        typ = await self._byte()
        n = 0
        shift = 0
        while True:
            d = await self._byte()
            n |= (d & 0x7F) << shift
            if not d & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")
        if typ >> 4 == 3:
            return typ, await self._read_publish(typ, n)
        if n > len(self._buf):
            raise MQTTError("packet too large: %d" % n)
        data = self._mv[:n]
        if n:
            await self._fill(data)
        return typ, data

    async def _read_publish(self, typ, n):
        # the topic and packet id through the fixed buffer; the payload straight into a
        # bytearray of its own size: one allocation, no copy, no growing
        mv = self._mv
        await self._fill(mv[:2])
        head = (mv[0] << 8) | mv[1]  # the topic's length ...
        tlen = head
        if typ & 0x06:
            head += 2  # ... and the packet id
        size = n - 2 - head
        if size < 0:
            raise MQTTError("malformed PUBLISH")
        if n > self.max_packet or head > len(self._buf):  # too large, or a topic too long
            self._log("dropping a %d-byte message" % n)
            pid = 0
            if typ & 0x06:
                await self._skip(tlen)
                await self._fill(mv[:2])
                pid = (mv[0] << 8) | mv[1]
            await self._skip(size if pid else n - 2)
            if pid:
                await self._send(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
            return None
        await self._fill(mv[:head])
        topic = bytes(mv[:tlen]).decode()
        pid = (mv[tlen] << 8) | mv[tlen + 1] if typ & 0x06 else 0
        payload = bytearray(size)
        if size:
            await self._fill(memoryview(payload))
        return topic, pid, payload

    async def _skip(self, n):
        size = len(self._buf)
        while n > 0:
            k = min(n, size)
            await self._fill(self._mv[:k])
            n -= k

    async def _read_loop(self):
        try:
            while not self._dead:
                typ, data = await self._read_packet()
                self._last_rx = ticks_ms()
                kind = typ >> 4
                if kind == 3:
                    if data is not None:
                        await self._on_publish(typ, data)
                elif kind == 4 and len(data) == 2:  # PUBACK
                    entry = self._pend.get((data[0] << 8) | data[1])
                    if entry is not None:
                        entry[2] = True
                        entry[1].set()
                elif kind == 9 and len(data) >= 3:  # SUBACK
                    entry = self._subp.get((data[0] << 8) | data[1])
                    if entry is not None:
                        entry[0] = data[2]
                        entry[1].set()
                # PINGRESP (13) and UNSUBACK need nothing beyond _last_rx
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if not self._dead and not self._stop:  # the broker closing after our DISCONNECT is fine
                self._error("receive", e)
            self._dead = True

    async def _on_publish(self, typ, data):
        topic, pid, payload = data
        del data
        cb = self.on_message
        if cb is not None:
            await self._callback(cb, topic, payload, bool(typ & 1))
        qos = (typ >> 1) & 3
        if qos == 1:
            await self._send(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
        elif qos == 2:  # we never subscribe at QoS 2; answer so the broker is not left waiting
            await self._send(bytes((0x50, 2, pid >> 8, pid & 0xFF)))

    # ---- helpers -------------------------------------------------------------------------------

    def _subscribe_packet(self, pid, subs):
        body = bytearray((pid >> 8, pid & 0xFF))
        for t, q in subs:
            body += _field(t)
            body.append(q)
        return bytearray((0x82,)) + _varint(len(body)) + body

    def _new_pid(self):
        pid = self._pid
        while True:
            pid = pid + 1 if pid < 65535 else 1
            if pid not in self._pend and pid not in self._subp:
                self._pid = pid
                return pid

    async def _wait(self, ev, ms):
        # wait for ev, at most ms; the caller re-checks its own state afterwards
        try:
            await asyncio.wait_for(ev.wait(), ms / 1000)
        except asyncio.TimeoutError:
            pass

    async def _callback(self, cb, *args):
        try:
            await _maybe_await(cb(*args))
        except Exception as e:
            self._error("callback", e)

    def _error(self, where, e):
        self.last_error = "%s: %s" % (where, repr(e))
        self._log(self.last_error)

    def _log(self, msg):
        if self.verbose:
            print("mqtt %s: %s" % (self.client_id, msg))
