"""The one storage path of telemetry, for MQTT batches and HTTP ingestion alike.

`write_batch` runs inside a transaction its caller owns: the processor acknowledges the MQTT
messages of a batch only after that transaction committed (at-least-once), and the write is
idempotent — rows are keyed by (device_id, ts) and a repeated row merges into itself — so a
redelivered message never becomes a duplicate row.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from gito.alarms.engine import ENGINE as ALARMS
from gito.telemetry.payloads import Reading, Reason, Value, battery_level

# Bytes of a rejected payload kept in the dead-letter table: enough to debug a device.
DEAD_LETTER_PAYLOAD_BYTES = 4096
# A ts-less message flagged as a redelivery is a duplicate when the device stored the same
# values this recently (the broker redelivers within seconds of a processor restart).
REDELIVERY_WINDOW = timedelta(minutes=10)


# (device_id, ts, values) of one stored row, within one tenant.
TenantRow = tuple[uuid.UUID, datetime, dict[str, Value]]


@dataclass(slots=True)
class Accepted:
    tenant_id: uuid.UUID
    device_id: uuid.UUID
    readings: list[Reading]
    received_at: datetime
    topic: str = ""
    payload: bytes = b""
    redelivered: bool = False


@dataclass(slots=True)
class Rejected:
    tenant_id: uuid.UUID | None
    device_id: uuid.UUID | None
    topic: str
    reason: Reason
    detail: str
    payload: bytes


@dataclass(slots=True)
class BatchResult:
    stored_rows: int = 0
    stored_messages: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # (tenant_id, event) pairs for live fan-out, published after commit.
    events: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)


class DeviceDirectory:
    """Which tenant owns each device, cached briefly. The cache only decides how to reject;
    the insert itself joins `devices` under RLS, so a device deleted within the cache
    lifetime still gets no rows."""

    def __init__(
        self, ttl_s: float = 60.0, negative_ttl_s: float = 5.0, max_size: int = 500_000
    ) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_size = max_size
        self._entries: dict[uuid.UUID, tuple[uuid.UUID | None, float]] = {}

    async def tenants_of(
        self, conn: asyncpg.Connection, device_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID | None]:
        now = time.monotonic()
        result: dict[uuid.UUID, uuid.UUID | None] = {}
        missing = []
        for device_id in set(device_ids):
            entry = self._entries.get(device_id)
            if entry is not None and entry[1] > now:
                result[device_id] = entry[0]
            else:
                missing.append(device_id)
        if missing:
            rows = await conn.fetch(
                "SELECT device_id, tenant_id FROM gito_device_tenants($1::uuid[])", missing
            )
            found = {r["device_id"]: r["tenant_id"] for r in rows}
            if len(self._entries) + len(missing) > self.max_size:
                self._entries.clear()
            for device_id in missing:
                tenant = found.get(device_id)
                ttl = self.ttl_s if tenant else self.negative_ttl_s
                self._entries[device_id] = (tenant, now + ttl)
                result[device_id] = tenant
        return result


class PartitionCache:
    """Days whose telemetry partition is known to exist in this process."""

    def __init__(self) -> None:
        self.days: set[date] = set()

    async def ensure(self, conn: asyncpg.Connection, days: Iterable[date]) -> None:
        for day in sorted(set(days) - self.days):
            await conn.execute("SELECT gito_ensure_telemetry_partition($1)", day)
            self.days.add(day)


async def _bind_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID | None) -> None:
    await conn.execute(
        "SELECT set_config('app.tenant_id', $1, true)", str(tenant_id) if tenant_id else ""
    )


_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_staging (
  tenant_id uuid, device_id uuid, ts timestamptz, values jsonb
) ON COMMIT DELETE ROWS
"""
_INSERT = """
INSERT INTO telemetry (tenant_id, device_id, ts, values)
SELECT s.tenant_id, s.device_id, s.ts, s.values
FROM telemetry_staging s JOIN devices d ON d.id = s.device_id
WHERE s.tenant_id = $1
ON CONFLICT (device_id, ts) DO UPDATE SET values = telemetry.values || EXCLUDED.values
"""
_LATEST = """
INSERT INTO telemetry_latest (device_id, tenant_id, ts, values)
SELECT v.device_id, $1, v.ts, v.values
FROM unnest($2::uuid[], $3::timestamptz[], $4::jsonb[]) AS v(device_id, ts, values)
JOIN devices d ON d.id = v.device_id
ON CONFLICT (device_id) DO UPDATE
SET values = gito_merge_latest(telemetry_latest.values, EXCLUDED.values),
    ts = greatest(telemetry_latest.ts, EXCLUDED.ts)
"""
# Old status read in the FROM subquery (the pre-update snapshot) to emit status changes.
# Every device of the batch is updated, to count its accepted messages (the health score's
# reject rate); last_seen and battery_level change only for a newer reading or a device
# coming back online, as the conditions on `d` (the row being updated) say.
_TOUCH_DEVICES = """
UPDATE devices d
SET last_seen = CASE WHEN d.status <> 'online' THEN v.ts ELSE greatest(d.last_seen, v.ts) END,
    status = 'online',
    battery_level = COALESCE(
      CASE WHEN d.status = 'online' AND d.last_seen >= v.ts THEN NULL ELSE v.battery END,
      d.battery_level),
    messages_accepted = d.messages_accepted + v.messages
FROM (
  SELECT v.id, v.ts, v.battery, v.messages, d0.status AS old_status
  FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::int[])
    AS v(id, ts, battery, messages)
  JOIN devices d0 ON d0.id = v.id
) v
WHERE d.id = v.id
RETURNING d.id, v.old_status, d.last_seen
"""
_DEAD_LETTER = """
INSERT INTO telemetry_dead_letters
  (tenant_id, device_id, topic, reason, detail, payload, payload_size)
SELECT * FROM unnest(
  $1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::int[]
)
"""
# Containment, not equality: the stored row may have merged other keys of the same moment.
_SEEN_RECENTLY = """
SELECT 1 FROM telemetry
WHERE device_id = $1 AND ts >= $2 AND values @> $3::jsonb
LIMIT 1
"""


async def _is_redelivery(conn: asyncpg.Connection, item: Accepted, reading: Reading) -> bool:
    await _bind_tenant(conn, item.tenant_id)  # the look-up runs under the device's tenant
    return (
        await conn.fetchval(
            _SEEN_RECENTLY,
            item.device_id,
            item.received_at - REDELIVERY_WINDOW,
            orjson.dumps(reading.values).decode(),
        )
        is not None
    )


async def write_batch(
    conn: asyncpg.Connection,
    accepted: list[Accepted],
    rejected: list[Rejected],
    directory: DeviceDirectory,
    partitions: PartitionCache,
) -> BatchResult:
    result = BatchResult(rejected=list(rejected))
    owners = await directory.tenants_of(conn, (a.device_id for a in accepted))

    # (tenant, device, ts) → merged values; later readings of the same moment win per key.
    rows: dict[tuple[uuid.UUID, uuid.UUID, datetime], dict[str, Value]] = {}
    messages_by_tenant: dict[uuid.UUID, int] = defaultdict(int)
    messages_by_device: dict[uuid.UUID, int] = defaultdict(int)
    for item in accepted:
        owner = owners.get(item.device_id)
        if owner is None or owner != item.tenant_id:
            reason = Reason.UNKNOWN_DEVICE if owner is None else Reason.TENANT_MISMATCH
            # A mismatch is recorded for no tenant: neither the claimed tenant nor the owner
            # should learn about the other from it.
            result.rejected.append(
                Rejected(
                    item.tenant_id if owner is None else None,
                    item.device_id,
                    item.topic,
                    reason,
                    f"device {item.device_id} is not a device of tenant {item.tenant_id}",
                    item.payload,
                )
            )
            continue
        messages_by_tenant[item.tenant_id] += 1
        messages_by_device[item.device_id] += 1
        for reading in item.readings:
            if (
                reading.ts is None
                and item.redelivered
                and await _is_redelivery(conn, item, reading)
            ):
                continue
            key = (item.tenant_id, item.device_id, reading.ts or item.received_at)
            existing = rows.get(key)
            if existing is None:
                rows[key] = dict(reading.values)
            else:
                existing.update(reading.values)

    if rows:
        await partitions.ensure(conn, (ts.astimezone(UTC).date() for _, _, ts in rows))
        await conn.execute(_STAGING)
        await conn.copy_records_to_table(
            "telemetry_staging",
            records=[(t, d, ts, orjson.dumps(v).decode()) for (t, d, ts), v in rows.items()],
            columns=("tenant_id", "device_id", "ts", "values"),
        )

    by_tenant: dict[uuid.UUID, list[TenantRow]] = defaultdict(list)
    for (tenant, device, ts), values in rows.items():
        by_tenant[tenant].append((device, ts, values))

    for tenant, tenant_rows in by_tenant.items():
        await _bind_tenant(conn, tenant)
        status = await conn.execute(_INSERT, tenant)
        result.stored_rows += int(status.rsplit(" ", 1)[-1])
        result.stored_messages += messages_by_tenant[tenant]
        await _upsert_latest(conn, tenant, tenant_rows)
        result.events.extend(
            (tenant, e) for e in await _touch_devices(conn, tenant_rows, messages_by_device)
        )
        result.events.extend((tenant, e) for e in _live_events(tenant_rows))
        # Alarm rules, in this transaction: an alarm commits exactly when its data does.
        result.events.extend((tenant, e) for e in await ALARMS.evaluate(conn, tenant, tenant_rows))

    await _dead_letter(conn, result.rejected)
    return result


def epoch_us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


async def _upsert_latest(
    conn: asyncpg.Connection, tenant: uuid.UUID, rows: list[TenantRow]
) -> None:
    """One row per device: each key's newest reading in this batch as [epoch µs, value]."""
    latest: dict[uuid.UUID, tuple[datetime, dict[str, list[Any]]]] = {}
    for device, ts, values in rows:
        newest, keys = latest.setdefault(device, (ts, {}))
        stamp = epoch_us(ts)
        for key, value in values.items():
            current = keys.get(key)
            if current is None or current[0] <= stamp:
                keys[key] = [stamp, value]
        if ts > newest:
            latest[device] = (ts, keys)
    ordered = sorted(latest.items())  # one lock order for every processor: no deadlocks
    await conn.execute(
        _LATEST,
        tenant,
        [device for device, _ in ordered],
        [ts for _, (ts, _) in ordered],
        [orjson.dumps(keys).decode() for _, (_, keys) in ordered],
    )


def _live_events(rows: list[TenantRow]) -> list[dict[str, Any]]:
    """The newest reading of each device in the batch: a dashboard cannot show more than one
    point per device per batch interval, and a fast device must not flood the channel."""
    newest: dict[uuid.UUID, tuple[datetime, dict[str, Value]]] = {}
    for device, ts, values in rows:
        current = newest.get(device)
        if current is None or current[0] < ts:
            newest[device] = (ts, values)
    return [
        {"type": "telemetry", "device_id": str(d), "ts": ts.isoformat(), "values": v}
        for d, (ts, v) in newest.items()
    ]


async def _touch_devices(
    conn: asyncpg.Connection, rows: list[TenantRow], messages: dict[uuid.UUID, int]
) -> list[dict[str, Any]]:
    newest: dict[uuid.UUID, tuple[datetime, float | None]] = {}
    for device, ts, values in rows:
        current = newest.get(device)
        battery = battery_level(values)
        if current is None or current[0] < ts:
            newest[device] = (
                ts,
                battery if battery is not None else (current[1] if current else None),
            )
    ordered = sorted(newest.items())  # one lock order for every processor: no deadlocks
    changed = await conn.fetch(
        _TOUCH_DEVICES,
        [d for d, _ in ordered],
        [v[0] for _, v in ordered],
        [v[1] for _, v in ordered],
        [messages[d] for d, _ in ordered],
    )
    return [
        {
            "type": "device_status",
            "device_id": str(r["id"]),
            "status": "online",
            "previous_status": r["old_status"],
            "last_seen": r["last_seen"].isoformat(),
        }
        for r in changed
        if r["old_status"] != "online"
    ]


async def _dead_letter(conn: asyncpg.Connection, rejected: list[Rejected]) -> None:
    if not rejected:
        return
    by_tenant: dict[uuid.UUID | None, list[Rejected]] = defaultdict(list)
    for item in rejected:
        by_tenant[item.tenant_id].append(item)
    for tenant, items in by_tenant.items():
        await _bind_tenant(conn, tenant)
        await conn.execute(
            _DEAD_LETTER,
            [i.tenant_id for i in items],
            [i.device_id for i in items],
            [i.topic[:512] for i in items],
            [i.reason.value for i in items],
            [i.detail[:1000] for i in items],
            [i.payload[:DEAD_LETTER_PAYLOAD_BYTES] for i in items],
            [len(i.payload) for i in items],
        )
