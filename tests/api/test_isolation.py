"""Tenant isolation: through every endpoint, and at the SQL level as the app role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from gito.auth.permissions import Permission, Role, allows
from gito.auth.security import secret_hash
from gito.config import Settings
from tests.api.endpoints import TENANT_SCOPED, WITH_TARGET, Endpoint
from tests.api.helpers import app_role, assert_error, client_for, data, random_ip
from tests.factories import PASSWORD, Actor, Factory, TenantFixture


@dataclass
class Pair:
    a: TenantFixture
    a_site: uuid.UUID
    b: TenantFixture
    b_site: uuid.UUID
    # Callers acting from tenant A.
    actors: dict[Role, Actor]


@pytest.fixture(scope="module")
async def pair(app: object, settings: Settings) -> AsyncIterator[Pair]:
    factory = Factory(settings)
    a, b = await factory.tenant(), await factory.tenant()
    a_site, b_site = await factory.site(a), await factory.site(b)
    actors = {Role.TENANT_ADMIN: a.admin}
    for role in (Role.VIEWER, Role.SITE_ADMIN):
        actors[role] = await factory.user(
            a, role, site_ids=[a_site] if role is Role.SITE_ADMIN else None
        )
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    actors[Role.SUPER_ADMIN] = platform.admin
    yield Pair(a, a_site, b, b_site, actors)


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.SITE_ADMIN, Role.VIEWER], ids=str)
@pytest.mark.parametrize("endpoint", TENANT_SCOPED, ids=str)
async def test_other_tenant_in_path_is_403(
    endpoint: Endpoint, role: Role, pair: Pair, client: httpx.AsyncClient, factory: Factory
) -> None:
    url = await endpoint.url(factory, pair.b, pair.b_site)
    kwargs = endpoint.request_kwargs(pair.b_site)
    headers = {**pair.actors[role].headers, **kwargs.pop("headers", {})}
    response = await client.request(endpoint.method, url, headers=headers, **kwargs)
    # A role holding the permission is stopped by the tenant check itself.
    held = allows(role, Permission(endpoint.permission))
    assert_error(response, 403, "TENANT_FORBIDDEN" if held else "PERMISSION_DENIED")


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.SUPER_ADMIN], ids=str)
@pytest.mark.parametrize("endpoint", [e for e in WITH_TARGET if e.kind != "tenant"], ids=str)
async def test_other_tenants_resource_is_404(
    endpoint: Endpoint, role: Role, pair: Pair, client: httpx.AsyncClient, factory: Factory
) -> None:
    """Tenant A's path with tenant B's resource id: not found, and B's resource untouched.
    The SUPER_ADMIN acting in tenant A is bound to A as well."""
    assert endpoint.target is not None
    foreign = await endpoint.target(factory, pair.b, pair.b_site)
    path = endpoint.path.replace("{tenant_id}", str(pair.a.id)).replace("{id}", foreign)
    kwargs = endpoint.request_kwargs(pair.a_site)
    headers = {**pair.actors[role].headers, **kwargs.pop("headers", {})}
    response = await client.request(endpoint.method, "/api/v1" + path, headers=headers, **kwargs)
    assert_error(response, 404, f"{endpoint.kind.upper()}_NOT_FOUND")  # type: ignore[union-attr]
    # Tenant B still sees its resource unchanged.
    own = await client.get(pair.b.url(f"/{endpoint.kind}s/{foreign}"), headers=pair.b.admin.headers)
    body = data(own)
    assert body.get("full_name") != "Renamed" and body.get("tags") != ["patched"]


async def test_tenant_admin_cannot_read_another_tenant(
    pair: Pair, client: httpx.AsyncClient
) -> None:
    headers = pair.a.admin.headers
    assert_error(await client.get(f"/api/v1/tenants/{pair.b.id}", headers=headers), 403)
    own = data(await client.get(f"/api/v1/tenants/{pair.a.id}", headers=headers))
    assert own["id"] == str(pair.a.id)


async def test_super_admin_in_unknown_tenant_is_404(pair: Pair, client: httpx.AsyncClient) -> None:
    headers = pair.actors[Role.SUPER_ADMIN].headers
    missing = uuid.uuid4()
    for path in ("/devices", "/users", "/sites", "/audit-log"):
        response = await client.get(f"/api/v1/tenants/{missing}{path}", headers=headers)
        assert_error(response, 404, "TENANT_NOT_FOUND")


async def test_bodies_cannot_reference_another_tenants_rows(
    pair: Pair, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = pair.a.admin.headers
    foreign_site = str(pair.b_site)
    create = await client.post(
        pair.a.url("/devices"),
        headers=headers,
        json={"name": "x", "device_type": "t", "site_id": foreign_site},
    )
    assert_error(create, 422, "SITE_NOT_FOUND")
    device, _ = await factory.device(pair.a)
    move = await client.patch(
        pair.a.url(f"/devices/{device}"), headers=headers, json={"site_id": foreign_site}
    )
    assert_error(move, 422, "SITE_NOT_FOUND")
    user = await client.post(
        pair.a.url("/users"),
        headers=headers,
        json={
            "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "password": "long enough password",
            "role": "CLIENT",
            "site_ids": [foreign_site],
        },
    )
    assert_error(user, 422, "SITE_NOT_FOUND")
    imported = await client.post(
        pair.a.url("/devices/import"),
        headers={**headers, "Content-Type": "text/csv"},
        content=f"name,device_type,site_id\nx,t,{foreign_site}\n",
    )
    assert_error(imported, 422, "IMPORT_INVALID")
    b_device, _ = await factory.device(pair.b)
    audit = await client.get(pair.a.url(f"/audit-log?entity_id={b_device}"), headers=headers)
    assert data(audit) == []


async def test_same_names_live_in_two_tenants(pair: Pair, client: httpx.AsyncClient) -> None:
    """Uniqueness is per tenant: tenant B's names do not leak into A as conflicts."""
    name = f"shared-{uuid.uuid4().hex[:6]}"
    for tenant in (pair.a, pair.b):
        created = await client.post(
            tenant.url("/sites"), headers=tenant.admin.headers, json={"name": name}
        )
        assert created.status_code == 201, created.text


# --- SQL level: the app role with another `app.tenant_id` --------------------------------

TENANT_TABLES = (
    "users",
    "sites",
    "user_sites",
    "devices",
    "device_credentials",
    "refresh_tokens",
    "audit_log",
)


@pytest.fixture(scope="module")
async def populated(pair: Pair, app: object, settings: Settings) -> Pair:
    """Both tenants have a row in every tenant table (refresh tokens come from a login)."""
    factory = Factory(settings)
    async with client_for(app, random_ip()) as client:
        for tenant, site in ((pair.a, pair.a_site), (pair.b, pair.b_site)):
            await factory.device(tenant, site_id=site)
            await factory.user(tenant, Role.CLIENT, site_ids=[site])
            login = await client.post(
                "/api/v1/auth/login", json={"email": tenant.admin.email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
    return pair


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_app_role_sees_only_its_tenant(table: str, populated: Pair, owner_dsn: str) -> None:
    pair = populated
    async with app_role(owner_dsn, pair.a.id) as conn:
        tenants = {r[0] for r in await conn.fetch(f"SELECT DISTINCT tenant_id FROM {table}")}
        assert tenants == {pair.a.id}
        b_rows = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id = $1", pair.b.id
        )
        assert b_rows == 0
    async with app_role(owner_dsn, None) as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    async with app_role(owner_dsn, pair.a.id) as conn:
        # The auth look-up policy is for the SECURITY DEFINER functions only: setting its
        # flag as the app role reveals nothing.
        await conn.execute("SELECT set_config('app.auth_lookup', 'on', true)")
        assert (
            await conn.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = $1", pair.b.id)
            == 0
        )


@pytest.mark.parametrize(
    "table", ["users", "sites", "user_sites", "devices", "device_credentials", "refresh_tokens"]
)
async def test_app_role_cannot_change_another_tenants_rows(
    table: str, populated: Pair, owner_dsn: str
) -> None:
    pair = populated
    async with app_role(owner_dsn, pair.a.id) as conn:
        updated = await conn.execute(
            f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = $1", pair.b.id
        )
        assert updated == "UPDATE 0"
        deleted = await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", pair.b.id)
        assert deleted == "DELETE 0"
        # Moving an own row into tenant B is refused by the policy's WITH CHECK.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute(
                    f"UPDATE {table} SET tenant_id = $1 WHERE tenant_id = $2", pair.b.id, pair.a.id
                )


async def test_app_role_cannot_insert_into_another_tenant(populated: Pair, owner_dsn: str) -> None:
    inserts = (
        "INSERT INTO sites (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'x')",
        "INSERT INTO devices (id, tenant_id, name, device_type) "
        "VALUES (gen_random_uuid(), $1, 'x', 't')",
        "INSERT INTO audit_log (tenant_id, action, entity_type) VALUES ($1, 'x', 'y')",
        "INSERT INTO users (id, tenant_id, email, password_hash, role) "
        "VALUES (gen_random_uuid(), $1, 'intruder@example.com', 'x', 'VIEWER')",
    )
    async with app_role(owner_dsn, populated.a.id) as conn:
        for sql in inserts:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute(sql, populated.b.id)


async def test_app_role_sees_only_its_own_tenant_row(populated: Pair, owner_dsn: str) -> None:
    pair = populated
    async with app_role(owner_dsn, pair.a.id) as conn:
        assert [r[0] for r in await conn.fetch("SELECT id FROM tenants")] == [pair.a.id]
        assert await conn.execute("UPDATE tenants SET name = 'x' WHERE id = $1", pair.b.id) == (
            "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM tenants WHERE id = $1", pair.b.id) == "DELETE 0"


async def test_token_lookup_finds_only_the_exact_token(
    populated: Pair, owner_dsn: str, factory: Factory
) -> None:
    """The SECURITY DEFINER device-token look-up is the one cross-tenant read; it answers
    only for an exact token hash."""
    device, token = await factory.device(populated.b)
    async with app_role(owner_dsn, populated.a.id) as conn:
        row = await conn.fetchrow(
            "SELECT device_id, tenant_id FROM gito_resolve_device_token($1)", secret_hash(token)
        )
        assert row is not None and (row[0], row[1]) == (device, populated.b.id)
        missing = await conn.fetch(
            "SELECT * FROM gito_resolve_device_token($1)", secret_hash(token + "x")
        )
        assert missing == []
