"""Batches messages into one transaction each and acknowledges them only after their batch
committed (at-least-once): `on_committed` receives the ack tokens of the committed batch."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from gito.events.bus import notify_in_transaction
from gito.processor import metrics
from gito.telemetry.payloads import Reason
from gito.telemetry.writer import (
    Accepted,
    BatchResult,
    DeviceDirectory,
    PartitionCache,
    Rejected,
    write_batch,
)

log = structlog.get_logger("gito.processor")

# Errors after which the same batch is simply tried again: the database or the network is
# down or busy, not the data. Anything else is treated as a poison message and isolated.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.QueryCanceledError,
)
MAX_BACKOFF_S = 5.0

# The pending-messages gauge is read when scraped, from the live batchers: updating it per
# message took 4 % of the processor's CPU under a flood (prometheus_client takes a lock).
_LIVE: weakref.WeakSet[Batcher] = weakref.WeakSet()


def _unwritten() -> float:
    try:
        return float(sum(b.unwritten for b in tuple(_LIVE)))
    except RuntimeError:  # a batcher came or went while the scrape thread iterated
        return float("nan")


metrics.PENDING.set_function(_unwritten)


@dataclass(slots=True)
class _Entry:
    item: Accepted | Rejected
    token: Any
    arrived: float


Publisher = Callable[[BatchResult], Awaitable[None]]
Acknowledger = Callable[[list[Any]], object]
FlowControl = Callable[[], None]


class Batcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_messages: int,
        max_wait_s: float,
        notify: bool,
        publish: Publisher | None = None,
        acknowledge: Acknowledger | None = None,
        pause: FlowControl | None = None,
        resume: FlowControl | None = None,
        max_pending: int = 50_000,
        transport: str = "mqtt",
    ) -> None:
        self.pool = pool
        self.max_messages = max_messages
        self.max_wait_s = max_wait_s
        self.notify = notify
        self.publish = publish
        self.acknowledge = acknowledge
        self.pause = pause
        self.resume = resume
        # Above this many unwritten messages the source is paused until half are written.
        self.max_pending = max_pending
        self._paused = False
        self.transport = transport
        # Messages this batcher stored since it started (the metrics are per process).
        self.stored_messages = 0
        self._stored = metrics.MESSAGES_STORED.labels(transport)
        self.directory = DeviceDirectory()
        self.partitions = PartitionCache()
        self._pending: list[_Entry] = []
        self._writing = 0  # messages of the batch being written
        _LIVE.add(self)
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False

    def add(self, item: Accepted | Rejected, token: Any = None) -> None:
        """Queue a message; its `token` is acknowledged once the batch holding it committed.
        Never blocks: above `max_pending` messages the source is paused, which bounds the
        queue (the broker's in-flight window alone does not, see gito.processor.mqtt)."""
        if self._closing:
            return  # not acknowledged: the broker redelivers it to the next session
        self._pending.append(_Entry(item, token, time.monotonic()))
        self._arrived.set()
        if len(self._pending) >= self.max_messages:
            self._full.set()
            if len(self._pending) >= self.max_pending and self.pause:
                # Every time, not once: a connection made since the last call (a reconnect)
                # must be paused too. `pause` is idempotent.
                self._paused = True
                self.pause()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def unwritten(self) -> int:
        """Messages taken and not yet committed: pending, and the batch being written."""
        return len(self._pending) + self._writing

    async def run(self) -> None:
        """Write batches until `drain` was called and nothing is left."""
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            wait = self._pending[0].arrived + self.max_wait_s - time.monotonic()
            if wait > 0 and len(self._pending) < self.max_messages and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), wait)
            batch = self._pending[: self.max_messages]
            del self._pending[: self.max_messages]
            if self._paused and len(self._pending) < self.max_pending // 2 and self.resume:
                self._paused = False
                self.resume()
            try:
                await self._write(batch)
            except Exception:
                # Not acknowledged: the broker redelivers these after the next reconnect.
                log.exception("batch could not be written; messages left unacknowledged")
                await asyncio.sleep(1)

    async def drain(self) -> None:
        """Stop taking messages; `run` returns after writing what is pending."""
        self._closing = True
        self._arrived.set()
        self._full.set()

    def abort(self) -> None:
        """Forget pending messages without acknowledging them (the broker redelivers)."""
        self._pending.clear()

    async def _write(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        self._writing = len(batch)
        try:
            result = await self._write_with_retry(batch)
        finally:
            self._writing = 0
        if self.acknowledge is not None:
            self.acknowledge([e.token for e in batch])
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        self._stored.inc(result.stored_messages)
        self.stored_messages += result.stored_messages
        metrics.ROWS_STORED.inc(result.stored_rows)
        if result.rejected:
            tally = Tally(r.reason.value for r in result.rejected)
            for reason, count in tally.items():
                metrics.MESSAGES_REJECTED.labels(reason).inc(count)
            log.warning(
                "messages rejected",
                counts=dict(tally),
                example=result.rejected[0].detail[:200],
            )
        if self.publish is not None and result.events:
            try:
                await self.publish(result)
            except Exception as exc:  # live events are best effort; storage already committed
                log.warning("live event publish failed", error=str(exc))

    async def _write_with_retry(self, batch: list[_Entry]) -> BatchResult:
        accepted = [e.item for e in batch if isinstance(e.item, Accepted)]
        rejected = [e.item for e in batch if isinstance(e.item, Rejected)]
        backoff = 0.1
        isolate = False
        while True:
            try:
                if isolate:
                    return await self._isolate(accepted, rejected)
                return await self._transaction(accepted, rejected)
            except TRANSIENT_ERRORS as exc:
                metrics.BATCH_RETRIES.inc()
                log.warning(
                    "batch write failed; retrying",
                    error=repr(exc),
                    retry_in_s=backoff,
                    messages=len(batch),
                )
            except asyncpg.CheckViolationError as exc:
                # A partition this process believed in was dropped (retention): re-create.
                metrics.BATCH_RETRIES.inc()
                self.partitions.days.clear()
                log.warning("partition missing; re-creating", error=str(exc))
            except Exception:
                if isolate:
                    raise
                log.exception("batch write failed on its data; isolating", messages=len(batch))
                isolate = True
                continue
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _transaction(self, accepted: list[Accepted], rejected: list[Rejected]) -> BatchResult:
        async with self.pool.acquire() as conn, conn.transaction():
            result = await write_batch(conn, accepted, rejected, self.directory, self.partitions)
            if self.notify and result.events:
                await notify_in_transaction(conn, result.events)
            return result

    async def _isolate(self, accepted: list[Accepted], rejected: list[Rejected]) -> BatchResult:
        """Write messages one by one; a message that still fails alone is dead-lettered, so
        one bad message can neither block nor lose the others."""
        total = BatchResult()
        for item in accepted:
            try:
                part = await self._transaction([item], [])
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                poison = Rejected(
                    item.tenant_id,
                    item.device_id,
                    item.topic,
                    Reason.STORAGE_ERROR,
                    repr(exc),
                    item.payload,
                )
                part = await self._transaction([], [poison])
            total.stored_rows += part.stored_rows
            total.stored_messages += part.stored_messages
            total.rejected.extend(part.rejected)
            total.events.extend(part.events)
        if rejected:
            total.rejected.extend((await self._transaction([], rejected)).rejected)
        return total
