"""The engine against other writers: another processor's alarm, rule changes between batches."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from tests.alarms.helpers import alarm_events, alarms_of, at, history_of, make_rule, send
from tests.api.helpers import data
from tests.factories import Factory


async def _wait_for_lock_wait(owner_dsn: str, marker: str) -> None:
    """Until a backend running a statement containing `marker` waits for a lock."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        for _ in range(500):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'",
                marker,
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the batch never waited for the other transaction")
    finally:
        await conn.close()


async def test_a_new_alarm_merges_into_one_another_processor_opened(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    """Two processors see the same (rule, device) breach at once: the batch that comes second
    counts into the first one's alarm, escalates it (an acknowledged alarm becomes ACTIVE
    again), and neither writes history nor sends an event for the alarm it did not create."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        escalation=[{"operator": ">", "value": 40, "severity": "CRITICAL"}],
    )
    other = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    theirs = uuid.uuid4()
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
        await other.execute(
            """
            INSERT INTO alarms (id, tenant_id, rule_id, device_id, rule_name, field, severity,
              status, count, first_value, last_value, first_occurrence, last_occurrence,
              acknowledged_at, acknowledged_by, ack_comment)
            VALUES ($1, $2, $3, $4, 'r', 'temperature', 'MAJOR', 'ACKNOWLEDGED', 1, '31', '31',
                    $5, $5, now(), $6, 'seen')
            """,
            theirs,
            tenant.id,
            uuid.UUID(rule),
            device,
            at(0),
            tenant.admin.user_id,
        )
        await other.execute(
            "INSERT INTO alarm_events (tenant_id, alarm_id, action, severity) "
            "VALUES ($1, $2, 'raised', 'MAJOR')",
            tenant.id,
            theirs,
        )
        # This batch reads no open alarm (the other one is not committed) and blocks on the
        # unique index until it is.
        batch = asyncio.create_task(
            send(owner_dsn, tenant.id, device, [(at(1), {"temperature": 45})])
        )
        await _wait_for_lock_wait(owner_dsn, "WITH updated AS")
        await transaction.commit()
        result = await asyncio.wait_for(batch, 10)
    finally:
        await other.close()

    (alarm,) = await alarms_of(owner_dsn, rule)
    assert alarm["id"] == theirs
    assert (alarm["count"], alarm["severity"], alarm["status"]) == (2, "CRITICAL", "ACTIVE")
    assert alarm["acknowledged_by"] is None and alarm["ack_comment"] is None
    assert await history_of(owner_dsn, theirs) == ["raised"]
    # No event names an alarm that does not exist.
    assert all(e["alarm_id"] == str(theirs) for e in alarm_events(result))


async def test_state_is_read_for_devices_a_rule_change_gives_rules(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    """A rule disabled while its alarm is open, then enabled again: the first batch after
    that (whose cached rules gave the device none) reads the device's state, so a recovery
    clears the alarm instead of being ignored."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    elsewhere, _ = await factory.device(tenant)
    cond = {"field": "temperature", "operator": ">", "value": 30}
    rule = await make_rule(client, tenant, condition=cond, device_id=str(device))
    await make_rule(client, tenant, condition=cond, device_id=str(elsewhere))
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    url = tenant.url(f"/alert-rules/{rule}")
    response = await client.patch(url, json={"enabled": False}, headers=tenant.admin.headers)
    assert data(response)["enabled"] is False
    # Disabled: not evaluated, its open alarm stays.
    result = await send(owner_dsn, tenant.id, device, [(at(1), {"temperature": 10})])
    assert alarm_events(result) == []
    assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["ACTIVE"]
    response = await client.patch(url, json={"enabled": True}, headers=tenant.admin.headers)
    assert data(response)["enabled"] is True
    result = await send(owner_dsn, tenant.id, device, [(at(2), {"temperature": 10})])
    assert [e["action"] for e in alarm_events(result)] == ["cleared"]
    (alarm,) = await alarms_of(owner_dsn, rule)
    assert (alarm["status"], alarm["count"], alarm["cleared_at"]) == ("CLEARED", 1, at(2))
