"""MQTT test clients (gmqtt, the platform's client library) with bounded waits."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv311

from gito.bench import free_port  # noqa: F401 (the broker tests import it from here)

WAIT_S = 5.0
# gmqtt: -1 = reconnect forever, n >= 0 allows n + 1 attempts; below -1 allows none. A test
# client whose connection the broker closes must stay closed.
NEVER_RECONNECT = -2


class Peer:
    """A client that records what it receives and what the broker granted."""

    def __init__(self, client_id: str | None = None, *, clean_session: bool = True, **kw: Any):
        self.client = gmqtt.Client(
            client_id or f"test-{uuid.uuid4().hex[:10]}", clean_session=clean_session, **kw
        )
        self.client.set_config({"reconnect_retries": NEVER_RECONNECT})
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = asyncio.Event()
        self._subacks: asyncio.Queue[tuple[int, ...]] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda _c, _m, qos, _p: self._subacks.put_nowait(qos)
        self.client.on_disconnect = lambda *_: self.disconnected.set()

    def _on_message(self, _c: Any, topic: str, payload: bytes, _qos: int, _p: Any) -> int:
        self.messages.append((topic, payload))
        self._arrived.set()
        return 0

    async def connect(
        self, port: int, username: str | None, password: str | None, *, version: int = MQTTv311
    ) -> Peer:
        if username is not None:
            self.client.set_auth_credentials(username, password)
        await asyncio.wait_for(self.client.connect("127.0.0.1", port, version=version), WAIT_S)
        return self

    async def subscribe(self, topic: str) -> int:
        """The granted QoS, or 0x80 when the broker refused the subscription."""
        self.client.subscribe(topic, qos=1)
        granted = await asyncio.wait_for(self._subacks.get(), WAIT_S)
        return granted[0]

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1)

    async def wait_for(self, topic: str, payload: bytes | None = None) -> bytes:
        async with asyncio.timeout(WAIT_S):
            while True:
                for t, p in self.messages:
                    if t == topic and (payload is None or p == payload):
                        return p
                self._arrived.clear()
                await self._arrived.wait()

    def received(self, topic: str) -> list[bytes]:
        return [p for t, p in self.messages if t == topic]

    async def close(self) -> None:
        if self.client.is_connected:
            await self.client.disconnect()


async def refused(port: int, username: str | None, password: str | None, **kw: Any) -> int:
    """Connect and expect a refusal; returns the CONNACK return code."""
    peer = Peer(**kw)
    try:
        await peer.connect(port, username, password)
    except gmqtt.mqtt.handler.MQTTConnectError as exc:
        return int(exc._code)
    await peer.close()
    raise AssertionError(f"connect of {username!r} was accepted")
