"""WebSocket live events through a real server process: tenant and site isolation, filters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import websockets

from gito.auth.permissions import Role
from gito.bench.mosquitto import free_port
from gito.config import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.factories import Factory


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "APP_ENV": "test",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gito.api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError("API server exited")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


@contextlib.asynccontextmanager
async def listen(base: str, token: str) -> AsyncIterator[Any]:
    url = base.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
    async with websockets.connect(url) as ws:
        yield ws


async def drain(ws: Any, seconds: float) -> list[dict[str, Any]]:
    """Everything the socket receives within `seconds`."""
    events: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                events.append(orjson.loads(await ws.recv()))
    return events


async def test_live_events_respect_tenant_site_and_filters(server: str, factory: Factory) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    site_1, site_2 = await factory.site(a), await factory.site(a)
    dev_1, token_1 = await factory.device(a, site_id=site_1)
    dev_2, token_2 = await factory.device(a, site_id=site_2)
    client_user = await factory.user(a, Role.CLIENT, site_ids=[site_1])

    async with (
        listen(server, a.admin.token) as admin_ws,
        listen(server, client_user.token) as client_ws,
        listen(server, b.admin.token) as other_ws,
    ):
        await asyncio.sleep(0.3)  # subscriptions registered with the hub
        async with httpx.AsyncClient(base_url=server) as http:
            for token, value in ((token_1, 1), (token_2, 2)):
                response = await http.post(
                    "/api/v1/ingest", json={"temperature": value}, headers={"X-Device-Token": token}
                )
                assert response.status_code == 200
        admin_events = await drain(admin_ws, 2.0)
        client_events = await drain(client_ws, 0.5)
        other_events = await drain(other_ws, 0.5)

    telemetry = {e["device_id"]: e["values"] for e in admin_events if e["type"] == "telemetry"}
    assert telemetry == {str(dev_1): {"temperature": 1}, str(dev_2): {"temperature": 2}}
    statuses = {e["device_id"]: e["status"] for e in admin_events if e["type"] == "device_status"}
    assert statuses == {str(dev_1): "online", str(dev_2): "online"}
    assert {e["device_id"] for e in client_events} == {str(dev_1)}  # site-scoped
    assert other_events == []  # another tenant sees nothing


async def test_subscription_filter_and_bad_messages(server: str, factory: Factory) -> None:
    a = await factory.tenant()
    _, token_1 = await factory.device(a)
    dev_2, token_2 = await factory.device(a)
    async with listen(server, a.admin.token) as ws:
        await ws.send(
            orjson.dumps(
                {"action": "subscribe", "device_ids": [str(dev_2)], "types": ["telemetry"]}
            ).decode()
        )
        ack = orjson.loads(await ws.recv())
        assert ack == {"type": "subscribed", "device_ids": [str(dev_2)], "types": ["telemetry"]}
        await ws.send("not json")
        assert orjson.loads(await ws.recv())["type"] == "error"
        async with httpx.AsyncClient(base_url=server) as http:
            for token in (token_1, token_2):
                await http.post("/api/v1/ingest", json={"t": 1}, headers={"X-Device-Token": token})
        events = await drain(ws, 1.5)
    assert [(e["type"], e["device_id"]) for e in events] == [("telemetry", str(dev_2))]


async def test_invalid_token_is_refused(server: str) -> None:
    url = server.replace("http://", "ws://") + "/api/v1/ws?token=not-a-jwt"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    assert refused.value.response.status_code == 403
