"""Publishes commands to devices over MQTT (QoS 1) and reports whether the broker took them.

A command counts as delivered to the broker (SENT) when its PUBACK arrived. The sender keeps
one connection per process and opens it lazily; when the broker is unreachable, `send`
returns False quickly and the command stays PENDING — the scheduler retries it until its
deadline. gmqtt exposes no per-message PUBACK callback, so the PUBACK handler of the client
is extended (the same pinned gmqtt the processor hooks, see gito.processor.mqtt).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from gmqtt import Client, Message
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from gito.config import Settings

log = structlog.get_logger("gito.commands")

# A healthy broker acknowledges within milliseconds; past this the command stays PENDING and
# the scheduler retries (the API request must not hang on a sick broker).
CONNECT_TIMEOUT_S = 3.0
PUBACK_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class SenderAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    mqtt5: bool = True


def sender_address(settings: Settings) -> SenderAddress:
    """Where the platform's own MQTT client connects: the configured broker (MQTT 5), or the
    embedded one on loopback (MQTT 3.1.1, which is all amqtt speaks)."""
    from gito.broker.credentials import service_credentials, uses_embedded_broker

    creds = service_credentials(settings)
    if uses_embedded_broker(settings):
        return SenderAddress(
            "127.0.0.1", settings.mqtt_broker_port, creds.username, creds.password, mqtt5=False
        )
    assert settings.mqtt_broker_host
    return SenderAddress(
        settings.mqtt_broker_host, settings.mqtt_broker_port, creds.username, creds.password
    )


def command_topic(tenant_id: uuid.UUID, device_id: uuid.UUID) -> str:
    return f"{tenant_id}/devices/{device_id}/commands"


def command_payload(command_id: uuid.UUID, name: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"id": str(command_id), "name": name, "params": params})


class _AckedClient(Client):  # type: ignore[misc]
    """gmqtt client resolving a future per QoS 1 publish when its PUBACK arrives."""

    def __init__(self, client_id: str) -> None:
        super().__init__(client_id, clean_session=True)
        self.acks: dict[int, asyncio.Future[None]] = {}
        handler = self._package_handler
        original = handler._handle_puback_packet

        def on_puback(cmd: int, packet: bytes) -> None:
            (mid,) = struct.unpack("!H", packet[:2])
            original(cmd, packet)
            future = self.acks.pop(mid, None)
            if future is not None and not future.done():
                future.set_result(None)

        handler._handle_puback_packet = on_puback

    def publish_acked(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        message = Message(topic, payload, qos=1)
        mid, _package = self._connection.publish(message)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks[mid] = future
        return future


class CommandSender:
    def __init__(self, address: SenderAddress, client_prefix: str = "gito-commands") -> None:
        self.address = address
        self.client_prefix = client_prefix
        self._client: _AckedClient | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> _AckedClient:
        if self._client is not None and self._client.is_connected:
            return self._client
        await self._drop()
        # A fresh client per connection: nothing stored in an old one is replayed later,
        # after the scheduler may already have expired the command.
        client = _AckedClient(f"{self.client_prefix}-{uuid.uuid4().hex[:12]}")
        client.set_config({"reconnect_retries": 0})
        if self.address.username:
            client.set_auth_credentials(self.address.username, self.address.password)
        await asyncio.wait_for(
            client.connect(
                self.address.host,
                self.address.port,
                version=MQTTv50 if self.address.mqtt5 else MQTTv311,
                keepalive=60,
            ),
            CONNECT_TIMEOUT_S,
        )
        self._client = client
        return client

    async def send(self, tenant_id: uuid.UUID, device_id: uuid.UUID, payload: bytes) -> bool:
        """Publish one command; True once the broker acknowledged it (PUBACK)."""
        async with self._lock:
            try:
                client = await self._connected()
                future = client.publish_acked(command_topic(tenant_id, device_id), payload)
            except Exception as exc:
                log.warning("command broker unreachable", error=repr(exc))
                await self._drop()
                return False
        try:
            await asyncio.wait_for(future, PUBACK_TIMEOUT_S)
            return True
        except (TimeoutError, ConnectionError):
            log.warning("command not acknowledged by the broker", device_id=str(device_id))
            async with self._lock:
                await self._drop()
            return False

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            for future in client.acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("command connection closed"))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
