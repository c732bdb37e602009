"""The seam between the devices API and the broker's credential store.

The device routes call a `Provisioner` on create, import, rotate and delete, inside the request
and so before its transaction commits: a provisioning failure fails the request and rolls the
database back. The reverse case — provisioned, then the commit fails — leaves an orphan
dynsec client, which `reconcile` (run at every API start) removes.

* Embedded broker: nothing to provision, the broker asks the database (`gito.broker.auth`).
* Mosquitto with dynamic security (`MQTT_BROKER_HOST` + `MQTT_DYNSEC_ENABLED=true`):
  `DynsecProvisioner`.
* Any other external broker: nothing either; its device auth is the operator's to configure
  (e.g. EMQX's HTTP/JWT auth)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gito.broker.dynsec import (
    DEVICES_PER_BATCH,
    NOT_FOUND,
    DynsecClient,
    ReconcileReport,
    create_device_commands,
    delete_device_commands,
    reconcile,
)
from gito.config import Settings

log = structlog.get_logger("gito.broker")

DeviceToken = tuple[uuid.UUID, str]


class Provisioner:
    """No-op provisioning (embedded broker, or a broker that authenticates by itself)."""

    async def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Called once the database engine is up (app start)."""

    async def close(self) -> None:
        pass

    async def device_created(self, tenant_id: uuid.UUID, device_id: uuid.UUID, token: str) -> None:
        await self.devices_created(tenant_id, [(device_id, token)])

    async def devices_created(self, tenant_id: uuid.UUID, devices: Sequence[DeviceToken]) -> None:
        pass

    async def device_rotated(self, tenant_id: uuid.UUID, device_id: uuid.UUID, token: str) -> None:
        pass

    async def device_deleted(self, tenant_id: uuid.UUID, device_id: uuid.UUID) -> None:
        pass

    async def reconcile(self, sessions: async_sessionmaker[AsyncSession]) -> ReconcileReport | None:
        return None


class DynsecProvisioner(Provisioner):
    def __init__(self, client: DynsecClient) -> None:
        self.client = client
        self._start_task: asyncio.Task[None] | None = None

    async def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        # In the background: the API must come up (and serve everything but device writes)
        # while the broker is still starting or briefly away.
        self._start_task = asyncio.create_task(self._reconcile_logged(sessions))

    async def _reconcile_logged(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        try:
            await self.reconcile(sessions)
        except Exception as exc:
            log.warning("dynsec reconcile at start failed (runs again next start)", error=repr(exc))

    async def close(self) -> None:
        if self._start_task is not None:
            self._start_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._start_task
        await self.client.close()

    async def devices_created(self, tenant_id: uuid.UUID, devices: Sequence[DeviceToken]) -> None:
        done: list[uuid.UUID] = []
        try:
            for start in range(0, len(devices), DEVICES_PER_BATCH):
                chunk = devices[start : start + DEVICES_PER_BATCH]
                commands = [c for d, t in chunk for c in create_device_commands(tenant_id, d, t)]
                done.extend(d for d, _ in chunk)
                # A role left by an earlier failed attempt carries the same ACLs: reuse it.
                await self.client.execute(commands, tolerate={"Role already exists"})
        except Exception:
            # The request fails and its rows roll back; take back what reached the broker.
            with contextlib.suppress(Exception):
                await self._delete(done)
            raise

    async def device_rotated(self, tenant_id: uuid.UUID, device_id: uuid.UUID, token: str) -> None:
        """Set the new password (Mosquitto disconnects the device's open connection); a device
        without a dynsec client (created before dynsec was enabled) is provisioned now."""
        (response,) = await self.client.execute(
            [{"command": "setClientPassword", "username": str(device_id), "password": token}],
            tolerate={"Client not found"},
        )
        if response.get("error"):
            await self.devices_created(tenant_id, [(device_id, token)])

    async def device_deleted(self, tenant_id: uuid.UUID, device_id: uuid.UUID) -> None:
        await self._delete([device_id])

    async def _delete(self, device_ids: Sequence[uuid.UUID]) -> None:
        for start in range(0, len(device_ids), DEVICES_PER_BATCH):
            chunk = device_ids[start : start + DEVICES_PER_BATCH]
            await self.client.execute(
                [c for d in chunk for c in delete_device_commands(d)], tolerate=NOT_FOUND
            )

    async def reconcile(self, sessions: async_sessionmaker[AsyncSession]) -> ReconcileReport:
        return await reconcile(self.client, sessions)


def make_provisioner(settings: Settings) -> Provisioner:
    if not settings.mqtt_dynsec_enabled:
        return Provisioner()
    if not settings.mqtt_broker_host:
        raise ValueError("MQTT_DYNSEC_ENABLED needs MQTT_BROKER_HOST (the Mosquitto to manage)")
    if not (settings.mqtt_dynsec_username and settings.mqtt_dynsec_password):
        raise ValueError(
            "MQTT_DYNSEC_ENABLED needs MQTT_DYNSEC_USERNAME and MQTT_DYNSEC_PASSWORD "
            "(the admin client of `mosquitto_ctrl dynsec init`)"
        )
    return DynsecProvisioner(
        DynsecClient(
            settings.mqtt_broker_host,
            settings.mqtt_broker_port,
            settings.mqtt_dynsec_username,
            settings.mqtt_dynsec_password,
            timeout_s=settings.mqtt_dynsec_timeout_s,
        )
    )


def get_provisioner(request: Request) -> Provisioner:
    provisioner: Provisioner = getattr(request.app.state, "provisioner", None) or Provisioner()
    return provisioner


ProvisionerDep = Annotated[Provisioner, Depends(get_provisioner)]
