"""GET /healthz: broker connection, database writability, ingest lag and counts.

Cheap enough to be polled: the database's writability (a write transaction opened and rolled
back) and the row counts (``count(*)``) are measured at most every ``CHECK_EVERY_S`` seconds per
database and reused in between (``database.checked_at`` says when). An ingest commit error since
the last check makes the next call check again at once. The broker state and the ingest figures
are live.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from edge_hub.api.deps import RuntimeDep
from edge_hub.api.models import iso
from edge_hub.api.routes import Route
from edge_hub.db.store import Store, writable_error
from edge_hub.runtime import Runtime

router = APIRouter(tags=["health"], route_class=Route)

#: writability and counts are measured at most this often per database
CHECK_EVERY_S = 10.0


class HealthOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str = Field(description="ok, or degraded (then the answer is a 503)")
    site: str | None
    broker: dict[str, Any]
    database: dict[str, Any] = Field(
        description="writable (checked at most every 10 s), the error if not, checked_at"
    )
    counts: dict[str, int] = Field(description="Rows of events, quarantine, devices (at checked_at)")
    ingest: dict[str, Any] | None = Field(None, description="Live ingest figures, when ingest runs")


@dataclass(frozen=True)
class _Probe:
    at: float  # time.monotonic()
    at_ms: int
    db_error: str | None
    counts: dict[str, int]
    commit_errors: int


_probes: dict[str, _Probe] = {}
_lock = threading.Lock()


def _probe(runtime: Runtime) -> _Probe:
    key = str(runtime.db_path)
    commit_errors = runtime.ingestor.stats.commit_errors if runtime.ingestor is not None else 0
    with _lock:
        probe = _probes.get(key)
        if (
            probe is not None
            and time.monotonic() - probe.at < CHECK_EVERY_S
            and probe.commit_errors == commit_errors
        ):
            return probe
        db_error = writable_error(runtime.db_path)
        try:
            store = Store.reader(runtime.db_path)
            try:
                counts = store.counts()
            finally:
                store.close()
        except Exception as exc:  # an unreadable database is what health reports
            counts = {}
            db_error = db_error or str(exc)
        probe = _Probe(time.monotonic(), time.time_ns() // 1_000_000, db_error, counts, commit_errors)
        _probes[key] = probe
        return probe


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Degraded: the broker or the database is not ok"}},
)
def healthz(runtime: RuntimeDep, response: Response) -> dict:
    """200 when the broker is connected and the database writable, else 503."""
    probe = _probe(runtime)
    ingestor, broker = runtime.ingestor, runtime.broker
    connected = bool(ingestor and ingestor.conn.connected)
    body = {
        "status": "ok" if connected and probe.db_error is None else "degraded",
        "site": runtime.site,
        "broker": {
            "url": runtime.broker_url,
            "connected": connected,
            "embedded": broker.kind if broker else None,
            "lossless": broker.lossless if broker else None,
            "restarts": broker.restarts if broker else 0,
        },
        "database": {
            "path": str(runtime.db_path),
            "writable": probe.db_error is None,
            "error": probe.db_error,
            "checked_at": iso(probe.at_ms),
        },
        "counts": probe.counts,
    }
    if ingestor is not None:
        stats = ingestor.stats
        body["ingest"] = {
            "lag_ms": ingestor.lag_ms,
            "last_commit_at": iso(stats.last_commit_at),
            "last_batch_latency_ms": stats.last_batch_latency_ms,
            "received": stats.received,
            "stored": stats.stored,
            "duplicates": stats.duplicates,
            "identity_conflicts": stats.identity_conflicts,
            "quarantined": stats.quarantined,
            "statuses": stats.statuses,
            "commit_errors": stats.commit_errors,
            "acks_outstanding": ingestor.conn.outstanding,
            "acks_backlog": ingestor.conn.backlog,
        }
    if body["status"] != "ok":
        response.status_code = 503
    return body
