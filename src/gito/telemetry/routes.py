from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from gito.api.deps import TenantScope, requires
from gito.api.schemas import JSON, Envelope, ok
from gito.audit.service import as_utc
from gito.auth.permissions import Permission
from gito.devices.service import get_visible
from gito.errors import InvalidInput, NotFound
from gito.telemetry import service
from gito.telemetry.schemas import (
    DEFAULT_WINDOW,
    MAX_RAW_POINTS,
    Aggregate,
    LatestValue,
    Point,
    parse_interval,
    parse_keys,
)

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["telemetry"])

KeysQuery = Annotated[
    str | None,
    Query(
        max_length=3000,
        description="Comma-separated keys; default: every key the device reported.",
        examples=["temperature,humidity"],
    ),
]
FromQuery = Annotated[
    datetime | None, Query(alias="from", description="Start (inclusive); default: `to` - 24 h.")
]
ToQuery = Annotated[
    datetime | None, Query(alias="to", description="End (exclusive); default: now.")
]
IntervalQuery = Annotated[
    str | None,
    Query(max_length=10, description="Bucket width (`1m`, `1h`, `1d`); omit for raw points."),
]
AggQuery = Annotated[
    Aggregate | None, Query(description="Aggregate per bucket (default `avg` with `interval`).")
]


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = as_utc(end) if end else datetime.now(UTC)
    start = as_utc(start) if start else end - DEFAULT_WINDOW
    return start, end


@router.get(
    "/devices/{device_id}/telemetry",
    operation_id="get_device_telemetry",
    response_model=Envelope[dict[str, list[Point]]],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_telemetry(
    device_id: uuid.UUID,
    scope: TenantScope,
    keys: KeysQuery = None,
    since: FromQuery = None,
    until: ToQuery = None,
    interval: IntervalQuery = None,
    agg: AggQuery = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RAW_POINTS, description="Raw points at most (newest kept).")
    ] = 1000,
) -> Any:
    """A device's time series: raw points, or one point per `interval` bucket (`ts` = bucket
    start, empty buckets omitted) aggregated with `agg`. Several keys at once."""
    await get_visible(scope.session, scope.principal, device_id)
    if agg is not None and interval is None:
        raise InvalidInput("`agg` needs an `interval`", code="INTERVAL_REQUIRED")
    start, end = _window(since, until)
    bucket = parse_interval(interval) if interval else None
    service.check_window(start, end, bucket)
    names = parse_keys(keys) or await service.known_keys(scope.session, device_id)
    data = (
        await service.series(
            scope.session, device_id, names, start, end, interval=bucket, agg=agg, limit=limit
        )
        if names
        else {}
    )
    return JSON(
        {
            "success": True,
            "data": data,
            "meta": {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "interval": interval,
                "agg": (agg or Aggregate.AVG).value if interval else None,
                "limit": None if interval else limit,
            },
        }
    )


@router.get(
    "/devices/{device_id}/telemetry/latest",
    operation_id="get_device_latest_telemetry",
    response_model=Envelope[dict[str, LatestValue]],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_latest(device_id: uuid.UUID, scope: TenantScope) -> Any:
    """The newest value and its time for every key the device reported."""
    await get_visible(scope.session, scope.principal, device_id)
    return ok(await service.latest(scope.session, device_id))


@router.get(
    "/devices/{device_id}/telemetry/export",
    operation_id="export_device_telemetry",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV `ts,<key>...`"}},
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def export_telemetry(
    device_id: uuid.UUID,
    scope: TenantScope,
    keys: KeysQuery = None,
    since: FromQuery = None,
    until: ToQuery = None,
) -> StreamingResponse:
    """Raw points as CSV, streamed (any range, constant memory)."""
    device = await get_visible(scope.session, scope.principal, device_id)
    start, end = _window(since, until)
    service.check_window(start, end)
    names = parse_keys(keys) or await service.known_keys(scope.session, device_id)
    filename = f"{device.name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv".replace('"', "")
    return StreamingResponse(
        service.export_csv(scope.tenant_id, device_id, names, start, end),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/telemetry",
    operation_id="query_telemetry_multi_device",
    response_model=Envelope[dict[str, list[Point]]],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def multi_device(
    scope: TenantScope,
    key: Annotated[str, Query(min_length=1, max_length=128, description="The one key to compare.")],
    device_ids: Annotated[
        str, Query(max_length=4000, description="Comma-separated device ids (at most 100).")
    ],
    interval: Annotated[str, Query(max_length=10, description="Bucket width, e.g. `1h`.")] = "1h",
    agg: Aggregate = Aggregate.AVG,
    since: FromQuery = None,
    until: ToQuery = None,
) -> Any:
    """One key of several devices, bucketed — a dashboard comparison chart in one request.
    `data` maps each device id to its points."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(d.strip()) for d in device_ids.split(",") if d.strip()))
    except ValueError as exc:
        raise InvalidInput("device_ids must be UUIDs", code="INVALID_DEVICE_IDS") from exc
    if not 1 <= len(ids) <= 100:
        raise InvalidInput("give 1 to 100 device ids", code="INVALID_DEVICE_IDS")
    missing = []
    for device_id in ids:
        try:
            await get_visible(scope.session, scope.principal, device_id)
        except NotFound:
            missing.append(str(device_id))
    if missing:
        raise NotFound("device not found", code="DEVICE_NOT_FOUND", details={"device_ids": missing})
    start, end = _window(since, until)
    bucket = parse_interval(interval)
    service.check_window(start, end, bucket)
    return ok(await service.multi_device(scope.session, ids, key, start, end, bucket, agg))
