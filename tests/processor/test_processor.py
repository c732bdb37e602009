"""The processor end to end: real Mosquitto, real PostgreSQL."""

from __future__ import annotations

import uuid

import asyncpg
import orjson

from gito.processor.service import Processor
from tests.factories import Factory
from tests.processor.conftest import Broker, publisher, wait_for


async def _rows(owner_dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_flat_payload_is_stored_and_device_goes_online(
    broker: Broker, processor: Processor, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    pub = await publisher(broker.port)
    pub.publish(
        f"{tenant.id}/devices/{device_id}/telemetry",
        orjson.dumps({"temp": 21.5, "humidity": 40, "batt": 87, "ok": True, "mode": "eco"}),
        qos=1,
    )

    async def stored() -> list[asyncpg.Record]:
        return await _rows(owner_dsn, "SELECT * FROM telemetry WHERE device_id = $1", device_id)

    rows = await wait_for(stored)
    assert orjson.loads(rows[0]["values"]) == {
        "temperature": 21.5,
        "humidity": 40,
        "battery": 87,
        "ok": True,
        "mode": "eco",
    }
    device = (await _rows(owner_dsn, "SELECT * FROM devices WHERE id = $1", device_id))[0]
    assert device["status"] == "online"
    assert device["battery_level"] == 87
    assert device["last_seen"] == rows[0]["ts"]
    latest = await _rows(
        owner_dsn, "SELECT values FROM telemetry_latest WHERE device_id = $1", device_id
    )
    assert {k: v[1] for k, v in orjson.loads(latest[0]["values"]).items()} == {
        "temperature": 21.5,
        "humidity": 40,
        "battery": 87,
        "ok": True,
        "mode": "eco",
    }
    await pub.disconnect()


async def test_invalid_json_is_dead_lettered(
    broker: Broker, processor: Processor, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    pub = await publisher(broker.port)
    pub.publish(f"{tenant.id}/devices/{device_id}/telemetry", b"{not json", qos=1)

    async def dead() -> list[asyncpg.Record]:
        return await _rows(
            owner_dsn, "SELECT * FROM telemetry_dead_letters WHERE device_id = $1", device_id
        )

    rows = await wait_for(dead)
    assert rows[0]["reason"] == "invalid_json"
    assert rows[0]["tenant_id"] == tenant.id
    assert bytes(rows[0]["payload"]) == b"{not json"
    await pub.disconnect()


async def test_unknown_device_is_rejected(
    broker: Broker, processor: Processor, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    ghost = uuid.uuid4()
    pub = await publisher(broker.port)
    pub.publish(f"{tenant.id}/devices/{ghost}/telemetry", b'{"t": 1}', qos=1)

    async def dead() -> list[asyncpg.Record]:
        return await _rows(
            owner_dsn, "SELECT * FROM telemetry_dead_letters WHERE device_id = $1", ghost
        )

    assert (await wait_for(dead))[0]["reason"] == "unknown_device"
    await pub.disconnect()
