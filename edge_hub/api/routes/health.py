"""GET /healthz: broker connection, database writability, ingest lag and counts."""

from __future__ import annotations

from fastapi import APIRouter, Response

from edge_hub.api.deps import RuntimeDep, StoreDep
from edge_hub.api.models import iso
from edge_hub.store import writable_error

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep, store: StoreDep, response: Response) -> dict:
    """200 when the broker is connected and the database writable, else 503."""
    db_error = writable_error(runtime.db_path)
    ingestor, broker = runtime.ingestor, runtime.broker
    connected = bool(ingestor and ingestor.conn.connected)
    body = {
        "status": "ok" if connected and db_error is None else "degraded",
        "site": runtime.site,
        "broker": {
            "url": runtime.broker_url,
            "connected": connected,
            "embedded": broker.kind if broker else None,
            "lossless": broker.lossless if broker else None,
            "restarts": broker.restarts if broker else 0,
        },
        "database": {"path": str(runtime.db_path), "writable": db_error is None, "error": db_error},
        "counts": store.counts(),
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
