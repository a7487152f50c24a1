"""No browser needed: vendored assets, no external URL, the message catalogue, the nav's routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_hub.api import auth
from edge_hub.metrics.aggregates import FLAGS
from edge_hub.office.settings import WEEKDAYS
from hub_ui import STATIC_DIR, TEMPLATES_DIR, i18n, numbers
from hub_ui.core import NAV
from hub_ui.pages import MODULES

HUB_UI = TEMPLATES_DIR.parent
VENDOR = STATIC_DIR / "vendor"
SOURCES = [*TEMPLATES_DIR.glob("*.html"), STATIC_DIR / "app.js", STATIC_DIR / "app.css"]
#: an attribute or CSS url() that loads from another host: http://, https:// or protocol-relative //
EXTERNAL = re.compile(
    r"""(?:src|href|action|srcset|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.I
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_external_url_in_templates_and_assets(path: Path):
    text = path.read_text()
    assert not EXTERNAL.findall(text), f"{path.name} loads something from outside the hub"
    assert "cdn" not in text.lower()


def test_vendored_assets_are_here_with_their_licences():
    readme = (VENDOR / "README.md").read_text()
    used = set()
    for template in TEMPLATES_DIR.glob("*.html"):
        used.update(re.findall(r"static\('vendor/([^']+)'\)", template.read_text()))
    assert used == {"htmx-2.0.11.min.js", "uPlot-1.6.32.iife.min.js", "uPlot-1.6.32.min.css"}
    for name in used:
        assert (VENDOR / name).stat().st_size > 1000 and name in readme
    for licence in ("htmx.LICENSE", "uPlot.LICENSE"):
        assert (VENDOR / licence).stat().st_size > 100 and licence in readme


def _keys_in_sources() -> set[str]:
    keys = set()
    for path in [*TEMPLATES_DIR.glob("*.html"), *HUB_UI.rglob("*.py")]:
        text = path.read_text()
        keys.update(re.findall(r"""\bt\(\s*["']([a-z_.%]+)["']""", text))
        keys.update(re.findall(r"""ui\.t\(\s*f?["']([a-z_.%]+)["']""", text))
        keys.update(re.findall(r"""nav\([^,]+,\s*["']([a-z_.]+)["']""", text))
        if (
            path.suffix == ".py"
        ):  # page titles, error keys: page(ui, "x.html", "users.title"), UiError(403, "err.x")
            keys.update(
                re.findall(r"""["']((?:err|login|setup|dash|board|users|audit)\.[a-z_]+)["']""", text)
            )
    return keys


def _actions() -> set[str]:
    """The action codes the pages write to the audit log: audit(..., "code") and ui.audit("code")."""
    actions = set()
    for path in HUB_UI.rglob("*.py"):
        actions.update(re.findall(r"""audit\((?:[^,()]+,\s*){0,2}["']([a-z_.]+)["']""", path.read_text()))
    return actions


def test_every_message_key_used_exists_in_both_languages():
    # not a prefix ("role." ~ role), a template name, or an audit action code (checked below)
    used = {k for k in _keys_in_sources() if "." in k and not k.endswith((".", ".html"))} - _actions()
    assert len(used) > 60
    missing = sorted(k for k in used if k not in i18n.MESSAGES)
    assert not missing, f"message keys used but not in the catalogue: {missing}"
    dynamic = (
        [f"role.{r}" for r in auth.ROLES] + [f"period.{p}" for p in numbers.PERIODS]
        + [f"metric.{m}" for m, _ in numbers.CARD_METRICS] + [f"weekday.{d}" for d in WEEKDAYS]
        + [f"flag.{f}" for f in FLAGS] + list(i18n.REASON_KEYS.values())
        + [f"unit.{u}" for _, u in numbers.CARD_METRICS]
        + [f"board.league.{b}" for b in ("operator", "window")]
    )  # fmt: skip
    assert not [k for k in dynamic if k not in i18n.MESSAGES]
    for key, (ru, en) in i18n.MESSAGES.items():
        assert (ru and en) or key.startswith("unit."), key
    actions = _actions()
    assert {"setup", "login", "user.create", "login.blocked"} <= actions
    assert not [a for a in actions if f"action.{a}" not in i18n.MESSAGES]


def test_message_format_and_numbers():
    assert i18n.t("setup.intro", "en").endswith(f"at least {auth.MIN_PASSWORD} characters.")
    assert i18n.pick("en", "ru") == "en" and i18n.pick("xx", "en") == "en" and i18n.pick(None, None) == "ru"
    assert i18n.number(73.333, "ru") == "73,3" and i18n.number(73.333, "en") == "73.3"
    assert i18n.number(-15.04, "en", sign=True) == "−15.0" and i18n.number(15, "ru", sign=True) == "+15,0"
    assert i18n.number(-0.01, "en", sign=True) == "0.0" and i18n.number(None, "ru") == "—"


def test_every_nav_entry_has_a_page():
    routes = [route for module in MODULES for route in module.router.routes]
    paths = {route.path for route in routes if "GET" in getattr(route, "methods", ())}
    assert {item.path for item in NAV} <= paths
    assert [item.path for item in NAV][:2] == ["/", "/board"]
    admin_only = {item.path for item in NAV if item.roles == auth.ADMINS}
    assert {"/users", "/audit"} <= admin_only
