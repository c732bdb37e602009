from __future__ import annotations

import stat
import threading
import uuid
from pathlib import Path

from gito.broker import service_credentials, shared_subscriptions_supported
from gito.broker.auth import Identity, _TTLCache
from gito.broker.credentials import SERVICE_PASSWORD_FILE, SERVICE_USERNAME
from gito.config import Settings


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(_env_file=None, gito_data_dir=tmp_path, **fields)  # type: ignore[call-arg]


def test_embedded_service_password_is_generated_once_and_private(tmp_path: Path) -> None:
    first = service_credentials(_settings(tmp_path))
    again = service_credentials(_settings(tmp_path))
    assert first.username == SERVICE_USERNAME
    assert first.password and len(first.password) >= 32
    assert again == first
    mode = stat.S_IMODE((tmp_path / SERVICE_PASSWORD_FILE).stat().st_mode)
    assert mode == 0o600
    assert first.password not in repr(first)


def test_concurrent_first_starts_agree_on_one_password(tmp_path: Path) -> None:
    results: list[str | None] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(service_credentials(_settings(tmp_path)).password)
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SERVICE_PASSWORD_FILE]


def test_configured_credentials_win(tmp_path: Path) -> None:
    creds = service_credentials(_settings(tmp_path, mqtt_username="svc", mqtt_password="pw"))
    assert (creds.username, creds.password) == ("svc", "pw")
    assert not (tmp_path / SERVICE_PASSWORD_FILE).exists()


def test_external_broker_uses_settings_as_given(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mqtt_broker_host="mqtt.example")
    creds = service_credentials(settings)
    assert (creds.username, creds.password) == (None, None)
    assert shared_subscriptions_supported(settings)
    assert not shared_subscriptions_supported(_settings(tmp_path))


def test_credential_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache = _TTLCache(ttl_s=30, max_entries=3, clock=lambda: now[0])
    identities = [Identity(str(uuid.uuid4())) for _ in range(4)]
    for i, identity in enumerate(identities):
        cache.put((identity.username, str(i)), identity)
    assert len(cache) == 3
    assert cache.get((identities[0].username, "0")) is None  # oldest evicted
    assert cache.get((identities[3].username, "3")) == identities[3]
    now[0] = 30.0
    assert cache.get((identities[3].username, "3")) is None  # expired
