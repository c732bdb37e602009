"""Devices: filters, every sort order, pagination, the token shown once, dev_eui rules and
credential rotation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gito.auth.security import secret_hash
from gito.db.engine import unscoped_transaction
from gito.devices.schemas import DeviceSort
from gito.devices.service import resolve_token
from tests.api.helpers import app_role, assert_error, data, owner
from tests.factories import Factory, TenantFixture


async def _create(client: httpx.AsyncClient, tenant: TenantFixture, **body: Any) -> Any:
    body.setdefault("name", f"dev-{uuid.uuid4().hex[:8]}")
    body.setdefault("device_type", "sensor")
    return data(
        await client.post(tenant.url("/devices"), headers=tenant.admin.headers, json=body), 201
    )


async def _list(client: httpx.AsyncClient, tenant: TenantFixture, query: str = "") -> Any:
    response = await client.get(tenant.url(f"/devices?{query}"), headers=tenant.admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _resolves(owner_dsn: str, token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """What the SQL function answers for a token, asked as the app role with no tenant."""
    async with app_role(owner_dsn, None) as conn:
        row = await conn.fetchrow(
            "SELECT device_id, tenant_id FROM gito_resolve_device_token($1)", secret_hash(token)
        )
    return (row[0], row[1]) if row else None


# --- create, token once -------------------------------------------------------------------


async def test_create_returns_token_once(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    created = await _create(
        client,
        tenant,
        name="Boiler 1",
        device_type="thermostat",
        metadata={"floor": 2, "vendor": {"name": "Acme"}},
        site_id=str(site),
        tags=["heating", "floor-2"],
        expected_interval_s=300,
        dev_eui="A1B2C3D4E5F60718",
    )
    token = created["token"]
    assert token.startswith("gdt_") and len(token) > 40
    assert created["status"] == "offline" and created["last_seen"] is None
    assert created["dev_eui"] == "a1b2c3d4e5f60718"
    assert created["metadata"] == {"floor": 2, "vendor": {"name": "Acme"}}
    assert created["tags"] == ["heating", "floor-2"]

    device_id = uuid.UUID(created["id"])
    assert await _resolves(owner_dsn, token) == (device_id, tenant.id)
    async with unscoped_transaction() as session:
        assert await resolve_token(session, token) == (tenant.id, device_id)

    got = await client.get(tenant.url(f"/devices/{device_id}"), headers=tenant.admin.headers)
    listed = await _list(client, tenant)
    for body in (got.text, str(listed)):
        assert token not in body and '"token"' not in body
    assert "token" not in data(got)
    # Only the hash is stored.
    async with owner(owner_dsn) as conn:
        stored = await conn.fetchrow(
            "SELECT token_hash, token_hint FROM device_credentials WHERE device_id = $1", device_id
        )
    assert stored["token_hash"] == secret_hash(token) and token not in stored["token_hash"]


async def test_patch_changes_fields_and_updated_at(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    created = await _create(client, tenant, metadata={"a": 1}, tags=["x"])
    url = tenant.url(f"/devices/{created['id']}")
    patched = data(
        await client.patch(
            url,
            headers=tenant.admin.headers,
            json={"name": "renamed", "metadata": {"b": 2}, "tags": [], "expected_interval_s": 60},
        )
    )
    assert patched["name"] == "renamed" and patched["metadata"] == {"b": 2}
    assert patched["tags"] == [] and patched["expected_interval_s"] == 60
    assert patched["updated_at"] >= created["updated_at"]
    assert data(await client.get(url, headers=tenant.admin.headers)) == patched


async def test_delete_removes_device_and_its_credential(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    created = await _create(client, tenant)
    url = tenant.url(f"/devices/{created['id']}")
    response = await client.delete(url, headers=tenant.admin.headers)
    assert response.status_code == 204 and response.content == b""
    assert_error(await client.get(url, headers=tenant.admin.headers), 404, "DEVICE_NOT_FOUND")
    assert_error(await client.delete(url, headers=tenant.admin.headers), 404)
    assert await _resolves(owner_dsn, created["token"]) is None


# --- dev_eui --------------------------------------------------------------------------------


async def test_dev_eui_is_case_insensitive_and_unique_per_tenant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.tenant(), await factory.tenant()
    eui = uuid.uuid4().hex[:16]
    first = await _create(client, a, dev_eui=eui.upper())
    assert first["dev_eui"] == eui
    duplicate = await client.post(
        a.url("/devices"),
        headers=a.admin.headers,
        json={"name": "dup", "device_type": "t", "dev_eui": eui},
    )
    assert_error(duplicate, 409, "DEV_EUI_TAKEN")
    # Another tenant may own the same physical id space.
    assert (await _create(client, b, dev_eui=eui.upper()))["dev_eui"] == eui
    # Patching another device onto a taken dev_eui is a conflict too, and changes nothing.
    other = await _create(client, a)
    url = a.url(f"/devices/{other['id']}")
    assert_error(
        await client.patch(url, headers=a.admin.headers, json={"dev_eui": eui.upper()}), 409
    )
    assert data(await client.get(url, headers=a.admin.headers))["dev_eui"] is None
    # The same device may keep its own dev_eui.
    same = await client.patch(
        a.url(f"/devices/{first['id']}"), headers=a.admin.headers, json={"dev_eui": eui.upper()}
    )
    assert data(same)["dev_eui"] == eui
    # Searching finds it by either case.
    found = await _list(client, a, f"q={eui.upper()[:10]}")
    assert [d["id"] for d in found["data"]] == [first["id"]]


@pytest.mark.parametrize(
    "dev_eui", ["0102", "0102030405060708aa", "zz02030405060708", "01-02-03-04-05-06-07"]
)
async def test_invalid_dev_eui_is_422(
    client: httpx.AsyncClient, factory: Factory, dev_eui: str
) -> None:
    tenant = await factory.tenant()
    response = await client.post(
        tenant.url("/devices"),
        headers=tenant.admin.headers,
        json={"name": "x", "device_type": "t", "dev_eui": dev_eui},
    )
    assert_error(response, 422, "VALIDATION_ERROR")


# --- credentials ----------------------------------------------------------------------------


async def test_rotate_invalidates_the_old_token(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    created = await _create(client, tenant)
    device_id = uuid.UUID(created["id"])
    url = tenant.url(f"/devices/{device_id}/credentials/rotate")
    rotated = data(await client.post(url, headers=tenant.admin.headers))
    assert rotated["device_id"] == str(device_id)
    new = rotated["token"]
    assert new != created["token"] and new.startswith("gdt_")
    assert await _resolves(owner_dsn, created["token"]) is None
    assert await _resolves(owner_dsn, new) == (device_id, tenant.id)
    again = data(await client.post(url, headers=tenant.admin.headers))["token"]
    assert await _resolves(owner_dsn, new) is None
    assert await _resolves(owner_dsn, again) == (device_id, tenant.id)
    got = await client.get(tenant.url(f"/devices/{device_id}"), headers=tenant.admin.headers)
    assert again not in got.text


# --- listing: filters, sort, pagination -----------------------------------------------------


@pytest.fixture(scope="module")
async def fleet(app: object, settings: Any, owner_dsn: str) -> dict[str, Any]:
    """One tenant with devices whose every sortable column differs (and some NULLs)."""
    factory = Factory(settings)
    tenant = await factory.tenant()
    site_a, site_b = await factory.site(tenant), await factory.site(tenant)
    now = datetime.now(UTC)
    specs = [
        # name, type, status, last_seen offset (min), site, tags, dev_eui
        ("alpha", "meter", "online", 5, site_a, ["roof", "hvac"], "00000000000000a1"),
        ("bravo", "thermostat", "offline", None, site_a, ["hvac"], None),
        ("charlie", "meter", "error", 30, site_b, [], "00000000000000c3"),
        ("delta", "valve", "idle", 1, None, ["roof"], None),
        ("echo_1", "thermostat", "online", None, site_b, ["x%y"], None),
        ("foxtrot", "valve", "offline", 60, None, [], None),
    ]
    ids: dict[str, uuid.UUID] = {}
    for name, dtype, _, _, site, tags, eui in specs:
        ids[name], _ = await factory.device(
            tenant, name=name, device_type=dtype, site_id=site, tags=tags, dev_eui=eui
        )
    # Status and last_seen are written by the platform (processor, scheduler), not the API.
    async with owner(owner_dsn) as conn:
        for name, _, status, offset, *_ in specs:
            seen = now - timedelta(minutes=offset) if offset is not None else None
            await conn.execute(
                "UPDATE devices SET status = $1, last_seen = $2 WHERE id = $3",
                status,
                seen,
                ids[name],
            )
    return {"tenant": tenant, "ids": ids, "site_a": site_a, "site_b": site_b}


async def _names(client: httpx.AsyncClient, fleet: dict[str, Any], query: str) -> list[str]:
    body = await _list(client, fleet["tenant"], f"per_page=100&{query}")
    assert body["meta"]["total"] == len(body["data"])
    return [d["name"] for d in body["data"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ALP", {"alpha"}),
        ("q=00000000000000c", {"charlie"}),
        # LIKE wildcards are literal characters in a search.
        ("q=%25", set()),
        ("q=a_p", set()),
        ("q=echo_", {"echo_1"}),
        ("status=online", {"alpha", "echo_1"}),
        ("status=error", {"charlie"}),
        ("device_type=meter", {"alpha", "charlie"}),
        ("device_type=Meter", set()),
        ("tag=hvac", {"alpha", "bravo"}),
        ("tag=roof", {"alpha", "delta"}),
        ("tag=x%25y", {"echo_1"}),
        ("tag=nothing", set()),
        ("site_id={site_a}", {"alpha", "bravo"}),
        ("site_id={site_b}&status=online", {"echo_1"}),
        ("device_type=valve&tag=roof", {"delta"}),
        (f"site_id={uuid.UUID(int=1)}", set()),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, fleet: dict[str, Any], query: str, expected: set[str]
) -> None:
    query = query.format(site_a=fleet["site_a"], site_b=fleet["site_b"])
    assert set(await _names(client, fleet, query)) == expected


def _expected_order(rows: list[dict[str, Any]], sort: DeviceSort) -> list[str]:
    """NULLs last in both directions, ties broken by id (what the API promises)."""
    column = sort.value.lstrip("-")
    descending = sort.value.startswith("-")
    by_id = sorted(rows, key=lambda r: r["id"])
    present = [r for r in by_id if r[column] is not None]
    missing = [r for r in by_id if r[column] is None]
    if column in ("created_at", "last_seen"):
        present.sort(key=lambda r: datetime.fromisoformat(r[column]), reverse=descending)
    else:
        present.sort(key=lambda r: r[column], reverse=descending)
    return [r["name"] for r in present + missing]


@pytest.mark.parametrize("sort", list(DeviceSort), ids=lambda s: s.value)
async def test_every_sort_order(
    client: httpx.AsyncClient, fleet: dict[str, Any], sort: DeviceSort
) -> None:
    rows = (await _list(client, fleet["tenant"], "per_page=100"))["data"]
    # Ties break by id; PostgreSQL compares uuids byte-wise, which is their hex string order.
    expected = _expected_order(rows, sort)
    assert await _names(client, fleet, f"sort={sort.value}") == expected
    if sort is DeviceSort.last_seen_desc:
        assert expected[:2] == ["delta", "alpha"] and set(expected[-2:]) == {"bravo", "echo_1"}


async def test_default_sort_is_by_name(client: httpx.AsyncClient, fleet: dict[str, Any]) -> None:
    names = await _names(client, fleet, "")
    assert names == sorted(names)


async def test_pagination(client: httpx.AsyncClient, fleet: dict[str, Any]) -> None:
    tenant = fleet["tenant"]
    seen: list[str] = []
    for number in (1, 2, 3):
        body = await _list(client, tenant, f"per_page=2&page={number}&sort=name")
        assert body["meta"] == {"page": number, "per_page": 2, "total": 6}
        seen += [d["name"] for d in body["data"]]
    assert seen == ["alpha", "bravo", "charlie", "delta", "echo_1", "foxtrot"]
    beyond = await _list(client, tenant, "per_page=2&page=4")
    assert beyond["data"] == [] and beyond["meta"]["total"] == 6
    assert (await _list(client, tenant, "per_page=100"))["meta"]["per_page"] == 100
    assert (await _list(client, tenant))["meta"]["per_page"] == 20


@pytest.mark.parametrize(
    "query",
    [
        "per_page=101",
        "per_page=0",
        "per_page=-1",
        "page=0",
        "page=abc",
        "sort=nonsense",
        "status=broken",
        "site_id=not-a-uuid",
        "q=" + "x" * 201,
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, fleet: dict[str, Any], query: str
) -> None:
    tenant = fleet["tenant"]
    response = await client.get(tenant.url(f"/devices?{query}"), headers=tenant.admin.headers)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_status_counts_in_one_request(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    from gito.auth.permissions import Role

    tenant = await factory.tenant()
    other = await factory.tenant()
    north = await factory.site(tenant, "north")
    south = await factory.site(tenant, "south")
    placed = [
        (north, "online"),
        (north, "online"),
        (north, "error"),
        (south, "offline"),
        (south, "idle"),
        (None, "offline"),
    ]
    for site, status in placed:
        device, _ = await factory.device(tenant, site_id=site)
        async with owner(owner_dsn) as conn:
            await conn.execute("UPDATE devices SET status = $1 WHERE id = $2", status, device)
    await factory.device(other)  # another tenant's device is not counted

    counts = data(await client.get(tenant.url("/devices/counts"), headers=tenant.admin.headers))
    assert counts == {"online": 2, "offline": 2, "idle": 1, "error": 1, "total": 6}
    scoped = await factory.user(tenant, Role.CLIENT, site_ids=[north])
    assert data(await client.get(tenant.url("/devices/counts"), headers=scoped.headers)) == {
        "online": 2,
        "offline": 0,
        "idle": 0,
        "error": 1,
        "total": 3,
    }
    assert_error(await client.get(other.url("/devices/counts"), headers=tenant.admin.headers), 403)
