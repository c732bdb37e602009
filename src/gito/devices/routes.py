from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gito.api.deps import SettingsDep, TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission
from gito.broker.provisioning import ProvisionerDep
from gito.db.models import Device
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.devices import csv_import, service
from gito.devices.schemas import (
    DeviceCounts,
    DeviceCreate,
    DeviceOut,
    DeviceSort,
    DeviceStatus,
    DeviceToken,
    DeviceUpdate,
    DeviceWithToken,
    ImportedDevice,
)
from gito.health.schemas import HealthBand

router = APIRouter(prefix="/tenants/{tenant_id}/devices", tags=["devices"])


def device_out(device: Device) -> dict[str, Any]:
    return DeviceOut.model_validate(device).model_dump(mode="json")


@router.get(
    "",
    operation_id="list_devices",
    response_model=PageEnvelope[DeviceOut],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def list_devices(
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    q: Annotated[
        str | None, Query(max_length=200, description="Search in name and dev_eui.")
    ] = None,
    status: DeviceStatus | None = None,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    site_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    health: Annotated[
        HealthBand | None,
        Query(description="Health band: good 80-100, fair 50-79, poor 0-49, unknown."),
    ] = None,
    sort: DeviceSort = DeviceSort.name,
) -> Any:
    query = service.listing(
        scope.principal,
        q=q,
        status=status,
        device_type=device_type,
        site_id=site_id,
        tag=tag,
        health=health,
        sort=sort,
    )
    rows, total = await paginate(scope.session, query, page=page_number, per_page=per_page)
    return page([device_out(d) for d in rows], page=page_number, per_page=per_page, total=total)


@router.post(
    "",
    operation_id="create_device",
    status_code=201,
    response_model=Envelope[DeviceWithToken],
    dependencies=[requires(Permission.DEVICES_WRITE)],
)
async def create_device(body: DeviceCreate, scope: TenantScope, provisioner: ProvisionerDep) -> Any:
    """Register a device. The response carries its token once; store it on the device."""
    await service.check_site(scope.session, scope.principal, body.site_id)
    device, token = await service.create(scope.session, scope.tenant_id, body.model_dump())
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="device.create",
        entity_type="device",
        entity_id=device.id,
        changes=body.model_dump(),
    )
    await provisioner.device_created(scope.tenant_id, device.id, token)  # broker hook
    return ok({**device_out(device), "token": token}, status_code=201)


@router.post(
    "/import",
    operation_id="import_devices",
    status_code=201,
    response_model=Envelope[list[ImportedDevice]],
    dependencies=[requires(Permission.DEVICES_WRITE)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "CSV with a header row: name, device_type[, dev_eui, site_id, "
            "tags (;-separated), expected_interval_s, metadata (JSON object)].",
        }
    },
)
async def import_devices(
    request: Request, scope: TenantScope, settings: SettingsDep, provisioner: ProvisionerDep
) -> Any:
    """Create many devices from CSV, all or nothing. A 422 lists every invalid row."""
    rows, row_errors = csv_import.parse(await request.body(), max_rows=settings.max_import_rows)
    created = await service.import_devices(
        scope.session, scope.principal, scope.tenant_id, rows, row_errors
    )
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="device.import",
        entity_type="device",
        entity_id=None,
        changes={"count": len(created), "device_ids": [c["id"] for c in created]},
    )
    await provisioner.devices_created(scope.tenant_id, [(c["id"], c["token"]) for c in created])
    return ok([{**c, "id": str(c["id"])} for c in created], status_code=201)


@router.get(
    "/counts",
    operation_id="count_devices",
    response_model=Envelope[DeviceCounts],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def count_devices(scope: TenantScope) -> Any:
    """Devices per status and in all (of the caller's sites for SITE_ADMIN/CLIENT): the
    dashboard's fleet cards in one request."""
    return ok(await service.status_counts(scope.session, scope.principal))


@router.get(
    "/{device_id}",
    operation_id="get_device",
    response_model=Envelope[DeviceOut],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_device(device_id: uuid.UUID, scope: TenantScope) -> Any:
    return ok(device_out(await service.get_visible(scope.session, scope.principal, device_id)))


@router.patch(
    "/{device_id}",
    operation_id="update_device",
    response_model=Envelope[DeviceOut],
    dependencies=[requires(Permission.DEVICES_WRITE)],
)
async def update_device(device_id: uuid.UUID, body: DeviceUpdate, scope: TenantScope) -> Any:
    device = await service.get_visible(scope.session, scope.principal, device_id, for_update=True)
    fields = body.model_dump(exclude_unset=True)
    if "site_id" in fields:
        await service.check_site(scope.session, scope.principal, fields["site_id"])
    before = {k: getattr(device, "metadata_" if k == "metadata" else k) for k in fields}
    service.apply(device, fields)
    await service.flush_unique(scope.session)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="device.update",
        entity_type="device",
        entity_id=device.id,
        changes=audit.diff(before, fields),
    )
    await scope.session.refresh(device)
    return ok(device_out(device))


@router.delete(
    "/{device_id}",
    operation_id="delete_device",
    status_code=204,
    dependencies=[requires(Permission.DEVICES_WRITE)],
)
async def delete_device(
    device_id: uuid.UUID, scope: TenantScope, provisioner: ProvisionerDep
) -> None:
    device = await service.get_visible(scope.session, scope.principal, device_id, for_update=True)
    await scope.session.delete(device)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="device.delete",
        entity_type="device",
        entity_id=device_id,
        changes={"name": device.name},
    )
    await provisioner.device_deleted(scope.tenant_id, device_id)  # broker hook


@router.post(
    "/{device_id}/credentials/rotate",
    operation_id="rotate_device_credentials",
    response_model=Envelope[DeviceToken],
    dependencies=[requires(Permission.DEVICE_CREDENTIALS)],
)
async def rotate_credentials(
    device_id: uuid.UUID, scope: TenantScope, provisioner: ProvisionerDep
) -> Any:
    """Issue a new device token; the previous one is invalid from this moment."""
    device = await service.get_visible(scope.session, scope.principal, device_id, for_update=True)
    token = await service.rotate_credentials(scope.session, device)
    await audit.record(
        scope.session,
        scope.principal,
        tenant_id=scope.tenant_id,
        action="device.credentials.rotate",
        entity_type="device",
        entity_id=device.id,
    )
    await provisioner.device_rotated(scope.tenant_id, device.id, token)  # broker hook
    return ok({"device_id": str(device.id), "token": token})
