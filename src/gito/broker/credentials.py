"""The platform's own MQTT credentials (processor, command sender) and broker facts."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gito.config import Settings

# Not a UUID, so it can never collide with a device's username (its device id).
SERVICE_USERNAME = "gito-service"
SERVICE_PASSWORD_FILE = "mqtt_service_password"


@dataclass(frozen=True, slots=True)
class ServiceCredentials:
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"ServiceCredentials(username={self.username!r}, password=***)"


def uses_embedded_broker(settings: Settings) -> bool:
    return not settings.mqtt_broker_host


def shared_subscriptions_supported(settings: Settings) -> bool:
    """Whether the configured broker delivers `$share/...` subscriptions: the embedded one
    does not (it refuses them); Mosquitto 2 and the cluster brokers of DESIGN §2 do."""
    return not uses_embedded_broker(settings)


def service_credentials(settings: Settings) -> ServiceCredentials:
    """What the processor and command sender connect with.

    External broker: `MQTT_USERNAME` / `MQTT_PASSWORD` as configured (None = anonymous).
    Embedded broker: those when set, else `gito-service` with a password generated once and
    kept in the data dir, so `gito up`, `gito processor` and the broker agree on it without
    configuration."""
    if not uses_embedded_broker(settings):
        return ServiceCredentials(settings.mqtt_username, settings.mqtt_password)
    return ServiceCredentials(
        settings.mqtt_username or SERVICE_USERNAME,
        settings.mqtt_password or _stored_secret(settings.gito_data_dir / SERVICE_PASSWORD_FILE),
    )


def _stored_secret(path: Path) -> str:
    """Read the secret at `path`, creating it first if missing. Safe when several processes
    start at once: the file appears atomically (hard link of a complete temp file), and the
    loser of the race reads the winner's secret."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
