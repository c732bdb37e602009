"""Schemathesis against a real `uvicorn` serving the app: no generated request may produce a
5xx. The fuzzer carries a TENANT_ADMIN's token and the tenant's id, so it gets past
authentication into every tenant endpoint. Also body limits through a real HTTP server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gito.auth.permissions import Role
from gito.bench import free_port
from gito.config import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.factories import Factory, TenantFixture

# Bounds the whole fuzz run (the CLI stops at --max-time; the timeout is a backstop).
FUZZ_MAX_EXAMPLES = 20
FUZZ_MAX_TIME_S = 75
FUZZ_PLATFORM_MAX_TIME_S = 15
FUZZ_SEED = 20261127

# The settings the server reads; anything else from the caller's environment is dropped.
_SERVER_ENV_DROP = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET_KEY", "CORS_ORIGINS", "MQTT_")


@pytest.fixture(scope="module")
def live_server(
    app: object, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`uvicorn gito.api.app:create_app --factory` on a free loopback port, on the test
    database. Its log is printed when a test of this module fails."""
    workdir = tmp_path_factory.mktemp("live-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVER_ENV_DROP)}
    env.update(
        APP_ENV="test",
        DATABASE_URL=database_url,
        JWT_SECRET_KEY=TEST_JWT_SECRET,
        RATE_LIMIT_PER_MINUTE="1000000",
        # Let every generated login reach the password check instead of the lock-out.
        LOGIN_MAX_FAILURES_PER_EMAIL="1000000",
        LOGIN_MAX_FAILURES_PER_IP="1000000",
        GITO_DATA_DIR=str(workdir / "data"),
        LOG_LEVEL="WARNING",
    )
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "gito.api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=workdir,  # no stray .env
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_text = log_path.read_text(errors="replace")
        if "Traceback" in log_text:
            print(f"--- live server log ---\n{log_text[-20000:]}")


@pytest.fixture(scope="module")
async def fuzz_tenant(app: object, settings: Settings) -> TenantFixture:
    """The tenant the fuzzer works in, with a site, a device and a user to aim at."""
    factory = Factory(settings)
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    device, _ = await factory.device(tenant, site_id=site, dev_eui="0102030405060708")
    user = await factory.user(tenant, Role.VIEWER)
    tenant.extra.update(site_id=site, device_id=device, user_id=user.user_id)
    return tenant


def _schemathesis(
    live_server: str,
    workdir: Path,
    *,
    token: str,
    pinned: dict[str, object],
    max_time_s: int,
    extra: tuple[str, ...] = (),
) -> tuple[int, str]:
    """One bounded, seeded schemathesis run failing on any 5xx; returns (cases, output)."""
    # Schemathesis reads its project settings from TOML: authenticate every request, pin
    # the path parameters (random ids would only ever meet a 404 before any real work).
    config = workdir / "schemathesis.toml"
    config.write_text(
        f'headers = {{ Authorization = "Bearer {token}" }}\n'
        "[parameters]\n" + "".join(f'"path.{k}" = "{v}"\n' for k, v in pinned.items())
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{live_server}/api/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        str(FUZZ_SEED),
        "--max-examples",
        str(FUZZ_MAX_EXAMPLES),
        "--max-time",
        str(max_time_s),
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        # One worker: CPython 3.11's ast.parse, which Hypothesis calls while describing
        # strategies, is not thread-safe ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        *extra,
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=max_time_s + 60,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    (workdir / "schemathesis.out").write_text(output)
    summary = output[output.find("SUMMARY") :] if "SUMMARY" in output else output[-5000:]
    assert result.returncode == 0, f"schemathesis found server errors:\n{output[-20000:]}"
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts, summary
    generated, passed = int(counts[1]), int(counts[2])
    assert passed == generated, summary
    print(f"schemathesis: {generated} cases in {elapsed:.0f} s")
    return generated, output


@pytest.mark.fuzz
def test_no_server_errors_anywhere(
    live_server: str, fuzz_tenant: TenantFixture, tmp_path: Path
) -> None:
    """Every operation, as the tenant's admin, inside the tenant."""
    generated, output = _schemathesis(
        live_server,
        tmp_path,
        token=fuzz_tenant.admin.token,
        pinned={"tenant_id": fuzz_tenant.id, **fuzz_tenant.extra},
        max_time_s=FUZZ_MAX_TIME_S,
    )
    assert generated >= 500
    # Authentication held: only the platform-level operations (SUPER_ADMIN), device
    # ingestion (a device token, not a user's) and the token exchanges fed random
    # credentials may have answered nothing but 401/403.
    warning = re.search(r"Authentication failed.*?(?=💡|$)", output, re.S)
    refused = re.findall(r"- \w+ (/api/\S+)", warning[0]) if warning else []
    expected = {
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant_id}",
        "/api/v1/ingest",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    }
    assert set(refused) <= expected, output[-5000:]


@pytest.fixture
async def platform_target(app: object, settings: Settings) -> tuple[str, uuid.UUID]:
    """A SUPER_ADMIN's token, and a tenant of their platform for the fuzzer to aim at."""
    factory = Factory(settings)
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    return platform.admin.token, await factory.bare_tenant()


@pytest.mark.fuzz
def test_no_server_errors_in_platform_operations(
    live_server: str, platform_target: tuple[str, uuid.UUID], tmp_path: Path
) -> None:
    """The tenant operations only a SUPER_ADMIN reaches."""
    token, target = platform_target
    generated, _ = _schemathesis(
        live_server,
        tmp_path,
        token=token,
        pinned={"tenant_id": target},
        max_time_s=FUZZ_PLATFORM_MAX_TIME_S,
        extra=("--include-tag", "tenants"),
    )
    assert generated >= 50


def test_chunked_body_over_limit_through_uvicorn(
    live_server: str, fuzz_tenant: TenantFixture
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 32 * 1024
        yield b'", "device_type": "t"}'

    headers = {**fuzz_tenant.admin.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=live_server, timeout=10) as client:
        chunked = client.post(fuzz_tenant.url("/devices"), headers=headers, content=chunks())
        assert chunked.request.headers.get("transfer-encoding") == "chunked"
        assert chunked.status_code == 413, chunked.text
        assert chunked.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        declared = client.post(
            fuzz_tenant.url("/devices"), headers=headers, content=b"x" * (1024 * 1024 + 1)
        )
        assert declared.status_code == 413
        # The server keeps serving after refusing.
        assert client.get("/api/health").status_code == 200
