"""Back-pressure under a flood: the processor takes no more than its limit of unwritten
messages, whatever the broker sends (a flood used to fill its memory: issue 3)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from prometheus_client import REGISTRY

from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.mqtt import AckToken, BulkAckSubscriber
from gito.processor.service import BrokerAddress, Processor
from tests.factories import Factory
from tests.processor.conftest import Broker, wait_for
from tests.processor.faults import CuttableProxy
from tests.processor.test_faults import _all_stored

# ~1 KB messages: one 64 KiB read of gmqtt's, which a pause cannot take back, holds ~65.
PADDING = {f"note{i}": "x" * 220 for i in range(4)}
ONE_READ = 64 * 1024 // 1000 + 1


def _message(seq: int, ts: datetime) -> bytes:
    return orjson.dumps({"ts": ts.isoformat(), "values": {"seq": seq, **PADDING}})


async def _flood(port: int, topic: str, count: int) -> None:
    """`count` QoS 1 messages at full speed; returns once the broker acknowledged them all."""
    client = Client(f"flood-{uuid.uuid4().hex[:8]}")
    await client.connect("127.0.0.1", port, version=MQTTv50)
    base = datetime.now(UTC) - timedelta(hours=1)
    for seq in range(count):
        client.publish(topic, _message(seq, base + timedelta(milliseconds=seq)), qos=1)
        if seq % 200 == 0:
            await asyncio.sleep(0)
    while not client._persistent_storage.is_empty:
        await asyncio.sleep(0.05)
    await client.disconnect()


async def test_paused_subscriber_takes_no_more_while_its_acks_flow(broker: Broker) -> None:
    """A burst larger than asyncio's stream buffer arrives, the subscriber pauses in the
    middle of it and keeps acknowledging what it took (Mosquitto 2.0.11 answers every PUBACK
    with up to a whole Receive Maximum of new messages). Pausing the socket did not hold
    here: the stream reader resumed it as soon as its own buffer drained."""
    topic = f"flood/{uuid.uuid4().hex[:8]}"
    window, limit, count = 1000, 100, 3000
    received: list[tuple[int, AckToken | None]] = []
    client = Client(
        f"bp-{uuid.uuid4().hex[:8]}",
        clean_session=False,
        session_expiry_interval=600,
        receive_maximum=window,
    )

    def on_publish(_topic: str, payload: bytes, _dup: bool, token: AckToken | None) -> None:
        received.append((orjson.loads(payload)["values"]["seq"], token))
        if len(received) == limit:  # once: it must hold until `resume`
            subscriber.pause()

    subscriber = BulkAckSubscriber(client, on_publish)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    await client.connect("127.0.0.1", broker.port, version=MQTTv50)
    await asyncio.sleep(0.3)  # subscribed
    try:
        await _flood(broker.port, topic, count)
        await wait_for(_async(lambda: len(received) >= limit))
        assert subscriber.paused
        # asyncio's StreamReader resumes the socket whenever its own buffer drains (what
        # defeated pausing the socket); the pause must hold through that.
        subscriber._handler.current_connection._transport.resume_reading()
        acked = 0

        def ack_new() -> None:
            nonlocal acked
            subscriber.ack([token for _, token in received[acked:]])
            acked = len(received)

        # Commits keep acknowledging what was taken; each PUBACK invites more messages.
        for _ in range(10):
            ack_new()
            await asyncio.sleep(0.15)
        assert len(received) <= limit + ONE_READ, len(received)

        async def all_received() -> bool:
            subscriber.resume()
            ack_new()
            return len(received) >= count

        await wait_for(all_received, timeout=30)
        assert sorted(seq for seq, _ in received) == list(range(count))
    finally:
        await client.disconnect()


def _async(predicate):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return bool(predicate())

    return check


@pytest.mark.parametrize("mqtt5", [False, True], ids=["mqtt311", "mqtt5"])
async def test_processor_holds_a_backlog_during_a_database_outage(
    mqtt5: bool,
    broker: Broker,
    settings: Settings,
    factory: Factory,
    database_url: str,
    owner_dsn: str,
) -> None:
    """A processor comes back to a backlog in its session while the database is down: its
    unwritten messages stay at its limit (MQTT 3.1.1 has no Receive Maximum, so only the
    paused read holds the broker's burst), and once the database is back every message is
    stored exactly once."""
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    limit, count = 200, 3000
    proxy = CuttableProxy(database_url)
    await proxy.start()
    proc_settings = settings.model_copy(
        update={
            "database_url": proxy.url(),
            "processor_client_id": f"gito-bp-{uuid.uuid4().hex[:6]}",
            "processor_batch_wait_ms": 20,
            "processor_batch_size": 100,
            "processor_receive_maximum": limit,
        }
    )
    pool = await create_app_pool(proxy.url())
    address = BrokerAddress("127.0.0.1", broker.port, None, None, mqtt5=mqtt5)

    async def start() -> tuple[Processor, asyncio.Event, asyncio.Task[None]]:
        proc = Processor(proc_settings, pool, address)
        stop = asyncio.Event()
        task = asyncio.create_task(proc.run(stop))
        await asyncio.wait_for(proc.connected.wait(), 10)
        return proc, stop, task

    try:
        _, stop, task = await start()  # the session and its subscriptions
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, 30)
        proxy.cut()
        await _flood(broker.port, f"{tenant.id}/devices/{device_id}/telemetry", count)
        proc, stop, task = await start()
        try:
            time.sleep(0.5)  # a busy event loop: the broker's burst piles up in the socket
            await asyncio.sleep(1.5)
            # The limit, and what one read past it delivered (one batch is in its write).
            assert proc.batcher.pending <= limit + ONE_READ, proc.batcher.pending
            # The gauge counts them, and the batch stuck in its write.
            unwritten = REGISTRY.get_sample_value("gito_ingest_pending_messages")
            assert unwritten == proc.batcher.unwritten > proc.batcher.pending
            if not mqtt5:  # (with MQTT 5 and no acknowledgements the broker's window holds)
                assert proc.subscriber.paused
            proxy.restore()
            await _all_stored(owner_dsn, device_id, count, timeout=120)
            assert not proc.subscriber.paused
            await wait_for(
                _async(lambda: REGISTRY.get_sample_value("gito_ingest_pending_messages") == 0)
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    finally:
        await pool.close()
        await proxy.stop()
