from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from gito.api.deps import TenantScope, requires
from gito.api.schemas import Envelope, ok
from gito.auth.permissions import Permission
from gito.devices import service as devices
from gito.health import service
from gito.health.schemas import DeviceHealthOut, HealthSummary

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["device-health"])


@router.get(
    "/devices/{device_id}/health",
    operation_id="get_device_health",
    response_model=Envelope[DeviceHealthOut],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_device_health(device_id: uuid.UUID, scope: TenantScope) -> Any:
    """The device's health score (0-100) with its factors, as the scheduler last computed it
    (every 5 minutes). `score` is null and `factors` empty until the first computation."""
    device = await devices.get_visible(scope.session, scope.principal, device_id)
    health = await service.device_health(scope.session, device)
    return ok(DeviceHealthOut.model_validate(health).model_dump(mode="json"))


@router.get(
    "/health/summary",
    operation_id="get_health_summary",
    response_model=Envelope[HealthSummary],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_health_summary(scope: TenantScope, site_id: uuid.UUID | None = None) -> Any:
    """How many of the caller's devices are in each band: good (80-100), fair (50-79),
    poor (0-49), unknown (not computed yet)."""
    counts = await service.summary(scope.session, scope.principal, site_id)
    return ok(HealthSummary.model_validate(counts).model_dump(mode="json"))
