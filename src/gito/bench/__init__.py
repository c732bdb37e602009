"""Benchmarks that print figures (`gito bench ...`). They are commands, not timed tests: a
figure depends on the machine, so it is measured and written down, never asserted in CI."""

import socket


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
    import uuid

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
