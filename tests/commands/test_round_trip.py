"""Commands end to end: API → real Mosquitto → a device → processor → PostgreSQL, and the
scheduler's timeouts, expiry and resends."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import orjson

from gito.commands.sender import CommandSender, SenderAddress
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.events.bus import PG_CHANNEL
from gito.processor.service import Processor
from gito.scheduler.jobs import Job, command_deadlines
from gito.scheduler.runner import Scheduler
from tests.api.helpers import data
from tests.commands.conftest import FakeDevice, install_sender
from tests.factories import Factory, TenantFixture
from tests.processor.conftest import Broker, publisher, wait_for


async def _send(
    client: httpx.AsyncClient, tenant: TenantFixture, device_id: uuid.UUID, body: dict[str, Any]
) -> dict[str, Any]:
    """POST a command as the tenant admin; the created command (201)."""
    created: dict[str, Any] = data(
        await client.post(
            tenant.url(f"/devices/{device_id}/commands"), json=body, headers=tenant.admin.headers
        ),
        201,
    )
    return created


async def _status(
    client: httpx.AsyncClient, tenant: TenantFixture, device: uuid.UUID, cmd: str
) -> dict[str, Any]:
    url = tenant.url(f"/devices/{device}/commands/{cmd}")
    result: dict[str, Any] = data(await client.get(url, headers=tenant.admin.headers))
    return result


async def _until(
    client: httpx.AsyncClient,
    tenant: TenantFixture,
    device: uuid.UUID,
    cmd: str,
    status: str,
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        current = await _status(client, tenant, device, cmd)
        return current if current["status"] == status else None

    result: dict[str, Any] = await wait_for(reached)
    return result


async def _run_deadlines(settings: Settings, sender: CommandSender | None = None) -> None:
    """One run of the scheduler's command job (interval ~0: never skipped as 'ran already')."""
    pool = await create_app_pool(settings.database_url or "", max_size=1)
    try:
        ran = await Scheduler(
            settings,
            pool,
            sender=sender,
            jobs=[],
        ).run_job(Job(f"commands-{uuid.uuid4().hex[:6]}", 0.001, command_deadlines))
        assert ran
    finally:
        await pool.close()


async def test_round_trip_successful_with_live_event(
    client: httpx.AsyncClient,
    factory: Factory,
    broker: Broker,
    processor: Processor,
    live_sender: CommandSender,
    owner_dsn: str,
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    device = await FakeDevice(broker.port, tenant.id, device_id).start()
    events: list[dict[str, Any]] = []
    listener = await asyncpg.connect(owner_dsn)

    def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
        body = orjson.loads(payload)
        if body["t"] == str(tenant.id):
            events.extend(e for e in body["e"] if e["type"] == "command")

    await listener.add_listener(PG_CHANNEL, on_notify)
    try:
        created = await _send(
            client,
            tenant,
            device_id,
            {"name": "set_interval", "params": {"seconds": 15}, "timeout_s": 20},
        )
        # SENT when the broker acknowledged; a fast device may already have answered.
        assert created["status"] in ("SENT", "SUCCESSFUL"), created
        assert created["name"] == "set_interval" and created["params"] == {"seconds": 15}
        done = await _until(client, tenant, device_id, created["id"], "SUCCESSFUL")
        assert done["result"] == {"echo": {"seconds": 15}}
        assert done["sent_at"] is not None and done["completed_at"] is not None
        assert device.received == [
            {"id": created["id"], "name": "set_interval", "params": {"seconds": 15}}
        ]
        await wait_for(lambda: _async([e["status"] for e in events][-1:] == ["SUCCESSFUL"]))
        assert {e["id"] for e in events} == {created["id"]}
        history = data(
            await client.get(
                tenant.url(f"/devices/{device_id}/commands"), headers=tenant.admin.headers
            )
        )
        assert [c["id"] for c in history] == [created["id"]]
    finally:
        await listener.close()
        await device.stop()


async def _async(value: Any) -> Any:
    return value


async def test_failed_answer_is_stored_with_its_result(
    client: httpx.AsyncClient,
    factory: Factory,
    broker: Broker,
    processor: Processor,
    live_sender: CommandSender,
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    device = await FakeDevice(broker.port, tenant.id, device_id).start()
    device.answer = lambda cmd: {
        "id": cmd["id"],
        "status": "FAILED",
        "result": {"error": "unknown command"},
    }
    try:
        created = await _send(client, tenant, device_id, {"name": "self_destruct"})
        assert created["timeout_s"] == 30 and created["params"] == {}
        done = await _until(client, tenant, device_id, created["id"], "FAILED")
        assert done["result"] == {"error": "unknown command"}
        failed = data(
            await client.get(
                tenant.url(f"/devices/{device_id}/commands?status=FAILED"),
                headers=tenant.admin.headers,
            )
        )
        assert [c["id"] for c in failed] == [created["id"]]
    finally:
        await device.stop()


async def test_silent_device_times_out(
    client: httpx.AsyncClient,
    factory: Factory,
    broker: Broker,
    processor: Processor,
    live_sender: CommandSender,
    processor_settings: Settings,
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    device = await FakeDevice(broker.port, tenant.id, device_id).start()
    device.answer = lambda cmd: None
    try:
        created = await _send(client, tenant, device_id, {"name": "reboot", "timeout_s": 1})
        assert created["status"] == "SENT"
        await _run_deadlines(processor_settings)
        assert (await _status(client, tenant, device_id, created["id"]))["status"] == "SENT"
        await asyncio.sleep(1.2)
        await _run_deadlines(processor_settings)
        timed_out = await _status(client, tenant, device_id, created["id"])
        assert timed_out["status"] == "TIMEOUT" and timed_out["completed_at"]
        assert len(device.received) == 1
        # An answer after the deadline changes nothing (it becomes a dead letter).
        pub = await publisher(broker.port)
        pub.publish(
            f"{tenant.id}/devices/{device_id}/commands/response",
            orjson.dumps({"id": created["id"], "status": "SUCCESSFUL"}),
            qos=1,
        )
        await asyncio.sleep(0.5)
        await pub.disconnect()
        assert (await _status(client, tenant, device_id, created["id"]))["status"] == "TIMEOUT"
    finally:
        await device.stop()


async def test_unreachable_broker_leaves_pending_then_expired(
    client: httpx.AsyncClient,
    factory: Factory,
    dead_sender: CommandSender,
    settings: Settings,
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    created = await _send(client, tenant, device_id, {"name": "reboot", "timeout_s": 1})
    assert created["status"] == "PENDING" and created["sent_at"] is None
    await asyncio.sleep(1.2)
    await _run_deadlines(settings, dead_sender)
    expired = await _status(client, tenant, device_id, created["id"])
    assert expired["status"] == "EXPIRED" and expired["sent_at"] is None


async def test_scheduler_resends_pending_commands_once_the_broker_is_back(
    client: httpx.AsyncClient,
    factory: Factory,
    broker: Broker,
    processor: Processor,
    dead_sender: CommandSender,
    processor_settings: Settings,
    owner_dsn: str,
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    created = await _send(client, tenant, device_id, {"name": "reboot", "timeout_s": 60})
    assert created["status"] == "PENDING"
    # Older than the grace period in which the API's own send is left alone.
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(
            "UPDATE commands SET created_at = now() - interval '10 seconds' WHERE id = $1",
            uuid.UUID(created["id"]),
        )
    finally:
        await conn.close()
    device = await FakeDevice(broker.port, tenant.id, device_id).start()

    sender = CommandSender(SenderAddress("127.0.0.1", broker.port))
    try:
        await _run_deadlines(processor_settings, sender)
        done = await _until(client, tenant, device_id, created["id"], "SUCCESSFUL")
        assert done["sent_at"] is not None
        assert [c["id"] for c in device.received] == [created["id"]]
    finally:
        await sender.close()
        await device.stop()


async def _dead_letters(owner_dsn: str, device_id: uuid.UUID) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        return await conn.fetch(
            "SELECT reason, detail FROM telemetry_dead_letters WHERE device_id = $1 ORDER BY id",
            device_id,
        )
    finally:
        await conn.close()


async def test_bad_answers_become_dead_letters(
    client: httpx.AsyncClient,
    factory: Factory,
    broker: Broker,
    processor: Processor,
    dead_sender: CommandSender,
    owner_dsn: str,
) -> None:
    tenant = await factory.tenant()
    other_tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    sibling, _ = await factory.device(tenant)
    foreign, _ = await factory.device(other_tenant)
    created = await _send(client, tenant, device_id, {"name": "reboot"})
    foreign_cmd = data(
        await client.post(
            other_tenant.url(f"/devices/{foreign}/commands"),
            json={"name": "reboot"},
            headers=other_tenant.admin.headers,
        ),
        201,
    )
    pub = await publisher(broker.port)
    topic = f"{tenant.id}/devices/{sibling}/commands/response"
    answers = [
        b"not json",
        b"[1]",
        orjson.dumps({"id": created["id"], "status": "DONE"}),
        orjson.dumps({"id": "nope", "status": "SUCCESSFUL"}),
        orjson.dumps({"id": str(uuid.uuid4()), "status": "SUCCESSFUL"}),
        # Another device's command, and another tenant's (invisible under RLS).
        orjson.dumps({"id": created["id"], "status": "SUCCESSFUL"}),
        orjson.dumps({"id": foreign_cmd["id"], "status": "SUCCESSFUL"}),
    ]
    for answer in answers:
        pub.publish(topic, answer, qos=1)

    async def all_dead() -> list[asyncpg.Record] | None:
        rows = await _dead_letters(owner_dsn, sibling)
        return rows if len(rows) == len(answers) else None

    rows = await wait_for(all_dead)
    await pub.disconnect()
    assert sorted(r["reason"] for r in rows) == sorted(
        ["invalid_json", "invalid_response", "invalid_response", "invalid_response"]
        + ["unknown_command"] * 3
    )
    assert (await _status(client, tenant, device_id, created["id"]))["status"] == "PENDING"
    assert (await _status(client, other_tenant, foreign, foreign_cmd["id"]))["status"] == (
        "PENDING"
    )


async def test_a_slow_broker_does_not_hold_a_database_connection(
    client: httpx.AsyncClient, factory: Factory, app: Any, owner_dsn: str
) -> None:
    """While the API waits for a broker that accepts TCP but never answers CONNECT (3 s),
    no connection of it sits idle in a transaction."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    sender = CommandSender(SenderAddress("127.0.0.1", port))
    previous = install_sender(app, sender)
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    try:
        request = asyncio.create_task(
            client.post(
                tenant.url(f"/devices/{device_id}/commands"),
                json={"name": "reboot", "timeout_s": 30},
                headers=tenant.admin.headers,
            )
        )
        await asyncio.sleep(1.5)  # the sender is waiting for CONNACK now
        assert not request.done()
        conn = await asyncpg.connect(owner_dsn)
        try:
            idle = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE state = 'idle in transaction' AND datname = current_database()"
            )
        finally:
            await conn.close()
        assert idle == 0
        created = data(await request, 201)
        assert created["status"] == "PENDING"
    finally:
        install_sender(app, previous)
        await sender.close()
        silent.close()
