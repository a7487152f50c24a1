"""The hub's HTTP API (FastAPI): /api/v1 resources, /healthz, and the office page at /."""
