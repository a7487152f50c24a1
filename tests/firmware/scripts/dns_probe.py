"""otk.dns on the MicroPython Unix port, for test_tls_dns.py.

Arguments are steps, run in order: server=IP:PORT (the DNS server to ask), timeout=MS,
resolve=NAME, expire=NAME (make the cached answer stale). For every resolve it prints
RES name answer elapsed_ms ticks, where ticks counts a 10 ms task that ran meanwhile (the
event loop was not blocked if it kept counting).
"""

import sys

from otk import dns
from otk.compat import asyncio, sleep_ms, ticks_diff, ticks_ms

TICKS = [0]


async def ticker():
    while True:
        await sleep_ms(10)
        TICKS[0] += 1


async def main():
    asyncio.create_task(ticker())
    await sleep_ms(20)
    timeout = 3000
    for step in sys.argv[1:]:
        key, _, value = step.partition("=")
        if key == "server":
            ip, _, port = value.partition(":")
            dns.default_server = (ip, int(port))
        elif key == "timeout":
            timeout = int(value)
        elif key == "expire":
            ip, _ = dns._cache[value]
            dns._cache[value] = (ip, ticks_ms())
        elif key == "resolve":
            t = ticks_ms()
            before = TICKS[0]
            ip = await dns.resolve(value, timeout)
            print("RES", value, ip, ticks_diff(ticks_ms(), t), TICKS[0] - before)


asyncio.run(main())
