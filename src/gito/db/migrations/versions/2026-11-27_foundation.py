"""Foundation: tenants, users, sites, devices, credentials, refresh tokens, audit log, RLS.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

from gito.db.ddl import execute_script

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows belong to one tenant; each gets ENABLE + FORCE row-level security.
TENANT_TABLES = (
    "users",
    "sites",
    "user_sites",
    "devices",
    "device_credentials",
    "refresh_tokens",
)
# Tables the SECURITY DEFINER auth look-ups read before the tenant is known.
AUTH_LOOKUP_TABLES = ("users", "device_credentials", "refresh_tokens")


def upgrade() -> None:
    execute_script("""
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gito_app') THEN
        CREATE ROLE gito_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
      END IF;
    END
    $$;
    """)
    # The owner connects and then assumes gito_app (connection startup `role=gito_app`).
    op.execute("GRANT gito_app TO CURRENT_USER")
    op.execute("GRANT USAGE ON SCHEMA public TO gito_app")

    execute_script("""
    CREATE FUNCTION gito_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
    """)

    execute_script("""
    CREATE TABLE tenants (
      id uuid PRIMARY KEY,
      name varchar(200) NOT NULL UNIQUE,
      is_active boolean NOT NULL DEFAULT true,
      rate_limit_per_minute integer CHECK (rate_limit_per_minute IS NULL OR rate_limit_per_minute > 0),
      retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE users (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      email varchar(320) NOT NULL,
      password_hash text NOT NULL,
      role varchar(20) NOT NULL
        CONSTRAINT ck_users_role CHECK (role IN ('SUPER_ADMIN','TENANT_ADMIN','SITE_ADMIN','CLIENT','VIEWER')),
      full_name varchar(200),
      is_active boolean NOT NULL DEFAULT true,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX uq_users_email ON users (lower(email));
    CREATE INDEX ix_users_tenant ON users (tenant_id);

    CREATE TABLE sites (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      name varchar(200) NOT NULL,
      description text,
      latitude double precision CHECK (latitude BETWEEN -90 AND 90),
      longitude double precision CHECK (longitude BETWEEN -180 AND 180),
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX uq_sites_tenant_name ON sites (tenant_id, name);

    CREATE TABLE user_sites (
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      site_id uuid NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      PRIMARY KEY (user_id, site_id)
    );
    CREATE INDEX ix_user_sites_site ON user_sites (site_id);

    CREATE TABLE devices (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      site_id uuid REFERENCES sites(id) ON DELETE SET NULL,
      name varchar(200) NOT NULL,
      device_type varchar(100) NOT NULL,
      dev_eui varchar(16) CONSTRAINT ck_devices_dev_eui CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
      status varchar(10) NOT NULL DEFAULT 'offline'
        CONSTRAINT ck_devices_status CHECK (status IN ('online','offline','idle','error')),
      last_seen timestamptz,
      battery_level double precision
        CONSTRAINT ck_devices_battery CHECK (battery_level IS NULL OR (battery_level >= 0 AND battery_level <= 100)),
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      tags varchar(64)[] NOT NULL DEFAULT '{}',
      expected_interval_s integer CHECK (expected_interval_s IS NULL OR expected_interval_s > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX uq_devices_tenant_dev_eui ON devices (tenant_id, dev_eui) WHERE dev_eui IS NOT NULL;
    CREATE INDEX ix_devices_tenant_name ON devices (tenant_id, name);
    CREATE INDEX ix_devices_tenant_created ON devices (tenant_id, created_at);
    CREATE INDEX ix_devices_tenant_site ON devices (tenant_id, site_id);
    CREATE INDEX ix_devices_tenant_status ON devices (tenant_id, status);

    CREATE TABLE device_credentials (
      device_id uuid PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      token_hash varchar(64) NOT NULL UNIQUE,
      token_hint varchar(12) NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE refresh_tokens (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      family_id uuid NOT NULL,
      token_hash varchar(64) NOT NULL UNIQUE,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id);

    CREATE TABLE audit_log (
      id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      tenant_id uuid NOT NULL,
      actor_id uuid,
      actor_email varchar(320),
      action varchar(64) NOT NULL,
      entity_type varchar(64) NOT NULL,
      entity_id varchar(64),
      changes jsonb NOT NULL DEFAULT '{}'::jsonb,
      client_ip varchar(64),
      request_id varchar(64),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ix_audit_log_tenant_created ON audit_log (tenant_id, created_at);
    CREATE INDEX ix_audit_log_entity ON audit_log (tenant_id, entity_type, entity_id);
    """)

    # --- row-level security -------------------------------------------------------------
    execute_script("""
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_self ON tenants
      USING (id = gito_current_tenant() OR current_setting('app.platform', true) = 'on')
      WITH CHECK (id = gito_current_tenant() OR current_setting('app.platform', true) = 'on');
    """)
    for table in TENANT_TABLES:
        execute_script(f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
          USING (tenant_id = gito_current_tenant())
          WITH CHECK (tenant_id = gito_current_tenant());
        """)
    # Only the SECURITY DEFINER look-ups below (function-level SET app.auth_lookup, running
    # as the owner, never as gito_app) may read these rows before the tenant is known.
    for table in AUTH_LOOKUP_TABLES:
        execute_script(f"""
        CREATE POLICY auth_lookup ON {table} FOR SELECT
          USING (current_setting('app.auth_lookup', true) = 'on' AND current_user <> 'gito_app');
        """)
    # Audit is append-only: a SELECT and an INSERT policy, no UPDATE/DELETE grant at all.
    execute_script("""
    ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
    ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
    CREATE POLICY audit_read ON audit_log FOR SELECT USING (tenant_id = gito_current_tenant());
    CREATE POLICY audit_append ON audit_log FOR INSERT WITH CHECK (tenant_id = gito_current_tenant());
    """)

    execute_script("""
    CREATE FUNCTION gito_login_lookup(p_email text)
    RETURNS TABLE (user_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.auth_lookup = 'on'
    AS $$ SELECT u.id, u.tenant_id FROM users u WHERE lower(u.email) = lower(p_email) $$;

    CREATE FUNCTION gito_resolve_device_token(p_hash text)
    RETURNS TABLE (device_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.auth_lookup = 'on'
    AS $$ SELECT c.device_id, c.tenant_id FROM device_credentials c WHERE c.token_hash = p_hash $$;

    CREATE FUNCTION gito_resolve_refresh_token(p_hash text)
    RETURNS TABLE (token_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.auth_lookup = 'on'
    AS $$ SELECT r.id, r.tenant_id FROM refresh_tokens r WHERE r.token_hash = p_hash $$;

    REVOKE ALL ON FUNCTION gito_login_lookup(text) FROM PUBLIC;
    REVOKE ALL ON FUNCTION gito_resolve_device_token(text) FROM PUBLIC;
    REVOKE ALL ON FUNCTION gito_resolve_refresh_token(text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION gito_login_lookup(text) TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_resolve_device_token(text) TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_resolve_refresh_token(text) TO gito_app;
    GRANT EXECUTE ON FUNCTION gito_current_tenant() TO gito_app;
    """)

    op.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, "
        + ", ".join(TENANT_TABLES)
        + " TO gito_app"
    )
    op.execute("GRANT SELECT, INSERT ON audit_log TO gito_app")
    op.execute("GRANT USAGE ON SEQUENCE audit_log_id_seq TO gito_app")


def downgrade() -> None:
    execute_script("""
    DROP FUNCTION IF EXISTS gito_resolve_refresh_token(text);
    DROP FUNCTION IF EXISTS gito_resolve_device_token(text);
    DROP FUNCTION IF EXISTS gito_login_lookup(text);
    DROP TABLE IF EXISTS audit_log, refresh_tokens, device_credentials, devices, user_sites,
      sites, users, tenants CASCADE;
    DROP FUNCTION IF EXISTS gito_current_tenant();
    """)
