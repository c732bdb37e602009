"""Tenants are platform objects: only a SUPER_ADMIN manages them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gito.auth.permissions import Role
from tests.api.helpers import assert_error, client_for, data, owner, random_ip
from tests.factories import PASSWORD, Factory

TENANTS = "/api/v1/tenants"


async def test_super_admin_manages_tenants(client: httpx.AsyncClient, factory: Factory) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    headers = platform.admin.headers
    name = f"Acme {uuid.uuid4().hex[:6]}"
    created = data(
        await client.post(
            TENANTS, headers=headers, json={"name": f"  {name} ", "rate_limit_per_minute": 5}
        ),
        201,
    )
    assert created["name"] == name and created["rate_limit_per_minute"] == 5
    assert created["is_active"] is True and created["retention_days"] == 365
    url = f"{TENANTS}/{created['id']}"
    assert data(await client.get(url, headers=headers))["name"] == name

    listed = (await client.get(f"{TENANTS}?per_page=100", headers=headers)).json()
    assert created["id"] in {t["id"] for t in listed["data"]}
    assert listed["meta"]["total"] >= 2

    patched = data(
        await client.patch(
            url, headers=headers, json={"rate_limit_per_minute": None, "retention_days": 30}
        )
    )
    assert patched["rate_limit_per_minute"] is None and patched["retention_days"] == 30
    assert patched["updated_at"] >= created["updated_at"]

    assert (await client.delete(url, headers=headers)).status_code == 204
    assert_error(await client.get(url, headers=headers), 404, "TENANT_NOT_FOUND")
    assert_error(await client.delete(url, headers=headers), 404, "TENANT_NOT_FOUND")
    assert_error(
        await client.patch(url, headers=headers, json={"name": "x"}), 404, "TENANT_NOT_FOUND"
    )


async def test_tenant_names_are_unique(client: httpx.AsyncClient, factory: Factory) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    other = await factory.tenant()
    headers = platform.admin.headers
    assert_error(
        await client.post(TENANTS, headers=headers, json={"name": other.name}),
        409,
        "TENANT_NAME_TAKEN",
    )
    mine = data(await client.post(TENANTS, headers=headers, json={"name": uuid.uuid4().hex}), 201)
    renamed = await client.patch(
        f"{TENANTS}/{mine['id']}", headers=headers, json={"name": other.name}
    )
    assert_error(renamed, 409, "TENANT_NAME_TAKEN")


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.SITE_ADMIN, Role.CLIENT, Role.VIEWER])
async def test_other_roles_only_read_their_own_tenant(
    client: httpx.AsyncClient, factory: Factory, role: Role
) -> None:
    tenant = await factory.tenant()
    actor = await factory.user(tenant, role)
    own = data(await client.get(f"{TENANTS}/{tenant.id}", headers=actor.headers))
    assert own["id"] == str(tenant.id)
    for method, url, body in (
        ("GET", TENANTS, None),
        ("POST", TENANTS, {"name": "mine now"}),
        ("PATCH", f"{TENANTS}/{tenant.id}", {"rate_limit_per_minute": 1_000_000}),
        ("DELETE", f"{TENANTS}/{tenant.id}", None),
    ):
        response = await client.request(method, url, headers=actor.headers, json=body)
        assert_error(response, 403, "PERMISSION_DENIED")


async def test_super_admin_cannot_delete_or_deactivate_own_tenant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    own = f"{TENANTS}/{platform.id}"
    headers = platform.admin.headers
    assert_error(await client.delete(own, headers=headers), 409, "TENANT_IN_USE")
    off = await client.patch(own, headers=headers, json={"is_active": False})
    assert_error(off, 409, "TENANT_IN_USE")
    assert data(await client.get(own, headers=headers))["is_active"] is True


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": "x", "owner": "me"}],
    ids=["missing", "empty", "blank", "long", "unknown-field"],
)
async def test_invalid_tenant_bodies_are_422(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, str]
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    response = await client.post(TENANTS, headers=platform.admin.headers, json=body)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_deleting_a_tenant_removes_its_data_but_keeps_its_audit_trail(
    app: object, factory: Factory, owner_dsn: str
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    doomed = await factory.tenant()
    viewer = await factory.user(doomed, Role.VIEWER)
    device, _ = await factory.device(doomed)
    async with client_for(app, random_ip()) as client:
        login = data(
            await client.post(
                "/api/v1/auth/login", json={"email": viewer.email, "password": PASSWORD}
            )
        )
        response = await client.delete(f"{TENANTS}/{doomed.id}", headers=platform.admin.headers)
        assert response.status_code == 204

        # Its users can no longer do anything: tokens, refresh tokens and passwords are dead.
        assert_error(await client.get("/api/v1/auth/me", headers=viewer.headers), 401)
        assert_error(
            await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
            ),
            401,
        )
        assert_error(
            await client.post(
                "/api/v1/auth/login", json={"email": viewer.email, "password": PASSWORD}
            ),
            401,
            "INVALID_CREDENTIALS",
        )
        # Even a SUPER_ADMIN finds nothing there any more.
        assert_error(
            await client.get(
                f"/api/v1/tenants/{doomed.id}/devices/{device}", headers=platform.admin.headers
            ),
            404,
            "TENANT_NOT_FOUND",
        )

    async with owner(owner_dsn) as conn:
        for table in ("users", "devices", "device_credentials", "refresh_tokens", "sites"):
            left = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE tenant_id = $1", doomed.id
            )
            assert left == 0, table
        kept = await conn.fetch(
            "SELECT action FROM audit_log WHERE tenant_id = $1 ORDER BY id", doomed.id
        )
        assert [r["action"] for r in kept] == ["device.create", "auth.login"]
        # The deletion itself is audited in the super-admin's tenant.
        deletion = await conn.fetchrow(
            "SELECT actor_id, changes FROM audit_log WHERE tenant_id = $1 "
            "AND action = 'tenant.delete' AND entity_id = $2",
            platform.id,
            str(doomed.id),
        )
        assert deletion["actor_id"] == platform.admin.user_id
        assert doomed.name in deletion["changes"]
