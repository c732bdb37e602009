from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gito.auth.principal import Principal
from gito.db.models import Device, DeviceHealth
from gito.health.schemas import HealthBand
from gito.health.score import factors

# Lower bounds of the bands (a score of 80 is good, 79 fair).
GOOD_FROM, FAIR_FROM = 80, 50


def band_filter(band: HealthBand) -> ColumnElement[bool]:
    """The devices of a band, by the list's copy of the score."""
    score = Device.health_score
    if band is HealthBand.good:
        return score >= GOOD_FROM
    if band is HealthBand.fair:
        return score.between(FAIR_FROM, GOOD_FROM - 1)
    if band is HealthBand.poor:
        return score < FAIR_FROM
    return score.is_(None)


async def device_health(session: AsyncSession, device: Device) -> dict[str, Any]:
    health = await session.get(DeviceHealth, device.id)
    if health is None:
        return {"device_id": device.id, "score": None, "computed_at": None, "factors": []}
    return {
        "device_id": device.id,
        "score": health.score,
        "computed_at": health.computed_at,
        "factors": factors(health),
    }


async def summary(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID | None
) -> dict[str, int]:
    counts = {band: func.count().filter(band_filter(band)) for band in HealthBand}
    query = select(*counts.values(), func.count())
    if principal.site_ids is not None:
        query = query.where(Device.site_id.in_(principal.site_ids))
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    row = (await session.execute(query.select_from(Device))).one()
    return {**{band.value: n for band, n in zip(counts, row[:-1], strict=True)}, "total": row[-1]}
