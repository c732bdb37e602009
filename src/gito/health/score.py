"""Device health scores, computed set-based per tenant (docs/HEALTH.md is the formula).

One statement per tenant reads every device with its marks, latest values, dead letters and
open alarms, computes the factor scores and upserts `device_health`; a second copies changed
scores to `devices.health_score` for the device list. Nothing here runs a query per device.
`factors` turns a stored row into the API's factor list.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from gito.db.models import DeviceHealth

# The weights of the factors; a factor without data is left out and the score is the
# weighted average of the others, so the weights of the missing ones are redistributed.
WEIGHTS = {"freshness": 30, "battery": 20, "signal": 15, "rejects": 15, "alarms": 20}
# Expected seconds between reports of a device without `expected_interval_s`.
DEFAULT_EXPECTED_INTERVAL_S = 300
# Freshness: age / expected interval at which the factor is still 100, and where it hits 0.
FRESH_RATIO, STALE_RATIO = 1.5, 5.0
# Battery level at and above which the level scores 100 (linear down to 0 %).
BATTERY_FULL_SCORE_LEVEL = 50.0
# Battery trend: a drain that empties the battery within this many days costs up to
# TREND_MAX_PENALTY points (proportionally: empty now = the whole penalty).
TREND_HORIZON_DAYS = 7.0
TREND_MAX_PENALTY = 50
# The drain rate is measured only over at least this long: battery readings are coarse
# (often whole percent), so a shorter span mostly measures rounding.
TREND_MIN_SPAN = timedelta(hours=6)
# Signal: RSSI (dBm) and SNR (dB) ranges mapped linearly to 0..100; the worse one counts.
RSSI_ZERO, RSSI_FULL = -120.0, -70.0
SNR_ZERO, SNR_FULL = -15.0, 5.0
# Rejected share of the window's messages at which the factor reaches 0 (0 % is 100).
REJECT_RATE_ZERO = 0.20
# Score of the worst open alarm (no open alarm: 100).
ALARM_SCORES = {"CRITICAL": 0, "MAJOR": 40, "MINOR": 70, "WARNING": 85}
# The windowed factors (reject rate, battery trend) are measured from the older of two marks;
# the newer becomes the older every WINDOW_ROLL, so the window spans 12-24 h once established
# (and a restart of the counting costs nothing: the marks are the state).
WINDOW_ROLL = timedelta(hours=12)
# A device created less than this long before its first computation is measured from its
# creation (its counter was 0 then); an older one from its first computation.
FIRST_WINDOW = 2 * WINDOW_ROLL


def _ramp(x: str, zero_at: float, full_at: float) -> str:
    """SQL: 0 at `zero_at`, 100 at `full_at`, linear between, clamped, rounded; NULL for a
    NULL input. Works in either direction (full_at < zero_at for 'lower is better')."""
    # CASE first: greatest() and least() ignore NULLs, so they would turn NULL into 0.
    return (
        f"CASE WHEN ({x}) IS NOT NULL THEN round(least(100, greatest(0, "
        f"100 * (({x}) - ({zero_at})) / (({full_at}) - ({zero_at})))))::int END"
    )


_SEVERITY_SCORE = " ".join(f"WHEN '{s}' THEN {v}" for s, v in ALARM_SCORES.items())


def _weighted(factor: str) -> tuple[str, str]:
    """SQL: (weight x score, weight) of a factor column, both 0 when the factor is NULL."""
    weight = WEIGHTS[factor]
    column = f"{factor}_score"
    return (
        f"COALESCE({weight} * {column}, 0)",
        f"CASE WHEN {column} IS NULL THEN 0 ELSE {weight} END",
    )


_SCORE = "round(({}) / ({})::numeric)::int".format(
    " + ".join(_weighted(f)[0] for f in WEIGHTS), " + ".join(_weighted(f)[1] for f in WEIGHTS)
)

# $1 tenant, $2 now. Each CTE adds a layer of inputs; `factors` holds each factor's score
# (NULL: no data, the factor does not apply) and the final SELECT their weighted average.
_COMPUTE = f"""
WITH input AS (
  SELECT d.id, d.tenant_id, d.created_at, d.last_seen, d.battery_level, d.messages_accepted,
         COALESCE(d.expected_interval_s, {DEFAULT_EXPECTED_INTERVAL_S}) AS expected_s,
         CASE WHEN jsonb_typeof(l.values->'rssi'->1) = 'number'
              THEN (l.values->'rssi'->>1)::float8 END AS rssi,
         CASE WHEN jsonb_typeof(l.values->'snr'->1) = 'number'
              THEN (l.values->'snr'->>1)::float8 END AS snr,
         h.device_id IS NOT NULL AS known,
         $2::timestamptz - interval '{WINDOW_ROLL.total_seconds()} seconds' AS roll_before,
         $2::timestamptz - interval '{FIRST_WINDOW.total_seconds()} seconds' AS recent_after,
         h.old_mark_at, h.old_accepted, h.old_battery, h.old_battery_at,
         h.new_mark_at, h.new_accepted, h.new_battery, h.new_battery_at
  FROM devices d
  LEFT JOIN device_health h ON h.device_id = d.id
  LEFT JOIN telemetry_latest l ON l.device_id = d.id
  WHERE d.tenant_id = $1
),
marks AS (
  SELECT i.*, m.*
  FROM input i
  CROSS JOIN LATERAL (
    -- keep the marks
    SELECT i.old_mark_at, i.old_accepted, i.old_battery, i.old_battery_at,
           i.new_mark_at, i.new_accepted, i.new_battery, i.new_battery_at
    WHERE i.known AND i.new_mark_at > i.roll_before
    UNION ALL
    -- roll: the newer mark becomes the older, a new one is taken now
    SELECT i.new_mark_at, i.new_accepted, i.new_battery, i.new_battery_at,
           $2::timestamptz, i.messages_accepted, i.battery_level, i.last_seen
    WHERE i.known AND i.new_mark_at <= i.roll_before
    UNION ALL
    -- first computation of a recent device: measured from its creation
    SELECT i.created_at, 0, NULL, NULL,
           $2::timestamptz, i.messages_accepted, i.battery_level, i.last_seen
    WHERE NOT i.known AND i.created_at > i.recent_after
    UNION ALL
    -- first computation of an older device: measured from now on
    SELECT $2::timestamptz, i.messages_accepted, i.battery_level, i.last_seen,
           $2::timestamptz, i.messages_accepted, i.battery_level, i.last_seen
    WHERE NOT i.known AND i.created_at <= i.recent_after
  ) AS m(m_old_at, m_old_accepted, m_old_battery, m_old_battery_at,
         m_new_at, m_new_accepted, m_new_battery, m_new_battery_at)
),
rejected AS (
  SELECT m.id, count(*) AS n
  FROM telemetry_dead_letters dl
  JOIN marks m ON m.id = dl.device_id
  WHERE dl.tenant_id = $1
    AND dl.received_at >= (SELECT min(m_old_at) FROM marks)
    AND dl.received_at >= m.m_old_at
  GROUP BY m.id
),
open_alarms AS (
  SELECT device_id,
         count(*) FILTER (WHERE severity = 'CRITICAL') AS critical,
         count(*) FILTER (WHERE severity = 'MAJOR') AS major,
         count(*) FILTER (WHERE severity = 'MINOR') AS minor,
         count(*) FILTER (WHERE severity = 'WARNING') AS warning,
         min(CASE severity {_SEVERITY_SCORE} END) AS score
  FROM alarms
  WHERE tenant_id = $1 AND status <> 'CLEARED'
  GROUP BY device_id
),
measured AS (
  SELECT m.*,
         extract(epoch FROM $2::timestamptz - m.last_seen)::float8 / m.expected_s AS intervals,
         greatest(0, m.messages_accepted - m.m_old_accepted) AS accepted,
         COALESCE(r.n, 0) AS rejected,
         COALESCE(a.critical, 0) AS alarms_critical, COALESCE(a.major, 0) AS alarms_major,
         COALESCE(a.minor, 0) AS alarms_minor, COALESCE(a.warning, 0) AS alarms_warning,
         COALESCE(a.score, 100) AS alarms_score,
         CASE WHEN m.m_old_battery IS NOT NULL AND m.battery_level IS NOT NULL
               AND m.last_seen - m.m_old_battery_at
                   >= interval '{TREND_MIN_SPAN.total_seconds()} seconds'
              THEN (m.m_old_battery - m.battery_level)
                   / (extract(epoch FROM m.last_seen - m.m_old_battery_at)::float8 / 86400)
         END AS drain_per_day
  FROM marks m
  LEFT JOIN rejected r ON r.id = m.id
  LEFT JOIN open_alarms a ON a.device_id = m.id
),
derived AS (
  SELECT x.*,
         CASE WHEN x.drain_per_day > 0 THEN x.battery_level / x.drain_per_day END AS days_left,
         x.rejected::float8 / nullif(x.accepted + x.rejected, 0) AS reject_rate
  FROM measured x
),
factors AS (
  SELECT x.*,
         CASE WHEN x.last_seen IS NULL THEN 0
              ELSE {_ramp("x.intervals", STALE_RATIO, FRESH_RATIO)} END AS freshness_score,
         CASE WHEN x.days_left < {TREND_HORIZON_DAYS}
              THEN round({TREND_MAX_PENALTY} * (1 - x.days_left / {TREND_HORIZON_DAYS}))::int
              WHEN x.battery_level IS NOT NULL THEN 0 END AS battery_penalty,
         {_ramp("x.rssi", RSSI_ZERO, RSSI_FULL)} AS rssi_score,
         {_ramp("x.snr", SNR_ZERO, SNR_FULL)} AS snr_score,
         {_ramp("x.reject_rate", REJECT_RATE_ZERO, 0)} AS rejects_score
  FROM derived x
),
scored AS (
  SELECT x.*,
         CASE WHEN x.battery_level IS NOT NULL
              THEN greatest(0, {_ramp("x.battery_level", 0, BATTERY_FULL_SCORE_LEVEL)}
                               - x.battery_penalty) END AS battery_score,
         least(x.rssi_score, x.snr_score) AS signal_score
  FROM factors x
)
INSERT INTO device_health AS h (
  device_id, tenant_id, score, computed_at, last_seen, expected_interval_s, freshness_score,
  battery_level, battery_drain_per_day, battery_days_left, battery_penalty, battery_score,
  rssi, snr, rssi_score, snr_score, accepted, rejected, rejects_score,
  alarms_critical, alarms_major, alarms_minor, alarms_warning, alarms_score,
  old_mark_at, old_accepted, old_battery, old_battery_at,
  new_mark_at, new_accepted, new_battery, new_battery_at)
SELECT id, tenant_id, {_SCORE}, $2::timestamptz, last_seen, expected_s, freshness_score,
       battery_level, drain_per_day, days_left, battery_penalty, battery_score,
       rssi, snr, rssi_score, snr_score, accepted, rejected, rejects_score,
       alarms_critical, alarms_major, alarms_minor, alarms_warning, alarms_score,
       m_old_at, m_old_accepted, m_old_battery, m_old_battery_at,
       m_new_at, m_new_accepted, m_new_battery, m_new_battery_at
FROM scored
ON CONFLICT (device_id) DO UPDATE SET
  score = EXCLUDED.score, computed_at = EXCLUDED.computed_at, last_seen = EXCLUDED.last_seen,
  expected_interval_s = EXCLUDED.expected_interval_s,
  freshness_score = EXCLUDED.freshness_score, battery_level = EXCLUDED.battery_level,
  battery_drain_per_day = EXCLUDED.battery_drain_per_day,
  battery_days_left = EXCLUDED.battery_days_left, battery_penalty = EXCLUDED.battery_penalty,
  battery_score = EXCLUDED.battery_score, rssi = EXCLUDED.rssi, snr = EXCLUDED.snr,
  rssi_score = EXCLUDED.rssi_score, snr_score = EXCLUDED.snr_score,
  accepted = EXCLUDED.accepted, rejected = EXCLUDED.rejected,
  rejects_score = EXCLUDED.rejects_score, alarms_critical = EXCLUDED.alarms_critical,
  alarms_major = EXCLUDED.alarms_major, alarms_minor = EXCLUDED.alarms_minor,
  alarms_warning = EXCLUDED.alarms_warning, alarms_score = EXCLUDED.alarms_score,
  old_mark_at = EXCLUDED.old_mark_at, old_accepted = EXCLUDED.old_accepted,
  old_battery = EXCLUDED.old_battery, old_battery_at = EXCLUDED.old_battery_at,
  new_mark_at = EXCLUDED.new_mark_at, new_accepted = EXCLUDED.new_accepted,
  new_battery = EXCLUDED.new_battery, new_battery_at = EXCLUDED.new_battery_at
"""  # noqa: S608 (constants of this module, no input)

# The copy for the device list. SKIP LOCKED: the telemetry writer updates device rows all
# the time; rather than wait for one (or deadlock with a batch), a locked row keeps its old
# copy until the next run.
_COPY_SCORES = """
UPDATE devices d SET health_score = c.score
FROM (
  SELECT d0.id, h.score
  FROM devices d0 JOIN device_health h ON h.device_id = d0.id
  WHERE d0.tenant_id = $1 AND d0.health_score IS DISTINCT FROM h.score
  ORDER BY d0.id
  FOR NO KEY UPDATE OF d0 SKIP LOCKED
) c
WHERE d.id = c.id
"""


@dataclass(slots=True)
class TenantScores:
    computed: int
    copied: int


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def compute_tenant(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, now: datetime
) -> TenantScores:
    """Recompute every device of the tenant bound on `conn` (the caller binds it)."""
    # The planner's row estimate through the marks' LATERAL join is far too high, so JIT
    # compiled the statement on every run and made it slower: 4.4-4.8 s with JIT, 2.1-2.8 s
    # without, at 100k devices (docs/HEALTH.md). Off for this transaction only.
    await conn.execute("SET LOCAL jit = off")
    computed = _count(await conn.execute(_COMPUTE, tenant_id, now))
    copied = _count(await conn.execute(_COPY_SCORES, tenant_id))
    return TenantScores(computed, copied)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def factors(h: DeviceHealth) -> list[dict[str, Any]]:
    """The factors of a computed row, in the API's shape: {name, score, weight, value,
    detail}, only those that applied, in the order of WEIGHTS."""
    out: list[dict[str, Any]] = []

    def add(name: str, score: int, value: Any, detail: dict[str, Any]) -> None:
        out.append(
            {
                "name": name,
                "score": score,
                "weight": WEIGHTS[name],
                "value": value,
                "detail": detail,
            }
        )

    age = (h.computed_at - h.last_seen).total_seconds() if h.last_seen else None
    add(
        "freshness",
        h.freshness_score,
        round(age) if age is not None else None,
        {
            "last_seen": _iso(h.last_seen),
            "expected_interval_s": h.expected_interval_s,
            "intervals": round(age / h.expected_interval_s, 2) if age is not None else None,
        },
    )
    if h.battery_score is not None:
        add(
            "battery",
            h.battery_score,
            h.battery_level,
            {
                "drain_per_day": _round(h.battery_drain_per_day, 2),
                "days_left": _round(h.battery_days_left, 1),
                "trend_penalty": h.battery_penalty,
                "reference": h.old_battery,
                "reference_at": _iso(h.old_battery_at),
            },
        )
    signals = {k: v for k, v in (("rssi", h.rssi_score), ("snr", h.snr_score)) if v is not None}
    if signals:
        limited_by = min(signals, key=lambda k: (signals[k], k))
        add(
            "signal",
            signals[limited_by],
            h.rssi if limited_by == "rssi" else h.snr,
            {
                "rssi": h.rssi,
                "snr": h.snr,
                "rssi_score": h.rssi_score,
                "snr_score": h.snr_score,
                "limited_by": limited_by,
            },
        )
    if h.rejects_score is not None:
        add(
            "rejects",
            h.rejects_score,
            round(h.rejected / (h.accepted + h.rejected), 4),
            {"accepted": h.accepted, "rejected": h.rejected, "since": _iso(h.old_mark_at)},
        )
    counts = {
        "CRITICAL": h.alarms_critical,
        "MAJOR": h.alarms_major,
        "MINOR": h.alarms_minor,
        "WARNING": h.alarms_warning,
    }
    add("alarms", h.alarms_score, next((s for s, n in counts.items() if n), None), counts)
    return out


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None
