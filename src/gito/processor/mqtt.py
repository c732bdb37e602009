"""gmqtt with acknowledgements in bulk, after commit.

gmqtt's own manual-ack mode (`optimistic_acknowledgement=False`) runs one asyncio Task per
message and sends one PUBACK write per message; profiling the processor showed that as a
quarter of its CPU. Here each QoS 1 PUBLISH is handed to a plain callback together with an
`AckToken`, and `ack` writes the PUBACKs of a whole committed batch in one socket write.

Back-pressure (`pause`/`resume`) holds gmqtt's read loop rather than the socket: pausing the
transport does not hold, because gmqtt reads through an `asyncio.StreamReader` whose own flow
control resumes the transport as soon as its 128 KiB buffer drains, so a flood kept flowing
into the processor's memory. A held read loop leaves the StreamReader to fill and pause the
socket itself, and the broker keeps the rest. Nor can the broker's in-flight window be relied
on: Mosquitto 2.0.11 (Debian 12's) sends a whole Receive Maximum of new messages for every
PUBACK it receives (measured; 2.0.13 lists fixes to its inflight quota), and MQTT 3.1.1 has
no such window at all. tests/processor/test_backpressure.py floods both ways.

This hooks two methods of gmqtt's packet handler and its protocol's `read`, so gmqtt is pinned
in pyproject.toml and the processor tests exercise the hooks against a real broker.
"""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50

# PUBACK without reason code or properties (MQTT 3.1.1, and MQTT 5 "Success"): fixed
# header 0x40, remaining length 2, packet id.
_PUBACK = struct.Struct("!BBH")

# (connection the message arrived on, packet id). A packet id is only meaningful on its own
# connection: after a reconnect the broker redelivers unacknowledged messages with new ids,
# so an ack for an old connection is dropped, never sent on the new one.
AckToken = tuple[Any, int]
OnPublish = Callable[[str, bytes, bool, AckToken | None], None]


def _fast_empty_properties(handler: Any) -> Callable[[bytes], tuple[Any, Any]]:
    """gmqtt's `_parse_properties`, returning at once for an empty MQTT 5 property block
    (length byte 0, what Mosquitto sends with nearly every PUBLISH): the general parser
    builds a defaultdict and slices the packet for nothing, ~0.4 µs per message."""
    parse = handler._parse_properties

    def parse_properties(packet: bytes) -> tuple[Any, Any]:
        if packet[:1] == b"\x00" and handler._connection_state.protocol_version >= MQTTv50:
            return {}, packet[1:]
        parsed: tuple[Any, Any] = parse(packet)
        return parsed

    return parse_properties


class BulkAckSubscriber:
    def __init__(self, client: Client, on_publish: OnPublish) -> None:
        self.client = client
        self.on_publish = on_publish
        handler = client._package_handler
        self._handler = handler
        handler._handle_qos_1_publish_packet = self._on_qos1
        handler._parse_properties = _fast_empty_properties(handler)
        client.on_message = self._on_qos0
        # Set while the read loop may run; cleared by `pause`.
        self._reading = asyncio.Event()
        self._reading.set()

    def _on_qos1(self, mid: int, payload: bytes, topic: str, properties: dict[str, Any]) -> None:
        token = (self._handler.current_connection, mid)
        self.on_publish(topic, payload, bool(properties.get("dup")), token)

    def _on_qos0(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> None:
        self.on_publish(topic, payload, False, None)

    @property
    def paused(self) -> bool:
        return not self._reading.is_set()

    def pause(self) -> None:
        """Stop taking messages from the current connection until `resume`: its read loop
        waits before its next read (what was already read, at most 64 KiB, is still
        delivered). Idempotent and cheap; a connection made later starts unpaused (it must
        read its CONNACK), so the caller pauses again while it is over its limit."""
        self._reading.clear()
        protocol = getattr(self._handler.current_connection, "_protocol", None)
        if protocol is not None and "read" not in vars(protocol):
            protocol.read = self._held_read(protocol.read)

    def resume(self) -> None:
        self._reading.set()

    def _held_read(self, read: Callable[[int], Awaitable[bytes]]) -> Callable[..., Any]:
        reading = self._reading

        async def held_read(n: int = -1) -> bytes:
            await reading.wait()
            return await read(n)

        return held_read

    def ack(self, tokens: Iterable[AckToken | None]) -> int:
        """Send the PUBACKs of committed messages; returns how many were sent."""
        by_connection: dict[Any, list[int]] = defaultdict(list)
        for token in tokens:
            if token is not None:
                by_connection[token[0]].append(token[1])
        sent = 0
        current = self._handler.current_connection
        for connection, mids in by_connection.items():
            if connection is current and connection is not None:
                connection.send_package(b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids))
                sent += len(mids)
        return sent
