"""The hub's named exceptions; translated to HTTP errors or CLI exit codes only at the edges."""

from __future__ import annotations


class OtklikError(Exception):
    """Base of every error the hub raises on purpose."""


class ContractError(OtklikError):
    """A message broke the MQTT contract; ``reason`` is a short code stored in quarantine."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConfigError(OtklikError):
    """The hub's settings are invalid or incomplete."""


class BrokerError(OtklikError):
    """The embedded MQTT broker could not be started or configured."""


class SyncError(OtklikError):
    """A sync request or token operation was refused, or the other side answered wrongly."""
