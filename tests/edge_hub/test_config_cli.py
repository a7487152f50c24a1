"""Settings precedence (CLI > env > TOML > defaults), clear errors, and the CLI commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_hub.cli import cli
from edge_hub.config import load_settings
from edge_hub.errors import ConfigError
from edge_hub.transport.broker import find_mosquitto
from tests.helpers import DeviceClient, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def test_settings_precedence(tmp_path, monkeypatch):
    toml = tmp_path / "hub.toml"
    toml.write_text('[hub]\nsite = "branch-7"\nbatch_size = 100\nbatch_ms = 30\nlisten = "0.0.0.0:9000"\n')
    monkeypatch.setenv("OTK_BATCH_MS", "20")
    settings = load_settings(toml, batch_size=7, db=None)
    assert (settings.site, settings.batch_size, settings.batch_ms) == ("branch-7", 7, 20)
    assert settings.listen_host_port == ("0.0.0.0", 9000)
    assert settings.db_path == Path("otklik-data/hub.db")
    assert settings.mqtt_client_id == "otklik-hub-branch-7"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"site": "Office 1"}, "site"),
        ({"mqtt_url": "http://x"}, "mqtt_url"),
        ({"batch_size": 0}, "batch_size"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_bad_settings_give_a_clear_error(overrides, message, monkeypatch):
    monkeypatch.delenv("OTK_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_bad_toml_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("site = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_cli_run_with_bad_flag_exits_2_with_one_sentence():
    result = subprocess.run(
        [sys.executable, "-m", "edge_hub.cli", "run", "--site", "BAD SITE"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "edge-hub: invalid settings: site" in result.stderr and "Traceback" not in result.stderr


def test_mosquitto_config_is_lossless_and_enforces_credentials_and_acl(tmp_path):
    port = free_port()
    result = CliRunner().invoke(
        cli, ["mosquitto-config", "--dir", str(tmp_path), "--port", str(port), "--device", "btn-01=s3cret",
              "--device", "btn-02", "--inflight", "1000"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    conf = (tmp_path / "mosquitto.conf").read_text()
    for line in (
        "persistence true", "autosave_interval 1", "max_queued_messages 0", "persistent_client_expiration 7d",
        "max_inflight_messages 1000", "allow_anonymous false", f"listener {port} 127.0.0.1",
    ):  # fmt: skip
        assert f"\n{line}\n" in conf
    assert "pattern write otk/v1/office-1/%u/event" in (tmp_path / "acl").read_text()
    passwd = (tmp_path / "passwd").read_text()
    assert "btn-01:$7$" in passwd and "s3cret" not in passwd  # hashed
    assert "btn-01\ts3cret" in result.output and "btn-02\t" in result.output
    proc = subprocess.Popen([find_mosquitto(), "-c", str(tmp_path / "mosquitto.conf")])
    try:
        wait_for_port("127.0.0.1", port, 10, proc)

        class _Broker:
            def __init__(self):
                self.port = port

            def creds(self, user):
                return {"btn-01": ("btn-01", "s3cret"), "wrong": ("btn-01", "nope")}[user]

        DeviceClient(_Broker(), "btn-01").close()
        with pytest.raises(AssertionError, match="could not connect"):
            DeviceClient(_Broker(), "btn-01", user="wrong")
    finally:
        proc.terminate()
        proc.wait(10)


def test_mosquitto_config_rejects_a_bad_device_id(tmp_path):
    result = CliRunner().invoke(cli, ["mosquitto-config", "--dir", str(tmp_path), "--device", "Bad Id"])
    assert result.exit_code == 2 and "not a device id" in result.output


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in cli.commands:
        assert f"edge-hub {name}" in readme, f"edge-hub {name} is not documented in README.md"


def test_device_add_reaches_the_running_embedded_broker(tmp_path):
    from edge_hub.app import Hub

    settings = load_settings(data_dir=tmp_path, listen=f"127.0.0.1:{free_port()}")
    hub = Hub(settings)
    hub.start()
    try:
        assert hub.broker.kind == "mosquitto"
        result = CliRunner().invoke(cli, ["device", "add", "btn-30", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        device_id, password = result.stdout.strip().split("\t")
        assert "reloaded" in result.output

        class _Embedded:
            port = hub.broker.port

            def creds(self, user):
                return device_id, password

        DeviceClient(_Embedded(), "btn-30").close()  # connects with the printed password
        bad = CliRunner().invoke(cli, ["device", "add", "BTN 30", "--data-dir", str(tmp_path)])
        assert bad.exit_code == 2 and "not a device id" in bad.output
    finally:
        hub.stop()


def test_device_remove_ends_the_connection_and_refuses_the_next_one(tmp_path):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_hub.app import Hub
    from tests.helpers import wait_until

    settings = load_settings(data_dir=tmp_path, listen=f"127.0.0.1:{free_port()}")
    hub = Hub(settings)
    hub.start()
    try:
        added = CliRunner().invoke(cli, ["device", "add", "btn-31", "--data-dir", str(tmp_path)])
        _, password = added.stdout.strip().split("\t")
        codes = []
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="otk-btn-31", clean_session=False,
                             protocol=paho.MQTTv311)  # fmt: skip
        client.username_pw_set("btn-31", password)
        client.on_connect = lambda c, u, f, rc, p: codes.append(rc.value)
        client.reconnect_delay_set(0.2, 0.5)
        client.connect("127.0.0.1", hub.broker.port)
        client.loop_start()
        wait_until(lambda: codes == [0], 10, "the device connected")
        result = CliRunner().invoke(cli, ["device", "remove", "btn-31", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "ended its session" in result.output
        # thrown off, and every reconnect refused (5 = not authorised)
        wait_until(lambda: len(codes) >= 2 and codes[-1] != 0, 15, f"a refused reconnect: {codes}")
        assert set(codes[1:]) <= {4, 5, 134, 135}, codes
        client.loop_stop()
        again = CliRunner().invoke(cli, ["device", "remove", "btn-31", "--data-dir", str(tmp_path)])
        assert again.exit_code == 1 and "no credentials" in again.output
    finally:
        hub.stop()


def test_the_amqtt_fallback_never_listens_beyond_loopback(tmp_path, caplog):
    from edge_hub.transport.broker import EmbeddedBroker

    broker = EmbeddedBroker(tmp_path, site="office-1", kind="amqtt", bind="0.0.0.0", port=free_port())
    broker.start()
    try:
        assert "bind: 127.0.0.1:" in (tmp_path / "amqtt.yaml").read_text()
        assert "listens on 127.0.0.1 only" in caplog.text
    finally:
        broker.stop()
