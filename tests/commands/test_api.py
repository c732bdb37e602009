"""The command endpoints: validation, roles, site scoping, tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gito.auth.permissions import Role
from gito.commands.sender import CommandSender
from tests.api.helpers import assert_error, data
from tests.factories import Factory


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 65},
        {"name": "re boot"},
        {"name": "reboot;rm"},
        {"name": "reboot", "params": [1, 2]},
        {"name": "reboot", "params": "x"},
        {"name": "reboot", "params": {"blob": "x" * 9000}},
        {"name": "reboot", "timeout_s": 0},
        {"name": "reboot", "timeout_s": 86_401},
        {"name": "reboot", "timeout_s": "soon"},
        {"name": "reboot", "extra": 1},
        {"name": "reboot", "params": {"a": "nul\u0000"}},
    ],
)
async def test_invalid_commands_are_422(
    client: httpx.AsyncClient, factory: Factory, dead_sender: CommandSender, body: dict[str, Any]
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    response = await client.post(
        tenant.url(f"/devices/{device_id}/commands"), json=body, headers=tenant.admin.headers
    )
    assert_error(response, 422)


async def test_other_tenants_cannot_send_or_read(
    client: httpx.AsyncClient, factory: Factory, dead_sender: CommandSender
) -> None:
    tenant = await factory.tenant()
    intruder = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    created = data(
        await client.post(
            tenant.url(f"/devices/{device_id}/commands"),
            json={"name": "reboot"},
            headers=tenant.admin.headers,
        ),
        201,
    )
    base = f"/devices/{device_id}/commands"
    # The other tenant's path: 403.
    for response in (
        await client.post(tenant.url(base), json={"name": "x"}, headers=intruder.admin.headers),
        await client.get(tenant.url(base), headers=intruder.admin.headers),
        await client.get(tenant.url(f"{base}/{created['id']}"), headers=intruder.admin.headers),
    ):
        assert_error(response, 403, "TENANT_FORBIDDEN")
    # Its own path with the other tenant's ids: nothing there.
    for response in (
        await client.post(intruder.url(base), json={"name": "x"}, headers=intruder.admin.headers),
        await client.get(intruder.url(base), headers=intruder.admin.headers),
        await client.get(intruder.url(f"{base}/{created['id']}"), headers=intruder.admin.headers),
    ):
        assert_error(response, 404, "DEVICE_NOT_FOUND")
    # A command id of another device of the same tenant is not found under this device.
    other_device, _ = await factory.device(tenant)
    assert_error(
        await client.get(
            tenant.url(f"/devices/{other_device}/commands/{created['id']}"),
            headers=tenant.admin.headers,
        ),
        404,
        "COMMAND_NOT_FOUND",
    )
    assert_error(
        await client.get(
            tenant.url(f"{base}/{uuid.uuid4()}"),
            headers=tenant.admin.headers,
        ),
        404,
        "COMMAND_NOT_FOUND",
    )


async def test_roles_and_sites(
    client: httpx.AsyncClient, factory: Factory, dead_sender: CommandSender
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    elsewhere = await factory.site(tenant)
    device_id, _ = await factory.device(tenant, site_id=site)
    far_device, _ = await factory.device(tenant, site_id=elsewhere)
    client_user = await factory.user(tenant, Role.CLIENT, site_ids=[site])
    site_admin = await factory.user(tenant, Role.SITE_ADMIN, site_ids=[site])
    viewer = await factory.user(tenant, Role.VIEWER)
    url = tenant.url(f"/devices/{device_id}/commands")
    for actor in (client_user, site_admin):
        sent = data(await client.post(url, json={"name": "reboot"}, headers=actor.headers), 201)
        assert sent["created_by"] == str(actor.user_id)
    # Outside their sites the device does not exist for them.
    assert_error(
        await client.post(
            tenant.url(f"/devices/{far_device}/commands"),
            json={"name": "reboot"},
            headers=client_user.headers,
        ),
        404,
        "DEVICE_NOT_FOUND",
    )
    # A viewer reads the history but sends nothing.
    assert_error(await client.post(url, json={"name": "reboot"}, headers=viewer.headers), 403)
    history = data(await client.get(url, headers=viewer.headers))
    assert len(history) == 2
    audit = data(
        await client.get(tenant.url("/audit-log?action=command.send"), headers=tenant.admin.headers)
    )
    assert len(audit) == 2
