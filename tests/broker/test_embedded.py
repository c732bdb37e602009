"""The embedded broker against real devices in the real database: a device may publish and
subscribe only under its own `{tenant_id}/devices/{device_id}/`, and nothing else gets in."""

from __future__ import annotations

import asyncio
import struct
import uuid

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import update

from gito.broker import service_credentials
from gito.broker.embedded import EmbeddedBroker
from gito.config import Settings
from gito.db.engine import enable_platform_scope, unscoped_transaction
from gito.db.models import Tenant
from tests.broker.conftest import TEST_AUTH_TTL_S
from tests.broker.peers import WAIT_S, Peer, refused
from tests.factories import Factory, TenantFixture

NOT_AUTHORISED = 5
SUBACK_FAILURE = 0x80


def telemetry(tenant_id: uuid.UUID, device_id: uuid.UUID) -> str:
    return f"{tenant_id}/devices/{device_id}/telemetry"


def commands(tenant_id: uuid.UUID, device_id: uuid.UUID) -> str:
    return f"{tenant_id}/devices/{device_id}/commands"


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def service_peer(broker: EmbeddedBroker, settings: Settings, *filters: str) -> Peer:
    creds = service_credentials(settings)
    peer = await Peer().connect(broker.port, creds.username, creds.password)
    for f in filters:
        assert await peer.subscribe(f) == 1, f
    return peer


async def device_peer(broker: EmbeddedBroker, device_id: uuid.UUID, token: str) -> Peer:
    return await Peer(client_id=f"dev-{device_id}").connect(broker.port, str(device_id), token)


async def test_device_publishes_only_its_own_topics(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant()
    other_tenant = await factory.tenant()
    a, a_token = await factory.device(tenant)
    b, _ = await factory.device(tenant)
    c, _ = await factory.device(other_tenant)
    service = await service_peer(
        embedded, embedded_settings, "+/devices/+/telemetry", "+/devices/+/commands/response"
    )
    device = await device_peer(embedded, a, a_token)
    refused_before = counter("gito_mqtt_publish_refused_total", client="device")
    try:
        device.publish(telemetry(tenant.id, b), b'{"temperature": 99}')  # same tenant
        device.publish(telemetry(other_tenant.id, c), b'{"temperature": 98}')  # other tenant
        device.publish(
            telemetry(other_tenant.id, a), b'{"temperature": 97}'
        )  # own id, wrong tenant
        device.publish(f"{tenant.id}/devices/{a}/commands", b"{}")  # its inbox, not its outbox
        # The broker forwards one publisher's messages in order: once this arrives, any of
        # the refused ones would have arrived before it.
        device.publish(f"{tenant.id}/devices/{a}/commands/response", b'{"id": "1"}')
        device.publish(telemetry(tenant.id, a), b'{"temperature": 21.5}')
        assert await service.wait_for(telemetry(tenant.id, a)) == b'{"temperature": 21.5}'
        assert [t for t, _ in service.messages] == [
            f"{tenant.id}/devices/{a}/commands/response",
            telemetry(tenant.id, a),
        ]
        assert counter("gito_mqtt_publish_refused_total", client="device") == refused_before + 4
    finally:
        await device.close()
        await service.close()


async def test_device_receives_only_its_own_commands(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant()
    a, a_token = await factory.device(tenant)
    b, _ = await factory.device(tenant)
    service = await service_peer(embedded, embedded_settings)
    device = await device_peer(embedded, a, a_token)
    try:
        assert await device.subscribe(commands(tenant.id, b)) == SUBACK_FAILURE
        assert await device.subscribe(f"{tenant.id}/devices/+/commands") == SUBACK_FAILURE
        assert await device.subscribe("#") == SUBACK_FAILURE
        assert await device.subscribe(commands(tenant.id, a)) == 1
        service.publish(commands(tenant.id, b), b'{"id": "for-b"}')
        service.publish(commands(tenant.id, a), b'{"id": "for-a"}')
        await device.wait_for(commands(tenant.id, a))
        assert device.messages == [(commands(tenant.id, a), b'{"id": "for-a"}')]
    finally:
        await device.close()
        await service.close()


async def test_refused_connects(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    tenant = await factory.tenant()
    a, a_token = await factory.device(tenant)
    b, _ = await factory.device(tenant)
    service = service_credentials(embedded_settings)
    before = counter("gito_mqtt_connect_refused_total", reason="bad_credentials")
    mismatch = counter("gito_mqtt_connect_refused_total", reason="username_mismatch")
    port = embedded.port
    assert await refused(port, str(a), "gdt_wrong-token") == NOT_AUTHORISED
    assert await refused(port, str(uuid.uuid4()), "gdt_unknown") == NOT_AUTHORISED
    assert await refused(port, "not-a-device-id", a_token) == NOT_AUTHORISED
    assert await refused(port, str(a), "") == NOT_AUTHORISED
    assert await refused(port, service.username, "wrong") == NOT_AUTHORISED
    assert await refused(port, str(b), a_token) == NOT_AUTHORISED  # username ≠ token's device
    assert await refused(port, None, None) == NOT_AUTHORISED  # anonymous
    assert counter("gito_mqtt_connect_refused_total", reason="bad_credentials") == before + 5
    assert counter("gito_mqtt_connect_refused_total", reason="username_mismatch") == mismatch + 1


async def test_rotation_and_deletion_revoke_within_the_bound(
    embedded: EmbeddedBroker, factory: Factory, client: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant()
    a, old_token = await factory.device(tenant)
    open_connection = await device_peer(embedded, a, old_token)
    try:
        response = await client.post(
            tenant.url(f"/devices/{a}/credentials/rotate"), headers=tenant.admin.headers
        )
        assert response.status_code == 200
        new_token = response.json()["data"]["token"]
        # The open connection with the old token is closed by the next re-check.
        await asyncio.wait_for(open_connection.disconnected.wait(), 10 * TEST_AUTH_TTL_S + 1)
        await asyncio.sleep(TEST_AUTH_TTL_S)
        assert await refused(embedded.port, str(a), old_token) == NOT_AUTHORISED
        renewed = await device_peer(embedded, a, new_token)
        await renewed.close()

        response = await client.delete(tenant.url(f"/devices/{a}"), headers=tenant.admin.headers)
        assert response.status_code == 204
        await asyncio.sleep(TEST_AUTH_TTL_S + 0.1)
        assert await refused(embedded.port, str(a), new_token) == NOT_AUTHORISED
    finally:
        await open_connection.close()


async def test_deactivated_tenant_is_cut_off(embedded: EmbeddedBroker, factory: Factory) -> None:
    tenant = await factory.tenant()
    a, token = await factory.device(tenant)
    connection = await device_peer(embedded, a, token)
    revoked = counter("gito_mqtt_sessions_revoked_total")
    try:
        await _set_tenant_active(tenant, False)
        await asyncio.wait_for(connection.disconnected.wait(), 10 * TEST_AUTH_TTL_S + 1)
        assert await refused(embedded.port, str(a), token) == NOT_AUTHORISED
        assert counter("gito_mqtt_sessions_revoked_total") >= revoked + 1
    finally:
        await connection.close()
        await _set_tenant_active(tenant, True)


async def _set_tenant_active(tenant: TenantFixture, active: bool) -> None:
    async with unscoped_transaction() as session:
        await enable_platform_scope(session)
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(is_active=active))


async def test_client_id_of_a_device_cannot_be_taken_over(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    """Stock amqtt drops a session for a CONNECT that then fails authentication, and lets
    any client resume another identity's session; both are refused here."""
    tenant = await factory.tenant()
    a, a_token = await factory.device(tenant)
    b, b_token = await factory.device(tenant)
    victim = await device_peer(embedded, a, a_token)
    service = await service_peer(embedded, embedded_settings)
    try:
        assert await victim.subscribe(commands(tenant.id, a)) == 1
        victim_id = f"dev-{a}"
        assert await refused(embedded.port, str(a), "gdt_wrong", client_id=victim_id) == 5
        assert (
            await refused(embedded.port, str(b), b_token, client_id=victim_id, clean_session=False)
            == NOT_AUTHORISED
        )
        service.publish(commands(tenant.id, a), b'{"id": "still-subscribed"}')
        assert await victim.wait_for(commands(tenant.id, a)) == b'{"id": "still-subscribed"}'
        assert not victim.disconnected.is_set()
    finally:
        await victim.close()
        await service.close()


async def test_will_message_on_a_foreign_topic_is_refused(
    embedded: EmbeddedBroker, factory: Factory
) -> None:
    import gmqtt

    tenant = await factory.tenant()
    a, a_token = await factory.device(tenant)
    b, _ = await factory.device(tenant)
    will = gmqtt.Message(telemetry(tenant.id, b), b'{"temperature": -1}', qos=1)
    assert await refused(embedded.port, str(a), a_token, will_message=will) == NOT_AUTHORISED
    own_will = gmqtt.Message(telemetry(tenant.id, a), b'{"online": false}', qos=1)
    peer = Peer(will_message=own_will)
    await peer.connect(embedded.port, str(a), a_token)
    await peer.close()


async def test_shared_subscriptions_are_refused_not_silently_empty(
    embedded: EmbeddedBroker, embedded_settings: Settings
) -> None:
    """amqtt would accept `$share/...` and never deliver on it; refusing makes it visible."""
    creds = service_credentials(embedded_settings)
    service = await Peer().connect(embedded.port, creds.username, creds.password)
    try:
        assert await service.subscribe("$share/gito/+/devices/+/telemetry") == SUBACK_FAILURE
        assert await service.subscribe("application/+/device/+/event/+") == 1
        assert await service.subscribe("#") == SUBACK_FAILURE
    finally:
        await service.close()


async def test_mqtt5_is_refused_with_unacceptable_protocol_version(
    embedded: EmbeddedBroker,
) -> None:
    """amqtt speaks MQTT 3.1.1 only; an MQTT 5 CONNECT gets return code 1."""
    client_id = b"v5-probe"
    variable = b"\x00\x04MQTT" + bytes([5, 0x02]) + struct.pack("!H", 30) + b"\x00"
    body = variable + struct.pack("!H", len(client_id)) + client_id
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", embedded.port), WAIT_S
    )
    try:
        writer.write(bytes([0x10, len(body)]) + body)
        connack = await asyncio.wait_for(reader.readexactly(4), WAIT_S)
    finally:
        writer.close()
    assert connack[0] == 0x20
    assert connack[3] == 1


async def test_persistent_session_keeps_commands_queued_while_offline(
    embedded: EmbeddedBroker, embedded_settings: Settings, factory: Factory
) -> None:
    """A device reconnecting with clean_session=False gets the commands sent while it was
    away (the resume path of the broker's reordered connect handling)."""
    tenant = await factory.tenant()
    a, token = await factory.device(tenant)
    service = await service_peer(embedded, embedded_settings)
    first = Peer(client_id=f"persistent-{a}", clean_session=False)
    await first.connect(embedded.port, str(a), token)
    assert await first.subscribe(commands(tenant.id, a)) == 1
    await first.close()
    try:
        service.publish(commands(tenant.id, a), b'{"id": "while-offline"}')
        await asyncio.sleep(0.2)
        again = Peer(client_id=f"persistent-{a}", clean_session=False)
        await again.connect(embedded.port, str(a), token)
        assert await again.wait_for(commands(tenant.id, a)) == b'{"id": "while-offline"}'
        await again.close()
    finally:
        await service.close()


async def test_garbage_before_connect_does_not_hurt_the_broker(
    embedded: EmbeddedBroker, factory: Factory
) -> None:
    for junk in (b"", b"\x00\x01garbage", b"\x10\xff\xff\xff\xff\x7f"):
        _, writer = await asyncio.open_connection("127.0.0.1", embedded.port)
        writer.write(junk)
        await writer.drain()
        writer.close()
    tenant = await factory.tenant()
    a, token = await factory.device(tenant)
    peer = await device_peer(embedded, a, token)
    await peer.close()


async def test_broker_without_an_app_engine_opens_its_own(
    app: object, embedded_settings: Settings, factory: Factory, monkeypatch: object
) -> None:
    """`gito up` starts the broker before the API has initialised the shared engine."""
    from gito.broker.embedded import start_embedded_broker
    from gito.db import engine
    from tests.broker.peers import free_port

    tenant = await factory.tenant()
    a, token = await factory.device(tenant)
    monkeypatch.setattr(engine, "_sessionmaker", None)  # type: ignore[attr-defined]
    broker = await start_embedded_broker(
        embedded_settings.model_copy(update={"mqtt_broker_port": free_port()})
    )
    try:
        assert broker._engine is not None
        peer = await Peer().connect(broker.port, str(a), token)
        assert broker.connected_clients == 1
        await peer.close()
    finally:
        await broker.stop()
