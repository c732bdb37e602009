"""`gito up` end to end: embedded PostgreSQL in the data dir, first-start admin, Ctrl-C,
and a restart on the same data dir that finds everything where it was left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gito.bench import free_port

# Variables that would point `gito up` at outside services or a fixed identity.
_DROP_PREFIXES = ("DATABASE_URL", "REDIS_URL", "MQTT_", "GITO_", "JWT_", "APP_ENV", "CORS_")
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20

pytestmark = pytest.mark.e2e


@dataclass
class Running:
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gito_up(data_dir: Path, workdir: Path, **env_extra: str) -> Iterator[Running]:
    """`gito up --data-dir data_dir --port <free>` without DATABASE_URL; on leaving the block,
    SIGINT (Ctrl-C) and a clean exit are required."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    # A free port for the embedded broker too: a developer's Mosquitto may hold 1883.
    env.update(MQTT_BROKER_PORT=str(free_port()), LOG_LEVEL="INFO", **env_extra)
    log = workdir / f"gito-up-{port}.log"
    gito = Path(sys.executable).with_name("gito")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(gito), "up", "--data-dir", str(data_dir), "--port", str(port)],
            cwd=workdir,  # no stray .env
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Running(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"gito up exited early:\n{running.output()}"
            try:
                if httpx.get(f"{running.url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"gito up did not start:\n{running.output()}"
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"gito up ignored Ctrl-C:\n{running.output()}") from None
    assert code == 0, f"gito up exited with {code} after Ctrl-C:\n{running.output()}"
    assert "Traceback" not in running.output(), running.output()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir outside pytest's temporary tree: run as root, pgserver starts PostgreSQL as
    an unprivileged user that must traverse the parents, and pytest keeps resetting its
    `/tmp/pytest-of-<user>` to 0700 (any concurrent pytest session does too)."""
    root = Path(tempfile.mkdtemp(prefix="gito-up-test-"))
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


def _login(url: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return {
        "Authorization": f"Bearer {data['access_token']}",
        "tenant": data["user"]["tenant_id"],
        "role": data["user"]["role"],
    }


def test_gito_up_keeps_data_across_restarts(data_dir: Path, tmp_path: Path) -> None:
    admin = {"GITO_ADMIN_EMAIL": "owner@example.com", "GITO_ADMIN_PASSWORD": "first start pw"}

    with gito_up(data_dir, tmp_path, **admin) as first:
        login = _login(first.url, "owner@example.com", "first start pw")
        assert login["role"] == "SUPER_ADMIN"
        headers = {"Authorization": login["Authorization"]}
        created = httpx.post(
            f"{first.url}/api/v1/tenants/{login['tenant']}/devices",
            headers=headers,
            json={"name": "survivor", "device_type": "meter", "dev_eui": "00112233445566aa"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        device_id = created.json()["data"]["id"]
        assert "super-admin owner@example.com created" in first.output()
        # The configured password is never echoed.
        assert "first start pw" not in first.output()
    assert (data_dir / "pg").is_dir() and (data_dir / "jwt_secret").is_file()

    # Second start on the same data dir; the admin variables no longer matter.
    with gito_up(data_dir, tmp_path) as second:
        login = _login(second.url, "owner@example.com", "first start pw")
        got = httpx.get(
            f"{second.url}/api/v1/tenants/{login['tenant']}/devices/{device_id}",
            headers={"Authorization": login["Authorization"]},
            timeout=10,
        )
        assert got.status_code == 200, got.text
        assert got.json()["data"]["dev_eui"] == "00112233445566aa"
        # The admin is created once, on the first start only.
        assert "super-admin" not in second.output()


def test_gito_up_prints_generated_credentials_once(data_dir: Path, tmp_path: Path) -> None:
    with gito_up(data_dir, tmp_path) as first:
        output = first.output()
        assert "password:" in output, output
        email = output.split("e-mail:", 1)[1].split()[0]
        password = output.split("password:", 1)[1].split()[0]
        assert len(password) >= 16
        assert _login(first.url, email, password)["role"] == "SUPER_ADMIN"

    with gito_up(data_dir, tmp_path) as second:
        output = second.output()
        assert password not in output and "password:" not in output
        # And the generated password still works.
        _login(second.url, email, password)


def test_sigterm_during_start_up_stops_the_embedded_database(
    data_dir: Path, tmp_path: Path
) -> None:
    """SIGTERM while migrations run (before uvicorn has its handlers): the embedded
    PostgreSQL is stopped, not left running without its parent."""
    import psutil

    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    env.update(MQTT_BROKER_PORT=str(free_port()), LOG_LEVEL="INFO")
    log = tmp_path / "gito-up-sigterm.log"
    gito = Path(sys.executable).with_name("gito")
    pid_file = data_dir / "pg" / "postmaster.pid"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(gito), "up", "--data-dir", str(data_dir), "--port", str(free_port())],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        # The server runs once its pid file exists; then migrations start.
        while not (pid_file.exists() and "embedded database created" in log.read_text()):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        postmaster = int(pid_file.read_text().split()[0])
        assert psutil.pid_exists(postmaster)
        assert "Gito is up" not in log.read_text()  # still starting
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 10
    while psutil.pid_exists(postmaster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(postmaster), log.read_text()
