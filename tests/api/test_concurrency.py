"""Concurrent writes to one row: serialised by row locks, never a 500, one audit row per
real change."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from typing import Any

import httpx
import pytest

from gito.auth.permissions import Role
from gito.auth.security import secret_hash
from tests.api.helpers import app_role, owner
from tests.factories import Factory, TenantFixture

RACERS = 3


async def _race(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> list[Any]:
    return list(
        await asyncio.gather(*(client.request(method, url, **kwargs) for _ in range(RACERS)))
    )


async def _audit_count(owner_dsn: str, tenant: TenantFixture, action: str, entity: str) -> int:
    async with owner(owner_dsn) as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2 "
            "AND entity_id = $3",
            tenant.id,
            action,
            entity,
        )
    return count


async def test_concurrent_rotations_leave_exactly_one_valid_token(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, first = await factory.device(tenant)
    url = tenant.url(f"/devices/{device}/credentials/rotate")
    responses = await _race(client, "POST", url, headers=tenant.admin.headers)
    assert [r.status_code for r in responses] == [200] * RACERS, [r.text for r in responses]
    tokens = [r.json()["data"]["token"] for r in responses] + [first]
    async with app_role(owner_dsn, None) as conn:
        valid = [
            t
            for t in tokens
            if await conn.fetch("SELECT 1 FROM gito_resolve_device_token($1)", secret_hash(t))
        ]
    assert len(valid) == 1 and valid[0] != first
    assert await _audit_count(owner_dsn, tenant, "device.credentials.rotate", str(device)) == (
        RACERS
    )


@pytest.mark.parametrize("kind", ["devices", "sites", "users"])
async def test_concurrent_deletes_delete_once(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, kind: str
) -> None:
    tenant = await factory.tenant()
    if kind == "devices":
        target: uuid.UUID = (await factory.device(tenant))[0]
    elif kind == "sites":
        target = await factory.site(tenant)
    else:
        target = (await factory.user(tenant, Role.VIEWER)).user_id
    responses = await _race(
        client, "DELETE", tenant.url(f"/{kind}/{target}"), headers=tenant.admin.headers
    )
    assert sorted(r.status_code for r in responses) == [204] + [404] * (RACERS - 1)
    action = f"{kind[:-1]}.delete"
    assert await _audit_count(owner_dsn, tenant, action, str(target)) == 1


async def test_concurrent_patches_are_each_audited_against_the_value_they_replaced(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, name="start")
    url = tenant.url(f"/devices/{device}")
    responses = await asyncio.gather(
        *(
            client.patch(url, headers=tenant.admin.headers, json={"name": f"name-{i}"})
            for i in range(RACERS)
        )
    )
    assert all(r.status_code == 200 for r in responses)
    async with owner(owner_dsn) as conn:
        rows = await conn.fetch(
            "SELECT changes->'name' AS name FROM audit_log WHERE tenant_id = $1 "
            "AND action = 'device.update' ORDER BY id",
            tenant.id,
        )
    changes = [json.loads(r["name"]) for r in rows]
    # A chain: each update starts from the value the previous one wrote.
    assert changes[0]["from"] == "start"
    for before, after in itertools.pairwise(changes):
        assert after["from"] == before["to"]
