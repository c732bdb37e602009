"""The provisioning seam: misconfiguration is refused at start, and a broker that cannot be
reached fails the device write and rolls it back (nothing half-created)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gito.broker.provisioning import DynsecProvisioner, Provisioner, make_provisioner
from gito.config import Settings
from tests.broker.peers import free_port
from tests.factories import Factory


def test_provisioner_follows_settings(tmp_path: Path) -> None:
    def build(**fields: Any) -> Provisioner:
        return make_provisioner(Settings(_env_file=None, gito_data_dir=tmp_path, **fields))  # type: ignore[call-arg]

    assert type(build()) is Provisioner
    assert type(build(mqtt_broker_host="mqtt.example")) is Provisioner
    dynsec = {"mqtt_dynsec_username": "admin", "mqtt_dynsec_password": "pw"}
    assert isinstance(
        build(mqtt_broker_host="mqtt.example", mqtt_dynsec_enabled=True, **dynsec),
        DynsecProvisioner,
    )
    with pytest.raises(ValueError, match="MQTT_BROKER_HOST"):
        build(mqtt_dynsec_enabled=True, **dynsec)
    with pytest.raises(ValueError, match="MQTT_DYNSEC_USERNAME"):
        build(mqtt_broker_host="mqtt.example", mqtt_dynsec_enabled=True)


@pytest.fixture(scope="module")
async def unreachable_app(app: object, settings: Settings) -> AsyncIterator[Any]:
    from gito.api.app import create_app

    broken = create_app(
        settings.model_copy(
            update={
                "mqtt_broker_host": "127.0.0.1",
                "mqtt_broker_port": free_port(),  # nothing listens here
                "mqtt_dynsec_enabled": True,
                "mqtt_dynsec_username": "admin",
                "mqtt_dynsec_password": "pw",
                "mqtt_dynsec_timeout_s": 2.0,
            }
        )
    )
    try:
        yield broken
    finally:
        await broken.state.provisioner.close()


async def test_unreachable_broker_fails_the_write_and_rolls_it_back(
    unreachable_app: Any, factory: Factory
) -> None:
    tenant = await factory.tenant()
    device_id, _ = await factory.device(tenant)
    transport = httpx.ASGITransport(app=unreachable_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        created = await api.post(
            tenant.url("/devices"),
            json={"name": "never-stored", "device_type": "sensor"},
            headers=tenant.admin.headers,
        )
        assert created.status_code == 503
        assert created.json()["error"]["code"] == "BROKER_UNAVAILABLE"
        imported = await api.post(
            tenant.url("/devices/import"),
            content=b"name,device_type\nx,sensor\n",
            headers={**tenant.admin.headers, "Content-Type": "text/csv"},
        )
        assert imported.status_code == 503
        rotated = await api.post(
            tenant.url(f"/devices/{device_id}/credentials/rotate"), headers=tenant.admin.headers
        )
        assert rotated.status_code == 503
        deleted = await api.delete(
            tenant.url(f"/devices/{device_id}"), headers=tenant.admin.headers
        )
        assert deleted.status_code == 503

        listing = await api.get(tenant.url("/devices"), headers=tenant.admin.headers)
        assert [d["id"] for d in listing.json()["data"]] == [str(device_id)]
        audit = await api.get(tenant.url("/audit-log"), headers=tenant.admin.headers)
        actions = {e["action"] for e in audit.json()["data"]}
        assert not actions & {"device.import", "device.credentials.rotate", "device.delete"}
