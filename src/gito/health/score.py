"""Device health scores, computed set-based per tenant (docs/HEALTH.md is the formula).

One statement per tenant reads every device with its marks, latest values, dead letters and
open alarms, computes the factors and upserts `device_health`; a second copies changed scores
to `devices.health_score` for the device list. Nothing here runs a query per device.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

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

# $1 tenant, $2 now. Each factor is a jsonb object or NULL (no data); the score is the
# weighted average of the non-NULL ones.
_COMPUTE = f"""
WITH input AS (
  SELECT d.id, d.tenant_id, d.created_at, d.last_seen, d.battery_level, d.messages_accepted,
         COALESCE(d.expected_interval_s, {DEFAULT_EXPECTED_INTERVAL_S}) AS expected_s,
         l.values AS latest, h.device_id IS NOT NULL AS known,
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
scored AS (
  SELECT m.*, to_jsonb(array_remove(
           ARRAY[fresh.f, battery.f, signal.f, rejects.f, alarm.f], NULL)) AS factors
  FROM marks m
  LEFT JOIN rejected r ON r.id = m.id
  LEFT JOIN open_alarms a ON a.device_id = m.id
  CROSS JOIN LATERAL (
    SELECT extract(epoch FROM $2::timestamptz - m.last_seen)::float8 AS age_s,
           CASE WHEN jsonb_typeof(m.latest->'rssi'->1) = 'number'
                THEN (m.latest->'rssi'->>1)::float8 END AS rssi,
           CASE WHEN jsonb_typeof(m.latest->'snr'->1) = 'number'
                THEN (m.latest->'snr'->>1)::float8 END AS snr,
           greatest(0, m.messages_accepted - m.m_old_accepted) AS accepted,
           COALESCE(r.n, 0) AS rejected,
           CASE WHEN m.m_old_battery IS NOT NULL AND m.battery_level IS NOT NULL
                 AND m.last_seen - m.m_old_battery_at
                     >= interval '{TREND_MIN_SPAN.total_seconds()} seconds'
                THEN (m.m_old_battery - m.battery_level)
                     / (extract(epoch FROM m.last_seen - m.m_old_battery_at)::float8 / 86400)
           END AS drain_per_day
  ) v
  CROSS JOIN LATERAL (
    SELECT CASE WHEN v.drain_per_day > 0 THEN m.battery_level / v.drain_per_day END AS days_left,
           {_ramp("v.rssi", RSSI_ZERO, RSSI_FULL)} AS rssi_score,
           {_ramp("v.snr", SNR_ZERO, SNR_FULL)} AS snr_score,
           v.rejected::float8 / nullif(v.accepted + v.rejected, 0) AS reject_rate
  ) w
  CROSS JOIN LATERAL (
    SELECT CASE WHEN w.days_left < {TREND_HORIZON_DAYS}
                THEN round({TREND_MAX_PENALTY} * (1 - w.days_left / {TREND_HORIZON_DAYS}))::int
                ELSE 0 END AS trend_penalty
  ) p
  CROSS JOIN LATERAL (
    SELECT jsonb_build_object(
      'name', 'freshness', 'weight', {WEIGHTS["freshness"]},
      'score', CASE WHEN m.last_seen IS NULL THEN 0
                    ELSE {_ramp("v.age_s / m.expected_s", STALE_RATIO, FRESH_RATIO)} END,
      'value', round(v.age_s)::bigint,
      'detail', jsonb_build_object(
        'last_seen', m.last_seen, 'expected_interval_s', m.expected_s,
        'intervals', round((v.age_s / m.expected_s)::numeric, 2))) AS f
  ) fresh
  LEFT JOIN LATERAL (
    SELECT jsonb_build_object(
      'name', 'battery', 'weight', {WEIGHTS["battery"]},
      'score', greatest(0,
        {_ramp("m.battery_level", 0, BATTERY_FULL_SCORE_LEVEL)} - p.trend_penalty),
      'value', m.battery_level,
      'detail', jsonb_build_object(
        'drain_per_day', round(v.drain_per_day::numeric, 2),
        'days_left', round(w.days_left::numeric, 1),
        'trend_penalty', p.trend_penalty,
        'reference', m.m_old_battery, 'reference_at', m.m_old_battery_at)) AS f
    WHERE m.battery_level IS NOT NULL
  ) battery ON true
  LEFT JOIN LATERAL (
    SELECT jsonb_build_object(
      'name', 'signal', 'weight', {WEIGHTS["signal"]},
      'score', least(w.rssi_score, w.snr_score),
      'value', CASE WHEN w.snr_score < w.rssi_score OR v.rssi IS NULL THEN v.snr
                    ELSE v.rssi END,
      'detail', jsonb_build_object(
        'rssi', v.rssi, 'snr', v.snr, 'rssi_score', w.rssi_score, 'snr_score', w.snr_score,
        'limited_by', CASE WHEN w.snr_score < w.rssi_score OR v.rssi IS NULL THEN 'snr'
                           ELSE 'rssi' END)) AS f
    WHERE v.rssi IS NOT NULL OR v.snr IS NOT NULL
  ) signal ON true
  LEFT JOIN LATERAL (
    SELECT jsonb_build_object(
      'name', 'rejects', 'weight', {WEIGHTS["rejects"]},
      'score', {_ramp("w.reject_rate", REJECT_RATE_ZERO, 0)},
      'value', round(w.reject_rate::numeric, 4),
      'detail', jsonb_build_object(
        'accepted', v.accepted, 'rejected', v.rejected, 'since', m.m_old_at)) AS f
    WHERE w.reject_rate IS NOT NULL
  ) rejects ON true
  CROSS JOIN LATERAL (
    SELECT jsonb_build_object(
      'name', 'alarms', 'weight', {WEIGHTS["alarms"]},
      'score', COALESCE(a.score, 100),
      'value', CASE a.score {" ".join(f"WHEN {v} THEN '{s}'" for s, v in ALARM_SCORES.items())}
               END,
      'detail', jsonb_build_object(
        'CRITICAL', COALESCE(a.critical, 0), 'MAJOR', COALESCE(a.major, 0),
        'MINOR', COALESCE(a.minor, 0), 'WARNING', COALESCE(a.warning, 0))) AS f
  ) alarm
)
INSERT INTO device_health AS h (
  device_id, tenant_id, score, factors, computed_at,
  old_mark_at, old_accepted, old_battery, old_battery_at,
  new_mark_at, new_accepted, new_battery, new_battery_at)
SELECT f.id, f.tenant_id,
       (SELECT round(sum((e->>'score')::numeric * (e->>'weight')::numeric)
                     / sum((e->>'weight')::numeric))
        FROM jsonb_array_elements(f.factors) AS e),
       f.factors, $2::timestamptz,
       f.m_old_at, f.m_old_accepted, f.m_old_battery, f.m_old_battery_at,
       f.m_new_at, f.m_new_accepted, f.m_new_battery, f.m_new_battery_at
FROM scored f
ON CONFLICT (device_id) DO UPDATE SET
  score = EXCLUDED.score, factors = EXCLUDED.factors, computed_at = EXCLUDED.computed_at,
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
    computed = _count(await conn.execute(_COMPUTE, tenant_id, now))
    copied = _count(await conn.execute(_COPY_SCORES, tenant_id))
    return TenantScores(computed, copied)
