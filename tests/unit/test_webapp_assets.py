"""The web app's static files: served by the gateway beside the API without disturbing it, under
a strict Content-Security-Policy, and written so that the policy holds (no inline script or
style, no eval, no HTML built from strings). Its behaviour in a browser is tests/e2e/test_webapp.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from clipforge.gateway.app import create_app
from clipforge.gateway.settings import GatewaySettings
from clipforge.gateway.webapp import STATIC_DIR

SCRIPTS = sorted(STATIC_DIR.rglob("*.js"))
IMPORT = re.compile(r"""^import\s.*?from\s+'(\.[^']+)';""", re.MULTILINE | re.DOTALL)
# Ways a page turns strings into markup or code: any of them would let a transcript's words run.
FORBIDDEN = (
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "document.write",
    "eval(",
    "new Function",
    "setAttribute('style'",
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # No lifespan: the broker and the database are not needed to serve files.
    yield TestClient(create_app(GatewaySettings()))


def test_page_and_assets_are_served_with_a_strict_policy(client: TestClient) -> None:
    for path, content_type in (
        ("/", "text/html"),
        ("/app/app.css", "text/css"),
        ("/app/js/main.js", "javascript"),
        ("/app/icon.svg", "image/svg+xml"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert content_type in response.headers["content-type"], path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_api_paths_are_untouched(client: TestClient) -> None:
    missing = client.get("/v1/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    asset = client.get("/app/no-such-file.js")
    assert asset.status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/app") for path in paths)


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "every script is a file"
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(STATIC_DIR)))
def test_modules_import_existing_files_and_never_parse_strings_as_code(script) -> None:  # type: ignore[no-untyped-def]
    source = script.read_text()
    for target in IMPORT.findall(source):
        assert (script.parent / target).resolve().is_file(), f"{script.name} imports a missing {target}"
    for pattern in FORBIDDEN:
        assert pattern not in source, f"{script.name} uses {pattern}"
