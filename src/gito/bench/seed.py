"""A benchmark tenant with many realistic devices, written through the app role and RLS.

Tenant and admin user go through the real services; devices and their credentials are bulk
inserted (SQLAlchemy's multi-row INSERTs) inside one tenant transaction, so 10,000
devices take about a second instead of the minutes that 10,000 API calls would."""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from gito.auth.permissions import Role
from gito.auth.security import issue_access_token, secret_hash
from gito.config import Settings
from gito.db.engine import (
    create_app_engine,
    create_owner_engine,
    enable_platform_scope,
    set_tenant,
)
from gito.db.models import Device, DeviceCredential, Site
from gito.tenants import service as tenants
from gito.users import service as users

# High enough that the tenant limiter never rejects the benchmark (it is still consulted on
# every request, as in production), and within the API's own bound for the field.
BENCH_RATE_LIMIT_PER_MINUTE = 1_000_000

_CITIES = (
    "Lyon", "Hamburg", "Porto", "Gdansk", "Turin", "Ghent", "Brno", "Malmo", "Leeds", "Bilbao",
    "Graz", "Aarhus", "Utrecht", "Lille", "Basel", "Cork", "Tampere", "Varna", "Split", "Nantes",
)  # fmt: skip
_SITE_KINDS = ("Warehouse", "Plant", "Office", "Cold Store", "Depot")
# (device_type, name prefix, share, vendor/model, LoRaWAN, battery powered, expected interval)
_TYPES = (
    ("temperature-humidity", "TH", 30, ("Milesight", "EM300-TH"), True, True, 600),
    ("door-contact", "DC", 12, ("Elsys", "EMS Door"), True, True, 3600),
    ("energy-meter", "EM", 15, ("Carlo Gavazzi", "EM24"), False, False, 60),
    ("air-quality", "AQ", 10, ("Milesight", "AM307"), True, True, 900),
    ("water-leak", "WL", 8, ("Dragino", "LWL03A"), True, True, 3600),
    ("gps-tracker", "GT", 10, ("Digital Matter", "Oyster3"), True, True, 300),
    ("smart-plug", "SP", 10, ("Shelly", "Plus Plug S"), False, False, 60),
    ("gateway", "GW", 5, ("Kerlink", "iStation"), False, False, 30),
)
_TAGS = ("floor-1", "floor-2", "outdoor", "cold-chain", "critical", "pilot", "hvac", "dock")
_STATUSES = (("online", 70), ("offline", 15), ("idle", 10), ("error", 5))
_FIRMWARE = ("1.2.0", "1.3.4", "1.4.1", "2.0.0", "2.0.3")


@dataclass(frozen=True)
class SeededTenant:
    tenant_id: uuid.UUID
    admin_email: str
    admin_token: str
    devices: int
    sites: int

    def devices_path(self, per_page: int = 50) -> str:
        return f"/api/v1/tenants/{self.tenant_id}/devices?per_page={per_page}"


def _site_rows(tenant_id: uuid.UUID, count: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        city = _CITIES[i % len(_CITIES)]
        kind = _SITE_KINDS[(i // len(_CITIES)) % len(_SITE_KINDS)]
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "tenant_id": tenant_id,
                "name": f"{kind} {city} {i // (len(_CITIES) * len(_SITE_KINDS)) + 1}",
                "description": f"{kind} in {city}",
                "latitude": round(rng.uniform(36, 65), 5),
                "longitude": round(rng.uniform(-9, 28), 5),
                "metadata_": {"code": f"{city[:3].upper()}{i:02d}"},
            }
        )
    return rows


def device_rows(
    tenant_id: uuid.UUID,
    count: int,
    site_ids: list[uuid.UUID],
    rng: random.Random,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """`count` devices spread over `site_ids` with the mix of a real building-and-logistics
    fleet: types, statuses, last-seen times, batteries, tags, DevEUIs for LoRaWAN types."""
    now = now or datetime.now(UTC)
    weights = [t[2] for t in _TYPES]
    rows = []
    for i in range(count):
        dtype, prefix, _, (vendor, model), lorawan, battery, interval = rng.choices(
            _TYPES, weights
        )[0]
        status = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]
        if status == "online":
            last_seen: datetime | None = now - timedelta(seconds=rng.uniform(0, interval))
        elif rng.random() < 0.05:
            last_seen = None  # provisioned, never reported
        else:
            last_seen = now - timedelta(hours=rng.uniform(1, 24 * 30))
        site_index = rng.randrange(len(site_ids)) if site_ids and rng.random() < 0.95 else None
        site_code = f"S{site_index:02d}" if site_index is not None else "UNASSIGNED"
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "tenant_id": tenant_id,
                "site_id": site_ids[site_index] if site_index is not None else None,
                "name": f"{prefix}-{site_code}-{i:05d}",
                "device_type": dtype,
                "dev_eui": f"{rng.getrandbits(64):016x}" if lorawan else None,
                "status": status,
                "last_seen": last_seen,
                "battery_level": round(rng.uniform(3, 100), 1) if battery else None,
                "metadata_": {"vendor": vendor, "model": model, "firmware": rng.choice(_FIRMWARE)},
                "tags": rng.sample(_TAGS, rng.choice((0, 1, 1, 2, 3))),
                "expected_interval_s": interval,
                "created_at": now - timedelta(days=rng.uniform(0, 365)),
            }
        )
    return rows


async def seed_tenant(
    database_url: str,
    settings: Settings,
    *,
    devices: int,
    sites: int = 25,
    seed: int = 42,
) -> SeededTenant:
    """Create a fresh tenant `bench-<hex>` with a TENANT_ADMIN, `sites` sites and `devices`
    devices, ANALYZE the tables (as autovacuum would after a bulk load) and return an access
    token for the admin, signed with `settings`' JWT secret."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    engine = create_app_engine(database_url, pool_size=1)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    email = f"bench-{secrets.token_hex(4)}@bench.gito.local"
    try:
        async with maker() as session, session.begin():
            await enable_platform_scope(session)
            tenant = await tenants.create(
                session,
                name=f"bench-{secrets.token_hex(4)}",
                rate_limit_per_minute=BENCH_RATE_LIMIT_PER_MINUTE,
            )
            await set_tenant(session, tenant.id)
            admin, _ = await users.create(
                session,
                tenant_id=tenant.id,
                email=email,
                password=secrets.token_urlsafe(18),
                role=Role.TENANT_ADMIN,
            )
            site_rows = _site_rows(tenant.id, sites, rng)
            if site_rows:
                await session.execute(insert(Site), site_rows)
            rows = device_rows(tenant.id, devices, [s["id"] for s in site_rows], rng)
            if rows:
                # ORM bulk INSERT: SQLAlchemy sends multi-row INSERTs of 1,000 rows each.
                await session.execute(insert(Device), rows)
                credentials = [
                    {
                        "device_id": r["id"],
                        "tenant_id": tenant.id,
                        "token_hash": secret_hash(secrets.token_urlsafe(32)),
                        "token_hint": secrets.token_hex(2),
                    }
                    for r in rows
                ]
                await session.execute(insert(DeviceCredential), credentials)
            tenant_id, admin_id = tenant.id, admin.id
    finally:
        await engine.dispose()
    await analyze(database_url)
    token, _ = issue_access_token(
        settings, user_id=admin_id, tenant_id=tenant_id, role=Role.TENANT_ADMIN.value
    )
    return SeededTenant(tenant_id, email, token, devices, sites)


async def analyze(database_url: str) -> None:
    """Refresh planner statistics as the table owner (the app role may not ANALYZE)."""
    engine = create_owner_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE tenants, users, sites, devices, device_credentials"))
    finally:
        await engine.dispose()
