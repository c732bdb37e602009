"""A private Mosquitto on a free loopback port, for benchmarks and tests.

Its settings are the ones Gito's processor needs from any broker: persistence (sessions and
queued QoS 1 messages survive a broker restart) and no broker-side cap on in-flight or queued
messages — the processor's MQTT 5 Receive Maximum is the flow control, and a broker that
silently drops queued messages (Mosquitto's default `max_queued_messages 1000`) loses data."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from gito.bench import free_port


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


class PrivateMosquitto:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # Mosquitto started as root drops to its own user, which must write persistence here.
        workdir.chmod(0o777)

    def config(self) -> str:
        return (
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_inflight_messages 0\n"
            "max_queued_messages 0\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
        )

    def start(self, timeout_s: float = 10.0) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen([self.binary, "-c", str(conf)])  # noqa: S603
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@contextlib.contextmanager
def private_mosquitto() -> Iterator[PrivateMosquitto]:
    with tempfile.TemporaryDirectory(prefix="gito-mosquitto-") as workdir:
        broker = PrivateMosquitto(Path(workdir))
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
