"""Benchmarks that print figures (`gito bench ...`). They are commands, not timed tests: a
figure depends on the machine, so it is measured and written down, never asserted in CI."""

import socket
import uuid

import asyncpg


def free_port() -> int:
    """A TCP port free on the loopback interface right now (for servers a bench starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def role_env(database_url: str, mqtt_port: int, batch_wait_ms: int, **extra: str) -> dict[str, str]:
    """The environment of a `gito processor` / `gito notifier` subprocess a bench starts:
    its scratch database, its private broker, a fresh session id, no metrics port, no Redis,
    quiet logs."""
    import os

    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(mqtt_port),
        "PROCESSOR_CLIENT_ID": f"gito-bench-{uuid.uuid4().hex[:8]}",
        "PROCESSOR_METRICS_PORT": "0",
        "PROCESSOR_BATCH_WAIT_MS": str(batch_wait_ms),
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


async def create_bench_tenant(conn: asyncpg.Connection, prefix: str) -> uuid.UUID:
    """A new tenant for a bench's data, bound to `conn`'s transaction (as `gito_app`), so the
    rows the bench inserts next pass row-level security."""
    tenant = uuid.uuid4()
    await conn.execute("SELECT set_config('app.platform', 'on', true)")
    await conn.execute(
        "INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant, f"{prefix}-{tenant.hex[:8]}"
    )
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant))
    return tenant
