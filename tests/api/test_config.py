"""Settings refuse unsafe production configurations; development generates its JWT secret
once; CORS answers only whitelisted origins."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from gito.config import MIN_JWT_SECRET_LENGTH, Settings

GOOD_SECRET = "s" * MIN_JWT_SECRET_LENGTH
DB = "postgresql://gito@db.internal/gito"

_ENV = (
    "APP_ENV",
    "DATABASE_URL",
    "JWT_SECRET_KEY",
    "CORS_ORIGINS",
    "REDIS_URL",
    "GITO_DATA_DIR",
    "RATE_LIMIT_PER_MINUTE",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets counts (CI may export some of these)."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_valid_production_settings(tmp_path: Path) -> None:
    settings = _settings(
        app_env="production",
        database_url=DB,
        jwt_secret_key=GOOD_SECRET,
        cors_origins=["https://iot.example.com"],
        gito_data_dir=tmp_path,
    )
    assert settings.is_production and settings.jwt_secret() == GOOD_SECRET
    # Production never writes a generated secret.
    assert not (tmp_path / "jwt_secret").exists()


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"database_url": DB}, "JWT_SECRET_KEY"),
        ({"database_url": DB, "jwt_secret_key": ""}, "JWT_SECRET_KEY"),
        (
            {"database_url": DB, "jwt_secret_key": "s" * (MIN_JWT_SECRET_LENGTH - 1)},
            "JWT_SECRET_KEY",
        ),
        ({"jwt_secret_key": GOOD_SECRET}, "DATABASE_URL"),
        (
            {"database_url": DB, "jwt_secret_key": GOOD_SECRET, "cors_origins": ["*"]},
            "CORS_ORIGINS",
        ),
        (
            {
                "database_url": DB,
                "jwt_secret_key": GOOD_SECRET,
                "cors_origins": ["https://a.example", "*"],
            },
            "CORS_ORIGINS",
        ),
    ],
    ids=["no-secret", "empty-secret", "short-secret", "no-database", "star", "star-in-list"],
)
def test_production_refuses_unsafe_settings(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        _settings(app_env="production", **values)


def test_production_lists_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as excinfo:
        _settings(app_env="production", cors_origins=["*"])
    message = str(excinfo.value)
    for name in ("JWT_SECRET_KEY", "DATABASE_URL", "CORS_ORIGINS"):
        assert name in message


def test_production_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", DB)
    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, *")
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        _settings()
    monkeypatch.setenv("CORS_ORIGINS", " https://a.example ,https://b.example,")
    assert _settings().cors_origins == ["https://a.example", "https://b.example"]


def test_development_generates_the_secret_once(tmp_path: Path) -> None:
    first = _settings(app_env="development", gito_data_dir=tmp_path / "data")
    secret = first.jwt_secret()
    assert len(secret) >= MIN_JWT_SECRET_LENGTH
    path = tmp_path / "data" / "jwt_secret"
    assert path.read_text().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, "secret file readable by others"
    assert first.jwt_secret() == secret
    # A later start (new Settings, same data dir) reuses it, so tokens survive restarts.
    assert _settings(app_env="development", gito_data_dir=tmp_path / "data").jwt_secret() == secret
    # Another data dir is another installation.
    assert _settings(gito_data_dir=tmp_path / "other").jwt_secret() != secret


def test_configured_secret_wins_over_the_file(tmp_path: Path) -> None:
    _settings(gito_data_dir=tmp_path).jwt_secret()
    assert _settings(gito_data_dir=tmp_path, jwt_secret_key=GOOD_SECRET).jwt_secret() == (
        GOOD_SECRET
    )


# --- CORS ----------------------------------------------------------------------------------

ALLOWED = "https://dashboard.example.com"


@pytest.fixture(scope="module")
def cors_app(app: object, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> object:
    from gito.api.app import create_app

    return create_app(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            app_env="test",
            database_url=database_url,
            jwt_secret_key=GOOD_SECRET,
            cors_origins=[ALLOWED],
            gito_data_dir=tmp_path_factory.mktemp("cors"),
        )
    )


async def _request(cors_app: object, method: str, origin: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=cors_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.request(method, "/api/health", headers={"Origin": origin, **headers})


async def test_cors_allows_the_whitelisted_origin(cors_app: object) -> None:
    simple = await _request(cors_app, "GET", ALLOWED)
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    preflight = await _request(
        cors_app,
        "OPTIONS",
        ALLOWED,
        **{
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "PATCH" in preflight.headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "https://dashboard.example.com.evil.net", "null"]
)
async def test_cors_ignores_other_origins(cors_app: object, origin: str) -> None:
    simple = await _request(cors_app, "GET", origin)
    assert "access-control-allow-origin" not in simple.headers
    preflight = await _request(
        cors_app, "OPTIONS", origin, **{"Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
