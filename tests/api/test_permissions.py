"""Every role against every endpoint against the permission matrix, and the site scoping of
SITE_ADMIN and CLIENT users."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from gito.auth.permissions import MATRIX, SITE_SCOPED_ROLES, Permission, Role, allows
from gito.config import Settings
from tests.api.endpoints import ENDPOINTS, FOUNDATION_TAGS, PUBLIC_OPERATIONS, SIGNED_IN, Endpoint
from tests.api.helpers import assert_error, data
from tests.factories import Actor, Factory, TenantFixture


@dataclass
class World:
    tenant: TenantFixture
    site: uuid.UUID  # assigned to the SITE_ADMIN and CLIENT actors
    other_site: uuid.UUID
    actors: dict[Role, Actor]


@pytest.fixture(scope="module")
async def world(app: object, settings: Settings) -> AsyncIterator[World]:
    factory = Factory(settings)
    tenant = await factory.tenant()
    site = await factory.site(tenant, "assigned")
    other = await factory.site(tenant, "not-assigned")
    actors = {Role.TENANT_ADMIN: tenant.admin}
    for role in (Role.SUPER_ADMIN, Role.VIEWER):
        actors[role] = await factory.user(tenant, role)
    for role in SITE_SCOPED_ROLES:
        actors[role] = await factory.user(tenant, role, site_ids=[site])
    yield World(tenant, site, other, actors)


def test_catalogue_covers_every_foundation_operation(app: object) -> None:
    spec = app.openapi()  # type: ignore[attr-defined]
    operations = {
        op["operationId"]
        for item in spec["paths"].values()
        for op in item.values()
        if FOUNDATION_TAGS & set(op.get("tags", []))
    }
    catalogued = {e.operation_id for e in ENDPOINTS}
    assert operations == catalogued | PUBLIC_OPERATIONS


# The permissions of the areas catalogued here (later areas bring their own tests).
FOUNDATION_PERMISSIONS = {
    Permission.TENANTS_MANAGE,
    Permission.TENANT_READ,
    Permission.USERS_READ,
    Permission.USERS_WRITE,
    Permission.SITES_READ,
    Permission.SITES_WRITE,
    Permission.DEVICES_READ,
    Permission.DEVICES_WRITE,
    Permission.DEVICE_CREDENTIALS,
    Permission.AUDIT_READ,
}


def test_every_foundation_permission_guards_some_endpoint() -> None:
    # A permission no endpoint checks is a matrix entry nobody tests.
    assert {e.permission for e in ENDPOINTS} - {SIGNED_IN} == FOUNDATION_PERMISSIONS
    assert set(MATRIX) == set(Role)


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_role_against_matrix(
    endpoint: Endpoint, role: Role, world: World, client: httpx.AsyncClient, factory: Factory
) -> None:
    actor = world.actors[role]
    url = await endpoint.url(factory, world.tenant, world.site)
    kwargs = endpoint.request_kwargs(world.site)
    headers = {**actor.headers, **kwargs.pop("headers", {})}
    response = await client.request(endpoint.method, url, headers=headers, **kwargs)
    if endpoint.permission == SIGNED_IN or allows(role, Permission(endpoint.permission)):
        assert response.status_code == endpoint.success, response.text
    else:
        assert_error(response, 403, "PERMISSION_DENIED")


# --- site scoping: SITE_ADMIN and CLIENT see only the devices and sites assigned to them --


@pytest.fixture
async def placed(world: World, factory: Factory) -> dict[str, uuid.UUID]:
    inside, _ = await factory.device(world.tenant, site_id=world.site)
    outside, _ = await factory.device(world.tenant, site_id=world.other_site)
    nowhere, _ = await factory.device(world.tenant)
    return {"inside": inside, "outside": outside, "nowhere": nowhere}


@pytest.mark.parametrize("role", sorted(SITE_SCOPED_ROLES), ids=str)
async def test_site_scoped_lists_show_only_assigned_sites(
    role: Role, world: World, placed: dict[str, uuid.UUID], client: httpx.AsyncClient
) -> None:
    headers = world.actors[role].headers
    devices = data(await client.get(world.tenant.url("/devices?per_page=100"), headers=headers))
    ids = {d["id"] for d in devices}
    assert str(placed["inside"]) in ids
    assert str(placed["outside"]) not in ids and str(placed["nowhere"]) not in ids
    assert {d["site_id"] for d in devices} == {str(world.site)}
    # Filtering for a site they do not see does not reveal its devices.
    foreign = await client.get(
        world.tenant.url(f"/devices?site_id={world.other_site}"), headers=headers
    )
    assert data(foreign) == [] and foreign.json()["meta"]["total"] == 0
    sites = data(await client.get(world.tenant.url("/sites"), headers=headers))
    assert [s["id"] for s in sites] == [str(world.site)]
    assert_error(
        await client.get(world.tenant.url(f"/sites/{world.other_site}"), headers=headers),
        404,
        "SITE_NOT_FOUND",
    )


async def test_tenant_wide_roles_see_every_device(
    world: World, placed: dict[str, uuid.UUID], client: httpx.AsyncClient
) -> None:
    for role in (Role.VIEWER, Role.TENANT_ADMIN, Role.SUPER_ADMIN):
        headers = world.actors[role].headers
        for device in placed.values():
            response = await client.get(world.tenant.url(f"/devices/{device}"), headers=headers)
            assert response.status_code == 200, (role, response.text)


@pytest.mark.parametrize("role", sorted(SITE_SCOPED_ROLES), ids=str)
@pytest.mark.parametrize("where", ["outside", "nowhere"])
async def test_site_scoped_device_outside_their_sites_is_hidden(
    role: Role,
    where: str,
    world: World,
    placed: dict[str, uuid.UUID],
    client: httpx.AsyncClient,
) -> None:
    headers = world.actors[role].headers
    url = world.tenant.url(f"/devices/{placed[where]}")
    assert_error(await client.get(url, headers=headers), 404, "DEVICE_NOT_FOUND")
    writes = [
        ("PATCH", url, {"json": {"name": "x"}}),
        ("DELETE", url, {}),
        ("POST", url + "/credentials/rotate", {}),
    ]
    for method, target, kwargs in writes:
        response = await client.request(method, target, headers=headers, **kwargs)
        if role is Role.SITE_ADMIN:
            assert_error(response, 404, "DEVICE_NOT_FOUND")
        else:
            assert_error(response, 403, "PERMISSION_DENIED")
    # Nothing happened to the device.
    admin = world.actors[Role.TENANT_ADMIN].headers
    assert data(await client.get(url, headers=admin))["name"] != "x"


async def test_site_admin_manages_devices_only_inside_assigned_sites(
    world: World, placed: dict[str, uuid.UUID], client: httpx.AsyncClient
) -> None:
    headers = world.actors[Role.SITE_ADMIN].headers
    devices = world.tenant.url("/devices")
    assert_error(
        await client.post(
            devices,
            headers=headers,
            json={"name": "n", "device_type": "t", "site_id": str(world.other_site)},
        ),
        422,
        "SITE_NOT_FOUND",
    )
    assert_error(
        await client.post(devices, headers=headers, json={"name": "n", "device_type": "t"}),
        422,
        "SITE_REQUIRED",
    )
    inside = f"{devices}/{placed['inside']}"
    # Moving a device out of their sites (or out of every site) is refused.
    for site in (str(world.other_site), None):
        assert_error(await client.patch(inside, headers=headers, json={"site_id": site}), 422)
    assert data(await client.get(inside, headers=headers))["site_id"] == str(world.site)
    renamed = await client.patch(inside, headers=headers, json={"name": "renamed"})
    assert data(renamed)["name"] == "renamed"
    rotated = await client.post(f"{inside}/credentials/rotate", headers=headers)
    assert data(rotated)["token"].startswith("gdt_")


async def test_site_admin_import_is_limited_to_assigned_sites(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = {**world.actors[Role.SITE_ADMIN].headers, "Content-Type": "text/csv"}
    csv = (
        "name,device_type,site_id\n"
        f"ok,sensor,{world.site}\n"
        f"foreign,sensor,{world.other_site}\n"
        "nowhere,sensor,\n"
    )
    error = assert_error(
        await client.post(world.tenant.url("/devices/import"), headers=headers, content=csv),
        422,
        "IMPORT_INVALID",
    )
    rows = {r["row"]: r["errors"] for r in error["details"]["rows"]}
    assert set(rows) == {3, 4}
    assert "site" in rows[3][0] and "site" in rows[4][0]
