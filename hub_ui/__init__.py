"""The office admin's local web page, served by the hub (no CDN: every asset is vendored here)."""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
