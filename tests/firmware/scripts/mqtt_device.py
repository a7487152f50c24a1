"""A device driving otk.mqtt, run by the MicroPython Unix port (or CPython) for test_mqtt_client.

Arguments are key=value: port, user, password, mode (pub | sub | will | idle), and optional
count, size, kind, retain, trigger (a file to wait for before publishing), bmin/bmax (backoff
ms), retry (ms), ka (keepalive s). Prints one line per event for the test to read:
CONNECTED n, ERR attempts last_error, ACKED i, SUBACK q, MSG topic retained length head, DONE.
"""

import os
import sys

from otk import mqtt
from otk.compat import asyncio, sleep_ms

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


async def watch(client):
    seen = None
    while True:
        now = (client.attempts, client.last_error)
        if client.last_error and now != seen:
            seen = now
            say("ERR", client.attempts, client.last_error)
        await sleep_ms(50)


async def wait_file(path):
    while True:
        try:
            os.stat(path)
            return
        except OSError:
            await sleep_ms(50)


async def main():
    mode = ARGS["mode"]
    will = None
    if mode == "will":
        will = (BASE + "status", b"offline", 1, True)
    client = mqtt.MQTTClient(
        USER + "-upy",
        "127.0.0.1",
        int(ARGS["port"]),
        user=USER,
        password=ARGS["password"],
        keepalive=int(opt("ka", "30")),
        will=will,
    )
    client.backoff_min_ms = int(opt("bmin", "100"))
    client.backoff_max_ms = int(opt("bmax", "1000"))
    client.retry_ms = int(opt("retry", "5000"))

    async def on_connect():
        say("CONNECTED", client.connects, client.reconnects)
        if mode == "will":
            await client.publish(BASE + "status", b"online", 1, True)
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
        granted = await client.subscribe(BASE + "ack", 1)
        say("SUBACK", granted)
    while True:
        await sleep_ms(1000)


asyncio.run(main())
