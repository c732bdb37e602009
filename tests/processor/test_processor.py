"""The processor end to end: real Mosquitto, real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import orjson

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor
from tests.factories import Factory
from tests.processor.conftest import Broker, publisher, wait_for
from tests.processor.faults import publish_numbered


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


async def test_shared_subscription_splits_the_load(
    broker: Broker, processor_settings: Settings, factory: Factory, owner_dsn: str
) -> None:
    """Two processors in one `$share` group: each stores part, together everything, once."""
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    group = f"split{uuid.uuid4().hex[:6]}"
    procs, stops, tasks, pools = [], [], [], []
    for _ in range(2):
        proc_settings = processor_settings.model_copy(
            update={
                "processor_client_id": f"gito-split-{uuid.uuid4().hex[:6]}",
                "processor_shared_group": group,
            }
        )
        pool = await create_app_pool(proc_settings.database_url or "")
        proc = Processor(proc_settings, pool, BrokerAddress("127.0.0.1", broker.port, None, None))
        stop = asyncio.Event()
        tasks.append(asyncio.create_task(proc.run(stop)))
        await asyncio.wait_for(proc.connected.wait(), 10)
        procs.append(proc)
        stops.append(stop)
        pools.append(pool)
    await asyncio.sleep(0.3)
    try:
        await publish_numbered(broker.port, f"{tenant.id}/devices/{device_id}/telemetry", 1000)

        async def all_stored() -> bool:
            rows = await _rows(
                owner_dsn, "SELECT count(*) AS n FROM telemetry WHERE device_id = $1", device_id
            )
            return rows[0]["n"] == 1000

        await wait_for(all_stored, timeout=30)
        shares = [p.batcher.stored_messages for p in procs]
        assert all(share > 0 for share in shares), shares
        assert sum(shares) == 1000
    finally:
        for stop in stops:
            stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 30)
        for pool in pools:
            await pool.close()


async def test_messages_with_and_without_mqtt5_properties_are_stored(
    broker: Broker, processor: Processor, factory: Factory, owner_dsn: str
) -> None:
    # Mosquitto forwards a publisher's properties: the processor's shortcut for an empty
    # property block (gito.processor.mqtt) must leave the general parser to handle these.
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    pub = await publisher(broker.port)
    topic = f"{tenant.id}/devices/{device_id}/telemetry"
    pub.publish(
        topic,
        b'{"ts": "2026-11-27T10:00:00Z", "a": 1}',
        qos=1,
        content_type="application/json",
        user_property=[("site", "north")],
        message_expiry_interval=300,
    )
    pub.publish(topic, b'{"ts": "2026-11-27T10:00:01Z", "a": 2}', qos=1)

    async def stored() -> list[asyncpg.Record]:
        rows = await _rows(
            owner_dsn, "SELECT values FROM telemetry WHERE device_id = $1 ORDER BY ts", device_id
        )
        return rows if len(rows) == 2 else []

    rows = await wait_for(stored)
    assert [orjson.loads(r["values"]) for r in rows] == [{"a": 1}, {"a": 2}]
    dead = await _rows(
        owner_dsn, "SELECT 1 FROM telemetry_dead_letters WHERE device_id = $1", device_id
    )
    assert dead == []
    await pub.disconnect()
