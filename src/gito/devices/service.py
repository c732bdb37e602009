from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gito.auth.principal import Principal
from gito.auth.security import new_secret, secret_hash
from gito.db.models import Device, DeviceCredential, Site
from gito.db.pagination import contains_pattern
from gito.devices import csv_import
from gito.devices.schemas import DeviceSort, DeviceStatus
from gito.errors import Conflict, InvalidInput, NotFound
from gito.health.schemas import HealthBand
from gito.health.service import band_filter

DEVICE_TOKEN_PREFIX = "gdt"

_SORT_COLUMNS = {
    "name": Device.name,
    "created_at": Device.created_at,
    "last_seen": Device.last_seen,
    "status": Device.status,
    "device_type": Device.device_type,
    "health_score": Device.health_score,
}


def listing(
    principal: Principal,
    *,
    q: str | None = None,
    status: DeviceStatus | None = None,
    device_type: str | None = None,
    site_id: uuid.UUID | None = None,
    tag: str | None = None,
    health: HealthBand | None = None,
    sort: DeviceSort = DeviceSort.name,
) -> Select[Device]:
    query = select(Device)
    if principal.site_ids is not None:
        query = query.where(Device.site_id.in_(principal.site_ids))
    if q:
        pattern = contains_pattern(q)
        query = query.where(or_(Device.name.ilike(pattern), Device.dev_eui.ilike(pattern)))
    if status:
        query = query.where(Device.status == status.value)
    if device_type:
        query = query.where(Device.device_type == device_type)
    if site_id:
        query = query.where(Device.site_id == site_id)
    if tag:
        query = query.where(Device.tags.contains([tag]))
    if health:
        query = query.where(band_filter(health))
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    order = column.desc().nulls_last() if sort.value.startswith("-") else column.asc().nulls_last()
    return query.order_by(order, Device.id)


async def status_counts(session: AsyncSession, principal: Principal) -> dict[str, int]:
    """Visible devices per status, with every status present and the total."""
    query = select(Device.status, func.count()).group_by(Device.status)
    if principal.site_ids is not None:
        query = query.where(Device.site_id.in_(principal.site_ids))
    counts = {status.value: 0 for status in DeviceStatus}
    for status, count in await session.execute(query):
        counts[status] = count
    return {**counts, "total": sum(counts.values())}


async def get_visible(
    session: AsyncSession, principal: Principal, device_id: uuid.UUID, *, for_update: bool = False
) -> Device:
    """A device the caller may see, else 404 — also for another tenant's device (RLS hides
    it) and for a device outside a SITE_ADMIN/CLIENT's sites. `for_update` locks the row for
    a write: a concurrent write waits, then sees the result (a deleted device is a 404)."""
    device = await session.get(Device, device_id, with_for_update=for_update)
    if device is None or not principal.sees_site(device.site_id):
        raise NotFound("device not found", code="DEVICE_NOT_FOUND")
    return device


async def check_site(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID | None
) -> None:
    """A device may be placed only in a site the caller sees; site-scoped users must place it
    in one of theirs."""
    if site_id is None:
        if principal.site_ids is not None:
            raise InvalidInput("site_id is required for site-scoped users", code="SITE_REQUIRED")
        return
    if not principal.sees_site(site_id) or await session.get(Site, site_id) is None:
        raise InvalidInput(
            "site not found", code="SITE_NOT_FOUND", details={"site_id": str(site_id)}
        )


def apply(device: Device, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(device, "metadata_" if key == "metadata" else key, value)


async def _new_credential(session: AsyncSession, device: Device) -> str:
    token = new_secret(DEVICE_TOKEN_PREFIX)
    session.add(
        DeviceCredential(
            device_id=device.id,
            tenant_id=device.tenant_id,
            token_hash=secret_hash(token),
            token_hint=token[-4:],
        )
    )
    return token


async def flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a device with this dev_eui exists", code="DEV_EUI_TAKEN") from exc


async def create(
    session: AsyncSession, tenant_id: uuid.UUID, fields: dict[str, Any]
) -> tuple[Device, str]:
    device = Device(id=uuid.uuid4(), tenant_id=tenant_id, status=DeviceStatus.offline.value)
    apply(device, fields)
    session.add(device)
    await flush_unique(session)
    token = await _new_credential(session, device)
    await session.flush()
    return device, token


async def rotate_credentials(session: AsyncSession, device: Device) -> str:
    """Replace the device's token. One upsert, so concurrent rotations queue on the row
    (the last one wins) instead of racing a delete and an insert into a duplicate key."""
    token = new_secret(DEVICE_TOKEN_PREFIX)
    statement = pg_insert(DeviceCredential).values(
        device_id=device.id,
        tenant_id=device.tenant_id,
        token_hash=secret_hash(token),
        token_hint=token[-4:],
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[DeviceCredential.device_id],
            set_={
                "token_hash": statement.excluded.token_hash,
                "token_hint": statement.excluded.token_hint,
                "created_at": func.now(),
            },
        )
    )
    return token


async def resolve_token(session: AsyncSession, token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(tenant_id, device_id) of a device token, through the narrow SECURITY DEFINER look-up
    (the tenant is not known before this)."""
    row = (
        await session.execute(
            text("SELECT tenant_id, device_id FROM gito_resolve_device_token(:h)"),
            {"h": secret_hash(token)},
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def existing_dev_euis(session: AsyncSession, dev_euis: list[str]) -> set[str]:
    if not dev_euis:
        return set()
    rows = await session.execute(select(Device.dev_eui).where(Device.dev_eui.in_(dev_euis)))
    return {r for r in rows.scalars() if r}


async def import_devices(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    rows: list[tuple[int, Any]],
    row_errors: dict[int, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """Insert validated CSV rows all-or-nothing; cross-row and database checks first, and
    reported together with the rows that failed parsing (`row_errors`)."""
    errors: dict[int, list[str]] = {n: list(e) for n, e in (row_errors or {}).items()}
    seen: dict[str, int] = {}
    for number, body in rows:
        if body.dev_eui:
            if body.dev_eui in seen:
                errors.setdefault(number, []).append(
                    f"dev_eui: duplicates row {seen[body.dev_eui]}"
                )
            seen.setdefault(body.dev_eui, number)
    taken = await existing_dev_euis(session, list(seen))
    site_ids = {body.site_id for _, body in rows if body.site_id}
    known_sites = (
        set((await session.execute(select(Site.id).where(Site.id.in_(site_ids)))).scalars())
        if site_ids
        else set()
    )
    for number, body in rows:
        if body.dev_eui in taken:
            errors.setdefault(number, []).append("dev_eui: a device with this dev_eui exists")
        if body.site_id is None and principal.site_ids is not None:
            errors.setdefault(number, []).append("site_id: required for site-scoped users")
        if body.site_id and (
            body.site_id not in known_sites or not principal.sees_site(body.site_id)
        ):
            errors.setdefault(number, []).append("site_id: site not found")
    if errors:
        raise csv_import.invalid(errors)
    created = []
    for number, body in rows:
        device, token = await create(session, tenant_id, body.model_dump())
        created.append({"row": number, "id": device.id, "name": device.name, "token": token})
    return created
