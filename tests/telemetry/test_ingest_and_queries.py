"""HTTP ingestion and the telemetry read API, against the real database."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson
import pytest

from gito.auth.permissions import Role
from tests.factories import Factory, TenantFixture

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


async def _ingest(client: httpx.AsyncClient, token: str, body: object) -> httpx.Response:
    return await client.post(
        "/api/v1/ingest",
        content=body if isinstance(body, bytes) else orjson.dumps(body),
        headers={"X-Device-Token": token, "Content-Type": "application/json"},
    )


async def _device_with_series(
    client: httpx.AsyncClient, factory: Factory, tenant: TenantFixture, **fields: object
) -> uuid.UUID:
    """A device with 6 readings, 10 minutes apart from HOUR: temperature 10, 11, ... 15."""
    device_id, token = await factory.device(tenant, **fields)
    batch = [
        {
            "ts": (HOUR + timedelta(minutes=10 * i)).isoformat(),
            "values": {"temperature": 10 + i, "door": i % 2 == 0},
        }
        for i in range(6)
    ]
    response = await _ingest(client, token, batch)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rows"] == 6
    return device_id


async def test_ingest_stores_every_form_and_marks_device_online(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    device_id, token = await factory.device(tenant)
    assert (await _ingest(client, token, {"temp": 21.5, "batt": 80})).status_code == 200
    assert (
        await _ingest(client, token, {"ts": int(HOUR.timestamp() * 1000), "values": {"hum": 40}})
    ).status_code == 200
    assert (
        await _ingest(client, token, {"gps": {"lat": 45.1, "lon": 7.6}, "mode": "eco"})
    ).status_code == 200

    latest = (
        await client.get(
            tenant.url(f"/devices/{device_id}/telemetry/latest"), headers=tenant.admin.headers
        )
    ).json()["data"]
    assert {k: v["value"] for k, v in latest.items()} == {
        "temperature": 21.5,
        "battery": 80,
        "humidity": 40,
        "gps.lat": 45.1,
        "gps.lon": 7.6,
        "mode": "eco",
    }
    assert latest["humidity"]["ts"] == HOUR.isoformat()
    device = (
        await client.get(tenant.url(f"/devices/{device_id}"), headers=tenant.admin.headers)
    ).json()["data"]
    assert device["status"] == "online"
    assert device["battery_level"] == 80


async def test_redelivered_message_is_stored_once(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device_id, token = await factory.device(tenant)
    message = {"ts": HOUR.isoformat(), "values": {"a": 1}}
    for _ in range(3):
        assert (await _ingest(client, token, message)).status_code == 200
    # The same moment with another key merges into the same row.
    assert (
        await _ingest(client, token, {"ts": HOUR.isoformat(), "values": {"b": 2}})
    ).status_code == 200
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch("SELECT values FROM telemetry WHERE device_id = $1", device_id)
    finally:
        await conn.close()
    assert [orjson.loads(r["values"]) for r in rows] == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{nope", "PAYLOAD_INVALID_JSON"),
        (b'{"a": NaN}', "PAYLOAD_NON_FINITE"),
        (b"[1, 2]", "PAYLOAD_NOT_OBJECT"),
        (b'{"ts": "2099-01-01T00:00:00Z", "a": 1}', "PAYLOAD_TS_FUTURE"),
        (orjson.dumps({f"k{i}": i for i in range(201)}), "PAYLOAD_TOO_MANY_KEYS"),
        (b'{"a": "' + b"x" * 70_000 + b'"}', "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_ingest_rejections_are_422_and_dead_lettered(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, body: bytes, code: str
) -> None:
    tenant = await factory.tenant()
    device_id, token = await factory.device(tenant)
    response = await _ingest(client, token, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    conn = await asyncpg.connect(owner_dsn)
    try:
        reason = await conn.fetchval(
            "SELECT reason FROM telemetry_dead_letters WHERE device_id = $1", device_id
        )
    finally:
        await conn.close()
    assert reason == code.removeprefix("PAYLOAD_").lower()


async def test_ingest_needs_a_valid_device_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    missing = await client.post("/api/v1/ingest", json={"a": 1})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "DEVICE_TOKEN_REQUIRED"
    wrong = await _ingest(client, "gdt_" + "x" * 43, {"a": 1})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "INVALID_DEVICE_TOKEN"


async def test_raw_series_several_keys_and_limit(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    device_id = await _device_with_series(client, factory, tenant)
    params = {"keys": "temperature,door", "from": (HOUR - timedelta(hours=1)).isoformat()}
    data = (
        await client.get(
            tenant.url(f"/devices/{device_id}/telemetry"),
            params=params,
            headers=tenant.admin.headers,
        )
    ).json()["data"]
    assert [p["value"] for p in data["temperature"]] == [10, 11, 12, 13, 14, 15]
    assert [p["value"] for p in data["door"]] == [True, False, True, False, True, False]
    assert data["temperature"][0]["ts"] == HOUR.isoformat()
    limited = (
        await client.get(
            tenant.url(f"/devices/{device_id}/telemetry"),
            params={**params, "limit": 2},
            headers=tenant.admin.headers,
        )
    ).json()["data"]
    assert [p["value"] for p in limited["temperature"]] == [14, 15]  # the newest, oldest first


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        ("avg", [11.0, 14.0]),
        ("min", [10, 13]),
        ("max", [12, 15]),
        ("sum", [33, 42]),
        ("count", [3, 3]),
        ("last", [12, 15]),
    ],
)
async def test_bucketed_series(
    client: httpx.AsyncClient, factory: Factory, agg: str, expected: list[float]
) -> None:
    tenant = await factory.tenant()
    device_id = await _device_with_series(client, factory, tenant)
    params = {
        "keys": "temperature",
        "from": HOUR.isoformat(),
        "to": (HOUR + timedelta(hours=1)).isoformat(),
        "interval": "30m",
        "agg": agg,
    }
    body = (
        await client.get(
            tenant.url(f"/devices/{device_id}/telemetry"),
            params=params,
            headers=tenant.admin.headers,
        )
    ).json()
    points = body["data"]["temperature"]
    assert [p["value"] for p in points] == expected
    assert [p["ts"] for p in points] == [
        HOUR.isoformat(),
        (HOUR + timedelta(minutes=30)).isoformat(),
    ]
    assert body["meta"]["agg"] == agg


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"interval": "5x"}, "INVALID_INTERVAL"),
        ({"agg": "avg"}, "INTERVAL_REQUIRED"),
        ({"interval": "1s", "from": "2020-01-01T00:00:00Z"}, "TOO_MANY_BUCKETS"),
        ({"from": "2030-01-01T00:00:00Z", "to": "2029-01-01T00:00:00Z"}, "INVALID_TIME_RANGE"),
        ({"keys": ",".join(f"k{i}" for i in range(21))}, "TOO_MANY_KEYS"),
        ({"agg": "median", "interval": "1h"}, "VALIDATION_ERROR"),
    ],
)
async def test_bad_queries_are_422(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str], code: str
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    response = await client.get(
        tenant.url(f"/devices/{device_id}/telemetry"), params=params, headers=tenant.admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_export_streams_csv(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    device_id = await _device_with_series(client, factory, tenant, name="boiler-1")
    response = await client.get(
        tenant.url(f"/devices/{device_id}/telemetry/export"),
        params={"keys": "temperature,door", "from": HOUR.isoformat()},
        headers=tenant.admin.headers,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "boiler-1" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["ts", "temperature", "door"]
    assert rows[1] == [HOUR.isoformat(), "10", "true"]
    assert len(rows) == 7


async def test_multi_device_query(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    a = await _device_with_series(client, factory, tenant)
    b = await _device_with_series(client, factory, tenant)
    response = await client.get(
        tenant.url("/telemetry"),
        params={
            "key": "temperature",
            "device_ids": f"{a},{b}",
            "interval": "1h",
            "agg": "max",
            "from": HOUR.isoformat(),
        },
        headers=tenant.admin.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        str(a): [{"ts": HOUR.isoformat(), "value": 15}],
        str(b): [{"ts": HOUR.isoformat(), "value": 15}],
    }


async def test_telemetry_is_tenant_and_site_isolated(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    device_b = await _device_with_series(client, factory, b)
    for path in ("/telemetry", "/telemetry/latest", "/telemetry/export"):
        response = await client.get(a.url(f"/devices/{device_b}{path}"), headers=a.admin.headers)
        assert response.status_code == 404, path
        forbidden = await client.get(b.url(f"/devices/{device_b}{path}"), headers=a.admin.headers)
        assert forbidden.status_code == 403, path
    multi = await client.get(
        a.url("/telemetry"),
        params={"key": "temperature", "device_ids": str(device_b)},
        headers=a.admin.headers,
    )
    assert multi.status_code == 404

    site = await factory.site(a)
    other_site = await factory.site(a)
    mine = await _device_with_series(client, factory, a, site_id=site)
    theirs = await _device_with_series(client, factory, a, site_id=other_site)
    client_user = await factory.user(a, Role.CLIENT, site_ids=[site])
    ok = await client.get(a.url(f"/devices/{mine}/telemetry/latest"), headers=client_user.headers)
    assert ok.status_code == 200
    assert ok.json()["data"]["temperature"]["value"] == 15
    hidden = await client.get(
        a.url(f"/devices/{theirs}/telemetry/latest"), headers=client_user.headers
    )
    assert hidden.status_code == 404
