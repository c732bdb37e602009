"""`POST /api/v1/ingest`: HTTP ingestion for devices without MQTT. Same payloads, same
validation, same storage path (`write_batch`) as the MQTT processor; the 200 answer is the
acknowledgement, sent only after the transaction committed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.background import BackgroundTask

from gito.api.deps import SessionDep
from gito.api.schemas import JSON
from gito.db.engine import driver_connection, tenant_transaction
from gito.devices.service import resolve_token
from gito.errors import InvalidInput, Unauthorized
from gito.events.bus import RedisPublisher, notify_in_transaction
from gito.processor import metrics
from gito.telemetry.payloads import PayloadError, parse
from gito.telemetry.writer import (
    Accepted,
    BatchResult,
    DeviceDirectory,
    PartitionCache,
    Rejected,
    write_batch,
)

router = APIRouter(tags=["ingest"])

# Per API process: which tenant owns a device, and which partitions exist.
_directory = DeviceDirectory()
_partitions = PartitionCache()


@router.post(
    "/ingest",
    operation_id="ingest_telemetry",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "additionalProperties": True},
                    "example": {"temperature": 21.5, "humidity": 40},
                }
            },
        }
    },
)
async def ingest(
    request: Request,
    session: SessionDep,
    x_device_token: Annotated[
        str | None, Header(max_length=200, description="The device's token.")
    ] = None,
) -> Any:
    """Store one telemetry message of the device that owns `X-Device-Token`. The body is any
    MQTT telemetry payload form (flat object, `{ts, values}`, or an array of them)."""
    if not x_device_token:
        raise Unauthorized("X-Device-Token header is required", code="DEVICE_TOKEN_REQUIRED")
    found = await resolve_token(session, x_device_token)
    if found is None:
        raise Unauthorized("unknown device token", code="INVALID_DEVICE_TOKEN")
    tenant_id, device_id = found
    await request.app.state.rate_limits.hit_device(str(device_id))
    metrics.MESSAGES_RECEIVED.labels("http").inc()
    body = await request.body()
    topic = f"http:{tenant_id}/devices/{device_id}/telemetry"
    try:
        readings = parse(body)
    except PayloadError as exc:
        await _dead_letter(Rejected(tenant_id, device_id, topic, exc.reason, exc.detail, body))
        raise InvalidInput(exc.detail, code=f"PAYLOAD_{exc.reason.value.upper()}") from exc

    conn = await driver_connection(session)
    message = Accepted(tenant_id, device_id, readings, datetime.now(UTC), topic, body)
    result = await write_batch(conn, [message], [], _directory, _partitions)
    if result.rejected:  # the device was deleted between token check and write
        raise Unauthorized("unknown device token", code="INVALID_DEVICE_TOKEN")
    settings = request.app.state.settings
    background = None
    if settings.processor_live_events and result.events:
        if settings.redis_url:
            background = BackgroundTask(_publish_redis, settings.redis_url, result)
        else:
            await notify_in_transaction(conn, result.events)
    metrics.MESSAGES_STORED.labels("http").inc()
    return JSON(
        {"success": True, "data": {"device_id": str(device_id), "rows": result.stored_rows}},
        background=background,
    )


async def _dead_letter(rejected: Rejected) -> None:
    metrics.MESSAGES_REJECTED.labels(rejected.reason.value).inc()
    assert rejected.tenant_id is not None
    async with tenant_transaction(rejected.tenant_id) as session:
        conn = await driver_connection(session)
        await write_batch(conn, [], [rejected], _directory, _partitions)


async def _publish_redis(url: str, result: BatchResult) -> None:
    publisher = RedisPublisher(url)
    try:
        await publisher.publish(result.events)
    finally:
        await publisher.close()
