"""Shared fixtures: a real Mosquitto per test, an in-process hub, and a guard that fails any test
in which the hub logs an exception (as Home Assistant's suite does)."""

from __future__ import annotations

import pytest

from edge_hub.app import Hub
from edge_hub.config import load_settings
from tests.helpers import SITE, Broker, HubProcess, free_port, wait_until


@pytest.fixture(autouse=True)
def fail_on_logged_exception(caplog, request):
    """A traceback logged by the hub's own code fails the test, unless marked allow_logged_exceptions."""
    yield
    if request.node.get_closest_marker("allow_logged_exceptions"):
        return
    bad = [r for r in caplog.get_records("call") if r.exc_info and r.name.startswith("edge_hub")]
    assert not bad, f"the hub logged an exception: {bad[0].getMessage()}"


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_logged_exceptions: the test provokes logged exceptions")


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def make_hub(tmp_path, broker):
    """Start an in-process hub against the test broker; settings can be overridden."""
    hubs: list[Hub] = []

    def make(**overrides) -> Hub:
        user, password = broker.hub_creds
        settings = load_settings(
            **{
                "site": SITE,
                "mqtt_url": broker.hub_url,  # the hub's own listener
                "mqtt_username": user,
                "mqtt_password": password,
                "data_dir": tmp_path / "hub",
                "listen": f"127.0.0.1:{free_port()}",
                "batch_ms": 20,
                **overrides,
            }
        )
        hub = Hub(settings)
        hub.start()
        hubs.append(hub)
        wait_until(hub.wait_connected, 15, "the hub to connect")
        return hub

    yield make
    for hub in hubs:
        hub.stop()


@pytest.fixture
def hub(make_hub):
    return make_hub()


@pytest.fixture
def hub_process(tmp_path, broker):
    """Start ``edge-hub run`` child processes; all are stopped at teardown, even after a failure."""
    procs: list[HubProcess] = []

    def make(**kwargs) -> HubProcess:
        proc = HubProcess(broker, tmp_path / f"hub{len(procs)}", **kwargs)
        procs.append(proc)
        return proc.start()

    yield make
    for proc in procs:
        proc.stop()
