"""Notification channels (webhook, e-mail) and their delivery outbox.

Revision ID: 0007_notifications
Revises: 0006_health
Create Date: 2026-11-27

Alarm changes reach channels through an outbox: a statement-level trigger on `alarm_events`
inserts one `notification_deliveries` row per matching channel in the same transaction as the
alarm change (the processor's batch, the scheduler's no-data run, an operator's acknowledge),
and NOTIFYs `gito_notifications` on commit. The notifier claims due rows with `FOR UPDATE
SKIP LOCKED`, sends them and records the outcome. Nothing on the ingest path waits for a
receiver; a delivery is never lost with a crash (an unfinished claim expires and is retried).
"""

from collections.abc import Sequence

from gito.db.ddl import execute_script

revision: str = "0007_notifications"
down_revision: str | None = "0006_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("notification_channels", "notification_deliveries")


def upgrade() -> None:
    execute_script("""
    CREATE TABLE notification_channels (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name varchar(200) NOT NULL,
      type varchar(10) NOT NULL
        CONSTRAINT ck_notification_channels_type CHECK (type IN ('webhook', 'email')),
      enabled boolean NOT NULL DEFAULT true,
      url varchar(2048),
      secret varchar(256),
      recipients text[] NOT NULL DEFAULT '{}',
      -- Filters: the least severity that notifies, the sites (empty: all), the alarm actions.
      min_severity varchar(10) NOT NULL DEFAULT 'WARNING'
        CONSTRAINT ck_notification_channels_severity
        CHECK (min_severity IN ('CRITICAL', 'MAJOR', 'MINOR', 'WARNING')),
      site_ids uuid[] NOT NULL DEFAULT '{}',
      events text[] NOT NULL DEFAULT '{raised,escalated,cleared}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT ck_notification_channels_target CHECK (
        (type = 'webhook' AND url IS NOT NULL AND secret IS NOT NULL)
        OR (type = 'email' AND cardinality(recipients) > 0))
    );
    CREATE INDEX ix_notification_channels_tenant ON notification_channels (tenant_id, name);

    CREATE TABLE notification_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      channel_id uuid NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
      -- No foreign key: the delivery log outlives a deleted rule's alarms.
      alarm_id uuid,
      event varchar(32) NOT NULL,
      severity varchar(10),
      payload jsonb NOT NULL,
      status varchar(10) NOT NULL DEFAULT 'PENDING'
        CONSTRAINT ck_notification_deliveries_status
        CHECK (status IN ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')),
      attempts integer NOT NULL DEFAULT 0,
      -- PENDING: when the next attempt is due; SENDING: when the claim expires (a notifier
      -- that died mid-send), after which the delivery is claimed again.
      due_at timestamptz NOT NULL DEFAULT now(),
      last_status integer,
      last_error text,
      last_duration_ms double precision,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      delivered_at timestamptz
    );
    CREATE INDEX ix_notification_deliveries_due ON notification_deliveries (due_at)
      WHERE status IN ('PENDING', 'SENDING');
    CREATE INDEX ix_notification_deliveries_channel
      ON notification_deliveries (channel_id, created_at DESC);
    CREATE INDEX ix_notification_deliveries_finished ON notification_deliveries (updated_at)
      WHERE status IN ('DELIVERED', 'FAILED');
    """)
    for table in TABLES:
        execute_script(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
          USING (tenant_id = (SELECT gito_current_tenant()))
          WITH CHECK (tenant_id = (SELECT gito_current_tenant()));
        GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO gito_app;
        -- The notifier's claim and trim functions run as the owner, across tenants.
        CREATE POLICY notifier ON {table} TO CURRENT_USER USING (true) WITH CHECK (true);
        """)

    execute_script("""
    CREATE FUNCTION gito_severity_rank(severity text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_position(ARRAY['WARNING', 'MINOR', 'MAJOR', 'CRITICAL'], severity) $$;

    -- Runs as the invoker with the tenant bound, so it sees only that tenant's channels.
    CREATE FUNCTION gito_enqueue_alarm_notifications() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
      queued integer;
    BEGIN
      -- Most batches that change alarms belong to tenants without a channel: skip the join.
      IF NOT EXISTS (SELECT 1 FROM notification_channels WHERE enabled) THEN
        RETURN NULL;
      END IF;
      INSERT INTO notification_deliveries (tenant_id, channel_id, alarm_id, event, severity,
                                           payload)
      SELECT e.tenant_id, c.id, a.id, 'alarm.' || e.action, COALESCE(e.severity, a.severity),
        jsonb_build_object(
          'event', 'alarm.' || e.action,
          'tenant_id', e.tenant_id,
          'occurred_at', e.created_at,
          'alarm', jsonb_build_object(
            'id', a.id,
            'rule_id', a.rule_id,
            'rule_name', a.rule_name,
            'device_id', a.device_id,
            'device_name', d.name,
            'site_id', a.site_id,
            'field', a.field,
            'severity', COALESCE(e.severity, a.severity),
            'status', a.status,
            'count', a.count,
            'value', COALESCE(e.value, a.last_value),
            'first_occurrence', a.first_occurrence,
            'last_occurrence', a.last_occurrence,
            'comment', e.comment,
            'user_id', e.user_id))
      FROM new_events e
      JOIN alarms a ON a.id = e.alarm_id
      LEFT JOIN devices d ON d.id = a.device_id
      JOIN notification_channels c
        ON c.tenant_id = e.tenant_id
       AND c.enabled
       AND e.action = ANY (c.events)
       AND gito_severity_rank(COALESCE(e.severity, a.severity))
           >= gito_severity_rank(c.min_severity)
       AND (cardinality(c.site_ids) = 0 OR a.site_id = ANY (c.site_ids));
      GET DIAGNOSTICS queued = ROW_COUNT;
      IF queued > 0 THEN
        PERFORM pg_notify('gito_notifications', '');
      END IF;
      RETURN NULL;
    END
    $$;
    CREATE TRIGGER tr_alarm_events_notify
      AFTER INSERT ON alarm_events
      REFERENCING NEW TABLE AS new_events
      FOR EACH STATEMENT EXECUTE FUNCTION gito_enqueue_alarm_notifications();

    -- The notifier's claim: due deliveries of every tenant with their channel, marked
    -- SENDING until `p_lease_s` from now. SKIP LOCKED lets several notifiers share the work.
    CREATE FUNCTION gito_claim_notifications(p_limit integer, p_lease_s double precision)
    RETURNS TABLE (id uuid, tenant_id uuid, channel_id uuid, event varchar, attempts integer,
                   payload jsonb, created_at timestamptz, channel_type varchar,
                   channel_name varchar, channel_enabled boolean, url varchar, secret varchar,
                   recipients text[])
    LANGUAGE sql SECURITY DEFINER SET search_path = public
    AS $$
      WITH due AS (
        SELECT d.id FROM notification_deliveries d
        WHERE d.status IN ('PENDING', 'SENDING') AND d.due_at <= now()
        ORDER BY d.due_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
      ), claimed AS (
        UPDATE notification_deliveries d
        SET status = 'SENDING', attempts = d.attempts + 1,
            due_at = now() + make_interval(secs => p_lease_s), updated_at = now()
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.tenant_id, d.channel_id, d.event, d.attempts, d.payload, d.created_at
      )
      SELECT c.id, c.tenant_id, c.channel_id, c.event, c.attempts, c.payload, c.created_at,
             ch.type, ch.name, ch.enabled, ch.url, ch.secret, ch.recipients
      FROM claimed c JOIN notification_channels ch ON ch.id = c.channel_id
    $$;

    -- The delivery log keeps finished deliveries this many days.
    CREATE FUNCTION gito_trim_notification_deliveries(p_days integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public
    AS $$
      WITH gone AS (
        DELETE FROM notification_deliveries
        WHERE status IN ('DELIVERED', 'FAILED')
          AND updated_at < now() - make_interval(days => p_days)
        RETURNING 1
      )
      SELECT count(*) FROM gone
    $$;

    GRANT EXECUTE ON FUNCTION gito_severity_rank(text) TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_enqueue_alarm_notifications() TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_claim_notifications(integer, double precision) TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_trim_notification_deliveries(integer) TO gito_app;
    """)


def downgrade() -> None:
    execute_script("""
    DROP TRIGGER IF EXISTS tr_alarm_events_notify ON alarm_events;
    DROP FUNCTION IF EXISTS gito_enqueue_alarm_notifications();
    DROP FUNCTION IF EXISTS gito_claim_notifications(integer, double precision);
    DROP FUNCTION IF EXISTS gito_trim_notification_deliveries(integer);
    DROP TABLE IF EXISTS notification_deliveries, notification_channels;
    DROP FUNCTION IF EXISTS gito_severity_rank(text);
    """)
