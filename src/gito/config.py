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

    chirpstack_api_url: str | None = None
    chirpstack_api_key: str | None = None
    chirpstack_tenant_id: str | None = None

    rate_limit_per_minute: int = Field(default=60, ge=1)
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
