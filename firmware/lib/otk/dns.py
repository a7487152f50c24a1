# otk.dns: resolve a host name without stalling the event loop.
#
# Why: asyncio.open_connection() and ntptime call socket.getaddrinfo(), which blocks the whole
# board (every task, the buttons included) until lwIP's resolver gives up when the DNS server
# is unreachable. resolve() asks the DNS server the Wi-Fi gave with one A query over a
# non-blocking UDP socket that asyncio waits on, with a timeout and one retry, and caches the
# answer for its TTL (at least MIN_TTL s). When a refresh fails, the last (stale) answer is
# kept and served for another MIN_TTL s. IPv4 literals return at once, without a query.
#
# On the Unix port and CPython (no Wi-Fi: sys.platform linux/darwin/win32) the host's resolver
# is used unless a server is given: CPython's loop.getaddrinfo runs in a thread; the Unix port
# calls getaddrinfo (a desktop resolver, /etc/hosts included).
# Not supported: IPv6 (AAAA), mDNS ".local" names (use an IP or a name the office DNS knows).
import socket
import sys

from otk.compat import MICROPYTHON, asyncio, ticks_add, ticks_diff, ticks_ms

MIN_TTL = 60  # s; a shorter TTL is stretched to this (and a failed refresh waits this long)
MAX_TTL = 86400  # s; ticks_diff() stays exact below 2**29 ms (6.2 days)
default_server = None  # "IP", ("IP", port), or None: the DNS server the Wi-Fi gave (tests set it)
# (an IP address: the server's own name would need a lookup)
_HOST = sys.platform in ("linux", "darwin", "win32")  # a desktop OS, not a board
_cache = {}  # host -> (ip, ticks_ms when it expires)


def is_ipv4(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p or len(p) > 3 or not p.isdigit() or int(p) > 255:
            return False
    return True


async def resolve(host, timeout_ms=3000, server=None):
    """The IPv4 address of host as a string, or None if it cannot be resolved in timeout_ms.

    server: the DNS server to ask, "IP" or ("IP", port); default: default_server, else the one
    the Wi-Fi gave (on a desktop OS: the host's resolver).
    """
    if is_ipv4(host):
        return host
    hit = _cache.get(host)
    if hit is not None and ticks_diff(hit[1], ticks_ms()) > 0:
        return hit[0]
    srv = server or default_server
    try:
        if srv is None and _HOST:
            got = await _host_lookup(host, timeout_ms)
        else:
            got = await _query(host, srv or _wifi_dns(), timeout_ms)
    except (OSError, ValueError, IndexError, ImportError, asyncio.TimeoutError):
        got = None
    if got:
        ttl = min(max(got[1], MIN_TTL), MAX_TTL)
        _cache[host] = (got[0], ticks_add(ticks_ms(), ttl * 1000))
        return got[0]
    if hit is not None:  # stale: better than nothing; ask again in MIN_TTL s
        _cache[host] = (hit[0], ticks_add(ticks_ms(), MIN_TTL * 1000))
        return hit[0]
    return None


def _wifi_dns():
    import network

    try:
        ip = network.ipconfig("dns")  # MicroPython >= 1.24
    except (AttributeError, ValueError, TypeError, OSError):
        ip = network.WLAN(network.STA_IF).ifconfig()[3]
    if not ip or ip == "0.0.0.0":
        raise OSError("no DNS server (Wi-Fi down)")
    return ip


async def _host_lookup(host, timeout_ms):
    if MICROPYTHON:  # the Unix port: no event loop resolver; the host's is fast (or /etc/hosts)
        sa = socket.getaddrinfo(host, 0, socket.AF_INET)[0][-1]
        return socket.inet_ntop(socket.AF_INET, socket.sockaddr(sa)[1]), MIN_TTL
    loop = asyncio.get_running_loop()
    ai = await asyncio.wait_for(loop.getaddrinfo(host, 0, family=socket.AF_INET), timeout_ms / 1000)
    return ai[0][4][0], MIN_TTL


def _packet(host, qid):
    q = bytearray((qid >> 8, qid & 0xFF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0))  # RD, one question
    for label in host.encode().split(b"."):
        if label:
            if len(label) > 63:
                raise ValueError("label too long")
            q.append(len(label))
            q += label
    q += b"\x00\x00\x01\x00\x01"  # end of name, type A, class IN
    return q


def _skip_name(m, i):
    while True:
        n = m[i]
        if n >= 0xC0:  # a compression pointer ends the name
            return i + 2
        if not n:
            return i + 1
        i += n + 1


def _answer(m, qid):
    # None: not our answer (keep waiting); False: a final "no address"; else (ip, ttl)
    if len(m) < 12 or (m[0] << 8 | m[1]) != qid or not m[2] & 0x80:
        return None
    rcode = m[3] & 0x0F
    if rcode:
        return False if rcode == 3 else None  # NXDOMAIN is final; SERVFAIL etc.: the retry may do
    i = 12
    for _ in range(m[4] << 8 | m[5]):
        i = _skip_name(m, i) + 4
    for _ in range(m[6] << 8 | m[7]):
        i = _skip_name(m, i)
        size = m[i + 8] << 8 | m[i + 9]
        if m[i + 1] == 1 and m[i + 3] == 1 and not m[i] | m[i + 2] and size == 4:  # A, IN
            ttl = (m[i + 4] << 24) | (m[i + 5] << 16) | (m[i + 6] << 8) | m[i + 7]
            i += 10
            return "%d.%d.%d.%d" % (m[i], m[i + 1], m[i + 2], m[i + 3]), ttl
        i += 10 + size  # a CNAME on the way, or another type
    return False


async def _query(host, srv, timeout_ms):
    import os

    if isinstance(srv, str):
        srv = (srv, 53)
    qid = int.from_bytes(os.urandom(2), "big")
    q = _packet(host, qid)
    ai = socket.getaddrinfo(srv[0], srv[1], 0, socket.SOCK_DGRAM)[0]  # a literal: no lookup
    s = socket.socket(ai[0], socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.connect(ai[-1])
        if MICROPYTHON:
            stream = asyncio.StreamReader(s)  # lets asyncio poll the socket
            recv = stream.read
        else:
            loop = asyncio.get_running_loop()

            def recv(n):
                return loop.sock_recv(s, n)

        for attempt in (2, 1):  # the query, then one retry with the rest of the time
            end = ticks_add(ticks_ms(), timeout_ms // attempt)
            timeout_ms -= timeout_ms // attempt
            s.send(q)
            while True:
                left = ticks_diff(end, ticks_ms())
                if left <= 0:
                    break
                try:
                    m = await asyncio.wait_for(recv(512), left / 1000)
                except asyncio.TimeoutError:
                    break
                try:
                    got = _answer(m, qid) if m else None
                except IndexError:  # a truncated or malformed answer: keep waiting
                    got = None
                if got is not None:
                    return got or None
    finally:
        s.close()
    return None
