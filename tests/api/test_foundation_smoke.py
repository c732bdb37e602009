"""End-to-end basics every later test relies on."""

from __future__ import annotations

import asyncpg
import httpx

from gito.auth.permissions import Role
from tests.factories import PASSWORD, Factory


async def test_health_reports_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "healthy"
    assert body["data"]["database"]["server_version"]


async def test_login_then_me(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.admin.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["token_type"] == "bearer"
    assert data["user"]["tenant_id"] == str(tenant.id)
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {data['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["data"]["email"] == tenant.admin.email


async def test_other_tenant_in_path_is_403_and_resource_is_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    device_b, _ = await factory.device(b)
    forbidden = await client.get(b.url("/devices"), headers=a.admin.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "TENANT_FORBIDDEN"
    hidden = await client.get(a.url(f"/devices/{device_b}"), headers=a.admin.headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "DEVICE_NOT_FOUND"


async def test_rls_at_sql_level_as_app_role(owner_dsn: str, factory: Factory) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    await factory.device(a)
    await factory.device(b)
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
            tenants = {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM devices")}
            assert tenants == {a.id}
            # Writing a row for another tenant is refused by the policy's WITH CHECK.
            try:
                await conn.execute(
                    "INSERT INTO sites (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'x')",
                    b.id,
                )
                raise AssertionError("cross-tenant insert was accepted")
            except asyncpg.InsufficientPrivilegeError:
                pass
        async with conn.transaction():
            # No tenant bound: nothing at all is visible.
            assert await conn.fetchval("SELECT count(*) FROM devices") == 0
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
    finally:
        await conn.close()


async def test_super_admin_may_act_in_another_tenant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    other = await factory.tenant()
    await factory.device(other)
    response = await client.get(other.url("/devices"), headers=platform.admin.headers)
    assert response.status_code == 200
    assert response.json()["meta"]["total"] == 1
