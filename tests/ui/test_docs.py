"""The API's /docs: Swagger UI from the vendored files, nothing from another host, open to read."""

from __future__ import annotations

import re

import httpx

from hub_ui import STATIC_DIR
from tests.ui.conftest import shot

SWAGGER = STATIC_DIR / "vendor" / "swagger-ui"
LOADS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)


def test_docs_page_refers_only_to_the_hub(site, admin):
    # open even though an account exists (the schema is no secret; the API itself is not)
    docs = httpx.get(site.url + "/docs", timeout=10)
    assert docs.status_code == 200
    html = docs.text
    assert not re.findall(r"https?://|cdn", html, re.I), "nothing from another host"
    urls = LOADS.findall(html)
    assert len(urls) == 3 and all(u.startswith("/static/vendor/swagger-ui/") for u in urls), urls
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp and "connect-src 'self'" in csp and "http" not in csp
    kinds = {}
    for url in urls:
        asset = httpx.get(site.url + url, timeout=10)
        assert asset.status_code == 200, url
        kinds[url.split("?")[0].rsplit(".", 1)[-1]] = asset.headers["content-type"]
    assert "javascript" in kinds["js"] and kinds["css"].startswith("text/css")
    schema = httpx.get(site.url + "/openapi.json", timeout=10)
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Otklik edge hub"
    assert "/api/v1/devices" in schema.json()["paths"]
    assert httpx.get(site.url + "/api/v1/devices", timeout=10).status_code == 401, "the API is not open"
    assert httpx.get(site.url + "/redoc", timeout=10).status_code == 404


def test_vendored_swagger_ui_with_its_licence():
    readme = (STATIC_DIR / "vendor" / "README.md").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert (SWAGGER / name).stat().st_size > 500 and f"swagger-ui/{name}" in readme
    assert "Apache License" in (SWAGGER / "LICENSE").read_text() and (SWAGGER / "NOTICE").exists()


def test_docs_render_offline(site, admin, page):
    foreign, console = [], []

    def local_only(route):
        if route.request.url.startswith(site.url + "/"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(site.url + "/docs")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for()
    assert "Otklik edge hub" in title.inner_text()
    page.locator(".swagger-ui .opblock").first.wait_for()
    paths = page.eval_on_selector_all(".opblock .opblock-summary-path", "els => els.map(e => e.dataset.path)")
    assert len(paths) > 10 and "/api/v1/devices" in paths
    shot(page, "api-docs")
    assert not foreign, f"/docs asked for something outside the hub: {foreign}"
    assert not console, f"errors in the console (a CSP refusal?): {console}"
