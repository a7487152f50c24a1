"""A device driving otk.mqtt, run by the MicroPython Unix port (or CPython) for test_mqtt_client.

Arguments are key=value: port, user, password, mode (pub | sub | will | idle | flood | sleep |
both), and optional count, size, kind, retain, trigger (a file to wait for before publishing),
bmin/bmax (backoff ms), retry (ms), ka (keepalive s), wt (write timeout ms), mp (max_packet),
host (the server: a name or an IP), dns (IP:PORT of the DNS server otk.dns asks), ca (CA file:
TLS), sni (the name TLS checks). Prints one line per event for the test to read: CONNECTED n, ERR attempts
last_error, ACKED i, SUBACK q, MSG topic retained length head, DONE; flood: DOWN ms last_error
(ms since the last publish that got through); sleep: GONE ms (how long disconnect() took).
"""

import os
import sys

from otk import dns, mqtt
from otk.compat import asyncio, sleep_ms, ticks_diff, ticks_ms

ARGS = {}
for arg in sys.argv[1:]:
    key, _, value = arg.partition("=")
    ARGS[key] = value


def opt(key, default):
    return ARGS.get(key, default)


SITE = "office-1"
USER = ARGS["user"]
BASE = "otk/v1/" + SITE + "/" + USER + "/"


def say(*words):
    print(*words)


SENT = [ticks_ms()]  # when the last flood publish got through


async def watch(client):
    seen = None
    up = False
    while True:
        now = (client.attempts, client.last_error)
        if client.last_error and now != seen:
            seen = now
            say("ERR", client.attempts, client.last_error)
        if up and not client.connected and ARGS["mode"] == "flood":
            say("DOWN", ticks_diff(ticks_ms(), SENT[0]), client.last_error)
        up = client.connected
        await sleep_ms(20)


async def wait_file(path):
    while True:
        try:
            os.stat(path)
            return
        except OSError:
            await sleep_ms(50)


async def main():
    mode = ARGS["mode"]
    has_ready = [False]
    will = None
    if mode in ("will", "sleep"):
        will = (BASE + "status", b"offline", 1, True)
    if "dns" in ARGS:
        ip, _, port = ARGS["dns"].partition(":")
        dns.default_server = (ip, int(port or "53"))
    tls = {}
    if "ca" in ARGS:
        tls["ssl"] = mqtt.tls_context(ARGS["ca"])
        tls["server_hostname"] = opt("sni", None)
    client = mqtt.MQTTClient(
        USER + "-upy",
        opt("host", "127.0.0.1"),
        int(ARGS["port"]),
        user=USER,
        password=ARGS["password"],
        keepalive=int(opt("ka", "30")),
        will=will,
        **tls,
    )
    client.backoff_min_ms = int(opt("bmin", "100"))
    client.backoff_max_ms = int(opt("bmax", "1000"))
    client.retry_ms = int(opt("retry", "5000"))
    client.write_timeout_ms = int(opt("wt", "10000"))
    client.max_packet = int(opt("mp", "8192"))

    async def on_connect():
        say("CONNECTED", client.connects, client.reconnects)
        if mode in ("will", "sleep"):
            await client.publish(BASE + "status", b"online", 1, True)
            has_ready[0] = True
            say("READY")

    def on_message(topic, payload, retained):
        head = payload[:20].decode()
        say("MSG", topic, 1 if retained else 0, len(payload), head)

    client.on_connect = on_connect
    client.on_message = on_message
    client.start()
    asyncio.create_task(watch(client))
    if mode == "pub":
        if "trigger" in ARGS:
            await wait_file(ARGS["trigger"])
        size = int(opt("size", "0"))
        retain = opt("retain", "0") == "1"
        for i in range(int(opt("count", "1"))):
            payload = "m" + str(i) + ":"
            payload += "x" * (size - len(payload))
            await client.publish(BASE + opt("kind", "event"), payload, 1, retain)
            say("ACKED", i)
        say("DONE")
    elif mode == "sub":
        await client.wait_connected()
        granted = await client.subscribe(BASE + opt("kind", "ack"), 1)
        say("SUBACK", granted)
    elif mode == "both":  # receive on ack, publish QoS 1 events
        await client.wait_connected()
        say("SUBACK", await client.subscribe(BASE + "ack", 1))
        for i in range(int(opt("count", "1"))):
            await client.publish(BASE + "event", "m" + str(i) + ":", 1)
            say("ACKED", i)
        say("DONE")
    elif mode == "flood":  # QoS 0 as fast as the socket takes them, until reconnected
        await client.wait_connected()
        chunk = b"f" * int(opt("size", "1000"))
        while client.connects < 2:
            await client.publish(BASE + "event", chunk, 0)
            SENT[0] = ticks_ms()
    elif mode == "sleep":  # leave cleanly, then deep-sleep at once (the stub exits with 98)
        while not has_ready[0]:
            await sleep_ms(10)
        if "trigger" in ARGS:
            await wait_file(ARGS["trigger"])
        t = ticks_ms()
        await client.disconnect()
        say("GONE", ticks_diff(ticks_ms(), t))
        import machine

        machine.deepsleep(1000)
    while True:
        await sleep_ms(1000)


asyncio.run(main())
