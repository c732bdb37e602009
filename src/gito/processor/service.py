"""The telemetry processor: MQTT in, batched PostgreSQL writes, acknowledgements after commit.

Delivery guarantee: QoS 1 with a persistent session (fixed client id, clean_start off) and
acknowledgement after commit — the PUBACK of a message is sent only when the transaction
holding it committed. A crash before that leaves the message unacknowledged, and the broker
redelivers it to the restarted processor; the idempotent write absorbs the repeat. Above
`processor_receive_maximum` unwritten messages the processor stops reading from the broker
until half are written: that is the back-pressure when the database is slow, and the bound
on the processor's memory (it asks MQTT 5 brokers for the same Receive Maximum, but that alone
does not hold, see gito.processor.mqtt).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from gmqtt import Client
from gmqtt.mqtt.constants import UNLIMITED_RECONNECTS, MQTTv50, MQTTv311

from gito.commands.answers import CommandAnswers
from gito.config import Settings
from gito.db.rawpool import app_pool_with_retry
from gito.events.bus import RedisPublisher
from gito.processor import metrics
from gito.processor.batcher import Batcher
from gito.processor.mqtt import AckToken, BulkAckSubscriber
from gito.processor.topics import DeviceTopic, Kind, parse_topic, subscriptions
from gito.telemetry.maintenance import run_maintenance
from gito.telemetry.payloads import PayloadError, Reason, parse
from gito.telemetry.writer import Accepted, BatchResult, Rejected

log = structlog.get_logger("gito.processor")

# Session kept by the broker while the processor is away (a deploy, a crash): 7 days of
# queued messages rather than losing them. Bounded by the broker's own queue limits.
SESSION_EXPIRY_S = 7 * 24 * 3600
MAINTENANCE_INTERVAL_S = 600.0
# Distinct topics remembered parsed (one per device and kind); cleared when full.
TOPIC_CACHE_SIZE = 200_000
_MISSING = object()


def default_client_id() -> str:
    return f"gito-processor-{socket.gethostname()}"


@dataclass
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    # MQTT 5 (Mosquitto, EMQX, ...): Receive Maximum flow control and shared subscriptions.
    # The embedded amqtt broker speaks 3.1.1 only and has no shared subscriptions.
    mqtt5: bool = True
    shared_subscriptions: bool = True


class Processor:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, broker: BrokerAddress) -> None:
        self.settings = settings
        self.pool = pool
        self.broker = broker
        self.redis = RedisPublisher(settings.redis_url) if settings.redis_url else None
        self.batcher = Batcher(
            pool,
            max_messages=settings.processor_batch_size,
            max_wait_s=settings.processor_batch_wait_ms / 1000,
            # Without Redis, events travel as NOTIFY inside the batch transaction.
            notify=settings.processor_live_events and self.redis is None,
            publish=self._publish if (settings.processor_live_events and self.redis) else None,
            acknowledge=self._acknowledge,
            pause=lambda: self.subscriber.pause(),
            resume=lambda: self.subscriber.resume(),
            max_pending=settings.processor_receive_maximum,
        )
        self.client = Client(
            settings.processor_client_id or default_client_id(),
            clean_session=False,
            session_expiry_interval=SESSION_EXPIRY_S,
            receive_maximum=settings.processor_receive_maximum,
        )
        self.subscriber = BulkAckSubscriber(self.client, self._on_publish)
        self.answers = CommandAnswers(
            pool,
            dead_letter=self.batcher.add,
            acknowledge=self._acknowledge,
            notify=settings.processor_live_events and self.redis is None,
            publish=self.redis.publish if (settings.processor_live_events and self.redis) else None,
        )
        self._answering: set[asyncio.Task[None]] = set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._received = metrics.MESSAGES_RECEIVED.labels("mqtt")
        # topic string → parsed topic; devices publish on the same few topics over and over.
        self._topics: dict[str, DeviceTopic | None] = {}
        self.client.set_config({"reconnect_retries": UNLIMITED_RECONNECTS, "reconnect_delay": 2})
        if broker.username:
            self.client.set_auth_credentials(broker.username, broker.password)
        self.connected = asyncio.Event()

    async def _publish(self, result: BatchResult) -> None:
        assert self.redis is not None
        await self.redis.publish(result.events)

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        group = self.settings.processor_shared_group if self.broker.shared_subscriptions else ""
        filters = subscriptions(group or None)
        for topic in filters:
            client.subscribe(topic, qos=1)
        self.connected.set()
        log.info(
            "processor connected",
            broker=f"{self.broker.host}:{self.broker.port}",
            subscriptions=filters,
        )

    def _on_disconnect(self, client: Client, packet: Any, exc: Exception | None = None) -> None:
        self.connected.clear()
        log.warning(
            "processor disconnected from broker; reconnecting", error=str(exc) if exc else None
        )

    def _on_publish(
        self, topic: str, payload: bytes, redelivered: bool, token: AckToken | None
    ) -> None:
        self._received.inc()
        parsed = self._topic(topic)
        if parsed is not None and parsed.kind is Kind.COMMAND_RESPONSE:
            metrics.COMMAND_RESPONSES.inc()
            task = asyncio.create_task(self.answers.handle(parsed, topic, payload, token))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
            return
        self.batcher.add(self.classify(topic, payload, redelivered=redelivered), token)

    def _acknowledge(self, tokens: list[AckToken | None]) -> None:
        self.subscriber.ack(tokens)

    def _topic(self, topic: str) -> DeviceTopic | None:
        parsed = self._topics.get(topic, _MISSING)
        if parsed is _MISSING:
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            parsed = self._topics[topic] = parse_topic(topic)
        return parsed  # type: ignore[return-value]

    def classify(
        self, topic: str, payload: bytes, *, redelivered: bool = False
    ) -> Accepted | Rejected:
        parsed = self._topic(topic)
        if parsed is None:
            return Rejected(None, None, topic, Reason.INVALID_TOPIC, "not a device topic", payload)
        if parsed.kind is Kind.COMMAND_RESPONSE:
            # Answers to commands are applied by `CommandAnswers` (see `_on_publish`), not
            # stored as telemetry.
            return Rejected(
                parsed.tenant_id,
                parsed.device_id,
                topic,
                Reason.INVALID_TOPIC,
                "a command response is not telemetry",
                payload,
            )
        received_at = datetime.now(UTC)
        try:
            readings = parse(payload, now=received_at)
        except PayloadError as exc:
            return Rejected(
                parsed.tenant_id, parsed.device_id, topic, exc.reason, exc.detail, payload
            )
        return Accepted(
            parsed.tenant_id,
            parsed.device_id,
            readings,
            received_at,
            topic,
            payload,
            redelivered,
        )

    async def maintenance_loop(self) -> None:
        while True:
            try:
                async with self.pool.acquire() as conn:
                    await run_maintenance(
                        conn,
                        ahead_days=self.settings.telemetry_partitions_ahead_days,
                        dead_letter_retention_days=self.settings.dead_letter_retention_days,
                        dead_letter_max_rows=self.settings.dead_letter_max_rows,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("telemetry maintenance failed", error=repr(exc))
            await asyncio.sleep(MAINTENANCE_INTERVAL_S)

    async def run(self, stop: asyncio.Event) -> None:
        writer = asyncio.create_task(self.batcher.run(), name="gito-batch-writer")
        maintenance = asyncio.create_task(self.maintenance_loop(), name="gito-maintenance")
        await self._connect_with_retry(stop)
        await stop.wait()
        log.info("processor stopping: writing pending messages", pending=self.batcher.pending)
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=10)
        await self.batcher.drain()
        try:
            await asyncio.wait_for(writer, timeout=30)
        except TimeoutError:
            self.batcher.abort()
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance
        # Give gmqtt a moment to flush the PUBACKs of the last batch before disconnecting.
        await asyncio.sleep(0.1)
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        if self.redis is not None:
            await self.redis.close()

    async def _connect_with_retry(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                await self.client.connect(
                    self.broker.host,
                    self.broker.port,
                    version=MQTTv50 if self.broker.mqtt5 else MQTTv311,
                    keepalive=30,
                )
                return
            except Exception as exc:
                log.warning("broker unreachable; retrying", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


async def run_processor(settings: Settings, broker: BrokerAddress, stop: asyncio.Event) -> None:
    assert settings.database_url
    pool = await app_pool_with_retry(settings.database_url, stop, max_size=4)
    # The objects of start-up (modules, classes, pools) live as long as the process: moved
    # out of the collector's reach, the full collections a flood triggers no longer scan
    # them each time (measured: 1.7 s of 6.5 s CPU under a 200,000-message flood -> 0.3 s).
    # One of them that later became cyclic garbage would be kept; they are few and static.
    gc.collect()
    gc.freeze()
    try:
        await Processor(settings, pool, broker).run(stop)
    finally:
        await pool.close()
