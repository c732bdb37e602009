"""Webhooks end to end: an alarm change committed by the real write path queues a delivery
(outbox trigger), a running notifier POSTs it, signed, to a real local HTTP receiver."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import asyncpg
import httpx
import orjson

from gito.processor.service import Processor
from gito.telemetry.payloads import Reading
from gito.telemetry.writer import Accepted, DeviceDirectory, PartitionCache, write_batch
from tests.alarms.helpers import at, make_rule, send
from tests.api.helpers import data
from tests.factories import Factory
from tests.notifications.conftest import (
    RunNotifier,
    deliveries,
    make_channel,
    raise_alarm,
    wait_for,
)
from tests.notifications.receivers import webhook_receiver
from tests.processor.conftest import Broker, publisher


async def _delivered(owner_dsn: str, channel_id: str, n: int = 1) -> list[asyncpg.Record]:
    async def done() -> list[asyncpg.Record] | None:
        rows = await deliveries(owner_dsn, channel_id)
        finished = [r for r in rows if r["status"] in ("DELIVERED", "FAILED")]
        return rows if len(finished) >= n else None

    rows: list[asyncpg.Record] = await wait_for(done, timeout=20)
    return rows


async def test_raise_and_clear_reach_the_webhook_signed(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, name="cold-room-1")
    with webhook_receiver() as receiver:
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        secret = channel["secret"]
        assert len(secret) >= 32 and channel["has_secret"] is True
        await run_notifier()
        rule = await raise_alarm(client, owner_dsn, tenant, device, value=35.5)
        await _delivered(owner_dsn, channel["id"])
        await send(owner_dsn, tenant.id, device, [(at(60), {"temperature": 20.0})])
        rows = await _delivered(owner_dsn, channel["id"], n=2)

        assert [r["event"] for r in rows] == ["alarm.raised", "alarm.cleared"]
        assert all(r["status"] == "DELIVERED" and r["attempts"] == 1 for r in rows)
        assert all(r["last_status"] == 200 and r["delivered_at"] for r in rows)
        assert len(receiver.requests) == 2
        raised, cleared = receiver.requests
        for request, row in zip(receiver.requests, rows, strict=True):
            assert request.signed_with(secret)
            assert not request.signed_with(secret + "x")
            assert request.headers["content-type"] == "application/json"
            assert request.headers["x-gito-delivery"] == str(row["id"])
            assert request.json["id"] == str(row["id"])
            assert request.headers["x-gito-event"] == row["event"]
        body = raised.json
        assert body["event"] == "alarm.raised"
        assert body["tenant_id"] == str(tenant.id)
        alarm = body["alarm"]
        assert alarm["rule_id"] == rule and alarm["device_id"] == str(device)
        assert alarm["device_name"] == "cold-room-1"
        assert alarm["severity"] == "MAJOR" and alarm["status"] == "ACTIVE"
        assert alarm["value"] == 35.5 and alarm["field"] == "temperature"
        assert cleared.json["alarm"]["status"] == "CLEARED"
        assert cleared.json["alarm"]["value"] == 20.0


async def test_retries_after_500_until_accepted_with_the_same_body(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        receiver.answer(500, 503, 429)
        channel = await make_channel(
            client,
            tenant,
            type="webhook",
            url=receiver.url,
            secret="a-known-secret-of-32-chars-xxxxx",
        )
        assert channel["secret"] == "a-known-secret-of-32-chars-xxxxx"
        await run_notifier()
        await raise_alarm(client, owner_dsn, tenant, device)
        (row,) = await _delivered(owner_dsn, channel["id"])

        assert row["status"] == "DELIVERED" and row["attempts"] == 4
        attempts = receiver.bodies_for(str(row["id"]))
        assert len(attempts) == 4
        assert len({a.body for a in attempts}) == 1  # every retry is the same signed body
        assert all(a.signed_with("a-known-secret-of-32-chars-xxxxx") for a in attempts)
        # Exponential backoff: each wait is longer than the one before (base 0.05 s, ±20 %).
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert gaps[1] > gaps[0] * 1.2 and gaps[2] > gaps[1] * 1.2, gaps


async def test_gives_up_after_max_attempts_and_a_4xx_fails_at_once(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    other, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        receiver.answer(500, 500, 500, 500, 404)
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await run_notifier()
        await raise_alarm(client, owner_dsn, tenant, device)
        (failed,) = await _delivered(owner_dsn, channel["id"])
        assert failed["status"] == "FAILED" and failed["attempts"] == 4
        assert failed["last_status"] == 500
        assert "gave up after 4 attempts" in failed["last_error"]

        await send(owner_dsn, tenant.id, other, [(at(0), {"temperature": 40.0})])
        rows = await _delivered(owner_dsn, channel["id"], n=2)
        refused = rows[-1]
        assert refused["status"] == "FAILED" and refused["attempts"] == 1
        assert refused["last_status"] == 404 and refused["last_error"].startswith("HTTP 404")
        assert len(receiver.requests) == 5

        # A failed delivery can be sent again by hand.
        response = await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/deliveries/{refused['id']}/retry"),
            headers=tenant.admin.headers,
        )
        assert data(response, 202)["status"] == "PENDING"

        async def redelivered() -> bool:
            rows = await deliveries(owner_dsn, channel["id"])
            return any(r["id"] == refused["id"] and r["status"] == "DELIVERED" for r in rows)

        await wait_for(redelivered, timeout=10)
        again = await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/deliveries/{uuid.uuid4()}/retry"),
            headers=tenant.admin.headers,
        )
        assert again.status_code == 404


async def test_filters_severity_sites_and_events(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    north = await factory.site(tenant, "north")
    south = await factory.site(tenant, "south")
    in_north, _ = await factory.device(tenant, site_id=north)
    in_south, _ = await factory.device(tenant, site_id=south)
    with webhook_receiver() as receiver:
        majors = await make_channel(
            client, tenant, type="webhook", url=receiver.url, min_severity="MAJOR"
        )
        north_only = await make_channel(
            client, tenant, type="webhook", url=receiver.url, site_ids=[str(north)]
        )
        acks = await make_channel(
            client, tenant, type="webhook", url=receiver.url, events=["acknowledged"]
        )
        await run_notifier()
        warn = await make_rule(
            client,
            tenant,
            severity="WARNING",
            condition={"field": "humidity", "operator": ">", "value": 80},
        )
        crit = await make_rule(
            client,
            tenant,
            severity="CRITICAL",
            condition={"field": "temperature", "operator": ">", "value": 30},
        )
        for device in (in_north, in_south):
            await send(owner_dsn, tenant.id, device, [(at(0), {"humidity": 90, "temperature": 40})])
        conn = await asyncpg.connect(owner_dsn)
        try:
            alarm_id = await conn.fetchval(
                "SELECT id FROM alarms WHERE rule_id = $1 AND device_id = $2",
                uuid.UUID(crit),
                in_south,
            )
        finally:
            await conn.close()
        response = await client.post(
            tenant.url(f"/alarms/{alarm_id}/acknowledge"),
            json={"comment": "on it"},
            headers=tenant.admin.headers,
        )
        assert response.status_code == 200

        await _delivered(owner_dsn, majors["id"], n=2)
        await _delivered(owner_dsn, north_only["id"], n=2)
        await _delivered(owner_dsn, acks["id"], n=1)
        major_rows = await deliveries(owner_dsn, majors["id"])
        assert {(r["severity"], r["event"]) for r in major_rows} == {("CRITICAL", "alarm.raised")}
        assert len(major_rows) == 2  # both devices' CRITICAL alarms, no WARNING
        north_rows = await deliveries(owner_dsn, north_only["id"])
        assert {r["severity"] for r in north_rows} == {"WARNING", "CRITICAL"}
        assert len(north_rows) == 2  # only the north device's two alarms
        (ack,) = await deliveries(owner_dsn, acks["id"])
        assert ack["event"] == "alarm.acknowledged" and ack["alarm_id"] == alarm_id
        assert ack["payload"] and "on it" in ack["payload"]
        assert warn  # the WARNING rule raised alarms, which only north_only saw


async def test_an_alarm_storm_is_one_notification(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    """Repeats count into the open alarm; they do not notify again."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await run_notifier()
        await make_rule(
            client, tenant, condition={"field": "temperature", "operator": ">", "value": 30}
        )
        for batch in range(10):
            await send(
                owner_dsn,
                tenant.id,
                device,
                [(at(batch * 1000 + i), {"temperature": 31 + i % 5}) for i in range(1000)],
            )
        await _delivered(owner_dsn, channel["id"])
        await asyncio.sleep(1.5)  # a second poll: nothing else comes
        rows = await deliveries(owner_dsn, channel["id"])
        assert [r["event"] for r in rows] == ["alarm.raised"]
        assert len(receiver.requests) == 1


async def test_rolled_back_batch_queues_nothing(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    """The outbox row is written in the batch's transaction: no commit, no notification."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    channel = await make_channel(client, tenant, type="webhook", url="http://127.0.0.1:9/x")
    await make_rule(
        client, tenant, condition={"field": "temperature", "operator": ">", "value": 30}
    )
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        tx = conn.transaction()
        await tx.start()
        item = Accepted(tenant.id, device, [Reading(at(0), {"temperature": 50})], at(0))
        await write_batch(conn, [item], [], DeviceDirectory(), PartitionCache())
        queued = await conn.fetchval("SELECT count(*) FROM notification_deliveries")
        await tx.rollback()
    finally:
        await conn.close()
    assert queued == 1  # visible inside the transaction (RLS-bound to the batch's tenant)
    assert await deliveries(owner_dsn, channel["id"]) == []


async def test_a_dead_notifiers_claim_expires_and_another_delivers(
    client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
    app_pool: asyncpg.Pool,
    run_notifier: RunNotifier,
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await raise_alarm(client, owner_dsn, tenant, device)
        # A notifier claims the delivery and dies before sending (its claim: 1 s).
        async with app_pool.acquire() as conn:
            claimed = await conn.fetch("SELECT * FROM gito_claim_notifications(100, 1.0)")
        mine = [c for c in claimed if str(c["channel_id"]) == channel["id"]]
        assert len(mine) == 1
        (row,) = await deliveries(owner_dsn, channel["id"])
        assert row["status"] == "SENDING"
        await run_notifier()
        (row,) = await _delivered(owner_dsn, channel["id"])
        assert row["status"] == "DELIVERED" and row["attempts"] == 2
        assert len(receiver.bodies_for(str(row["id"]))) == 1


async def test_two_notifiers_send_each_delivery_once(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    devices = [(await factory.device(tenant))[0] for _ in range(30)]
    with webhook_receiver() as receiver:
        receiver.delay_s = 0.02
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await make_rule(
            client, tenant, condition={"field": "temperature", "operator": ">", "value": 30}
        )
        await run_notifier(notify_concurrency=4)
        await run_notifier(notify_concurrency=4)
        await asyncio.gather(
            *(send(owner_dsn, tenant.id, d, [(at(0), {"temperature": 40})]) for d in devices)
        )
        rows = await _delivered(owner_dsn, channel["id"], n=30)
        assert len(rows) == 30 and all(r["status"] == "DELIVERED" for r in rows)
        ids = [r.headers["x-gito-delivery"] for r in receiver.requests]
        assert len(ids) == 30 and len(set(ids)) == 30


async def test_a_slow_receiver_times_out_and_is_retried(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        receiver.delay_s = 1.5
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await run_notifier(notify_timeout_s=0.5, notify_max_attempts=2)
        await raise_alarm(client, owner_dsn, tenant, device)
        (row,) = await _delivered(owner_dsn, channel["id"])
        assert row["status"] == "FAILED" and row["attempts"] == 2
        assert "no response within 0.5 s" in row["last_error"]


async def test_private_targets_are_refused_when_not_allowed(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    """With NOTIFY_ALLOW_PRIVATE_TARGETS=false (the production default), a host name that
    resolves to loopback is refused when sending, before any request."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with webhook_receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        channel = await make_channel(client, tenant, type="webhook", url=url)
        await run_notifier(notify_allow_private_targets=False)
        await raise_alarm(client, owner_dsn, tenant, device)
        (row,) = await _delivered(owner_dsn, channel["id"])
        assert row["status"] == "FAILED" and row["attempts"] == 1
        assert "may not reach" in row["last_error"]
        assert receiver.requests == []


async def test_test_endpoint_sends_a_test_message(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str, run_notifier: RunNotifier
) -> None:
    tenant = await factory.tenant()
    with webhook_receiver() as receiver:
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await run_notifier()
        response = await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/test"),
            headers=tenant.admin.headers,
        )
        queued = data(response, 202)
        assert queued["event"] == "test" and queued["status"] == "PENDING"
        (row,) = await _delivered(owner_dsn, channel["id"])
        assert row["status"] == "DELIVERED"
        (request,) = receiver.requests
        assert request.json["event"] == "test" and request.signed_with(channel["secret"])
        log = await client.get(
            tenant.url(f"/notification-channels/{channel['id']}/deliveries"),
            params={"status": "DELIVERED"},
            headers=tenant.admin.headers,
        )
        (entry,) = data(log)
        assert entry["id"] == queued["id"] and entry["last_status"] == 200
        assert entry["last_duration_ms"] > 0


async def test_mqtt_breach_to_webhook_through_the_real_processor(
    broker: Broker,
    processor: Processor,
    client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
    run_notifier: RunNotifier,
) -> None:
    """The whole path: a device publishes over MQTT, the processor stores the batch and
    raises the alarm, the notifier posts the signed webhook."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, name="boiler")
    with webhook_receiver() as receiver:
        channel = await make_channel(client, tenant, type="webhook", url=receiver.url)
        await make_rule(
            client, tenant, condition={"field": "pressure", "operator": ">=", "value": 3.5}
        )
        await run_notifier()
        mqtt = await publisher(broker.port)
        try:
            mqtt.publish(
                f"{tenant.id}/devices/{device}/telemetry", orjson.dumps({"pressure": 4.2}), qos=1
            )
            (row,) = await _delivered(owner_dsn, channel["id"])
        finally:
            await mqtt.disconnect()
        assert row["status"] == "DELIVERED"
        (request,) = receiver.requests
        assert request.signed_with(channel["secret"])
        alarm = request.json["alarm"]
        assert (alarm["device_name"], alarm["field"], alarm["value"]) == ("boiler", "pressure", 4.2)


async def test_no_data_alarms_queue_notifications_too(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    """The scheduler's no-data run raises and clears in its own transactions: the outbox
    trigger queues their deliveries just the same."""
    from datetime import UTC, datetime, timedelta

    from gito.alarms.engine import evaluate_no_data

    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, device_type="gateway", name="gw-1")
    channel = await make_channel(client, tenant, type="webhook", url="http://127.0.0.1:9/x")
    await make_rule(
        client, tenant, kind="no_data", no_data_s=300, device_type="gateway", severity="MAJOR"
    )
    now = datetime.now(UTC)
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        await evaluate_no_data(conn, now + timedelta(minutes=10))
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
            await conn.execute(
                "UPDATE devices SET last_seen = $2 WHERE id = $1",
                device,
                now + timedelta(minutes=11),
            )
        await evaluate_no_data(conn, now + timedelta(minutes=12))
    finally:
        await conn.close()
    rows = await deliveries(owner_dsn, channel["id"])
    assert [r["event"] for r in rows] == ["alarm.raised", "alarm.cleared"]
    raised = orjson.loads(rows[0]["payload"])["alarm"]
    assert (raised["device_name"], raised["severity"], raised["value"]) == ("gw-1", "MAJOR", None)
