"""The web app: hand-written HTML, CSS and JavaScript modules, served as they are (no build step).

``/`` answers with the page; its assets live under ``/app/``. Every response carries a strict
Content-Security-Policy: scripts and styles only from this origin, nothing inline, no eval.
The page talks to the same origin's ``/v1`` API (``connect-src 'self'`` covers its WebSocket).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/app"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Media URLs carry ?api_key= (a <video> cannot send headers): never leak them as a referrer.
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag/Last-Modified make that cheap), so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}


class WebAppFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install_webapp(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/app/``; the API routes are untouched."""
    app.mount(ASSETS_PATH, WebAppFiles(directory=STATIC_DIR), name="webapp")

    @app.get("/", include_in_schema=False)
    async def web_app() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)
