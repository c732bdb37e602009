"""Device answers to commands, as the processor receives them on
`{tenant}/devices/{device}/commands/response`.

Each answer is applied in its own short transaction with the topic's tenant bound, and its
MQTT message is acknowledged only after that commit (at-least-once, like telemetry; a
repeated answer is recognised and acknowledged without a second change). Answers are rare
next to telemetry, so they skip the telemetry batch rather than complicate it; an answer that
cannot be applied becomes a dead letter through the batcher, which acknowledges it after the
dead letter is stored.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from gito.commands.service import Event, ResponseError, record_answer
from gito.events.bus import notify_in_transaction
from gito.processor.batcher import TRANSIENT_ERRORS
from gito.processor.topics import DeviceTopic
from gito.telemetry.payloads import Reason
from gito.telemetry.writer import Rejected

log = structlog.get_logger("gito.commands")

# A database blip is retried a few times before the answer is left unacknowledged (the
# broker then redelivers it on the processor's next session).
ATTEMPTS = 5

DeadLetter = Callable[[Rejected, Any], None]
Acknowledge = Callable[[list[Any]], object]
Publish = Callable[[list[tuple[uuid.UUID, Event]]], Awaitable[None]]


class CommandAnswers:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        dead_letter: DeadLetter,
        acknowledge: Acknowledge,
        notify: bool,
        publish: Publish | None,
    ) -> None:
        self.pool = pool
        self.dead_letter = dead_letter
        self.acknowledge = acknowledge
        self.notify = notify
        self.publish = publish
        self.applied = 0

    async def handle(self, topic: DeviceTopic, raw_topic: str, payload: bytes, token: Any) -> None:
        delay = 0.1
        for attempt in range(ATTEMPTS):
            try:
                event = await self._apply(topic, payload)
            except ResponseError as exc:
                self._reject(topic, raw_topic, exc.reason, exc.detail, payload, token)
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("command answer not stored; retrying", error=repr(exc))
                if attempt + 1 == ATTEMPTS:
                    return  # unacknowledged: redelivered on the next session
                await asyncio.sleep(delay)
                delay *= 2
                continue
            except Exception as exc:
                log.exception("command answer failed")
                self._reject(topic, raw_topic, Reason.STORAGE_ERROR, repr(exc), payload, token)
                return
            self.acknowledge([token])
            if event is not None:
                self.applied += 1
                if self.publish is not None:
                    try:
                        await self.publish([(topic.tenant_id, event)])
                    except Exception as exc:  # live events are best effort
                        log.warning("live event publish failed", error=str(exc))
            return

    async def _apply(self, topic: DeviceTopic, payload: bytes) -> Event | None:
        async with self.pool.acquire() as conn, conn.transaction():
            event = await record_answer(conn, topic.tenant_id, topic.device_id, payload)
            if event is not None and self.notify:
                await notify_in_transaction(conn, [(topic.tenant_id, event)])
            return event

    def _reject(
        self,
        topic: DeviceTopic,
        raw_topic: str,
        reason: Reason,
        detail: str,
        payload: bytes,
        token: Any,
    ) -> None:
        self.dead_letter(
            Rejected(topic.tenant_id, topic.device_id, raw_topic, reason, detail, payload), token
        )
