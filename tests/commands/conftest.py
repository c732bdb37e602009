"""A private Mosquitto, a processor against it, the API's command sender pointed at it, and
a gmqtt "device" that answers commands."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

from gito.bench.mosquitto import free_port
from gito.commands.sender import CommandSender, SenderAddress
from tests.processor.conftest import Broker, broker, processor, processor_settings

__all__ = ["broker", "processor", "processor_settings"]

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


def install_sender(app: Any, sender: CommandSender | None) -> Any:
    previous = getattr(app.state, "command_sender", None)
    app.state.command_sender = sender
    return previous


@pytest.fixture
async def live_sender(app: Any, broker: Broker) -> AsyncIterator[CommandSender]:
    sender = CommandSender(SenderAddress("127.0.0.1", broker.port))
    previous = install_sender(app, sender)
    try:
        yield sender
    finally:
        await sender.close()
        install_sender(app, previous)


@pytest.fixture
async def dead_sender(app: Any) -> AsyncIterator[CommandSender]:
    """A sender whose broker is not there (nothing listens on its port)."""
    sender = CommandSender(SenderAddress("127.0.0.1", free_port()))
    previous = install_sender(app, sender)
    try:
        yield sender
    finally:
        await sender.close()
        install_sender(app, previous)


class FakeDevice:
    """A device on the broker: receives commands, answers them through `answer`."""

    def __init__(self, port: int, tenant_id: uuid.UUID, device_id: uuid.UUID) -> None:
        self.port = port
        self.prefix = f"{tenant_id}/devices/{device_id}"
        self.received: list[dict[str, Any]] = []
        self.answer: Answer = lambda cmd: {
            "id": cmd["id"],
            "status": "SUCCESSFUL",
            "result": {"echo": cmd["params"]},
        }
        self.client = Client(f"device-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_message(self, client: Client, topic: str, payload: bytes, qos: int, props: Any) -> int:
        command = orjson.loads(payload)
        self.received.append(command)
        reply = self.answer(command)
        if reply is not None:
            client.publish(f"{self.prefix}/commands/response", orjson.dumps(reply), qos=1)
        return 0

    async def start(self) -> FakeDevice:
        await self.client.connect("127.0.0.1", self.port, version=MQTTv50)
        self.client.subscribe(f"{self.prefix}/commands", qos=1)
        await asyncio.wait_for(self.subscribed.wait(), 5)
        return self

    async def stop(self) -> None:
        await self.client.disconnect()
