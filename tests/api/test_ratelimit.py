"""Login brute-force protection (per e-mail, per client IP) and the per-tenant request rate
limit, with the in-process backend and with real Redis (`GITO_TEST_REDIS_URL`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gito.config import Settings
from tests.api.helpers import assert_error, client_for, data, random_ip
from tests.conftest import TEST_JWT_SECRET
from tests.factories import PASSWORD, Factory

LOGIN = "/api/v1/auth/login"
PER_EMAIL = 3
PER_IP = 5
WINDOW_S = 600
PLATFORM_DEFAULT = 6


@pytest.fixture(scope="module", params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The Redis URL to count in, or None for the in-process backend."""
    if request.param == "memory":
        return None
    url = os.environ.get("GITO_TEST_REDIS_URL")
    if not url:
        pytest.skip("GITO_TEST_REDIS_URL is not set; the Redis rate-limit backend is untested")
    return url


@pytest.fixture(scope="module")
def limited_app(
    app: object, backend: str | None, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> object:
    """An app of its own, with tight limits, on the shared database and engine."""
    from gito.api.app import create_app

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=database_url,
        jwt_secret_key=TEST_JWT_SECRET,
        redis_url=backend,
        rate_limit_per_minute=PLATFORM_DEFAULT,
        login_max_failures_per_email=PER_EMAIL,
        login_max_failures_per_ip=PER_IP,
        login_window_s=WINDOW_S,
        gito_data_dir=Path(tmp_path_factory.mktemp("ratelimit")),
    )
    return create_app(settings)


@pytest.fixture
async def client(limited_app: object) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(limited_app, random_ip()) as c:
        yield c


def _retry_after(response: httpx.Response, code: str, at_most: int) -> int:
    error = assert_error(response, 429, code)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= at_most
    assert error["details"]["retry_after"] == retry_after
    return retry_after


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def test_failed_logins_per_email(
    limited_app: object, client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    email = tenant.admin.email
    for _ in range(PER_EMAIL):
        assert_error(await _login(client, email, "wrong"), 401, "INVALID_CREDENTIALS")
    # Locked, even with the right password, and whatever the case of the address.
    _retry_after(await _login(client, email, PASSWORD), "LOGIN_RATE_LIMITED", WINDOW_S)
    _retry_after(await _login(client, email.upper(), PASSWORD), "LOGIN_RATE_LIMITED", WINDOW_S)
    # ... and from another address too: the attacker cannot rotate IPs around it.
    async with client_for(limited_app, random_ip()) as elsewhere:
        _retry_after(await _login(elsewhere, email, PASSWORD), "LOGIN_RATE_LIMITED", WINDOW_S)
    # Other accounts are unaffected from the same address.
    other = await factory.user(tenant, tenant.admin.role)
    assert (await _login(client, other.email, PASSWORD)).status_code == 200


async def test_failed_logins_per_client_ip(
    limited_app: object, client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    for _ in range(PER_IP):
        response = await _login(client, f"{uuid.uuid4().hex}@example.com", "guess")
        assert_error(response, 401, "INVALID_CREDENTIALS")
    _retry_after(await _login(client, tenant.admin.email, PASSWORD), "LOGIN_RATE_LIMITED", WINDOW_S)
    async with client_for(limited_app, random_ip()) as elsewhere:
        assert (await _login(elsewhere, tenant.admin.email, PASSWORD)).status_code == 200


async def test_successful_login_clears_the_email_counter(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    email = tenant.admin.email
    for _ in range(PER_EMAIL - 1):
        await _login(client, email, "wrong")
    assert (await _login(client, email, PASSWORD)).status_code == 200
    for _ in range(PER_EMAIL - 1):
        assert_error(await _login(client, email, "wrong"), 401)
    assert (await _login(client, email, PASSWORD)).status_code == 200


async def _until_limited(
    client: httpx.AsyncClient, headers: dict[str, str], limit: int
) -> tuple[int, httpx.Response]:
    """Requests until the first 429. A fixed window may roll over once mid-way, so allow
    up to two windows' worth; returns how many passed before the 429."""
    passed = 0
    for _ in range(2 * limit + 1):
        response = await client.get("/api/v1/auth/me", headers=headers)
        if response.status_code == 429:
            return passed, response
        assert response.status_code == 200, response.text
        passed += 1
    raise AssertionError(f"no 429 after {passed} requests (limit {limit})")


async def test_tenant_override_limits_requests(client: httpx.AsyncClient, factory: Factory) -> None:
    limited = await factory.tenant(rate_limit_per_minute=2)
    passed, refused = await _until_limited(client, limited.admin.headers, 2)
    assert passed >= 2
    _retry_after(refused, "RATE_LIMITED", 60)
    # The limit is the tenant's, shared by its users.
    colleague = await factory.user(limited, limited.admin.role)
    assert (await client.get("/api/v1/auth/me", headers=colleague.headers)).status_code == 429
    # Other tenants keep their own budget.
    other = await factory.tenant()
    assert (await client.get("/api/v1/auth/me", headers=other.admin.headers)).status_code == 200


async def test_platform_default_applies_without_override(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    passed, refused = await _until_limited(client, tenant.admin.headers, PLATFORM_DEFAULT)
    assert passed >= PLATFORM_DEFAULT
    _retry_after(refused, "RATE_LIMITED", 60)


async def test_a_raised_override_lifts_the_default(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    generous = await factory.tenant(rate_limit_per_minute=1000)
    for _ in range(3 * PLATFORM_DEFAULT):
        response = await client.get("/api/v1/auth/me", headers=generous.admin.headers)
        assert response.status_code == 200
    body: Any = data(response)
    assert body["tenant_id"] == str(generous.id)
