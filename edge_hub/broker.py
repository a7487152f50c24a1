"""The office broker: a lossless Mosquitto configuration and the hub's embedded broker.

``write_mosquitto_config`` writes mosquitto.conf, the ACL and the password file (hashed by
``mosquitto_passwd``). :class:`EmbeddedBroker` runs a private Mosquitto child on loopback and
restarts it if it dies. Where no Mosquitto binary exists it falls back to the pure-Python
amqtt broker, which is NOT lossless (anonymous sessions are not persisted, messages in flight
at a crash are not resent); there only the devices' outbox with end-to-end acks keeps presses.
"""

from __future__ import annotations

import ctypes
import getpass
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
from dataclasses import dataclass
from pathlib import Path

from edge_hub.errors import BrokerError

_LOGGER = logging.getLogger(__name__)

HUB_USER = "_hub"  # cannot clash with a device id, which never starts with "_"
START_TIMEOUT_S = 15.0
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
QUEUED_BYTES = 512 * 1024 * 1024  # per client; past it the device's outbox resends
MAX_PACKET = 256 * 1024  # larger than the hub's payload limit, so the hub can quarantine

_CONF = """\
# Mosquitto for the Otklik hub of site "{site}", written by `edge-hub mosquitto-config`.
# Lossless settings (see docs/design.md, measured facts): the default max_queued_messages 1000
# dropped half of a burst, and the default autosave_interval 1800 lost every queued message
# at a SIGKILL.
per_listener_settings false
listener {port} {bind}
protocol mqtt
set_tcp_nodelay true
user {user}

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
) -> tuple[BrokerFiles, dict[str, str]]:
    """Write mosquitto.conf, acl and passwd under ``directory``.

    ``devices`` maps device ids to passwords (None = generate one). Returns the files and
    the passwords that were set, the hub's included under :data:`HUB_USER`.
    """
    files = BrokerFiles(Path(directory).resolve())
    files.data.mkdir(parents=True, exist_ok=True)
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
    ) -> None:
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

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind

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
            )
            self.hub_password = passwords[HUB_USER]
        else:
            _LOGGER.warning(
                "No Mosquitto binary found: falling back to the pure-Python amqtt broker. It is NOT "
                "lossless (sessions are not persisted, messages in flight at a crash are not resent) "
                "and has no per-device credentials; only the devices' outbox keeps presses safe. "
                "Install Mosquitto (apt-get install mosquitto) for an office. / Mosquitto не найден: "
                "запущен резервный брокер amqtt, который может терять сообщения."
            )
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
