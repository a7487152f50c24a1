"""The office admin's local web page, served by the hub (no external asset: every one is vendored here)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
