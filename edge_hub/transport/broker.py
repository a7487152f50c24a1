"""The office broker: a lossless Mosquitto configuration and the hub's embedded broker.

``write_mosquitto_config`` writes mosquitto.conf, the ACL and the password file (hashed by
``mosquitto_passwd``), and with ``tls_port`` a TLS listener beside the plain one: the hub's own
CA (made once, kept) signs a server certificate for the hub's names and addresses
(:func:`ensure_tls`); devices verify the broker with the CA file. :class:`EmbeddedBroker` runs
a private Mosquitto child on loopback and restarts it if it dies. Where no Mosquitto binary
exists it falls back to the pure-Python amqtt broker, which is NOT lossless (anonymous sessions
are not persisted, messages in flight at a crash are not resent); there only the devices'
outbox with end-to-end acks keeps presses.

Client ids: on the device-facing listeners (plain and TLS) Mosquitto replaces every client id
with the login name (``use_username_as_clientid``), so a device's login cannot take over the
hub's or another device's client id (which would throw that client off and, with a clean
session, wipe its stored session and the messages queued in it). The hub keeps its own fixed
client id on a separate listener on 127.0.0.1 (``hub_port``) where that option is not set.
The amqtt fallback takes any client id from anyone (no logins, nothing forced), so any local
client can take over the hub's session there: one more reason it listens on 127.0.0.1 only.

Long: Mosquitto's configuration, its passwords and TLS, and the supervised child are one
thing to get right together (the lossless settings in design.md); the amqtt fallback is its
last section.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import getpass
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge_hub.errors import BrokerError

_LOGGER = logging.getLogger(__name__)

HUB_USER = "_hub"  # cannot clash with a device id, which never starts with "_"
START_TIMEOUT_S = 15.0
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
QUEUED_BYTES = 512 * 1024 * 1024  # per client; past it the device's outbox resends
MAX_PACKET = 256 * 1024  # larger than the hub's payload limit, so the hub can quarantine
TLS_PORT = 8883
# Certificates are valid from 2000-01-01: a board whose clock NTP has not set yet counts from
# 2000-01-01 (ESP32) or 2021 (Pico W), and mbedTLS refuses a certificate "not yet valid".
CERT_NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CA_YEARS = 30  # the devices carry the CA: it must outlive them
SERVER_YEARS = 10  # renewed (same CA, nothing to do on the devices) a year before it ends

_CONF = """\
# Mosquitto for the Otklik hub of site "{site}", written by `edge-hub mosquitto-config`.
# Lossless settings (see docs/design.md, measured facts): the default max_queued_messages 1000
# dropped half of a burst, and the default autosave_interval 1800 lost every queued message
# at a SIGKILL.
per_listener_settings false
set_tcp_nodelay true
user {user}
{hub_listener}
# devices: the client id is forced to the login name (= device id), so no login can take over
# the session of the hub or of another device (a per-listener option whatever
# per_listener_settings says; not re-read on SIGHUP)
listener {port} {bind}
protocol mqtt
use_username_as_clientid true

# per-device credentials (username = device id) and an ACL: a device writes only its own topics
allow_anonymous false
password_file {passwd}
acl_file {acl}

# persistence: queued QoS 1 messages and sessions survive a broker crash
persistence true
persistence_location {data}/
persistence_file mosquitto.db
autosave_interval 1
autosave_on_changes false

# queues: no count cap, a byte cap per client, and abandoned sessions expire
max_queued_messages 0
max_queued_bytes {queued_bytes}
persistent_client_expiration {expiry_days}d
# at least the ingest batch: the hub acks a whole batch only after its commit
max_inflight_messages {inflight}
max_inflight_bytes 0
max_packet_size {max_packet}

pid_file {pid}
log_dest file {log}
log_type error
log_type warning
log_type notice
connection_messages true
{tls}"""

_TLS_LISTENER = """
# TLS for devices (edge-hub mosquitto-config --tls): the server certificate is signed by the
# hub's own CA; devices verify the broker with {ca_der} (DER) or {ca} (PEM),
# named by "broker_ca" in their device.json. Same logins and ACL as the plain listener, and
# the same client id = login name.
listener {port} {bind}
protocol mqtt
use_username_as_clientid true
cafile {ca}
certfile {cert}
keyfile {key}
tls_version tlsv1.2
"""

_HUB_LISTENER = """
# the hub's own connection, loopback only: it keeps its fixed client id and persistent session
# here (use_username_as_clientid is not set on this listener)
listener {port} 127.0.0.1
protocol mqtt
"""

_ACL = """\
# ACL for the Otklik hub of site "{site}", written by `edge-hub mosquitto-config`.
# The hub reads and writes the whole site.
user {hub}
topic readwrite otk/v1/{site}/#

# Every device (username = device id) writes its own event and status, and reads its own
# ack, config and cmd; nothing else.
pattern write otk/v1/{site}/%u/event
pattern write otk/v1/{site}/%u/status
pattern read otk/v1/{site}/%u/ack
pattern read otk/v1/{site}/%u/config
pattern read otk/v1/{site}/%u/cmd
"""


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where one hub's broker keeps its files."""

    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def acl(self) -> Path:
        return self.directory / "acl"

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    @property
    def hub_secret(self) -> Path:
        return self.directory / "hub.secret"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    @property
    def pid(self) -> Path:
        return self.directory / "mosquitto.pid"

    @property
    def tls(self) -> Path:
        return self.directory / "tls"

    @property
    def ca_cert(self) -> Path:
        """The hub's CA certificate, PEM (Mosquitto's cafile)."""
        return self.tls / "ca.crt"

    @property
    def ca_der(self) -> Path:
        """The same CA certificate, DER: the file to copy to the devices (smallest to parse)."""
        return self.tls / "ca.der"

    @property
    def ca_key(self) -> Path:
        return self.tls / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.tls / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.tls / "server.key"

    def reload(self) -> bool:
        """Make a running Mosquitto re-read passwords and ACL (SIGHUP); False if none runs."""
        try:
            os.kill(int(self.pid.read_text().strip()), signal.SIGHUP)
        except (OSError, ValueError):
            return False
        return True

    def hub_password(self) -> str:
        """The hub's own broker password, created on first use (file mode 0600)."""
        if self.hub_secret.exists():
            return self.hub_secret.read_text().strip()
        password = secrets.token_urlsafe(18)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.hub_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        return password


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the hub's spawning thread dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM a child and wait for it; SIGKILL it when it takes longer than ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (Debian puts it in /usr/sbin), or None."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None
    )


def _mosquitto_passwd() -> str:
    found = shutil.which("mosquitto_passwd") or (
        "/usr/bin/mosquitto_passwd" if os.access("/usr/bin/mosquitto_passwd", os.X_OK) else None
    )
    if found is None:
        raise BrokerError("mosquitto_passwd not found: install the mosquitto package")
    return found


def set_password(files: BrokerFiles, username: str, password: str | None = None) -> str:
    """Add or replace one user in the password file; return the (possibly new) password."""
    password = password or secrets.token_urlsafe(12)
    files.directory.mkdir(parents=True, exist_ok=True)
    files.passwd.touch(mode=0o600, exist_ok=True)
    result = subprocess.run(
        [_mosquitto_passwd(), "-b", str(files.passwd), username, password],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"mosquitto_passwd failed for {username!r}: {result.stderr.strip()}")
    return password


def remove_password(files: BrokerFiles, username: str) -> bool:
    """Delete one user from the password file; False when it was not there."""
    if not files.passwd.exists() or not any(
        line.split(":", 1)[0] == username for line in files.passwd.read_text().splitlines()
    ):
        return False
    result = subprocess.run(
        [_mosquitto_passwd(), "-D", str(files.passwd), username], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BrokerError(f"mosquitto_passwd failed for {username!r}: {result.stderr.strip()}")
    return True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def default_tls_hosts(bind: str = "0.0.0.0") -> list[str]:
    """The names and addresses devices may use for this machine: localhost, the host name (and
    NAME.local), the fully qualified name, the address of the default route, the bind address."""
    hosts = ["localhost", "127.0.0.1"]
    name = socket.gethostname()
    if name:
        hosts.append(name)
        if "." not in name:
            hosts.append(name + ".local")
    fqdn = socket.getfqdn()
    if fqdn and fqdn != "localhost" and not fqdn.startswith("localhost."):
        hosts.append(fqdn)
    try:  # the address of the default route (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            hosts.append(probe.getsockname()[0])
    except OSError:
        pass
    if bind not in ("", "0.0.0.0", "::"):
        hosts.append(bind)
    return list(dict.fromkeys(h for h in hosts if h))


def _san(host: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host.lower())


def _key_usage(*allowed: str):
    from cryptography import x509

    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{flag: flag in allowed for flag in flags})


def ensure_tls(files: BrokerFiles, hosts: Iterable[str], *, site: str = "office-1") -> bool:
    """Make the hub's CA (once; an existing one is kept) and a server certificate for ``hosts``.

    The server certificate is remade when missing, not signed by this CA, for other names, or
    ending within a year; the devices trust the CA, so that needs nothing on them. ECDSA P-256
    keys (small certificates and handshakes; mbedTLS on every MicroPython port has them).
    Returns True when a new server certificate was written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    wanted = list(dict.fromkeys(hosts))
    if not wanted:
        raise BrokerError("a TLS certificate needs at least one host name or address")
    now = dt.datetime.now(dt.UTC)
    pem = serialization.Encoding.PEM
    if files.ca_cert.exists():
        if not files.ca_key.exists():  # a new CA would lock out every provisioned device
            raise BrokerError(
                f"the hub's CA key {files.ca_key} is missing: restore it, or delete {files.ca_cert} "
                "to make a new CA (every device then needs the new ca.der)"
            )
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Otklik"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Otklik hub CA {site} {secrets.token_hex(4)}"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(CERT_NOT_BEFORE)
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key_pem = ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        _write_private(files.ca_key, key_pem)
        files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
        files.server_cert.unlink(missing_ok=True)  # signed by a CA that is gone
    files.ca_der.write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))
    san = [_san(h) for h in wanted]
    if _server_cert_ok(files, ca_cert, san, now):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = next((h for h in wanted if h not in ("localhost", "127.0.0.1")), wanted[0])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(CERT_NOT_BEFORE)
        .not_valid_after(min(now + dt.timedelta(days=365 * SERVER_YEARS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(files.server_key, key_pem)
    files.server_cert.write_bytes(cert.public_bytes(pem))
    return True


def _server_cert_ok(files: BrokerFiles, ca_cert, san: list, now: dt.datetime) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        key = serialization.load_pem_private_key(files.server_key.read_bytes(), None)
        cert.verify_directly_issued_by(ca_cert)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, x509.InvalidSignature):
        return False
    return (
        set(names) == set(san)
        and cert.public_key() == key.public_key()
        and cert.not_valid_after_utc - now > dt.timedelta(days=365)
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_mosquitto_config(
    directory: str | Path,
    *,
    site: str,
    port: int = 1883,
    bind: str = "127.0.0.1",
    inflight: int = 2000,
    expiry_days: int = 7,
    devices: dict[str, str | None] | None = None,
    tls_port: int | None = None,
    tls_bind: str | None = None,
    tls_hosts: Iterable[str] = (),
    hub_port: int | None = None,
) -> tuple[BrokerFiles, dict[str, str]]:
    """Write mosquitto.conf, acl and passwd under ``directory``.

    ``devices`` maps device ids to passwords (None = generate one). Returns the files and
    the passwords that were set, the hub's included under :data:`HUB_USER`. With ``tls_port``
    a TLS listener on ``tls_bind`` (default ``bind``) is added, with a certificate for
    :func:`default_tls_hosts` plus ``tls_hosts`` (see :func:`ensure_tls`; the CA is
    ``files.ca_der`` / ``files.ca_cert``).

    The device listeners force client id = login name (``use_username_as_clientid``). With
    ``hub_port`` the hub gets its own listener on 127.0.0.1 without that, where it keeps its
    configured client id; without it, the hub connecting to the device listener gets the client
    id ``_hub`` (its login name) - still its own, but then no other client may use the hub's
    login at the same time.
    """
    files = BrokerFiles(Path(directory).resolve())
    files.data.mkdir(parents=True, exist_ok=True)
    tls = ""
    if tls_port is not None:
        tls_bind = tls_bind or bind
        ensure_tls(files, [*default_tls_hosts(tls_bind), *tls_hosts], site=site)
        tls = _TLS_LISTENER.format(
            port=tls_port,
            bind=tls_bind,
            ca=files.ca_cert,
            ca_der=files.ca_der,
            cert=files.server_cert,
            key=files.server_key,
        )
    files.conf.write_text(
        _CONF.format(
            site=site,
            port=port,
            bind=bind,
            user=getpass.getuser(),
            passwd=files.passwd,
            acl=files.acl,
            data=files.data,
            queued_bytes=QUEUED_BYTES,
            expiry_days=expiry_days,
            inflight=inflight,
            max_packet=MAX_PACKET,
            log=files.log,
            pid=files.pid,
            tls=tls,
            hub_listener=_HUB_LISTENER.format(port=hub_port) if hub_port is not None else "",
        )
    )
    files.acl.write_text(_ACL.format(site=site, hub=HUB_USER))
    passwords = {HUB_USER: set_password(files, HUB_USER, files.hub_password())}
    for device, password in (devices or {}).items():
        passwords[device] = set_password(files, device, password)
    return files, passwords


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"broker exited with code {proc.returncode} during start-up")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"broker did not open {host}:{port} within {timeout:.0f} s")


class EmbeddedBroker:
    """A private broker child process, supervised: restarted with backoff if it dies."""

    def __init__(
        self,
        directory: str | Path,
        *,
        site: str,
        kind: str = "auto",
        bind: str = "127.0.0.1",
        port: int = 0,
        inflight: int = 2000,
        expiry_days: int = 7,
        tls_port: int | None = None,
        tls_hosts: Iterable[str] = (),
    ) -> None:
        """``tls_port``: also listen with TLS there (0 = a free port, None = no TLS), with a
        certificate from the hub's CA for this machine's names and addresses plus ``tls_hosts``;
        devices verify it with ``files.ca_der`` (Mosquitto only)."""
        self.files = BrokerFiles(Path(directory).resolve())
        self.site = site
        self.bind = bind
        self.port = port or free_port(bind)
        self.inflight = inflight
        self.expiry_days = expiry_days
        binary = find_mosquitto()
        if kind == "mosquitto" and binary is None:
            raise BrokerError("no mosquitto binary found (apt-get install mosquitto)")
        self.kind = "mosquitto" if binary and kind != "amqtt" else "amqtt"
        self._binary = binary
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0
        self.hub_password: str | None = None
        self.tls_port = (tls_port or free_port(bind)) if tls_port is not None else None
        self.tls_hosts = tuple(tls_hosts)
        # the hub's own loopback listener (Mosquitto): there its client id is not replaced by
        # its login name; devices use ``port`` / ``tls_port``, where it is
        self.hub_port = free_port("127.0.0.1") if self.kind == "mosquitto" else self.port

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind

    @property
    def hub_host(self) -> str:
        """Where the hub itself connects: its own loopback listener (Mosquitto), else ``host``."""
        return "127.0.0.1" if self.kind == "mosquitto" else self.host

    @property
    def lossless(self) -> bool:
        return self.kind == "mosquitto"

    def add_device(self, device: str, password: str | None = None) -> str:
        """Give a device credentials; a running Mosquitto reloads them at once."""
        if self.kind != "mosquitto":
            return password or ""
        password = set_password(self.files, device, password)
        self.files.reload()
        return password

    def start(self) -> None:
        if self.kind == "mosquitto":
            _, passwords = write_mosquitto_config(
                self.files.directory,
                site=self.site,
                port=self.port,
                bind=self.bind,
                inflight=self.inflight,
                expiry_days=self.expiry_days,
                tls_port=self.tls_port,
                tls_hosts=self.tls_hosts,
                hub_port=self.hub_port,
            )
            self.hub_password = passwords[HUB_USER]
            if self.tls_port is not None:
                _LOGGER.info(
                    "TLS listener on %s:%d; devices verify it with the CA file %s",
                    self.bind, self.tls_port, self.files.ca_der,
                )  # fmt: skip
        else:
            if self.bind not in ("127.0.0.1", "localhost", "::1"):
                # amqtt here has no logins: on a LAN address anyone could publish as any device
                _LOGGER.warning(
                    "the amqtt fallback accepts anonymous clients, so it listens on 127.0.0.1 only, "
                    "not %s: devices on the LAN need Mosquitto / резервный брокер amqtt без паролей "
                    "слушает только 127.0.0.1; для устройств в сети установите Mosquitto",
                    self.bind,
                )
                self.bind = "127.0.0.1"
            self.hub_port = self.port  # one listener: amqtt has no logins, so nothing to force
            _LOGGER.warning(
                "No Mosquitto binary found: falling back to the pure-Python amqtt broker. It is NOT "
                "lossless (sessions are not persisted, messages in flight at a crash are not resent) "
                "and has no per-device credentials; only the devices' outbox keeps presses safe. "
                "Install Mosquitto (apt-get install mosquitto) for an office. / Mosquitto не найден: "
                "запущен резервный брокер amqtt, который может терять сообщения."
            )
            if self.tls_port is not None:
                _LOGGER.warning("the amqtt fallback has no TLS listener: devices must use the plain port")
                self.tls_port = None
            self._write_amqtt_config()
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="broker-supervisor", daemon=True)
        self._supervisor.start()

    def _write_amqtt_config(self) -> None:
        self.files.directory.mkdir(parents=True, exist_ok=True)
        (self.files.directory / "amqtt.yaml").write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: {self.bind}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            return [str(self._binary), "-c", str(self.files.conf)]
        return [
            sys.executable,
            "-m",
            "amqtt.scripts.broker_script",
            "-c",
            str(self.files.directory / "amqtt.yaml"),
        ]

    def _spawn(self) -> None:
        log = open(self.files.directory / f"{self.kind}.stderr.log", "ab")  # noqa: SIM115
        # Own session: a Ctrl-C in the terminal reaches the hub, which stops the broker in order.
        # Parent-death signal: if the hub is killed outright, the broker goes too.
        self._proc = subprocess.Popen(
            self._command(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        try:
            wait_for_port(self.host, self.port, START_TIMEOUT_S, self._proc)
            if self.hub_port != self.port:
                wait_for_port(self.hub_host, self.hub_port, START_TIMEOUT_S, self._proc)
        except BrokerError as exc:
            raise BrokerError(f"{exc}; see {self.files.directory}") from None
        _LOGGER.info("%s broker running on %s:%d (pid %d)", self.kind, self.bind, self.port, self._proc.pid)

    def _supervise(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None or proc.poll() is None:
                self._stopping.wait(0.5)
                continue
            _LOGGER.error("%s broker exited with code %s; restarting", self.kind, proc.returncode)
            self._stopping.wait(RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)])
            if self._stopping.is_set():
                return
            try:
                self._spawn()
                self.restarts += 1
                attempt = 0
            except (BrokerError, OSError) as exc:
                attempt += 1
                _LOGGER.error("broker restart failed: %s", exc)

    def stop(self) -> None:
        self._stopping.set()
        stop_process(self._proc)
        if self._supervisor is not None:
            self._supervisor.join(2)
