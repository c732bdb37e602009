"""Device health scores: the latest score with its factors per device, the marks its
windowed factors (reject rate, battery trend) are measured from, and a per-device counter
of accepted messages that the telemetry writer increments.

Revision ID: 0006_health
Revises: 0005_policy_speed
Create Date: 2026-11-27

The formula and the window semantics are in docs/HEALTH.md.
"""

from collections.abc import Sequence

from gito.db.ddl import execute_script

revision: str = "0006_health"
down_revision: str | None = "0005_policy_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    execute_script("""
    -- Both columns have constant defaults (or none): adding them rewrites no row.
    -- messages_accepted counts every accepted message since the device was created; the
    -- health job compares it with its marks, so it only ever grows.
    ALTER TABLE devices
      ADD COLUMN messages_accepted bigint NOT NULL DEFAULT 0,
      -- A copy of device_health.score for sorting and filtering the device list.
      ADD COLUMN health_score smallint
        CONSTRAINT ck_devices_health_score CHECK (health_score BETWEEN 0 AND 100);
    CREATE INDEX ix_devices_tenant_health ON devices (tenant_id, health_score);

    CREATE TABLE device_health (
      device_id uuid PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      score smallint NOT NULL CONSTRAINT ck_device_health_score CHECK (score BETWEEN 0 AND 100),
      computed_at timestamptz NOT NULL,
      -- The factors as typed columns, not a JSON document: a row is ~250 bytes instead of
      -- ~1 kB, which halves the job's time at 100k devices (docs/HEALTH.md); the API builds
      -- the factor list from them. A NULL factor score means the factor did not apply.
      last_seen timestamptz,
      expected_interval_s integer NOT NULL,
      freshness_score smallint NOT NULL,
      battery_level double precision,
      battery_drain_per_day double precision,
      battery_days_left double precision,
      battery_penalty smallint,
      battery_score smallint,
      rssi double precision,
      snr double precision,
      rssi_score smallint,
      snr_score smallint,
      accepted bigint NOT NULL,
      rejected bigint NOT NULL,
      rejects_score smallint,
      alarms_critical integer NOT NULL,
      alarms_major integer NOT NULL,
      alarms_minor integer NOT NULL,
      alarms_warning integer NOT NULL,
      alarms_score smallint NOT NULL,
      -- Two marks, rolled every 12 h (the newer becomes the older): the windowed factors
      -- are measured from the older one, so the window spans 12-24 h once established.
      -- A mark is the accepted-message counter and the battery reading at its time.
      old_mark_at timestamptz NOT NULL,
      old_accepted bigint NOT NULL,
      old_battery double precision,
      old_battery_at timestamptz,
      new_mark_at timestamptz NOT NULL,
      new_accepted bigint NOT NULL,
      new_battery double precision,
      new_battery_at timestamptz
    );
    CREATE INDEX ix_device_health_tenant_score ON device_health (tenant_id, score);
    ALTER TABLE device_health ENABLE ROW LEVEL SECURITY;
    ALTER TABLE device_health FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON device_health
      USING (tenant_id = (SELECT gito_current_tenant()))
      WITH CHECK (tenant_id = (SELECT gito_current_tenant()));
    GRANT SELECT, INSERT, UPDATE, DELETE ON device_health TO gito_app;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE IF EXISTS device_health;
    DROP INDEX IF EXISTS ix_devices_tenant_health;
    ALTER TABLE devices DROP COLUMN IF EXISTS health_score,
      DROP COLUMN IF EXISTS messages_accepted;
    """)
