"""Alarms: alert rules, alarms with their history, per-(rule, device) evaluation state.

Revision ID: 0003_alarms
Revises: 0002_telemetry
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from gito.db.ddl import execute_script

revision: str = "0003_alarms"
down_revision: str | None = "0002_telemetry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("alert_rules", "alert_rule_versions", "alert_rule_state", "alarms", "alarm_events")


def upgrade() -> None:
    execute_script("""
    CREATE TABLE alert_rules (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name varchar(200) NOT NULL,
      description text,
      kind varchar(16) NOT NULL DEFAULT 'threshold'
        CONSTRAINT ck_alert_rules_kind CHECK (kind IN ('threshold', 'no_data')),
      -- Scope: at most one of these; none means every device of the tenant.
      device_id uuid REFERENCES devices(id) ON DELETE CASCADE,
      device_type varchar(100),
      site_id uuid REFERENCES sites(id) ON DELETE CASCADE,
      field varchar(200),
      -- [{"operator", "value", "severity"}, ...]: the base condition and its escalations.
      thresholds jsonb NOT NULL DEFAULT '[]',
      clear_condition jsonb,
      severity varchar(10) NOT NULL
        CONSTRAINT ck_alert_rules_severity
        CHECK (severity IN ('CRITICAL', 'MAJOR', 'MINOR', 'WARNING')),
      duration_s integer NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
      cooldown_s integer NOT NULL DEFAULT 0 CHECK (cooldown_s >= 0),
      no_data_s integer CHECK (no_data_s IS NULL OR no_data_s > 0),
      no_data_factor double precision CHECK (no_data_factor IS NULL OR no_data_factor > 0),
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_alert_rules_one_scope CHECK (
        num_nonnulls(device_id, device_type, site_id) <= 1)
    );
    CREATE INDEX ix_alert_rules_tenant ON alert_rules (tenant_id, name);

    -- Bumped by a trigger on every rule change: the processor compares it once per batch
    -- and tenant to know its in-memory rule index is still current.
    CREATE TABLE alert_rule_versions (
      tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
      version bigint NOT NULL
    );
    CREATE FUNCTION gito_bump_rule_version() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO alert_rule_versions AS v (tenant_id, version)
      VALUES (COALESCE(NEW.tenant_id, OLD.tenant_id), 1)
      ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1;
      RETURN NULL;
    END
    $$;
    CREATE TRIGGER tr_alert_rules_version
      AFTER INSERT OR UPDATE OR DELETE ON alert_rules
      FOR EACH ROW EXECUTE FUNCTION gito_bump_rule_version();

    -- Per (rule, device): since when the condition holds (duration rules) and when the last
    -- alarm cleared (cooldown). Kept in the database so a processor restart loses neither.
    CREATE TABLE alert_rule_state (
      rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      breaching_since timestamptz,
      last_cleared_at timestamptz,
      PRIMARY KEY (rule_id, device_id)
    );
    CREATE INDEX ix_alert_rule_state_device ON alert_rule_state (device_id);

    CREATE TABLE alarms (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      site_id uuid,
      rule_name varchar(200) NOT NULL,
      field varchar(200),
      severity varchar(10) NOT NULL
        CONSTRAINT ck_alarms_severity CHECK (severity IN ('CRITICAL', 'MAJOR', 'MINOR', 'WARNING')),
      status varchar(12) NOT NULL DEFAULT 'ACTIVE'
        CONSTRAINT ck_alarms_status CHECK (status IN ('ACTIVE', 'ACKNOWLEDGED', 'CLEARED')),
      count integer NOT NULL DEFAULT 1,
      first_value jsonb,
      last_value jsonb,
      first_occurrence timestamptz NOT NULL,
      last_occurrence timestamptz NOT NULL,
      acknowledged_at timestamptz,
      acknowledged_by uuid,
      ack_comment text,
      cleared_at timestamptz,
      cleared_by uuid,
      clear_comment text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- At most one open alarm per (rule, device): repeats count into it.
    CREATE UNIQUE INDEX ux_alarms_open ON alarms (rule_id, device_id) WHERE status <> 'CLEARED';
    CREATE INDEX ix_alarms_open_device ON alarms (device_id) WHERE status <> 'CLEARED';
    CREATE INDEX ix_alarms_tenant_time ON alarms (tenant_id, first_occurrence DESC);
    CREATE INDEX ix_alarms_tenant_status ON alarms (tenant_id, status, severity);

    CREATE TABLE alarm_events (
      id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      alarm_id uuid NOT NULL REFERENCES alarms(id) ON DELETE CASCADE,
      action varchar(16) NOT NULL,
      severity varchar(10),
      value jsonb,
      user_id uuid,
      comment text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_alarm_events_alarm ON alarm_events (alarm_id, id);
    """)
    for table in TABLES:
        execute_script(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
          USING (tenant_id = gito_current_tenant())
          WITH CHECK (tenant_id = gito_current_tenant());
        GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO gito_app;
        """)
    execute_script("""
    GRANT USAGE ON SEQUENCE alarm_events_id_seq TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_bump_rule_version() TO gito_app;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TABLE IF EXISTS alarm_events, alarms, alert_rule_state, alert_rule_versions,
      alert_rules;
    DROP FUNCTION IF EXISTS gito_bump_rule_version();
    """)
