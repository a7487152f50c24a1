"""The hub's settings: defaults, then a TOML file, then OTK_* environment variables, then CLI flags.

Every field can be set in all three places: ``--batch-size 500``, ``OTK_BATCH_SIZE=500`` or
``batch_size = 500`` in the TOML file named by ``--config`` / ``OTK_CONFIG``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from edge_hub.errors import ConfigError

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class Settings(BaseSettings):
    """All settings of one hub (one office)."""

    model_config = SettingsConfigDict(env_prefix="OTK_", extra="forbid")

    site: str = Field("office-1", pattern=ID_PATTERN, description="Site (office) id used in topics")
    data_dir: Path = Field(Path("otklik-data"), description="Folder for the database and the broker's files")
    db: Path | None = Field(None, description="SQLite database file (default DATA_DIR/hub.db)")
    mqtt_url: str | None = Field(
        None, description="External broker, mqtt://[user:pass@]host:port; unset = embedded broker"
    )
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    client_id: str | None = Field(None, description="MQTT client id (default otklik-hub-SITE); keep it fixed")
    broker: str = Field("auto", pattern="^(auto|mosquitto|amqtt)$", description="Embedded broker kind")
    broker_bind: str = Field("127.0.0.1", description="Address the embedded broker listens on")
    broker_port: int = Field(0, ge=0, le=65535, description="Embedded broker port (0 = any free port)")
    broker_tls_port: int | None = Field(
        None, ge=0, le=65535,
        description="Embedded broker: also a TLS listener on this port (8883 usually; 0 = any free port), "
        "with a CA and server certificate made in the data folder (devices name the CA as broker_ca)",
    )  # fmt: skip
    listen: str = Field("127.0.0.1:8080", description="HOST:PORT of the web page and API")
    batch_size: int = Field(500, ge=1, le=10000, description="Commit after this many messages ...")
    batch_ms: int = Field(50, ge=1, le=3_600_000, description="... or T ms after the first")
    max_payload: int = Field(4096, ge=256, le=1_048_576, description="Quarantine larger payloads")
    max_outstanding: int = Field(
        1000, ge=1, le=60000, description="QoS 1 acks the hub keeps in flight (paho refuses past 65,535)"
    )
    broker_inflight: int = Field(
        2000, ge=0, description="Broker max_inflight_messages (>= batch_size, 0 = no limit)"
    )
    session_expiry_days: int = Field(7, ge=1, description="Broker drops sessions unused this long")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    sync_push_url: str | None = Field(
        None, description="Push the aggregates to this URL as they change (unset: the central server pulls)"
    )
    sync_push_token: SecretStr | None = Field(None, description="Bearer token for sync_push_url")
    sync_push_interval_s: float = Field(30, gt=0, description="How often to push new changes")

    @model_validator(mode="after")
    def _push_needs_token(self) -> Settings:
        if self.sync_push_url and self.sync_push_token is None:
            raise ValueError("sync_push_url needs sync_push_token")
        return self

    @field_validator("mqtt_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError("expected mqtt://HOST:PORT")
        return value

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.data_dir / "hub.db"

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"otklik-hub-{self.site}"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host or "127.0.0.1", int(port)


def _read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return data.get("hub", data)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from all sources; ``overrides`` (CLI flags) win, None values are ignored.

    The TOML file is ``config_file``, else the one named by ``OTK_CONFIG``; its keys may sit
    at the top level or under ``[hub]``.
    """
    path = config_file or os.environ.get("OTK_CONFIG")
    file_values = _read_toml(path) if path else {}

    class _Sources(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_values))

    try:
        return _Sources(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
