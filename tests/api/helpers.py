"""Small assertions and connections shared by the API tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from gito.db.engine import APP_ROLE


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error envelope with this status (and code); returns the error."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    body = response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str), body
    if code is not None:
        assert error["code"] == code, body
    return error


def data(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope with this status."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


@asynccontextmanager
async def app_role(owner_dsn: str, tenant_id: uuid.UUID | None) -> AsyncIterator[Any]:
    """A connection acting as the app role inside one transaction bound to `tenant_id`
    (None: no tenant bound), exactly as the platform connects."""
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": APP_ROLE})
    try:
        async with conn.transaction():
            if tenant_id is not None:
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
            yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def owner(owner_dsn: str) -> AsyncIterator[Any]:
    """The migration owner's connection: sees every row (used only to inspect results)."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        yield conn
    finally:
        await conn.close()


def client_for(app: object, ip: str) -> httpx.AsyncClient:
    """A client appearing to come from `ip`, so login-failure limits of one test never
    spill into another."""
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def random_ip() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{max(1, raw[2])}"
