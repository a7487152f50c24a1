"""One office hub in one process: broker (embedded or external), ingest thread, web server.

The one place that joins the hub's parts: the runtime (broker, ingest, alerts, push) and, in
:func:`create_app`, the JSON API (:mod:`edge_hub.api`) with the office page (:mod:`hub_ui`) on
one server. Nothing else in ``edge_hub`` imports ``hub_ui`` (tests/test_layers.py holds it).
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from edge_hub.alerts.engine import AlertEngine
from edge_hub.api.main import create_api
from edge_hub.config import Settings
from edge_hub.db.store import Store
from edge_hub.errors import ConfigError
from edge_hub.ingest import webkiosk
from edge_hub.ingest.batch import IngestStats
from edge_hub.ingest.contract import Contract
from edge_hub.ingest.ingestor import Ingestor
from edge_hub.office import privacy
from edge_hub.office import settings as office_settings
from edge_hub.office import survey as office_survey
from edge_hub.runtime import Runtime
from edge_hub.sync.push import Pusher
from edge_hub.transport.broker import HUB_USER, EmbeddedBroker
from edge_hub.transport.mqtt import BrokerAddress
from hub_ui import web

_LOGGER = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    """The hub's web app: the JSON API under /api/v1 and /healthz, the office page at /."""
    app = create_api(runtime)
    web.install(app)
    return app


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


INGEST_RESTART_S = 1.0


class Hub:
    """Start with :meth:`start`, then :meth:`serve` (blocks until Ctrl-C / SIGTERM) or :meth:`stop`."""

    #: how often the housekeeping round runs (seconds): a first config for terminals seen since
    #: the survey was set, and the visitors' phone numbers past their keeping time forgotten
    config_round_s = 30.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self.ingestor: Ingestor | None = None
        self._thread: threading.Thread | None = None
        self.alerts: AlertEngine | None = None
        self.pusher: Pusher | None = None
        self._configs: threading.Thread | None = None
        self._stopping = threading.Event()
        self._kiosk_stats = IngestStats()  # the web kiosks' offline statuses stored by housekeeping
        self.runtime: Runtime | None = None
        #: Called first by stop(), e.g. to stop simulated devices while the broker still runs.
        self.before_stop: list[Callable[[], None]] = []

    def start(self) -> None:
        s = self.settings
        host, port = s.listen_host_port
        if not port_free(host, port):
            raise ConfigError(
                f"cannot listen on {host}:{port}: the port is in use (choose another with --listen) / "
                "порт занят, укажите другой через --listen"
            )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if s.mqtt_url is None:
            self.broker = EmbeddedBroker(
                s.data_dir / "broker",
                site=s.site,
                kind=s.broker,
                bind=s.broker_bind,
                port=s.broker_port,
                tls_port=s.broker_tls_port,
                inflight=max(s.broker_inflight, s.batch_size) if s.broker_inflight else 0,
                expiry_days=s.session_expiry_days,
            )
            self.broker.start()
            lossless = self.broker.lossless
            address = BrokerAddress(  # the hub's own loopback listener (keeps its client id)
                self.broker.hub_host,
                self.broker.hub_port,
                HUB_USER if lossless else None,
                self.broker.hub_password if lossless else None,
            )
        else:
            address = BrokerAddress.from_url(s.mqtt_url, s.mqtt_username, s.mqtt_password)
        store = Store.open(s.db_path)
        self.ingestor = Ingestor(
            store,
            Contract(max_payload=s.max_payload, site=s.site),
            address,
            site=s.site,
            client_id=s.mqtt_client_id,
            batch_size=s.batch_size,
            batch_ms=s.batch_ms,
            max_outstanding=s.max_outstanding,
        )
        self.runtime = Runtime(s.site, s.db_path, str(address), self.ingestor, self.broker)
        # Start-up leaves tens of thousands of long-lived objects (FastAPI, pydantic); keep the
        # garbage collector from walking them again and again during ingest.
        gc.collect()
        gc.freeze()
        self._thread = threading.Thread(target=self._run_ingest, name="ingest", daemon=True)
        self._thread.start()
        self.alerts = AlertEngine(s.db_path)
        self.alerts.start()
        self._configs = threading.Thread(target=self._housekeeping, name="housekeeping", daemon=True)
        self._configs.start()
        if s.sync_push_url and s.sync_push_token is not None:
            token = s.sync_push_token.get_secret_value()
            interval = s.sync_push_interval_s
            self.pusher = Pusher(s.db_path, s.sync_push_url, token, site=s.site, interval_s=interval)
            self.pusher.start()

    def _run_ingest(self) -> None:
        assert self.ingestor is not None
        while not self._stopping.is_set():
            try:
                self.ingestor.run()
                return
            except Exception:  # never let ingest die silently: log and go on
                _LOGGER.exception("ingest loop crashed; restarting in %.0f s", INGEST_RESTART_S)
                time.sleep(INGEST_RESTART_S)

    def _housekeeping(self) -> None:
        """Every :attr:`config_round_s`: the feedback terminals' configs (edge_hub/office/survey.py:
        every stored one once at start, as retained messages are the broker's and a broker can
        lose them; then a first config for each terminal seen since the survey was set), the
        visitors' callback phone numbers past their keeping time deleted
        (edge_hub/office/privacy.py), and web kiosks silent for 3 minutes marked offline
        (edge_hub/ingest/webkiosk.py)."""
        first = True
        while not self._stopping.wait(0 if first else self.config_round_s):
            try:
                store = Store.writer(self.settings.db_path)
                try:
                    payloads = office_survey.configs(store.conn) if first else []
                    for device in office_survey.terminals(store.conn):
                        payload = office_survey.ensure_config(store.conn, device)
                        if payload is not None:
                            payloads.append(payload)
                    keep_days = office_settings.load(store.conn).phone_keep_days
                    privacy.forget_phones(store.conn, time.time_ns() // 1_000_000, keep_days)
                    if self.ingestor is not None:  # web kiosks without a heartbeat: their last will
                        contract, site = self.ingestor.contract, self.settings.site
                        webkiosk.expire(store.conn, contract, site, self._kiosk_stats)
                finally:
                    store.close()
                assert self.runtime is not None
                for payload in payloads:
                    self.runtime.publish_config(payload)
                first = False
            except Exception:  # the next round tries again
                _LOGGER.exception("the housekeeping round failed")

    def wait_connected(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ingestor is not None and self.ingestor.conn.connected:
                return True
            time.sleep(0.05)
        return False

    def serve(self) -> None:
        """Serve the API and page until interrupted, then stop everything."""
        assert self.runtime is not None
        host, port = self.settings.listen_host_port
        # uvicorn re-raises SIGTERM after its graceful shutdown; with the default action that
        # would kill the process before the broker and ingest are stopped below.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:  # a Ctrl-C while the app is still being built stops everything in order too
            config = uvicorn.Config(
                create_app(self.runtime), host=host, port=port, log_level="warning", access_log=False,
                proxy_headers=False,  # X-Forwarded-For only from OTK_TRUSTED_PROXIES (hub_ui.core.client_ip)
            )
            uvicorn.Server(config).run()
        finally:
            self.stop()

    def stop(self) -> None:
        for callback in self.before_stop:
            callback()
        self.before_stop.clear()
        self._stopping.set()
        if self._configs is not None:
            self._configs.join(5)
        if self.alerts is not None:
            self.alerts.stop()
        if self.pusher is not None:
            self.pusher.stop()
        if self.ingestor is not None:
            self.ingestor.stop()
        if self._thread is not None:
            self._thread.join(15)
        if self.ingestor is not None:
            self.ingestor.store.close()
        if self.broker is not None:
            self.broker.stop()
