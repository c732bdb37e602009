"""Real brokers for the broker tests: the embedded amqtt broker on a free port, and a private
Mosquitto started from the shipped deploy/mosquitto configuration (skipped without one)."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gito.broker.embedded import EmbeddedBroker, start_embedded_broker
from gito.config import Settings
from tests.broker.peers import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
MOSQUITTO = Path("/usr/sbin/mosquitto")
# Tiny, so rotation and deletion tests observe the revocation bound within a test's wait.
TEST_AUTH_TTL_S = 0.3


@pytest.fixture(scope="module")
def embedded_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"mqtt_broker_port": free_port(), "mqtt_auth_cache_ttl_s": TEST_AUTH_TTL_S}
    )


@pytest.fixture(scope="module")
async def embedded(app: object, embedded_settings: Settings) -> AsyncIterator[EmbeddedBroker]:
    broker = await start_embedded_broker(embedded_settings)
    try:
        yield broker
    finally:
        await broker.stop()


@dataclass
class Mosquitto:
    port: int
    admin_username: str
    admin_password: str
    service_username: str
    service_password: str
    log: Path

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "mqtt_broker_host": "127.0.0.1",
                "mqtt_broker_port": self.port,
                "mqtt_dynsec_enabled": True,
                "mqtt_dynsec_username": self.admin_username,
                "mqtt_dynsec_password": self.admin_password,
                "mqtt_username": self.service_username,
                "mqtt_password": self.service_password,
            }
        )


def render_test_config(shipped: str, *, port: int, workdir: Path) -> str:
    """The shipped mosquitto.conf with its port, files and persistence pointed at `workdir`;
    every other line (auth, plugin, limits) is tested as shipped."""
    replacements = {
        r"^listener 1883$": f"listener {port} 127.0.0.1",
        r"^plugin_opt_config_file .*$": f"plugin_opt_config_file {workdir / 'dynsec.json'}",
        r"^persistence true$": "persistence false",
        r"^persistence_location .*$": f"persistence_location {workdir}/",
        r"^log_dest .*$": f"log_dest file {workdir / 'mosquitto.log'}",
    }
    text = shipped
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, f"deploy/mosquitto/mosquitto.conf has no line matching {pattern}"
    # Started as root, Mosquitto switches to the `mosquitto` user, which cannot read the
    # test's private temp dir; keep the test's own user (ignored when not root).
    return text + f"\nuser {getpass.getuser()}\n"


def _plugin_path(conf: str) -> Path:
    match = re.search(r"^plugin (\S+)$", conf, flags=re.MULTILINE)
    assert match, "deploy/mosquitto/mosquitto.conf loads no plugin"
    return Path(match.group(1))


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"mosquitto did not listen on {port} within {timeout_s} s")


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} is not installed; the dynsec tests need a real Mosquitto 2")
    if not shutil.which("mosquitto_ctrl"):
        pytest.skip("mosquitto_ctrl is not installed (dynsec setup needs it)")
    shipped = (DEPLOY / "mosquitto.conf").read_text()
    if not _plugin_path(shipped).exists():
        pytest.skip(f"the dynamic-security plugin {_plugin_path(shipped)} is not installed")
    workdir = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    info = Mosquitto(
        port,
        "gito-admin",
        secrets.token_urlsafe(16),
        "gito-service",
        secrets.token_urlsafe(16),
        workdir / "mosquitto.log",
    )
    env = {
        **os.environ,
        "MQTT_DYNSEC_USERNAME": info.admin_username,
        "MQTT_DYNSEC_PASSWORD": info.admin_password,
        "MQTT_USERNAME": info.service_username,
        "MQTT_PASSWORD": info.service_password,
    }
    setup = ["sh", str(DEPLOY / "dynsec-setup.sh")]
    subprocess.run([*setup, "init", str(workdir / "dynsec.json")], env=env, check=True, timeout=30)
    conf = workdir / "mosquitto.conf"
    conf.write_text(render_test_config(shipped, port=port, workdir=workdir))
    proc = subprocess.Popen([str(MOSQUITTO), "-c", str(conf)])
    try:
        _wait_for_port(port, proc)
        subprocess.run([*setup, "service", "127.0.0.1", str(port)], env=env, check=True, timeout=30)
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
