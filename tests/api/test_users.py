"""Users: who may grant which role, unique e-mails, site assignments, self-deletion, and
passwords that never come back."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gito.auth.permissions import Role
from tests.api.helpers import assert_error, client_for, data, random_ip
from tests.factories import PASSWORD, Factory, TenantFixture


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def _create(
    client: httpx.AsyncClient, tenant: TenantFixture, headers: dict[str, str], **body: Any
) -> httpx.Response:
    body.setdefault("email", _email())
    body.setdefault("password", "a long password")
    body.setdefault("role", "VIEWER")
    return await client.post(tenant.url("/users"), headers=headers, json=body)


def _no_secrets(text: str) -> None:
    lowered = text.lower()
    assert "password" not in lowered and "argon2" not in lowered and "hash" not in lowered


async def test_create_get_list_never_return_passwords(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    headers = tenant.admin.headers
    created = await _create(client, tenant, headers, email="Mixed.Case@Example.com")
    user = data(created, 201)
    assert user["email"] == "mixed.case@example.com" and user["role"] == "VIEWER"
    got = await client.get(tenant.url(f"/users/{user['id']}"), headers=headers)
    listed = await client.get(tenant.url("/users"), headers=headers)
    patched = await client.patch(
        tenant.url(f"/users/{user['id']}"), headers=headers, json={"password": "another long one"}
    )
    for response in (created, got, listed, patched):
        assert response.status_code in (200, 201)
        _no_secrets(response.text)


async def test_password_change_takes_effect(app: object, factory: Factory) -> None:
    tenant = await factory.tenant()
    user = await factory.user(tenant, Role.VIEWER)
    async with client_for(app, random_ip()) as client:
        await client.patch(
            tenant.url(f"/users/{user.user_id}"),
            headers=tenant.admin.headers,
            json={"password": "the new passphrase"},
        )
        old = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert_error(old, 401, "INVALID_CREDENTIALS")
        new = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "the new passphrase"}
        )
        assert new.status_code == 200


async def test_email_is_unique_across_the_platform(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.tenant(), await factory.tenant()
    email = _email()
    data(await _create(client, a, a.admin.headers, email=email), 201)
    for tenant in (a, b):
        response = await _create(client, tenant, tenant.admin.headers, email=email.upper())
        assert_error(response, 409, "EMAIL_TAKEN")


async def test_tenant_admin_cannot_create_or_touch_super_admins(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    admin = tenant.admin.headers
    assert_error(await _create(client, tenant, admin, role="SUPER_ADMIN"), 403, "ROLE_FORBIDDEN")
    viewer = data(await _create(client, tenant, admin), 201)
    promote = await client.patch(
        tenant.url(f"/users/{viewer['id']}"), headers=admin, json={"role": "SUPER_ADMIN"}
    )
    assert_error(promote, 403, "ROLE_FORBIDDEN")

    boss = await factory.user(tenant, Role.SUPER_ADMIN)
    boss_url = tenant.url(f"/users/{boss.user_id}")
    for method, kwargs in (
        ("PATCH", {"json": {"full_name": "x"}}),
        ("PATCH", {"json": {"role": "VIEWER"}}),
        ("PATCH", {"json": {"is_active": False}}),
        ("PATCH", {"json": {"password": "taken over!"}}),
        ("DELETE", {}),
    ):
        response = await client.request(method, boss_url, headers=admin, **kwargs)
        assert_error(response, 403, "ROLE_FORBIDDEN")
    unchanged = data(await client.get(boss_url, headers=admin))
    assert unchanged["role"] == "SUPER_ADMIN" and unchanged["is_active"] is True

    # A SUPER_ADMIN may do all of it.
    superuser = boss.headers
    made = data(await _create(client, tenant, superuser, role="SUPER_ADMIN"), 201)
    assert made["role"] == "SUPER_ADMIN"
    response = await client.delete(tenant.url(f"/users/{made['id']}"), headers=superuser)
    assert response.status_code == 204


@pytest.mark.parametrize("role", ["TENANT_ADMIN", "VIEWER", "SUPER_ADMIN"])
async def test_site_ids_only_for_site_scoped_roles(
    client: httpx.AsyncClient, factory: Factory, role: str
) -> None:
    tenant = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    site = str(await factory.site(tenant))
    response = await _create(client, tenant, tenant.admin.headers, role=role, site_ids=[site])
    assert_error(response, 422, "SITES_NOT_APPLICABLE")


async def test_site_assignments(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    admin = tenant.admin.headers
    s1, s2 = str(await factory.site(tenant)), str(await factory.site(tenant))
    client_user = data(
        await _create(client, tenant, admin, role="CLIENT", site_ids=[s1, s1, s2]), 201
    )
    assert sorted(client_user["site_ids"]) == sorted([s1, s2])
    url = tenant.url(f"/users/{client_user['id']}")
    assert data(await client.patch(url, headers=admin, json={"site_ids": [s2]}))["site_ids"] == [s2]
    assert_error(
        await client.patch(url, headers=admin, json={"site_ids": [str(uuid.uuid4())]}),
        422,
        "SITE_NOT_FOUND",
    )
    # Becoming tenant-wide drops the assignments; a VIEWER cannot get sites back.
    viewer = data(await client.patch(url, headers=admin, json={"role": "VIEWER"}))
    assert viewer["site_ids"] == []
    assert_error(
        await client.patch(url, headers=admin, json={"site_ids": [s1]}),
        422,
        "SITES_NOT_APPLICABLE",
    )
    back = data(
        await client.patch(url, headers=admin, json={"role": "SITE_ADMIN", "site_ids": [s1]})
    )
    assert back["role"] == "SITE_ADMIN" and back["site_ids"] == [s1]
    # Deleting a site removes it from the assignments.
    assert (await client.delete(tenant.url(f"/sites/{s1}"), headers=admin)).status_code == 204
    assert data(await client.get(url, headers=admin))["site_ids"] == []


async def test_cannot_delete_yourself(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    me = tenant.url(f"/users/{tenant.admin.user_id}")
    assert_error(await client.delete(me, headers=tenant.admin.headers), 409, "CANNOT_DELETE_SELF")
    assert data(await client.get(me, headers=tenant.admin.headers))["is_active"] is True


async def test_cannot_deactivate_yourself(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    me = tenant.url(f"/users/{tenant.admin.user_id}")
    response = await client.patch(me, headers=tenant.admin.headers, json={"is_active": False})
    assert_error(response, 409, "CANNOT_DEACTIVATE_SELF")
    assert data(await client.get(me, headers=tenant.admin.headers))["is_active"] is True


async def test_the_last_admin_cannot_be_demoted_deactivated_or_deleted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    me = tenant.url(f"/users/{tenant.admin.user_id}")
    admin = tenant.admin.headers
    response = await client.patch(me, headers=admin, json={"role": "VIEWER"})
    assert_error(response, 409, "LAST_ADMIN")
    assert data(await client.get(me, headers=admin))["role"] == "TENANT_ADMIN"

    # A second admin: now either may step down, but not both.
    other = await factory.user(tenant, Role.TENANT_ADMIN)
    there = tenant.url(f"/users/{other.user_id}")
    assert data(await client.patch(me, headers=admin, json={"role": "VIEWER"}))["role"] == "VIEWER"
    assert_error(
        await client.patch(there, headers=other.headers, json={"role": "SITE_ADMIN"}),
        409,
        "LAST_ADMIN",
    )
    # A super-admin acting in the tenant cannot remove its last admin either...
    root_tenant = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    root = root_tenant.admin.headers
    assert_error(await client.delete(there, headers=root), 409, "LAST_ADMIN")
    assert_error(
        await client.patch(there, headers=root, json={"is_active": False}), 409, "LAST_ADMIN"
    )
    # ...but may once another admin exists; other changes to the last admin still work.
    renamed = await client.patch(there, headers=other.headers, json={"full_name": "Ops Lead"})
    assert data(renamed)["full_name"] == "Ops Lead"
    assert (await client.patch(me, headers=root, json={"role": "TENANT_ADMIN"})).status_code == 200
    assert (await client.delete(there, headers=root)).status_code == 204


async def test_deleting_a_user_twice_is_404(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    user = await factory.user(tenant, Role.VIEWER)
    url = tenant.url(f"/users/{user.user_id}")
    assert (await client.delete(url, headers=tenant.admin.headers)).status_code == 204
    assert_error(await client.delete(url, headers=tenant.admin.headers), 404, "USER_NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough", "role": "VIEWER"},
        {"email": "a@example.com", "password": "short", "role": "VIEWER"},
        {"email": "a@example.com", "password": "x" * 129, "role": "VIEWER"},
        {"email": "a@example.com", "password": "long enough", "role": "KING"},
        {"email": "a@example.com", "password": "long enough"},
        {"email": "a@example.com", "password": "long enough", "role": "VIEWER", "admin": True},
        {"email": "a@example.com", "password": "long enough", "role": "VIEWER", "site_ids": ["x"]},
    ],
    ids=["email", "short", "long", "role", "no-role", "unknown-field", "bad-site-id"],
)
async def test_invalid_user_bodies_are_422(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any]
) -> None:
    tenant = await factory.tenant()
    response = await client.post(tenant.url("/users"), headers=tenant.admin.headers, json=body)
    assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("field", ["role", "is_active", "password"])
async def test_null_for_a_required_field_is_422(
    client: httpx.AsyncClient, factory: Factory, field: str
) -> None:
    tenant = await factory.tenant()
    user = await factory.user(tenant, Role.VIEWER)
    url = tenant.url(f"/users/{user.user_id}")
    response = await client.patch(url, headers=tenant.admin.headers, json={field: None})
    assert_error(response, 422, "VALIDATION_ERROR")
    cleared = await client.patch(url, headers=tenant.admin.headers, json={"full_name": None})
    assert data(cleared)["full_name"] is None


async def test_list_filters_and_pagination(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    for role in (Role.VIEWER, Role.VIEWER, Role.CLIENT):
        await factory.user(tenant, role)
    headers = tenant.admin.headers
    everyone = (await client.get(tenant.url("/users?per_page=2"), headers=headers)).json()
    assert everyone["meta"] == {"page": 1, "per_page": 2, "total": 4}
    viewers = data(await client.get(tenant.url("/users?role=VIEWER"), headers=headers))
    assert len(viewers) == 2 and {u["role"] for u in viewers} == {"VIEWER"}
    found = data(await client.get(tenant.url("/users?q=client-"), headers=headers))
    assert [u["role"] for u in found] == ["CLIENT"]
    assert data(await client.get(tenant.url("/users?q=%25"), headers=headers)) == []
    assert_error(await client.get(tenant.url("/users?role=KING"), headers=headers), 422)
