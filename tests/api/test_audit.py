"""The audit trail: one row per write with who, what, which fields, from where and in which
request; no secrets; append-only for the app role; filterable listing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gito.auth.permissions import Role
from tests.api.helpers import app_role, assert_error, client_for, data, owner
from tests.factories import PASSWORD, Factory

CLIENT_IP = "10.77.0.1"


async def _rows(owner_dsn: str, request_id: str) -> list[dict[str, Any]]:
    async with owner(owner_dsn) as conn:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE request_id = $1", request_id)
    return [{**r, "changes": json.loads(r["changes"])} for r in rows]


async def test_every_write_is_audited_without_secrets(
    app: object, factory: Factory, owner_dsn: str
) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    tenant = await factory.tenant()
    admin = tenant.admin
    superuser = platform.admin
    secrets: list[str] = [PASSWORD, "a brand new password", admin.token, superuser.token]
    seen: list[dict[str, Any]] = []

    async with client_for(app, CLIENT_IP) as client:

        async def call(
            actor_headers: dict[str, str] | None,
            method: str,
            url: str,
            *,
            expect: tuple[str, str, str | None, Any],
            **kwargs: Any,
        ) -> httpx.Response:
            """Send one write and check the single audit row it left."""
            request_id = f"req-{uuid.uuid4().hex}"
            headers = {"X-Request-ID": request_id, **(actor_headers or {})}
            headers.update(kwargs.pop("headers", {}))
            response = await client.request(method, url, headers=headers, **kwargs)
            assert response.status_code < 300, response.text
            assert response.headers["x-request-id"] == request_id
            rows = await _rows(owner_dsn, request_id)
            assert len(rows) == 1, (url, rows)
            row = rows[0]
            action, entity_type, entity_id, changes = expect
            assert (row["action"], row["entity_type"]) == (action, entity_type)
            if entity_id is not None:
                assert row["entity_id"] == entity_id
            if callable(changes):
                changes(row["changes"])
            elif changes is not None:
                assert row["changes"] == changes
            assert row["client_ip"] == CLIENT_IP
            seen.append(row)
            return response

        # Authentication.
        login = await call(
            None,
            "POST",
            "/api/v1/auth/login",
            json={"email": admin.email, "password": PASSWORD},
            expect=("auth.login", "user", str(admin.user_id), {}),
        )
        pair = data(login)
        refreshed = data(
            await call(
                None,
                "POST",
                "/api/v1/auth/refresh",
                json={"refresh_token": pair["refresh_token"]},
                expect=("auth.refresh", "user", str(admin.user_id), {}),
            )
        )
        await call(
            None,
            "POST",
            "/api/v1/auth/logout",
            json={"refresh_token": refreshed["refresh_token"]},
            expect=("auth.logout", "user", str(admin.user_id), {}),
        )
        secrets += [pair["refresh_token"], refreshed["refresh_token"], pair["access_token"]]

        # Tenants (recorded in the super-admin's tenant).
        created_tenant = data(
            await call(
                superuser.headers,
                "POST",
                "/api/v1/tenants",
                json={"name": f"audited-{uuid.uuid4().hex[:6]}"},
                expect=("tenant.create", "tenant", None, None),
            ),
            201,
        )
        tenant_url = f"/api/v1/tenants/{created_tenant['id']}"
        await call(
            superuser.headers,
            "PATCH",
            tenant_url,
            json={"retention_days": 90, "is_active": True},
            # Only what changed: is_active was already true.
            expect=(
                "tenant.update",
                "tenant",
                created_tenant["id"],
                {"retention_days": {"from": 365, "to": 90}},
            ),
        )
        await call(
            superuser.headers,
            "DELETE",
            tenant_url,
            expect=("tenant.delete", "tenant", created_tenant["id"], None),
        )

        # Users.
        def no_password(changes: dict[str, Any]) -> None:
            assert "password" not in changes or changes["password"] in ("***", "changed")
            assert changes["role"] == "VIEWER"

        user = data(
            await call(
                admin.headers,
                "POST",
                tenant.url("/users"),
                json={
                    "email": f"u-{uuid.uuid4().hex[:6]}@example.com",
                    "password": PASSWORD,
                    "role": "VIEWER",
                },
                expect=("user.create", "user", None, no_password),
            ),
            201,
        )
        await call(
            admin.headers,
            "PATCH",
            tenant.url(f"/users/{user['id']}"),
            json={"full_name": "Ada", "password": "a brand new password"},
            expect=(
                "user.update",
                "user",
                user["id"],
                {"full_name": {"from": None, "to": "Ada"}, "password": "***"},
            ),
        )
        await call(
            admin.headers,
            "DELETE",
            tenant.url(f"/users/{user['id']}"),
            expect=("user.delete", "user", user["id"], None),
        )

        # Sites.
        site = data(
            await call(
                admin.headers,
                "POST",
                tenant.url("/sites"),
                json={"name": "Plant", "latitude": 48.1},
                expect=("site.create", "site", None, None),
            ),
            201,
        )
        await call(
            admin.headers,
            "PATCH",
            tenant.url(f"/sites/{site['id']}"),
            json={"name": "Plant 2", "latitude": 48.1},
            expect=(
                "site.update",
                "site",
                site["id"],
                {"name": {"from": "Plant", "to": "Plant 2"}},
            ),
        )

        # Devices.
        device = data(
            await call(
                admin.headers,
                "POST",
                tenant.url("/devices"),
                json={"name": "Meter", "device_type": "meter", "site_id": site["id"]},
                expect=("device.create", "device", None, None),
            ),
            201,
        )
        secrets.append(device["token"])
        device_url = tenant.url(f"/devices/{device['id']}")
        await call(
            admin.headers,
            "PATCH",
            device_url,
            json={"name": "Meter 2", "tags": ["a"], "device_type": "meter"},
            expect=(
                "device.update",
                "device",
                device["id"],
                {"name": {"from": "Meter", "to": "Meter 2"}, "tags": {"from": [], "to": ["a"]}},
            ),
        )
        rotated = data(
            await call(
                admin.headers,
                "POST",
                f"{device_url}/credentials/rotate",
                expect=("device.credentials.rotate", "device", device["id"], {}),
            )
        )
        secrets.append(rotated["token"])
        imported = data(
            await call(
                admin.headers,
                "POST",
                tenant.url("/devices/import"),
                headers={"Content-Type": "text/csv"},
                content="name,device_type\nimp-1,t\nimp-2,t\n",
                expect=("device.import", "device", None, None),
            ),
            201,
        )
        secrets += [d["token"] for d in imported]
        assert seen[-1]["changes"]["count"] == 2
        assert seen[-1]["changes"]["device_ids"] == [d["id"] for d in imported]
        await call(
            admin.headers,
            "DELETE",
            device_url,
            expect=("device.delete", "device", device["id"], None),
        )
        await call(
            admin.headers,
            "DELETE",
            tenant.url(f"/sites/{site['id']}"),
            expect=("site.delete", "site", site["id"], None),
        )

    # Who did it: the acting user; tenant writes land in the super-admin's own tenant.
    for row in seen:
        if row["action"].startswith("tenant."):
            assert (row["tenant_id"], row["actor_id"]) == (platform.id, superuser.user_id)
            assert row["actor_email"] == superuser.email
        else:
            assert (row["tenant_id"], row["actor_id"]) == (tenant.id, admin.user_id)
            assert row["actor_email"] == admin.email
    created_ids = [r["entity_id"] for r in seen if r["action"].endswith(".create")]
    assert all(created_ids)

    # No secret anywhere in either tenant's trail.
    async with owner(owner_dsn) as conn:
        trail = await conn.fetch(
            "SELECT changes::text FROM audit_log WHERE tenant_id = ANY($1::uuid[])",
            [tenant.id, platform.id],
        )
    text = "\n".join(r[0] for r in trail)
    for secret in secrets:
        assert secret not in text
    assert "argon2" not in text and "token_hash" not in text


async def test_request_id_is_generated_when_not_given(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    response = await client.post(
        tenant.url("/sites"), headers=tenant.admin.headers, json={"name": "no id"}
    )
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    rows = await _rows(owner_dsn, request_id)
    assert [r["action"] for r in rows] == ["site.create"]
    # An unprintable incoming id is replaced, not stored.
    weird = await client.get("/api/health", headers={"X-Request-ID": "a\tb"})
    assert weird.headers["x-request-id"] != "a\tb"


async def test_failed_writes_leave_no_audit_row(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    """The audit row shares the write's transaction: no commit, no row."""
    tenant = await factory.tenant()
    eui = uuid.uuid4().hex[:16]
    await factory.device(tenant, dev_eui=eui)
    request_id = f"req-{uuid.uuid4().hex}"
    response = await client.post(
        tenant.url("/devices"),
        headers={**tenant.admin.headers, "X-Request-ID": request_id},
        json={"name": "dup", "device_type": "t", "dev_eui": eui},
    )
    assert response.status_code == 409
    assert await _rows(owner_dsn, request_id) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_app_role_cannot_rewrite_history(
    factory: Factory, owner_dsn: str, statement: str
) -> None:
    tenant = await factory.tenant()
    await factory.device(tenant)
    async with app_role(owner_dsn, tenant.id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") >= 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    async with owner(owner_dsn) as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'device.create'",
            tenant.id,
        )


async def test_listing_filters_and_pagination(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    other_admin = await factory.user(tenant, Role.TENANT_ADMIN)
    headers = tenant.admin.headers
    started = datetime.now(UTC) - timedelta(seconds=1)
    site = data(await client.post(tenant.url("/sites"), headers=headers, json={"name": "a"}), 201)
    await client.patch(tenant.url(f"/sites/{site['id']}"), headers=headers, json={"name": "b"})
    for name in ("d1", "d2", "d3"):
        await client.post(
            tenant.url("/devices"),
            headers=other_admin.headers,
            json={"name": name, "device_type": "t"},
        )

    async def listing(**params: Any) -> dict[str, Any]:
        response = await client.get(tenant.url("/audit-log"), headers=headers, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = await listing()
    assert everything["meta"]["total"] == 5
    # Newest first.
    stamps = [e["created_at"] for e in everything["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {e["action"] for e in everything["data"]} == {
        "site.create",
        "site.update",
        "device.create",
    }

    assert (await listing(action="device.create"))["meta"]["total"] == 3
    assert (await listing(entity_type="site"))["meta"]["total"] == 2
    by_entity = await listing(entity_id=site["id"])
    assert [e["action"] for e in by_entity["data"]] == ["site.update", "site.create"]
    assert by_entity["data"][0]["changes"] == {"name": {"from": "a", "to": "b"}}
    by_actor = await listing(actor_id=str(other_admin.user_id))
    assert by_actor["meta"]["total"] == 3
    assert {e["actor_email"] for e in by_actor["data"]} == {other_admin.email}
    assert (await listing(action="device.create", entity_type="site"))["meta"]["total"] == 0

    assert (await listing(**{"from": started.isoformat()}))["meta"]["total"] == 5
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await listing(**{"from": future}))["meta"]["total"] == 0
    assert (await listing(to=started.isoformat()))["meta"]["total"] == 0
    # A time without an offset is read as UTC.
    naive = (datetime.now(UTC) + timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    assert (await listing(to=naive))["meta"]["total"] == 5

    pages = [await listing(per_page=2, page=n) for n in (1, 2, 3)]
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert all(p["meta"]["total"] == 5 for p in pages)
    ids = [e["id"] for p in pages for e in p["data"]]
    assert ids == [e["id"] for e in everything["data"]]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01"},
        {"actor_id": "nobody"},
        {"per_page": 101},
        {"action": "x" * 65},
    ],
)
async def test_bad_listing_parameters_are_422(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, Any]
) -> None:
    tenant = await factory.tenant()
    response = await client.get(
        tenant.url("/audit-log"), headers=tenant.admin.headers, params=params
    )
    assert_error(response, 422, "VALIDATION_ERROR")
