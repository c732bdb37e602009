"""Registering the simulated fleet through the REST API, as an integrator's script would.

Devices are named `sim-<prefix>-NNNN`; a run reuses the ones that exist and creates the
rest. The API shows a device token only when it is created, so a reused device gets a fresh
one by rotation. Tokens stay in this process's memory and are never written anywhere."""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

log = structlog.get_logger("gito.simulator")

DEVICE_TYPE = "simulated-sensor"
TAG = "simulated"
# Above this many missing devices, one CSV import replaces one POST each: the per-tenant
# rate limit (RATE_LIMIT_PER_MINUTE, default 60) would otherwise stretch registration over
# minutes.
IMPORT_THRESHOLD = 20
# Rotations have no bulk endpoint; a few at a time keeps the API responsive for others.
CONCURRENCY = 4
# `gito up --demo` starts the simulator while the API is still starting.
API_WAIT_S = 30.0
# Retries of a request answered with 429, each after the server's Retry-After.
RATE_LIMIT_RETRIES = 30
REQUEST_TIMEOUT_S = 30.0


class RegistrationError(RuntimeError):
    """The API refused what the simulator needs (wrong credentials, missing permission)."""


@dataclass(frozen=True, slots=True)
class SimDevice:
    index: int
    name: str
    id: uuid.UUID
    tenant_id: uuid.UUID
    token: str
    created: bool

    @property
    def topic_prefix(self) -> str:
        return f"{self.tenant_id}/devices/{self.id}"


def device_name(prefix: str, index: int) -> str:
    return f"sim-{prefix}-{index:04d}"


class ApiClient:
    def __init__(self, api_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=REQUEST_TIMEOUT_S)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The body of a successful response; waits out 429s; raises RegistrationError with
        the API's error message otherwise."""
        for _ in range(RATE_LIMIT_RETRIES):
            response = await self.http.request(method, path, **kwargs)
            if response.status_code != 429:
                break
            wait = float(response.headers.get("Retry-After", "1"))
            log.info("api rate limit reached; waiting", path=path, retry_after_s=wait)
            await asyncio.sleep(wait)
        if response.is_success:
            return response.json()
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        raise RegistrationError(f"{method} {path} -> {response.status_code} {detail}")

    async def login(self, email: str, password: str) -> uuid.UUID:
        """Log in and keep the access token; returns the user's tenant id."""
        deadline = asyncio.get_running_loop().time() + API_WAIT_S
        while True:
            try:
                body = await self.request(
                    "POST", "/api/v1/auth/login", json={"email": email, "password": password}
                )
                break
            except httpx.TransportError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise RegistrationError(f"API at {self.http.base_url} unreachable") from exc
                await asyncio.sleep(0.5)
        data = body["data"]
        self.http.headers["Authorization"] = f"Bearer {data['access_token']}"
        return uuid.UUID(data["user"]["tenant_id"])

    async def existing(self, tenant_id: uuid.UUID, prefix: str) -> dict[str, uuid.UUID]:
        """name → id of the tenant's devices named `sim-<prefix>-NNNN` (the oldest, should a
        name have been registered twice by hand)."""
        pattern = re.compile(rf"^sim-{re.escape(prefix)}-\d{{4,}}$")
        found: dict[str, uuid.UUID] = {}
        page = 1
        while True:
            params: dict[str, str | int] = {
                "q": f"sim-{prefix}-",
                "per_page": 100,
                "page": page,
                "sort": "created_at",
            }
            body = await self.request("GET", f"/api/v1/tenants/{tenant_id}/devices", params=params)
            for device in body["data"]:
                if pattern.match(device["name"]):
                    found.setdefault(device["name"], uuid.UUID(device["id"]))
            if page * body["meta"]["per_page"] >= body["meta"]["total"]:
                return found
            page += 1

    async def create(
        self, tenant_id: uuid.UUID, names: list[str], expected_interval_s: int
    ) -> dict[str, tuple[uuid.UUID, str]]:
        """Create devices; name → (id, token)."""
        if not names:
            return {}
        if len(names) > IMPORT_THRESHOLD:
            csv = "name,device_type,tags,expected_interval_s\n" + "".join(
                f"{name},{DEVICE_TYPE},{TAG},{expected_interval_s}\n" for name in names
            )
            body = await self.request(
                "POST",
                f"/api/v1/tenants/{tenant_id}/devices/import",
                content=csv.encode(),
                headers={"Content-Type": "text/csv"},
            )
            rows = body["data"]
            return {row["name"]: (uuid.UUID(row["id"]), row["token"]) for row in rows}
        created: dict[str, tuple[uuid.UUID, str]] = {}
        for name in names:
            body = await self.request(
                "POST",
                f"/api/v1/tenants/{tenant_id}/devices",
                json={
                    "name": name,
                    "device_type": DEVICE_TYPE,
                    "tags": [TAG],
                    "metadata": {"simulator": True},
                    "expected_interval_s": expected_interval_s,
                },
            )
            created[name] = (uuid.UUID(body["data"]["id"]), body["data"]["token"])
        return created

    async def rotate(self, tenant_id: uuid.UUID, device_id: uuid.UUID) -> str:
        body = await self.request(
            "POST", f"/api/v1/tenants/{tenant_id}/devices/{device_id}/credentials/rotate"
        )
        token: str = body["data"]["token"]
        return token


async def register_fleet(
    api: ApiClient,
    *,
    email: str,
    password: str,
    devices: int,
    interval_s: float,
    prefix: str,
    tenant: uuid.UUID | None = None,
) -> list[SimDevice]:
    """Log in, then reuse or create `sim-<prefix>-0001` … `sim-<prefix>-<devices>` in the
    user's tenant (or `tenant`, for a SUPER_ADMIN); every device comes back with a working
    token."""
    own_tenant = await api.login(email, password)
    tenant_id = tenant or own_tenant
    names = [device_name(prefix, i) for i in range(1, devices + 1)]
    existing = await api.existing(tenant_id, prefix)
    missing = [n for n in names if n not in existing]
    # The offline threshold a platform would use for this fleet: three missed reports.
    expected = max(1, math.ceil(interval_s * 3))
    created = await api.create(tenant_id, missing, expected)

    gate = asyncio.Semaphore(CONCURRENCY)

    async def rotated(name: str) -> tuple[str, str]:
        async with gate:
            return name, await api.rotate(tenant_id, existing[name])

    reused = dict(await asyncio.gather(*(rotated(n) for n in names if n in existing)))
    log.info(
        "simulated devices registered",
        tenant_id=str(tenant_id),
        created=len(created),
        reused=len(reused),
    )
    fleet = []
    for index, name in enumerate(names):
        if name in created:
            device_id, token = created[name]
            fleet.append(SimDevice(index, name, device_id, tenant_id, token, created=True))
        else:
            fleet.append(
                SimDevice(index, name, existing[name], tenant_id, reused[name], created=False)
            )
    return fleet
