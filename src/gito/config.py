"""One `Settings` object for every role; names follow DESIGN §4 and `.env.example`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A JWT HMAC key shorter than this is brute-forceable offline from one captured token.
MIN_JWT_SECRET_LENGTH = 32


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "gito"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = None

    jwt_secret_key: str | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_expiration_hours: int = Field(default=24, ge=1, le=24 * 30)
    jwt_refresh_expiration_days: int = Field(default=7, ge=1, le=365)

    mqtt_broker_host: str | None = None
    mqtt_broker_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # --- broker auth (gito.broker) ---
    # Interface the embedded broker (no MQTT_BROKER_HOST) listens on; loopback by default so a
    # demo install is not reachable from the network until someone decides it should be.
    mqtt_embedded_bind_host: str = "127.0.0.1"
    # How long a verified device credential is trusted without asking the database again. It is
    # the revocation bound of the embedded broker: a rotated or deleted device is refused on
    # connect, and an open connection of it is closed, at most this many seconds later.
    mqtt_auth_cache_ttl_s: float = Field(default=30.0, gt=0, le=3600)
    # Bounds the credential cache's memory (an entry is ~200 bytes); the oldest entry goes first.
    mqtt_auth_cache_size: int = Field(default=10_000, ge=1)
    # The external broker (MQTT_BROKER_HOST) is Mosquitto 2 with the dynamic-security plugin:
    # Gito then provisions a client + role per device on create / rotate / delete.
    mqtt_dynsec_enabled: bool = False
    # The dynsec admin client (created by `mosquitto_ctrl dynsec init`, deploy/mosquitto/).
    mqtt_dynsec_username: str | None = None
    mqtt_dynsec_password: str | None = None
    # A dynsec command batch not answered within this many seconds fails the API request (503).
    mqtt_dynsec_timeout_s: float = Field(default=5.0, gt=0, le=120)

    chirpstack_api_url: str | None = None
    chirpstack_api_key: str | None = None
    chirpstack_tenant_id: str | None = None

    rate_limit_per_minute: int = Field(default=60, ge=1)
    # HTTP ingestion (`POST /api/v1/ingest`) per device; one a second sustained is plenty for
    # a sensor, and a runaway device cannot starve the API.
    ingest_rate_limit_per_device_per_minute: int = Field(default=600, ge=1)
    # Failed logins allowed per e-mail and per client IP within `login_window_s`.
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_window_s: int = Field(default=900, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:8000"]
    )
    # Bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # CSV imports may be larger than ordinary JSON bodies.
    max_import_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=10_000, ge=1)

    gito_data_dir: Path = Field(default_factory=_default_data_dir)
    gito_admin_email: str | None = None
    gito_admin_password: str | None = None
    audit_retention_days: int = Field(default=365, ge=1)

    # --- telemetry processor (gito.processor) ---
    # Client id of the processor's persistent MQTT session: a restarted processor with the
    # same id gets every message the broker queued or had not seen acknowledged.
    processor_client_id: str | None = None
    # Shared-subscription group ($share/<group>/...): processors in one group split the load.
    # Empty (default): plain subscriptions, for one processor. Mosquitto 2.0 does not restore
    # shared subscriptions from its persistence file after a restart (measured on 2.0.11):
    # messages published before the processor re-subscribes are dropped. A plain
    # subscription of a persistent session is restored, so nothing is lost. Set a group
    # (e.g. `gito`) to scale out, on a broker that persists shared subscriptions.
    processor_shared_group: str = ""
    # A batch is written when it holds this many messages or its first message waited
    # `processor_batch_wait_ms`; larger batches amortise the per-transaction round trips.
    processor_batch_size: int = Field(default=2000, ge=1, le=100_000)
    processor_batch_wait_ms: int = Field(default=50, ge=1, le=10_000)
    # Unwritten messages one processor holds: it asks the broker for this Receive Maximum
    # (MQTT 5) and stops reading from the broker above it (which is what holds: Mosquitto
    # 2.0.11 exceeds the window, MQTT 3.1.1 has none). Acknowledgements wait for the commit,
    # so this bounds the processor's memory (~2 KB a message) and is the back-pressure when
    # the database is slow.
    processor_receive_maximum: int = Field(default=10_000, ge=1, le=65_535)
    # Publish telemetry/device_status events for live dashboards (NOTIFY or Redis).
    processor_live_events: bool = True
    # Port of the standalone processor's Prometheus /metrics (0: off).
    processor_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Days of telemetry partitions created ahead; dead letters kept this many days.
    telemetry_partitions_ahead_days: int = Field(default=7, ge=1, le=90)
    dead_letter_retention_days: int = Field(default=7, ge=1, le=365)
    dead_letter_max_rows: int = Field(default=100_000, ge=100)

    # --- notifications (gito.notifications) ---
    # SMTP server of e-mail channels (unset: e-mail channels cannot be created). Port 587
    # with STARTTLS is the submission default; SMTP_TLS=true is implicit TLS (port 465).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_tls: bool = False
    # CA bundle (PEM) to verify the SMTP server with, for a private CA; default: system CAs.
    smtp_ca_file: Path | None = None
    smtp_from: str = "Gito <alerts@gito.local>"
    # Webhook and SMTP attempts: this many in all, the n-th retry after
    # notify_retry_base_s * 2^(n-1) (with jitter, at most notify_retry_max_s).
    notify_max_attempts: int = Field(default=8, ge=1, le=50)
    notify_retry_base_s: float = Field(default=5.0, gt=0, le=3600)
    notify_retry_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Deliveries sent at once by one notifier.
    notify_concurrency: int = Field(default=16, ge=1, le=256)
    # Finished deliveries stay in the delivery log this many days.
    notify_log_retention_days: int = Field(default=30, ge=1, le=3650)
    # Webhooks to loopback, private, link-local (cloud metadata) addresses: refused by
    # default in production, where a tenant admin must not reach the platform's own network.
    notify_allow_private_targets: bool | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.app_env != "production":
            return self
        problems = []
        if not self.jwt_secret_key or len(self.jwt_secret_key) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET_KEY must be set and at least {MIN_JWT_SECRET_LENGTH} chars"
            )
        if not self.database_url:
            problems.append("DATABASE_URL must be set")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must not contain '*'")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def webhooks_may_target_private(self) -> bool:
        if self.notify_allow_private_targets is not None:
            return self.notify_allow_private_targets
        return not self.is_production

    def jwt_secret(self) -> str:
        """The configured secret, or (outside production) one generated once and kept in the
        data dir."""
        if self.jwt_secret_key:
            return self.jwt_secret_key
        path = self.gito_data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.gito_data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(secret)
        return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
