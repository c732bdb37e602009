"""First-start bootstrap and the `gito up --demo` account."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from gito.bootstrap import DEFAULT_TENANT, DEMO_USER_EMAIL, ensure_demo_user
from gito.db.engine import enable_platform_scope, unscoped_transaction
from gito.db.models import Tenant
from tests.factories import Factory


async def test_demo_account_gets_a_fresh_password_each_start(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    async with unscoped_transaction() as session:
        await enable_platform_scope(session)
        has_default = (
            await session.execute(select(Tenant).where(Tenant.name == DEFAULT_TENANT))
        ).scalar_one_or_none()
    if has_default is None:
        await factory.tenant(name=DEFAULT_TENANT)
    first = await ensure_demo_user()
    second = await ensure_demo_user()
    assert first is not None and second is not None
    assert first[0] == second[0] == DEMO_USER_EMAIL
    assert first[1] != second[1]
    stale = await client.post(
        "/api/v1/auth/login", json={"email": DEMO_USER_EMAIL, "password": first[1]}
    )
    assert stale.status_code == 401
    fresh = await client.post(
        "/api/v1/auth/login", json={"email": DEMO_USER_EMAIL, "password": second[1]}
    )
    assert fresh.status_code == 200
    assert fresh.json()["data"]["user"]["role"] == "TENANT_ADMIN"
