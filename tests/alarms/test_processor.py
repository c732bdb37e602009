"""Alarms raised by the real processor from real MQTT messages (Mosquitto, PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson

from gito.events.bus import PG_CHANNEL
from gito.processor.service import Processor
from tests.alarms.helpers import alarms_of, make_rule
from tests.factories import Factory
from tests.processor.conftest import Broker, publisher, wait_for
from tests.processor.faults import publish_numbered


async def test_alarm_storm_yields_one_open_alarm_per_rule_and_device(
    broker: Broker,
    processor: Processor,
    client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
) -> None:
    """10,000 breaching messages from two devices: one open alarm per (rule, device), each
    counting every message of its device."""
    tenant = await factory.tenant()
    devices = [(await factory.device(tenant))[0] for _ in range(2)]
    # publish_numbered sends temperature 20..29: every message breaches both rules.
    hot = await make_rule(
        client, tenant, condition={"field": "temperature", "operator": ">=", "value": 20}
    )
    seq = await make_rule(
        client,
        tenant,
        condition={"field": "seq", "operator": ">=", "value": 0},
        severity="WARNING",
        escalation=[{"operator": ">=", "value": 4000, "severity": "CRITICAL"}],
    )
    start = datetime.now(UTC) - timedelta(hours=1)
    await asyncio.gather(
        *(
            publish_numbered(broker.port, f"{tenant.id}/devices/{d}/telemetry", 5000, start=start)
            for d in devices
        )
    )

    async def counted() -> bool:
        rows = await alarms_of(owner_dsn, hot)
        return sum(r["count"] for r in rows) == 10_000

    await wait_for(counted, timeout=60)
    for rule in (hot, seq):
        rows = await alarms_of(owner_dsn, rule)
        assert sorted(r["device_id"] for r in rows) == sorted(devices)
        assert all(r["status"] == "ACTIVE" and r["count"] == 5000 for r in rows), rows
    assert {r["severity"] for r in await alarms_of(owner_dsn, seq)} == {"CRITICAL"}
    assert {r["severity"] for r in await alarms_of(owner_dsn, hot)} == {"MAJOR"}


async def test_alarm_events_are_notified_with_the_batch(
    broker: Broker,
    processor: Processor,
    client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client, tenant, condition={"field": "temperature", "operator": ">", "value": 30}
    )
    received: list[dict[str, Any]] = []
    listener = await asyncpg.connect(owner_dsn)

    def on_event(_c: object, _pid: int, _channel: str, payload: str) -> None:
        body = orjson.loads(payload)
        if body["t"] == str(tenant.id):
            received.extend(e for e in body["e"] if e["type"] == "alarm")

    await listener.add_listener(PG_CHANNEL, on_event)
    pub = await publisher(broker.port)
    try:
        topic = f"{tenant.id}/devices/{device}/telemetry"
        pub.publish(topic, orjson.dumps({"temperature": 35}), qos=1)

        async def raised() -> bool:
            return any(e["action"] == "raised" for e in received)

        await wait_for(raised)
        await asyncio.sleep(0.05)  # distinct server timestamps for the two messages
        pub.publish(topic, orjson.dumps({"temperature": 21}), qos=1)

        async def cleared() -> bool:
            return any(e["action"] == "cleared" for e in received)

        await wait_for(cleared)
        (alarm,) = await alarms_of(owner_dsn, rule)
        assert alarm["status"] == "CLEARED"
        assert received[0]["alarm_id"] == str(alarm["id"])
        assert received[0]["device_id"] == str(device)
        assert received[0]["severity"] == "MAJOR"
    finally:
        await pub.disconnect()
        await listener.close()
