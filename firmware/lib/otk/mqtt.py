# otk.mqtt: a small asyncio MQTT 3.1.1 client of our own, for the button consoles.
#
# Why our own: umqtt is not on every board (the Pico W lacks it) and cannot be installed from
# PyPI for the tests; mqtt_as (peterhinch) is the model for the habits kept here, but its first
# connection must succeed. This client runs unchanged on MicroPython (boards and the Unix port)
# and on CPython: it only uses asyncio streams, struct-free byte handling and otk.compat ticks.
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
# - Incoming PUBLISH QoS 0/1: on_message(topic, payload, retained) is called (plain or async),
#   then the PUBACK is sent; an exception in the callback is reported and the message dropped.
# - Memory: no receive buffer beyond the packet itself; packets larger than max_packet are
#   read and discarded in small chunks (and acknowledged) instead of exhausting the heap.
# - Counters for the heartbeat: connects, reconnects, attempts, last_error.
# Settings are class attributes (mqtt_as style) so a test or a site can shrink them.
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


async def _maybe_await(result):
    # callbacks may be plain functions or coroutines (a generator on MicroPython)
    if result is not None and hasattr(result, "send"):
        await result


class MQTTClient:
    # settings (class attributes: a test or a site file may override them)
    retry_ms = 5000  # QoS 1 retransmission (DUP) when no PUBACK/SUBACK arrived
    backoff_min_ms = 500  # first wait after a failed attempt or a dropped connection
    backoff_max_ms = 30000  # the backoff doubles up to this
    connect_timeout_ms = 10000  # TCP connect + CONNACK
    tick_ms = 100  # supervisor poll period (keepalive checks, reader death)
    max_packet = 8192  # larger incoming packets are discarded (and acknowledged)
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
    ):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.clean_session = clean_session
        self.will = will  # (topic, payload_bytes, qos, retain) or None
        self.on_message = None  # on_message(topic_str, payload_bytes, retained_bool)
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
        """Send DISCONNECT (the broker drops the will) and stop reconnecting."""
        self._stop = True
        if self.connected:
            await self._send(b"\xe0\x00")
        self._dead = True
        if self._task is None:
            await self._teardown()

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
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.server, self.port), t
        )
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
        w = self._writer
        self._writer = self._reader = None
        if w is not None:
            try:
                w.close()
                await asyncio.wait_for(w.wait_closed(), 1)
            except Exception:
                pass

    # ---- I/O -----------------------------------------------------------------------------------

    async def _send(self, data):
        # write one whole packet; False (and the connection marked dead) on any error
        async with self._lock:
            w = self._writer
            if w is None or self._dead:
                return False
            try:
                w.write(data)
                await w.drain()
            except Exception as e:
                self._error("send", e)
                self._dead = True
                return False
            self._last_tx = ticks_ms()
            return True

    async def _read_packet(self):
        r = self._reader
        typ = (await r.readexactly(1))[0]
        n = 0
        shift = 0
        while True:
            d = (await r.readexactly(1))[0]
            n |= (d & 0x7F) << shift
            if not d & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed remaining length")
        if n > self.max_packet:
            if typ >> 4 != 3:
                raise MQTTError("packet too large: %d" % n)
            await self._skip_publish(typ, n)
            return typ, None
        data = await r.readexactly(n) if n else b""
        return typ, data

    async def _skip_publish(self, typ, n):
        # an oversized PUBLISH: read its header, drop the payload in small pieces, acknowledge it
        r = self._reader
        self._log("dropping a %d-byte message" % n)
        head = await r.readexactly(2)
        tlen = (head[0] << 8) | head[1]
        n -= 2 + tlen
        await r.readexactly(tlen)
        pid = 0
        if typ & 0x06:
            head = await r.readexactly(2)
            pid = (head[0] << 8) | head[1]
            n -= 2
        while n > 0:
            chunk = await r.read(min(n, 256))
            if not chunk:
                raise EOFError
            n -= len(chunk)
        if pid:
            await self._send(bytes((0x40, 2, pid >> 8, pid & 0xFF)))

    async def _read_loop(self):
        try:
            while not self._dead:
                typ, data = await self._read_packet()
                self._last_rx = ticks_ms()
                kind = typ >> 4
                if kind == 3 and data is not None:
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
            if not self._dead:
                self._error("receive", e)
            self._dead = True

    async def _on_publish(self, typ, data):
        tlen = (data[0] << 8) | data[1]
        topic = bytes(data[2 : 2 + tlen]).decode()
        i = 2 + tlen
        qos = (typ >> 1) & 3
        pid = 0
        if qos:
            pid = (data[i] << 8) | data[i + 1]
            i += 2
        payload = bytes(data[i:])
        del data
        cb = self.on_message
        if cb is not None:
            await self._callback(cb, topic, payload, bool(typ & 1))
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
