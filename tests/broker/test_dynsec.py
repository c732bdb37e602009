"""Mosquitto 2 + dynamic security, provisioned by the device API: a private broker started
from deploy/mosquitto (see conftest), the API app with the dynsec provisioner pointed at it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gmqtt.mqtt.constants import MQTTv50
from prometheus_client import REGISTRY

from gito.broker import service_credentials
from gito.broker.dynsec import (
    DynsecClient,
    DynsecError,
    create_device_commands,
    role_name,
)
from gito.broker.provisioning import DynsecProvisioner
from gito.config import Settings
from gito.db.engine import sessionmaker
from tests.broker.conftest import Mosquitto
from tests.broker.peers import WAIT_S, Peer, refused
from tests.factories import Factory, TenantFixture

REFUSED_CODES = {4, 5}  # MQTT 3.1.1 "bad user name or password" / "not authorised"


@pytest.fixture(scope="module")
async def dynsec_app(app: object, settings: Settings, mosquitto: Mosquitto) -> AsyncIterator[Any]:
    from gito.api.app import create_app

    dynsec_app = create_app(mosquitto.settings(settings))
    assert isinstance(dynsec_app.state.provisioner, DynsecProvisioner)
    try:
        yield dynsec_app
    finally:
        await dynsec_app.state.provisioner.close()


@pytest.fixture
async def api(dynsec_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dynsec_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def admin(mosquitto: Mosquitto) -> AsyncIterator[DynsecClient]:
    client = DynsecClient(
        "127.0.0.1",
        mosquitto.port,
        mosquitto.admin_username,
        mosquitto.admin_password,
        timeout_s=WAIT_S,
    )
    try:
        yield client
    finally:
        await client.close()


async def create_device(api: httpx.AsyncClient, tenant: TenantFixture) -> tuple[str, str]:
    response = await api.post(
        tenant.url("/devices"),
        json={"name": f"d-{uuid.uuid4().hex[:6]}", "device_type": "sensor"},
        headers=tenant.admin.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"], response.json()["data"]["token"]


async def service_peer(mosquitto: Mosquitto, settings: Settings, *filters: str) -> Peer:
    creds = service_credentials(mosquitto.settings(settings))
    peer = await Peer().connect(mosquitto.port, creds.username, creds.password)
    for f in filters:
        assert await peer.subscribe(f) == 1, f
    return peer


async def test_device_lifecycle_on_mosquitto(
    api: httpx.AsyncClient, mosquitto: Mosquitto, settings: Settings, factory: Factory
) -> None:
    tenant, other = await factory.tenant(), await factory.tenant()
    a, a_token = await create_device(api, tenant)
    b, _ = await create_device(api, tenant)
    c, _ = await create_device(api, other)
    # The shared form proves the shipped service role allows what processors subscribe to.
    service = await service_peer(mosquitto, settings, "$share/gito/+/devices/+/telemetry")
    device = Peer(client_id=f"dev-{a}")
    await device.connect(mosquitto.port, a, a_token, version=MQTTv50)
    try:
        assert await device.subscribe(f"{tenant.id}/devices/{b}/commands") >= 0x80
        assert await device.subscribe(f"{tenant.id}/devices/{a}/commands") == 1
        device.publish(f"{tenant.id}/devices/{b}/telemetry", b'{"t": 1}')
        device.publish(f"{other.id}/devices/{c}/telemetry", b'{"t": 2}')
        device.publish(f"{other.id}/devices/{a}/telemetry", b'{"t": 3}')
        device.publish(f"{tenant.id}/devices/{a}/telemetry", b'{"t": 4}')
        await service.wait_for(f"{tenant.id}/devices/{a}/telemetry")
        assert service.messages == [(f"{tenant.id}/devices/{a}/telemetry", b'{"t": 4}')]

        response = await api.post(
            tenant.url(f"/devices/{a}/credentials/rotate"), headers=tenant.admin.headers
        )
        assert response.status_code == 200
        new_token = response.json()["data"]["token"]
        # Mosquitto disconnects a client at once when its password changes.
        await asyncio.wait_for(device.disconnected.wait(), WAIT_S)
        assert await refused(mosquitto.port, a, a_token) in REFUSED_CODES
        renewed = await Peer().connect(mosquitto.port, a, new_token)
        renewed.publish(f"{tenant.id}/devices/{a}/telemetry", b'{"t": 5}')
        await service.wait_for(f"{tenant.id}/devices/{a}/telemetry", b'{"t": 5}')

        response = await api.delete(tenant.url(f"/devices/{a}"), headers=tenant.admin.headers)
        assert response.status_code == 204
        await asyncio.wait_for(renewed.disconnected.wait(), WAIT_S)
        assert await refused(mosquitto.port, a, new_token) in REFUSED_CODES
    finally:
        await device.close()
        await service.close()


async def test_session_takeover_inherits_no_messages(
    api: httpx.AsyncClient, mosquitto: Mosquitto, settings: Settings, factory: Factory
) -> None:
    """Mosquitto lets an authenticated client resume another's session by its client id; the
    shipped default (publishClientReceive deny) still keeps the victim's commands from it."""
    tenant = await factory.tenant()
    a, a_token = await create_device(api, tenant)
    b, b_token = await create_device(api, tenant)
    service = await service_peer(mosquitto, settings)
    victim = Peer(client_id=f"shared-id-{a}", clean_session=False)
    await victim.connect(mosquitto.port, a, a_token)
    thief = Peer(client_id=f"shared-id-{a}", clean_session=False)
    try:
        assert await victim.subscribe(f"{tenant.id}/devices/{a}/commands") == 1
        await thief.connect(mosquitto.port, b, b_token)
        assert await thief.subscribe(f"{tenant.id}/devices/{b}/commands") == 1
        service.publish(f"{tenant.id}/devices/{a}/commands", b'{"id": "for-a"}')
        service.publish(f"{tenant.id}/devices/{b}/commands", b'{"id": "for-b"}')
        await thief.wait_for(f"{tenant.id}/devices/{b}/commands")
        assert thief.received(f"{tenant.id}/devices/{a}/commands") == []
    finally:
        await thief.close()
        await victim.close()
        await service.close()


async def test_csv_import_provisions_every_device(
    api: httpx.AsyncClient, mosquitto: Mosquitto, factory: Factory
) -> None:
    tenant = await factory.tenant()
    response = await api.post(
        tenant.url("/devices/import"),
        content=b"name,device_type\nimported-1,sensor\nimported-2,meter\n",
        headers={**tenant.admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    for row in response.json()["data"]:
        peer = await Peer().connect(mosquitto.port, row["id"], row["token"])
        await peer.close()


async def test_reconcile_removes_orphans_repairs_roles_and_reports_missing_clients(
    api: httpx.AsyncClient,
    dynsec_app: Any,
    admin: DynsecClient,
    mosquitto: Mosquitto,
    factory: Factory,
) -> None:
    tenant = await factory.tenant()
    orphan = uuid.uuid4()  # as left by a request whose commit failed after provisioning
    await admin.execute(create_device_commands(tenant.id, orphan, "gdt_orphan"))
    unprovisioned, token = await factory.device(tenant)  # created while dynsec was off
    repaired, repaired_token = await create_device(api, tenant)
    # A lost role (removed from the client first: Mosquitto 2.0.11 corrupts its memory when a
    # role still held by a client is deleted).
    await admin.execute(
        [
            {"command": "removeClientRole", "username": repaired, "rolename": role_name(repaired)},
            {"command": "deleteRole", "rolename": role_name(repaired)},
        ]
    )

    provisioner: DynsecProvisioner = dynsec_app.state.provisioner
    await provisioner.start(sessionmaker())  # what the app lifespan does
    assert provisioner._start_task is not None
    await asyncio.wait_for(provisioner._start_task, 30)
    report = await provisioner.reconcile(sessionmaker())  # idempotent: a second run

    (response,) = await admin.execute(
        [{"command": "getClient", "username": str(orphan)}], tolerate={"Client not found"}
    )
    assert response["error"] == "Client not found"
    assert unprovisioned in report.devices_without_client
    assert uuid.UUID(repaired) not in report.devices_without_client
    assert REGISTRY.get_sample_value("gito_dynsec_devices_without_client") == len(
        report.devices_without_client
    )
    assert report.removed_clients == [] and report.repaired_roles == []  # all done by start
    assert await refused(mosquitto.port, str(unprovisioned), token) in REFUSED_CODES
    peer = await Peer().connect(mosquitto.port, repaired, repaired_token)
    assert await peer.subscribe(f"{tenant.id}/devices/{repaired}/commands") == 1
    await peer.close()

    # Rotation is how a device without a client gets one.
    response = await api.post(
        tenant.url(f"/devices/{unprovisioned}/credentials/rotate"), headers=tenant.admin.headers
    )
    assert response.status_code == 200
    peer = await Peer().connect(
        mosquitto.port, str(unprovisioned), response.json()["data"]["token"]
    )
    await peer.close()


async def test_broker_errors_are_raised_with_the_failing_command(admin: DynsecClient) -> None:
    with pytest.raises(DynsecError, match=r"deleteClient .*: Client not found"):
        await admin.execute([{"command": "deleteClient", "username": str(uuid.uuid4())}])
