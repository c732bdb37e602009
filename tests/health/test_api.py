"""GET .../devices/{id}/health, GET .../health/summary and the device list's health score."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from gito.auth.permissions import Role
from tests.api.helpers import assert_error, data
from tests.factories import Factory
from tests.health.helpers import compute, write


async def test_device_health_before_and_after_the_first_computation(
    factory: Factory, owner_dsn: str, client: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, expected_interval_s=60)
    url = tenant.url(f"/devices/{device}/health")
    before = data(await client.get(url, headers=tenant.admin.headers))
    assert before == {"device_id": str(device), "score": None, "computed_at": None, "factors": []}

    now = datetime.now(UTC)
    await write(owner_dsn, tenant.id, device, [(now, {"battery": 10, "rssi": -80})])
    await compute(owner_dsn, tenant.id, now)
    viewer = await factory.user(tenant, Role.VIEWER)
    body = data(await client.get(url, headers=viewer.headers))
    assert body["device_id"] == str(device)
    assert datetime.fromisoformat(body["computed_at"]) == now
    factors = {f["name"]: f for f in body["factors"]}
    assert [f["name"] for f in body["factors"]] == [
        "freshness",
        "battery",
        "signal",
        "rejects",
        "alarms",
    ]
    assert factors["battery"] == {
        "name": "battery",
        "score": 20,
        "weight": 20,
        "value": 10.0,
        "detail": factors["battery"]["detail"],
    }
    assert factors["signal"]["score"] == 80 and factors["signal"]["value"] == -80
    expected = round(sum(f["score"] * f["weight"] for f in body["factors"]) / 100)
    assert body["score"] == expected == round((3000 + 400 + 1200 + 1500 + 2000) / 100)


async def test_other_tenants_device_and_path(
    factory: Factory, owner_dsn: str, client: httpx.AsyncClient
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    device_b, _ = await factory.device(b)
    await compute(owner_dsn, b.id, datetime.now(UTC))
    # B's device under A's path: hidden. A's token on B's path: refused.
    assert_error(
        await client.get(a.url(f"/devices/{device_b}/health"), headers=a.admin.headers),
        404,
        "DEVICE_NOT_FOUND",
    )
    assert_error(
        await client.get(b.url(f"/devices/{device_b}/health"), headers=a.admin.headers),
        403,
        "TENANT_FORBIDDEN",
    )
    assert_error(
        await client.get(b.url("/health/summary"), headers=a.admin.headers),
        403,
        "TENANT_FORBIDDEN",
    )
    assert_error(
        await client.get(a.url(f"/devices/{uuid.uuid4()}/health"), headers=a.admin.headers),
        404,
        "DEVICE_NOT_FOUND",
    )
    assert_error(
        await client.get(a.url("/devices/not-a-uuid/health"), headers=a.admin.headers), 422
    )


async def test_site_scoped_users_see_their_sites_only(
    factory: Factory, owner_dsn: str, client: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant()
    mine, theirs = await factory.site(tenant), await factory.site(tenant)
    inside, _ = await factory.device(tenant, site_id=mine, expected_interval_s=60)
    outside, _ = await factory.device(tenant, site_id=theirs)
    nowhere, _ = await factory.device(tenant)
    now = datetime.now(UTC)
    await write(owner_dsn, tenant.id, inside, [(now, {"t": 1})])
    await compute(owner_dsn, tenant.id, now)
    for role in (Role.SITE_ADMIN, Role.CLIENT):
        user = await factory.user(tenant, role, site_ids=[mine])
        ok = await client.get(tenant.url(f"/devices/{inside}/health"), headers=user.headers)
        assert data(ok)["score"] == 100
        for hidden in (outside, nowhere):
            assert_error(
                await client.get(tenant.url(f"/devices/{hidden}/health"), headers=user.headers),
                404,
                "DEVICE_NOT_FOUND",
            )
        summary = data(await client.get(tenant.url("/health/summary"), headers=user.headers))
        assert summary == {"good": 1, "fair": 0, "poor": 0, "unknown": 0, "total": 1}
        # Asking for a site they do not see counts nothing.
        foreign = await client.get(
            tenant.url(f"/health/summary?site_id={theirs}"), headers=user.headers
        )
        assert data(foreign)["total"] == 0


async def test_summary_and_device_list_by_health(
    factory: Factory, owner_dsn: str, client: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant()
    now = datetime.now(UTC)
    good, _ = await factory.device(tenant, name="good", expected_interval_s=60)
    fair, _ = await factory.device(tenant, name="fair", expected_interval_s=60)
    await factory.device(tenant, name="poor")  # never seen: 40
    await write(owner_dsn, tenant.id, good, [(now, {"t": 1})])
    # 3 intervals old (freshness 57), battery 30 % (60): (1710 + 1200 + 1500 + 2000) / 85 = 75
    await write(owner_dsn, tenant.id, fair, [(now - timedelta(seconds=180), {"battery": 30})])
    headers = tenant.admin.headers
    listed = data(await client.get(tenant.url("/devices?sort=health_score"), headers=headers))
    assert [d["health_score"] for d in listed] == [None, None, None]
    await compute(owner_dsn, tenant.id, now)
    await factory.device(tenant, name="late")  # created after the computation

    summary = data(await client.get(tenant.url("/health/summary"), headers=headers))
    assert summary == {"good": 1, "fair": 1, "poor": 1, "unknown": 1, "total": 4}
    ascending = data(await client.get(tenant.url("/devices?sort=health_score"), headers=headers))
    assert [(d["name"], d["health_score"]) for d in ascending] == [
        ("poor", 40),
        ("fair", 75),
        ("good", 100),
        ("late", None),  # unknown last, either way
    ]
    descending = data(await client.get(tenant.url("/devices?sort=-health_score"), headers=headers))
    assert [d["name"] for d in descending] == ["good", "fair", "poor", "late"]
    for band, names in (
        ("good", ["good"]),
        ("fair", ["fair"]),
        ("poor", ["poor"]),
        ("unknown", ["late"]),
    ):
        page = await client.get(tenant.url(f"/devices?health={band}"), headers=headers)
        assert [d["name"] for d in data(page)] == names, band
        assert page.json()["meta"]["total"] == 1
    assert_error(await client.get(tenant.url("/devices?health=great"), headers=headers), 422)
    one = data(await client.get(tenant.url(f"/devices/{fair}"), headers=headers))
    assert one["health_score"] == 75
