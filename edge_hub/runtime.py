"""What the API needs to know about the running hub: where the database is, and how ingest
and the broker are doing. The API reads it; only the hub's own threads change it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_hub.broker import EmbeddedBroker
    from edge_hub.ingest import Ingestor


@dataclass
class Runtime:
    site: str
    db_path: Path
    broker_url: str
    ingestor: Ingestor | None = None
    broker: EmbeddedBroker | None = None
