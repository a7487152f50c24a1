"""Otklik edge hub: MQTT ingest into SQLite, metrics, the office web page and the sync API."""

__version__ = "0.1.0"
