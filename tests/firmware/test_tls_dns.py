"""otk.dns and TLS to the broker, on the real MicroPython Unix port against real services.

DNS: a small UDP responder written here with dnslib (an independent encoder/parser of the wire
format) answers otk.dns, which the device side runs on MicroPython. TLS: Mosquitto with the TLS
listener that ``edge-hub mosquitto-config --tls`` writes (the hub's own CA and a server
certificate from edge_hub.transport.broker), and the real otk.mqtt client with otk.mqtt.tls_context().

The Unix port wheel's ``ssl`` (mbedTLS 3.6) has what the client needs: SSLContext with
PROTOCOL_TLS_CLIENT, verify_mode (CERT_NONE by default: tls_context() sets CERT_REQUIRED),
load_verify_locations(cadata=DER or PEM), and asyncio.open_connection(ssl=, server_hostname=)
with the name checked against the certificate's DNS and IP subjectAltNames. Its mbedTLS takes
its memory from the C heap, not MicroPython's: the TLS memory of a board is not measured here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import stat
import sys
import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from cryptography import x509
from dnslib import CNAME as CNAMERecord
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from paho.mqtt.enums import CallbackAPIVersion

from edge_hub.cli import cli
from edge_hub.errors import BrokerError
from edge_hub.transport.broker import (
    EmbeddedBroker,
    find_mosquitto,
    free_port,
    wait_for_port,
    write_mosquitto_config,
)
from tests.firmware import test_mqtt_client as base
from tests.firmware.upy import FIRMWARE, run_micropython
from tests.helpers import DEVICES, SITE, Broker, topic, wait_until

PROBE = Path(__file__).parent / "scripts" / "dns_probe.py"
sys.path.insert(0, str(FIRMWARE / "lib"))
from otk import mqtt  # noqa: E402

HUB_NAME = "hub.otklik.test"
Subscriber = base.Subscriber
has = base.has
run_device = base.run_device  # the fixture: MicroPython running scripts/mqtt_device.py


# ---- a DNS server ----------------------------------------------------------------------------


class DnsResponder:
    """A UDP DNS server on loopback: A records, CNAMEs, NXDOMAIN for the rest. Names in
    ``drop_first`` lose their first query; ``silent`` answers nothing. Records every query."""

    def __init__(self, records: dict[str, tuple[str, str, int]] | None = None) -> None:
        self.records = records or {}
        self.drop_first: set[str] = set()
        self.silent = False
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            request = DNSRecord.parse(data)
            name = str(request.q.qname).rstrip(".")
            self.queries.append(name)
            if self.silent or name in self.drop_first:
                self.drop_first.discard(name)
                continue
            reply = request.reply()
            while name in self.records and self.records[name][0] == "CNAME":
                _, target, ttl = self.records[name]
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAMERecord(target), ttl=ttl))
                name = target
            if name in self.records:
                _, ip, ttl = self.records[name]
                reply.add_answer(RR(name, QTYPE.A, rdata=A(ip), ttl=ttl))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dns():
    responder = DnsResponder(
        {
            HUB_NAME: ("A", "127.0.0.1", 300),
            "far.otklik.test": ("A", "10.9.8.7", 5),  # a short TTL: kept MIN_TTL (60 s) anyway
            "alias.otklik.test": ("CNAME", "far.otklik.test", 30),
            "flaky.otklik.test": ("A", "10.1.2.3", 300),
        }
    )
    yield responder
    responder.close()


def probe(*steps: str, timeout: float = 30) -> list[tuple[str, str, int, int]]:
    """Run dns_probe.py on MicroPython; one (name, answer, elapsed ms, ticks) per resolve."""
    result = run_micropython(PROBE, *steps, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("RES ")]
    return [(name, answer, int(ms), int(ticks)) for _, name, answer, ms, ticks in rows]


# ---- otk.dns -------------------------------------------------------------------------------


def test_dns_resolves_a_name_once_then_from_the_cache(dns):
    rows = probe(f"server={dns.address}", f"resolve={HUB_NAME}", f"resolve={HUB_NAME}", "resolve=192.168.1.9")
    assert [r[1] for r in rows] == ["127.0.0.1", "127.0.0.1", "192.168.1.9"]
    assert dns.queries == [HUB_NAME]  # the second answer came from the cache, the IP needs no query
    assert rows[1][2] < 50 and rows[2][2] < 50


def test_dns_follows_a_cname_and_stops_at_nxdomain(dns):
    rows = probe(f"server={dns.address}", "resolve=alias.otklik.test", "resolve=nope.otklik.test")
    assert [r[:2] for r in rows] == [("alias.otklik.test", "10.9.8.7"), ("nope.otklik.test", "None")]
    assert rows[1][2] < 500  # NXDOMAIN is an answer: no waiting out the timeout
    assert dns.queries == ["alias.otklik.test", "nope.otklik.test"]


def test_dns_retries_a_lost_query(dns):
    dns.drop_first.add("flaky.otklik.test")
    rows = probe(f"server={dns.address}", "timeout=2000", "resolve=flaky.otklik.test")
    assert rows[0][1] == "10.1.2.3"
    assert 1000 <= rows[0][2] < 1500  # the retry goes out at half the timeout
    assert dns.queries == ["flaky.otklik.test"] * 2


def test_dns_silent_server_times_out_while_the_loop_runs(dns):
    """No answer at all: None after timeout_ms, and a 10 ms task kept running meanwhile (the
    event loop was never blocked, unlike getaddrinfo with no DNS server)."""
    dns.silent = True
    rows = probe(f"server={dns.address}", "timeout=1000", "resolve=lost.otklik.test")
    _, answer, ms, ticks = rows[0]
    assert answer == "None"
    assert 1000 <= ms < 1400, ms
    assert ticks >= ms // 10 * 0.7, (ms, ticks)  # ~ one tick per 10 ms
    assert dns.queries == ["lost.otklik.test"] * 2  # the query and one retry


def test_dns_keeps_a_stale_answer_when_the_refresh_fails(dns):
    silent = DnsResponder()
    silent.silent = True
    try:
        rows = probe(
            f"server={dns.address}", f"resolve={HUB_NAME}", f"expire={HUB_NAME}",
            f"server={silent.address}", "timeout=600", f"resolve={HUB_NAME}", f"resolve={HUB_NAME}",
        )  # fmt: skip
    finally:
        silent.close()
    assert [r[1] for r in rows] == ["127.0.0.1"] * 3
    assert 600 <= rows[1][2] < 1000  # the refresh was tried and timed out
    assert rows[2][2] < 50  # then the stale answer is served for MIN_TTL without asking
    assert silent.queries == [HUB_NAME] * 2 and dns.queries == [HUB_NAME]


def test_dns_same_module_under_cpython(dns):
    from otk import dns as otk_dns

    async def scenario():
        server = ("127.0.0.1", dns.port)
        return [
            await otk_dns.resolve("alias.otklik.test", 2000, server),
            await otk_dns.resolve("nope.otklik.test", 2000, server),
            await otk_dns.resolve("alias.otklik.test", 2000, server),  # cached
        ]

    otk_dns._cache.clear()
    assert asyncio.run(scenario()) == ["10.9.8.7", None, "10.9.8.7"]
    assert dns.queries == ["alias.otklik.test", "nope.otklik.test"]


def test_mqtt_client_reaches_the_broker_by_name(broker, dns, run_device):
    sub = Subscriber(broker, topic("btn-14", "event"))
    try:
        _, lines = run_device(broker, "btn-14", mode="pub", count=2, host=HUB_NAME, dns=dns.address)
        wait_until(lambda: has(lines, "DONE"), 15, "the publishes")
        wait_until(lambda: len(sub.messages) >= 2, 5, "both messages")
        assert sub.payloads() == [b"m0:", b"m1:"]
        assert dns.queries == [HUB_NAME]
    finally:
        sub.close()


def test_mqtt_client_retries_an_unresolvable_name(broker, dns, run_device):
    proc, lines = run_device(broker, "btn-15", mode="idle", host="gone.test", dns=dns.address, bmax=200)
    wait_until(lambda: len(has(lines, "ERR")) >= 3, 10, "repeated failed lookups")
    assert proc.poll() is None and not has(lines, "CONNECTED")
    assert "cannot resolve gone.test" in has(lines, "ERR")[-1]


# ---- TLS -----------------------------------------------------------------------------------


class TlsBroker(Broker):
    """Mosquitto with the hub's config plus the TLS listener of ``mosquitto-config --tls``."""

    def __init__(self, directory: Path, hosts: tuple[str, ...] = (HUB_NAME,)) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: run ./otk test, which installs it")
        self.binary = binary
        self.port = free_port()
        self.tls_port = free_port()
        self.hub_port = free_port()
        self.files, self.passwords = write_mosquitto_config(
            directory, site=SITE, port=self.port, devices=dict.fromkeys(DEVICES),
            tls_port=self.tls_port, tls_hosts=hosts, hub_port=self.hub_port,
        )  # fmt: skip
        self.proc = None

    def start(self) -> TlsBroker:
        super().start()
        wait_for_port("127.0.0.1", self.tls_port, 10, self.proc)
        return self


class TlsPort:
    """A broker's credentials with its TLS port, for run_device."""

    def __init__(self, broker: TlsBroker) -> None:
        self.broker = broker
        self.port = broker.tls_port

    def creds(self, device: str) -> tuple[str, str]:
        return self.broker.creds(device)


@pytest.fixture
def tls_broker(tmp_path):
    b = TlsBroker(tmp_path / "tls-broker").start()
    yield b
    b.stop()


def test_tls_device_publishes_and_receives_with_the_hub_ca(tls_broker, dns, run_device):
    """By name (otk.dns), verified against the hub's CA (DER, as provisioned), the name
    checked: QoS 1 both ways."""
    sub = Subscriber(tls_broker, topic("btn-16", "event"))
    try:
        _, lines = run_device(
            TlsPort(tls_broker), "btn-16", mode="both", count=2,
            host=HUB_NAME, dns=dns.address, ca=tls_broker.files.ca_der,
        )  # fmt: skip
        wait_until(lambda: has(lines, "DONE"), 20, "the TLS publishes")
        assert has(lines, "SUBACK") == ["SUBACK 1"] and has(lines, "ACKED") == ["ACKED 0", "ACKED 1"]
        wait_until(lambda: len(sub.messages) >= 2, 5, "both events at the subscriber")
        assert sub.payloads() == [b"m0:", b"m1:"] and all(m.qos == 1 for m in sub.messages)
        sub.publish(topic("btn-16", "ack"), b"over-tls")
        wait_until(lambda: has(lines, "MSG"), 5, "the message over TLS")
        assert has(lines, "MSG") == [f"MSG {topic('btn-16', 'ack')} 0 8 over-tls"]
        log = tls_broker.files.log.read_text()
        # the client asked for "btn-16-upy"; the device listener forces the login name
        assert "New client connected" in log and " as btn-16 " in log and "btn-16-upy" not in log
    finally:
        sub.close()


def test_tls_with_a_pem_ca_and_an_ip_address(tls_broker, run_device):
    """The PEM file works too, and an IP address is checked against the IP subjectAltName."""
    ca = tls_broker.files.ca_cert
    _, lines = run_device(TlsPort(tls_broker), "btn-17", mode="pub", host="127.0.0.1", ca=ca)
    wait_until(lambda: has(lines, "DONE"), 20, "the TLS publish")
    assert has(lines, "CONNECTED") == ["CONNECTED 1 0"]


def test_tls_refuses_a_broker_certified_by_another_ca(tls_broker, tmp_path, run_device):
    """Negative control: a second hub (its own CA) at the same name; the device, holding the
    first hub's CA, never connects, and says why."""
    other = TlsBroker(tmp_path / "other-hub").start()
    try:
        assert other.files.ca_der.read_bytes() != tls_broker.files.ca_der.read_bytes()
        proc, lines = run_device(
            TlsPort(other), "btn-18", mode="pub", host="127.0.0.1", ca=tls_broker.files.ca_der, bmax=300
        )
        wait_until(lambda: len(has(lines, "ERR")) >= 3, 15, "refused handshakes")
        assert proc.poll() is None and not has(lines, "CONNECTED") and not has(lines, "ACKED")
        assert "not correctly signed by the trusted CA" in has(lines, "ERR")[-1], has(lines, "ERR")[-1]
    finally:
        other.stop()


def test_tls_refuses_a_certificate_for_another_name(tls_broker, run_device):
    _, lines = run_device(
        TlsPort(tls_broker), "btn-19", mode="pub", host="127.0.0.1", sni="evil.otklik.test",
        ca=tls_broker.files.ca_der, bmax=300,
    )  # fmt: skip
    wait_until(lambda: len(has(lines, "ERR")) >= 3, 15, "refused handshakes")
    assert not has(lines, "CONNECTED")
    assert "Common Name (CN) does not match" in has(lines, "ERR")[-1], has(lines, "ERR")[-1]


def test_tls_same_module_under_cpython(tls_broker):
    sub = Subscriber(tls_broker, topic("btn-20", "event"))

    async def scenario(ca: Path) -> bool:
        user, password = tls_broker.creds("btn-20")
        client = mqtt.MQTTClient(
            "btn-20-cpy", "127.0.0.1", tls_broker.tls_port, user, password, ssl=mqtt.tls_context(str(ca))
        )
        client.backoff_min_ms = client.backoff_max_ms = 100
        client.start()
        try:
            await asyncio.wait_for(client.wait_connected(), 5)
        except TimeoutError:
            await client.disconnect()
            return False
        await asyncio.wait_for(client.publish(topic("btn-20", "event"), b"cpython-tls", 1), 5)
        await client.disconnect()
        return True

    other = write_mosquitto_config(
        tls_broker.files.directory.parent / "stranger", site=SITE, tls_port=free_port()
    )[0]
    try:
        assert asyncio.run(scenario(tls_broker.files.ca_cert)) is True
        wait_until(lambda: sub.payloads() == [b"cpython-tls"], 5, "the message from CPython")
        assert asyncio.run(scenario(other.ca_der)) is False  # another CA: refused
    finally:
        sub.close()


def test_tls_listener_wants_the_same_logins(tls_broker):
    def connect(creds: tuple[str, str] | None) -> int:
        got: list[int] = []
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        client.tls_set(ca_certs=str(tls_broker.files.ca_cert))
        if creds:
            client.username_pw_set(*creds)
        client.on_connect = lambda c, u, f, rc, p: got.append(rc.value)
        client.connect("127.0.0.1", tls_broker.tls_port)
        client.loop_start()
        try:
            wait_until(lambda: got, 5, "a CONNACK over TLS")
        finally:
            client.loop_stop()
            client.disconnect()
        return got[0]

    assert connect(tls_broker.hub_creds) == 0
    assert connect(None) != 0  # allow_anonymous false holds on the TLS listener too


# ---- the hub side: mosquitto-config --tls, the embedded broker ------------------------------


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in san}


def test_mosquitto_config_tls_makes_a_ca_once_and_a_server_certificate(tmp_path):
    folder = tmp_path / "broker"

    def config(*args: str):
        return CliRunner().invoke(cli, ["mosquitto-config", "--dir", str(folder), *args])

    first = config("--tls", "--tls-host", "hub.office")
    assert first.exit_code == 0, first.output
    tls = folder / "tls"
    assert f"CA for the devices: {tls / 'ca.der'}" in first.output
    conf = (folder / "mosquitto.conf").read_text()
    lines = [
        "listener 1883 127.0.0.1",
        "listener 8883 127.0.0.1",
        f"cafile {tls / 'ca.crt'}",
        f"certfile {tls / 'server.crt'}",
        f"keyfile {tls / 'server.key'}",
        "tls_version tlsv1.2",
    ]
    for line in lines:
        assert line + "\n" in conf, line
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE(os.stat(tls / key).st_mode) == 0o600
    ca, server = _cert(tls / "ca.crt"), _cert(tls / "server.crt")
    assert x509.load_der_x509_certificate((tls / "ca.der").read_bytes()) == ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    assert {"hub.office", "localhost", "127.0.0.1"} <= _names(server)
    # valid from 2000: a board whose clock NTP has not set yet still accepts it
    assert server.not_valid_before_utc.year == 2000 and server.not_valid_after_utc.year >= 2035
    keys = {name: (tls / name).read_bytes() for name in ("ca.crt", "ca.key", "server.crt", "server.key")}

    again = config("--tls", "--tls-host", "hub.office")
    assert again.exit_code == 0, again.output
    assert {name: (tls / name).read_bytes() for name in keys} == keys  # nothing remade

    more = config("--tls", "--tls-host", "10.20.30.40")
    assert more.exit_code == 0, more.output
    assert (tls / "ca.crt").read_bytes() == keys["ca.crt"]  # the CA the devices hold is kept
    renewed = _cert(tls / "server.crt")
    assert renewed != server and "10.20.30.40" in _names(renewed) and "hub.office" not in _names(renewed)
    renewed.verify_directly_issued_by(ca)

    (tls / "ca.key").unlink()  # a lost CA key is an error, not a silent new CA
    lost = config("--tls")
    assert isinstance(lost.exception, BrokerError) and "CA key" in str(lost.exception)
    assert (tls / "ca.crt").read_bytes() == keys["ca.crt"]

    plain = config()
    assert plain.exit_code == 0 and "listener 8883" not in (folder / "mosquitto.conf").read_text()


def test_embedded_broker_with_a_tls_port(tmp_path):
    broker = EmbeddedBroker(tmp_path / "hub" / "broker", site=SITE, kind="mosquitto", tls_port=0)
    broker.start()
    try:
        assert broker.tls_port and broker.tls_port != broker.port
        wait_for_port("127.0.0.1", broker.tls_port, 10)
        context = ssl.create_default_context(cafile=str(broker.files.ca_cert))
        with (
            socket.create_connection(("127.0.0.1", broker.tls_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        broker.stop()
    # started again: the same CA, so the provisioned devices keep working
    ca = broker.files.ca_der.read_bytes()
    again = EmbeddedBroker(tmp_path / "hub" / "broker", site=SITE, kind="mosquitto", tls_port=0)
    again.start()
    try:
        assert again.files.ca_der.read_bytes() == ca
    finally:
        again.stop()
