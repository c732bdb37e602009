"""gmqtt with acknowledgements in bulk, after commit.

gmqtt's own manual-ack mode (`optimistic_acknowledgement=False`) runs one asyncio Task per
message and sends one PUBACK write per message; profiling the processor showed that as a
quarter of its CPU. Here each QoS 1 PUBLISH is handed to a plain callback together with an
`AckToken`, and `ack` writes the PUBACKs of a whole committed batch in one socket write.

This hooks one method of gmqtt's packet handler, so gmqtt is pinned in pyproject.toml and the
processor tests exercise the hook against a real broker.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from gmqtt import Client

# PUBACK without reason code or properties (MQTT 3.1.1, and MQTT 5 "Success"): fixed
# header 0x40, remaining length 2, packet id.
_PUBACK = struct.Struct("!BBH")

# (connection the message arrived on, packet id). A packet id is only meaningful on its own
# connection: after a reconnect the broker redelivers unacknowledged messages with new ids,
# so an ack for an old connection is dropped, never sent on the new one.
AckToken = tuple[Any, int]
OnPublish = Callable[[str, bytes, bool, AckToken | None], None]


class BulkAckSubscriber:
    def __init__(self, client: Client, on_publish: OnPublish) -> None:
        self.client = client
        self.on_publish = on_publish
        handler = client._package_handler
        self._handler = handler
        handler._handle_qos_1_publish_packet = self._on_qos1
        client.on_message = self._on_qos0

    def _on_qos1(self, mid: int, payload: bytes, topic: str, properties: dict[str, Any]) -> None:
        token = (self._handler.current_connection, mid)
        self.on_publish(topic, payload, bool(properties.get("dup")), token)

    def _on_qos0(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> None:
        self.on_publish(topic, payload, False, None)

    def pause(self) -> None:
        """Stop reading from the broker (back-pressure where the protocol has none: MQTT
        3.1.1 knows no Receive Maximum, so a slow database would otherwise fill memory)."""
        transport = getattr(self._handler.current_connection, "_transport", None)
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def resume(self) -> None:
        transport = getattr(self._handler.current_connection, "_transport", None)
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

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
