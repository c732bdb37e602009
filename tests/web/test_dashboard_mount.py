"""Serving the static dashboard next to the API: routing, fallbacks, caching headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from gito.api.app import install_error_handlers
from gito.api.dashboard import default_dashboard_dir, mount_dashboard


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<h1>overview</h1>")
    (tmp_path / "404.html").write_text("<h1>not found page</h1>")
    (tmp_path / "devices").mkdir()
    (tmp_path / "devices" / "index.html").write_text("<h1>devices</h1>")
    (tmp_path / "_next" / "static" / "chunks").mkdir(parents=True)
    (tmp_path / "_next" / "static" / "chunks" / "app-1a2b.js").write_text("console.log(1)")
    return tmp_path


@pytest.fixture
def dashboard_app(site: Path) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    assert mount_dashboard(app, site) is True
    return app


@pytest.fixture
async def http(dashboard_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dashboard_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_routes_win_over_the_mount(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/ping")
    assert response.json() == {"pong": True}


async def test_pages_and_directory_redirect(http: httpx.AsyncClient) -> None:
    root = await http.get("/")
    assert root.status_code == 200 and "overview" in root.text
    assert root.headers["cache-control"] == "no-cache"
    assert root.headers["x-frame-options"] == "DENY"
    redirect = await http.get("/devices?status=offline")
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/devices/?status=offline")
    page = await http.get("/devices/")
    assert page.status_code == 200 and "devices" in page.text


async def test_hashed_assets_are_immutable(http: httpx.AsyncClient) -> None:
    asset = await http.get("/_next/static/chunks/app-1a2b.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    again = await http.get(
        "/_next/static/chunks/app-1a2b.js", headers={"If-None-Match": asset.headers["etag"]}
    )
    assert again.status_code == 304


async def test_unknown_page_gets_the_dashboard_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/no/such/page")
    assert response.status_code == 404
    assert "not found page" in response.text


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api", "/metrics/x", "/api/../api/x"])
async def test_unknown_api_path_stays_a_json_404(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["success"] is False


async def test_writes_to_pages_are_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/devices/", content=b"x")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_websocket_without_route_is_refused_not_crashed(dashboard_app: FastAPI) -> None:
    # Until a WebSocket route exists, the dashboard's live connection reaches the mount.
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/api/v1/ws",
        "raw_path": b"/api/v1/ws",
        "root_path": "",
        "query_string": b"token=x",
        "headers": [],
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "subprotocols": [],
    }
    await dashboard_app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_not_mounted_without_a_build(tmp_path: Path) -> None:
    app = FastAPI()
    assert mount_dashboard(app, tmp_path / "missing") is False
    assert mount_dashboard(app, tmp_path) is False  # a directory without index.html
    assert all(getattr(route, "name", None) != "dashboard" for route in app.routes)
    assert default_dashboard_dir().parts[-2:] == ("web", "out")
