"""Commands through the embedded broker of `gito up` (amqtt, MQTT 3.1.1, service
credentials from the data dir): the sender's PUBACK detection and the device's ACL."""

from __future__ import annotations

import uuid

import orjson

from gito.broker.embedded import EmbeddedBroker
from gito.commands.sender import CommandSender, command_payload, sender_address
from gito.config import Settings
from tests.broker.conftest import embedded, embedded_settings
from tests.broker.peers import Peer
from tests.factories import Factory

__all__ = ["embedded", "embedded_settings"]


async def test_sender_reaches_only_the_addressed_device(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant()
    target, target_token = await factory.device(tenant)
    other, other_token = await factory.device(tenant)
    address = sender_address(embedded_settings)
    assert address.mqtt5 is False and address.port == embedded.port
    peers = []
    for device, token in ((target, target_token), (other, other_token)):
        peer = await Peer(client_id=f"dev-{device}").connect(embedded.port, str(device), token)
        assert await peer.subscribe(f"{tenant.id}/devices/{device}/commands") == 1
        peers.append(peer)
    sender = CommandSender(address)
    try:
        command_id = uuid.uuid4()
        payload = command_payload(command_id, "reboot", {"delay_s": 1})
        assert await sender.send(tenant.id, target, payload)
        received = await peers[0].wait_for(f"{tenant.id}/devices/{target}/commands")
        assert orjson.loads(received) == {
            "id": str(command_id),
            "name": "reboot",
            "params": {"delay_s": 1},
        }
        # The connection is reused for the next command.
        assert await sender.send(tenant.id, target, payload)
        assert peers[1].messages == []
    finally:
        await sender.close()
        for peer in peers:
            await peer.close()
