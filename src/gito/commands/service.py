"""Command life cycle. The API creates and sends, the processor records answers, the
scheduler retries, times out and expires — all through the transitions here, each one a
single conditional UPDATE, so racing actors (an answer arriving while the scheduler times the
command out, say) settle on exactly one final status.

`expires_at` is the one deadline of an open command: while PENDING, the time by which it
must reach the broker (else EXPIRED); once SENT, the time by which the device must answer
(else TIMEOUT) — `timeout_s` after it was sent.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Select, select

from gito.commands.schemas import CommandStatus
from gito.db.models import Command
from gito.telemetry.payloads import Reason

Event = dict[str, Any]
# A device's answer is stored; beyond this it is refused as a dead letter instead.
MAX_RESULT_BYTES = 64 * 1024
FINAL_ANSWERS = frozenset({CommandStatus.SUCCESSFUL.value, CommandStatus.FAILED.value})


def history(device_id: uuid.UUID, status: CommandStatus | None) -> Select[Command]:
    query = select(Command).where(Command.device_id == device_id)
    if status is not None:
        query = query.where(Command.status == status.value)
    return query.order_by(Command.created_at.desc(), Command.id)


def command_event(row: asyncpg.Record | dict[str, Any]) -> Event:
    """The `command` live event (WebSocket) for a command's new status."""
    return {
        "type": "command",
        "id": str(row["id"]),
        "device_id": str(row["device_id"]),
        "name": row["name"],
        "status": row["status"],
        "result": json_value(row["result"]),
    }


def json_value(value: Any) -> Any:
    """A jsonb column as read by asyncpg (text) or SQLAlchemy (decoded)."""
    return orjson.loads(value) if isinstance(value, str) else value


async def mark_sent(conn: asyncpg.Connection, command_id: uuid.UUID) -> asyncpg.Record | None:
    """PENDING → SENT after the broker's PUBACK; the answer deadline starts now. No-op when
    the command moved on meanwhile (a fast device already answered, or it expired)."""
    return await conn.fetchrow(
        """
        UPDATE commands
        SET status = 'SENT', sent_at = now(),
            expires_at = now() + make_interval(secs => timeout_s), updated_at = now()
        WHERE id = $1 AND status = 'PENDING'
        RETURNING id, device_id, name, params, status, result, timeout_s, expires_at, created_by,
          created_at, sent_at, completed_at
        """,
        command_id,
    )


class ResponseError(Exception):
    """A device's answer that cannot be applied; it goes to the dead letters."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Answer:
    command_id: uuid.UUID
    status: str
    result: Any


def parse_answer(payload: bytes) -> Answer:
    """`{"id", "status": "SUCCESSFUL"|"FAILED", "result"?}` or ResponseError."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ResponseError(Reason.INVALID_JSON, f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ResponseError(Reason.INVALID_RESPONSE, "a command response is a JSON object")
    try:
        command_id = uuid.UUID(str(body.get("id")))
    except ValueError:
        raise ResponseError(Reason.INVALID_RESPONSE, "`id` must be a command id") from None
    status = body.get("status")
    if status not in FINAL_ANSWERS:
        raise ResponseError(Reason.INVALID_RESPONSE, "`status` must be SUCCESSFUL or FAILED")
    result = body.get("result")
    if isinstance(result, float) and not math.isfinite(result):
        raise ResponseError(Reason.INVALID_RESPONSE, "`result` must be finite")
    encoded = orjson.dumps(result)
    if len(encoded) > MAX_RESULT_BYTES:
        raise ResponseError(Reason.INVALID_RESPONSE, f"`result` exceeds {MAX_RESULT_BYTES} bytes")
    if b"\\u0000" in encoded:
        raise ResponseError(Reason.INVALID_RESPONSE, "`result` must not contain NUL characters")
    return Answer(command_id, status, result)


async def record_answer(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, device_id: uuid.UUID, payload: bytes
) -> Event | None:
    """Apply a device's answer inside the caller's transaction, with the topic's tenant bound
    (RLS: another tenant's command is simply unknown). Returns the live event, or None for a
    repeat of an answer already recorded (QoS 1 redelivery). Raises ResponseError."""
    answer = parse_answer(payload)
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))
    current = await conn.fetchrow(
        "SELECT device_id, status, result FROM commands WHERE id = $1 FOR UPDATE",
        answer.command_id,
    )
    if current is None:
        raise ResponseError(
            Reason.UNKNOWN_COMMAND, f"no command {answer.command_id} in this tenant"
        )
    if current["device_id"] != device_id:
        raise ResponseError(
            Reason.UNKNOWN_COMMAND, f"command {answer.command_id} belongs to another device"
        )
    if current["status"] == answer.status and json_value(current["result"]) == answer.result:
        return None
    if current["status"] not in ("PENDING", "SENT"):
        raise ResponseError(
            Reason.LATE_RESPONSE, f"command {answer.command_id} is already {current['status']}"
        )
    row = await conn.fetchrow(
        """
        UPDATE commands
        SET status = $2, result = $3::jsonb, completed_at = now(), updated_at = now(),
          -- An answer proves delivery, even when it overtook the PUBACK.
          sent_at = COALESCE(sent_at, now())
        WHERE id = $1
        RETURNING id, device_id, name, params, status, result, timeout_s, expires_at, created_by,
          created_at, sent_at, completed_at
        """,
        answer.command_id,
        answer.status,
        orjson.dumps(answer.result).decode(),
    )
    return command_event(row)


async def open_commands(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    """PENDING commands still within their deadline, oldest first, for the scheduler's
    resend (platform path: every tenant)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, tenant_id, device_id, name, params FROM commands
        WHERE status = 'PENDING' AND expires_at > now()
          -- A command the API is sending right now is left to it.
          AND created_at < now() - interval '5 seconds'
        ORDER BY created_at LIMIT $1
        """,
        limit,
    )
    return rows


async def close_overdue(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """SENT past the deadline → TIMEOUT; PENDING past it → EXPIRED. Returns the closed rows
    (with tenant_id) for their live events."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        UPDATE commands
        SET status = CASE status WHEN 'SENT' THEN 'TIMEOUT' ELSE 'EXPIRED' END,
            completed_at = $1, updated_at = $1
        WHERE status IN ('PENDING', 'SENT') AND expires_at <= $1
        RETURNING tenant_id, id, device_id, name, params, status, result, timeout_s,
          expires_at, created_by,
          created_at, sent_at, completed_at
        """,
        now,
    )
    return rows
