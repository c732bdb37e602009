"""The web dashboard: the static Next.js export (`web/out`) served at `/` on the API's port.

Mounted after every API route, so it only sees paths no route claimed. Paths under `/api/`
stay JSON 404s (a typo in an API path must not answer with an HTML page), and unknown
dashboard paths get the export's own 404 page."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

# Next.js puts content-hashed names under `_next/static/`: a changed file gets a new name,
# so browsers may keep these for a year and never revalidate.
IMMUTABLE_PREFIX = "_next/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
# HTML and the route payloads keep their names across deploys: revalidate (ETag) every time.
REVALIDATE = "no-cache"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
RESERVED_PREFIXES = ("api/", "metrics/")


def default_dashboard_dir() -> Path:
    """`web/out` of the source checkout (`src/gito/api/` → repository root)."""
    return Path(__file__).resolve().parents[3] / "web" / "out"


class DashboardFiles(StaticFiles):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # No WebSocket route matched; refuse the handshake (the client sees 403).
            await send({"type": "websocket.close", "code": 1008})
            return
        await super().__call__(scope, receive, send)

    async def get_response(self, path: str, scope: Scope) -> Response:
        normalized = path.lstrip("/")
        if normalized in ("api", "metrics") or normalized.startswith(RESERVED_PREFIXES):
            raise HTTPException(status_code=404, detail="not found")
        return await super().get_response(path, scope)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        path = scope["path"].lstrip("/")
        response.headers["Cache-Control"] = (
            IMMUTABLE if path.startswith(IMMUTABLE_PREFIX) and status_code == 200 else REVALIDATE
        )
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_dashboard(app: FastAPI, directory: Path | None = None) -> bool:
    """Serve the dashboard at `/` when it has been built; call after every route is added.
    Returns whether it was mounted (`gito up` without a build serves the API alone)."""
    directory = directory or default_dashboard_dir()
    index = directory / "index.html"
    try:
        built = stat.S_ISREG(index.stat().st_mode)
    except OSError:
        built = False
    if not built:
        return False
    app.mount("/", DashboardFiles(directory=directory, html=True), name="dashboard")
    return True
