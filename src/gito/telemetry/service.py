"""Telemetry reads: raw and bucketed series, latest values, streamed CSV export.

Rows are wide (one JSONB object per device and moment), so a query for several keys reads
each row once; numeric aggregates ignore values of other types."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gito.db.engine import tenant_transaction
from gito.errors import InvalidInput
from gito.telemetry.schemas import MAX_BUCKETS, Aggregate

# Buckets are aligned to this origin, so `1d` buckets start at UTC midnight and `1h` on the hour.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
EXPORT_CHUNK_ROWS = 2000


def _numeric(key_param: str) -> str:
    return (
        f"CASE WHEN jsonb_typeof(values->:{key_param}) = 'number' "
        f"THEN (values->>:{key_param})::float8 END"
    )


def _aggregate_sql(agg: Aggregate, key_param: str) -> str:
    if agg is Aggregate.LAST:
        return (
            f"(array_agg(values->:{key_param} ORDER BY ts DESC) "
            f"FILTER (WHERE values ? :{key_param}))[1]"
        )
    if agg is Aggregate.COUNT:
        return f"count(values->:{key_param})"
    return f"to_jsonb({agg.value}({_numeric(key_param)}))"


def check_window(start: datetime, end: datetime, interval: timedelta | None = None) -> None:
    if end <= start:
        raise InvalidInput("`to` must be after `from`", code="INVALID_TIME_RANGE")
    if interval is not None and (end - start) / interval > MAX_BUCKETS:
        raise InvalidInput(
            f"the range holds more than {MAX_BUCKETS} buckets of this interval",
            code="TOO_MANY_BUCKETS",
        )


async def series(
    session: AsyncSession,
    device_id: uuid.UUID,
    keys: list[str],
    start: datetime,
    end: datetime,
    *,
    interval: timedelta | None,
    agg: Aggregate | None,
    limit: int,
) -> dict[str, list[dict[str, Any]]]:
    check_window(start, end, interval)
    if interval is None:
        return await _raw(session, device_id, keys, start, end, limit)
    return await _bucketed(session, device_id, keys, start, end, interval, agg or Aggregate.AVG)


async def _raw(
    session: AsyncSession,
    device_id: uuid.UUID,
    keys: list[str],
    start: datetime,
    end: datetime,
    limit: int,
) -> dict[str, list[dict[str, Any]]]:
    # The newest `limit` readings of the window, oldest first. No key filter in SQL: with one
    # (`values ?| keys`) the planner cannot estimate the rows and sorts the whole window
    # (47 ms for 30 days at one a minute) instead of walking the (device_id, ts) index
    # backwards and stopping after `limit` rows (0.6 ms).
    rows = (
        await session.execute(
            text(
                "SELECT ts, values FROM telemetry WHERE device_id = :d AND ts >= :s AND ts < :e "
                "ORDER BY ts DESC LIMIT :n"
            ),
            {"d": device_id, "s": start, "e": end, "n": limit},
        )
    ).all()
    result: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    for ts, values in reversed(rows):
        for key in keys:
            if key in values:
                result[key].append({"ts": ts.isoformat(), "value": values[key]})
    return result


async def _bucketed(
    session: AsyncSession,
    device_id: uuid.UUID,
    keys: list[str],
    start: datetime,
    end: datetime,
    interval: timedelta,
    agg: Aggregate,
) -> dict[str, list[dict[str, Any]]]:
    params: dict[str, Any] = {
        "d": device_id,
        "s": start,
        "e": end,
        "i": interval,
        "o": BUCKET_ORIGIN,
    }
    columns = []
    for i, key in enumerate(keys):
        params[f"k{i}"] = key
        columns.append(f"{_aggregate_sql(agg, f'k{i}')} AS a{i}")
    rows = (
        await session.execute(
            text(
                f"SELECT date_bin(:i, ts, :o) AS bucket, {', '.join(columns)} "  # noqa: S608 (columns are built from constants, keys are bound)
                "FROM telemetry WHERE device_id = :d AND ts >= :s AND ts < :e "
                "GROUP BY 1 ORDER BY 1"
            ),
            params,
        )
    ).all()
    result: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    for row in rows:
        bucket = row[0].isoformat()
        for i, key in enumerate(keys):
            value = row[i + 1]
            if value is not None and not (agg is Aggregate.COUNT and value == 0):
                result[key].append({"ts": bucket, "value": value})
    return result


async def latest(session: AsyncSession, device_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    values = (
        await session.execute(
            text("SELECT values FROM telemetry_latest WHERE device_id = :d"), {"d": device_id}
        )
    ).scalar_one_or_none()
    if not values:
        return {}
    return {
        key: {"ts": datetime.fromtimestamp(stamp / 1_000_000, UTC).isoformat(), "value": value}
        for key, (stamp, value) in sorted(values.items())
    }


async def known_keys(session: AsyncSession, device_id: uuid.UUID) -> list[str]:
    """Keys the device has reported (from its latest values), for queries that name none."""
    return sorted(await latest(session, device_id))


async def export_csv(
    tenant_id: uuid.UUID,
    device_id: uuid.UUID,
    keys: list[str],
    start: datetime,
    end: datetime,
) -> AsyncIterator[bytes]:
    """CSV rows `ts,<key>...` streamed from a server-side cursor in a transaction of its own
    (the request's transaction ends before the body is sent): memory stays flat however long
    the range."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ts", *keys])
    yield buffer.getvalue().encode()
    async with tenant_transaction(tenant_id) as session:
        result = await session.stream(
            text(
                "SELECT ts, values FROM telemetry WHERE device_id = :d AND ts >= :s AND ts < :e "
                "ORDER BY ts"
            ).execution_options(yield_per=EXPORT_CHUNK_ROWS),
            {"d": device_id, "s": start, "e": end},
        )
        async for chunk in result.partitions(EXPORT_CHUNK_ROWS):
            buffer.seek(0)
            buffer.truncate()
            for ts, values in chunk:
                if any(k in values for k in keys):
                    writer.writerow([ts.isoformat(), *(_cell(values.get(k)) for k in keys)])
            yield buffer.getvalue().encode()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


async def multi_device(
    session: AsyncSession,
    device_ids: list[uuid.UUID],
    key: str,
    start: datetime,
    end: datetime,
    interval: timedelta,
    agg: Aggregate,
) -> dict[str, list[dict[str, Any]]]:
    """One key of many devices, bucketed: the dashboard's comparison chart in one query."""
    check_window(start, end, interval)
    rows = (
        await session.execute(
            text(
                f"SELECT device_id, date_bin(:i, ts, :o) AS bucket, {_aggregate_sql(agg, 'k')} "  # noqa: S608 (constant SQL, bound values)
                "FROM telemetry WHERE device_id = ANY(CAST(:ds AS uuid[])) "
                "AND ts >= :s AND ts < :e AND values ? :k GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            {"ds": device_ids, "s": start, "e": end, "i": interval, "o": BUCKET_ORIGIN, "k": key},
        )
    ).all()
    result: dict[str, list[dict[str, Any]]] = {str(d): [] for d in device_ids}
    for device_id, bucket, value in rows:
        if value is not None:
            result[str(device_id)].append({"ts": bucket.isoformat(), "value": value})
    return result
