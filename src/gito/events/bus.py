"""Live events fan-out (DESIGN §1): processors publish, every API process delivers to its
WebSocket clients.

Transport: Redis pub/sub when `REDIS_URL` is set, else PostgreSQL NOTIFY (always available,
and transactional: a NOTIFY sent inside the batch transaction is delivered only if the batch
commits). Inside one API process a `Hub` hands each tenant's events to its subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import orjson
import structlog

log = structlog.get_logger("gito.events")

PG_CHANNEL = "gito_events"
REDIS_PATTERN = "gito:events:"
# NOTIFY payloads must stay under 8000 bytes; leave room for the envelope.
PG_CHUNK_BYTES = 7000
# A slow WebSocket client may lag this many event lists before it is dropped.
SUBSCRIBER_QUEUE = 256

Event = dict[str, Any]


def encode_chunks(tenant_id: uuid.UUID, events: list[Event]) -> list[str]:
    """Split a tenant's events into NOTIFY-sized JSON payloads `{"t": tenant, "e": [...]}`."""
    chunks: list[str] = []
    current: list[bytes] = []
    size = 0
    prefix = f'{{"t":"{tenant_id}","e":['
    for event in events:
        encoded = orjson.dumps(event)
        if len(encoded) + len(prefix) + 2 > PG_CHUNK_BYTES:
            continue  # one oversized event is dropped rather than breaking NOTIFY
        if size + len(encoded) + len(prefix) + 2 > PG_CHUNK_BYTES and current:
            chunks.append(prefix + b",".join(current).decode() + "]}")
            current, size = [], 0
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        chunks.append(prefix + b",".join(current).decode() + "]}")
    return chunks


async def notify_in_transaction(
    conn: asyncpg.Connection, events: list[tuple[uuid.UUID, Event]]
) -> None:
    """Queue events as NOTIFYs in the caller's transaction (sent on commit)."""
    by_tenant: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for tenant, event in events:
        by_tenant[tenant].append(event)
    payloads = [c for tenant, evs in by_tenant.items() for c in encode_chunks(tenant, evs)]
    if payloads:
        await conn.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", PG_CHANNEL, payloads
        )


class RedisPublisher:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)

    async def publish(self, events: list[tuple[uuid.UUID, Event]]) -> None:
        by_tenant: dict[uuid.UUID, list[Event]] = defaultdict(list)
        for tenant, event in events:
            by_tenant[tenant].append(event)
        async with self._redis.pipeline(transaction=False) as pipe:
            for tenant, evs in by_tenant.items():
                pipe.publish(f"{REDIS_PATTERN}{tenant}", orjson.dumps(evs))
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


class Hub:
    """In-process fan-out of one API process: tenant → subscriber queues."""

    def __init__(self) -> None:
        self._subscribers: dict[uuid.UUID, set[asyncio.Queue[list[Event]]]] = defaultdict(set)

    def deliver(self, tenant_id: uuid.UUID, events: list[Event]) -> None:
        for queue in list(self._subscribers.get(tenant_id, ())):
            if queue.full():
                # The client cannot keep up: drop its oldest events, never block the feed.
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(events)

    @contextlib.contextmanager
    def subscription(self, tenant_id: uuid.UUID) -> Any:
        queue: asyncio.Queue[list[Event]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers[tenant_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[tenant_id].discard(queue)
            if not self._subscribers[tenant_id]:
                del self._subscribers[tenant_id]


async def listen(
    dsn: str,
    channel: str,
    on_payload: Callable[[str], None],
    *,
    server_settings: dict[str, str] | None = None,
    on_connected: Callable[[], None] | None = None,
) -> None:
    """LISTEN on `channel` and call `on_payload` with each notification's payload; reconnect
    with backoff until cancelled. `on_connected` runs after every (re)connection, for callers
    that must catch up with what was sent while they were not listening."""
    delay = 0.5
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn, server_settings=server_settings)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_payload(payload))
            delay = 0.5
            if on_connected is not None:
                on_connected()
            await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "listener disconnected; retrying", channel=channel, error=str(exc), retry_in_s=delay
            )
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10)


async def pump_postgres(
    dsn: str, hub: Hub, *, server_settings: dict[str, str] | None = None
) -> None:
    """LISTEN on the events channel and feed the hub; reconnects until cancelled."""

    def on_payload(payload: str) -> None:
        try:
            message = orjson.loads(payload)
            hub.deliver(uuid.UUID(message["t"]), message["e"])
        except (orjson.JSONDecodeError, KeyError, ValueError):
            log.warning("bad event payload on channel", channel=PG_CHANNEL)

    await listen(dsn, PG_CHANNEL, on_payload, server_settings=server_settings)


async def pump_redis(url: str, hub: Hub) -> None:
    """PSUBSCRIBE to every tenant's channel and feed the hub; reconnects until cancelled."""
    import redis.asyncio as redis

    delay = 0.5
    while True:
        client = redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe(f"{REDIS_PATTERN}*")
                delay = 0.5
                async for message in _messages(pubsub):
                    channel = message["channel"].decode()
                    try:
                        hub.deliver(
                            uuid.UUID(channel.removeprefix(REDIS_PATTERN)),
                            orjson.loads(message["data"]),
                        )
                    except (ValueError, orjson.JSONDecodeError):
                        log.warning("bad event payload on channel", channel=channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "redis event listener disconnected; retrying", error=str(exc), retry_in_s=delay
            )
        finally:
            await client.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10)


async def _messages(pubsub: Any) -> AsyncIterator[dict[str, Any]]:
    async for message in pubsub.listen():
        if message.get("type") == "pmessage":
            yield message
