"""Every foundation endpoint, with the permission it requires and how to call it successfully.

The permission and isolation tests are driven from this table and from
`gito.auth.permissions.MATRIX`; `test_catalogue_covers_every_foundation_operation` fails when
an operation of these areas is added without a row here, so the tests cannot fall behind."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gito.auth.permissions import Permission
from tests.factories import Factory, TenantFixture

# OpenAPI tags whose operations this catalogue must cover.
FOUNDATION_TAGS = frozenset(
    {"auth", "tenants", "users", "sites", "devices", "device-health", "audit"}
)
PUBLIC = "public"  # no token needed (login, refresh, logout)
SIGNED_IN = "signed-in"  # any valid token, whatever the role


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# A target builder returns the `{id}` of the path: a resource of `tenant`, placed in `site`
# where that matters (so that a SITE_ADMIN/CLIENT assigned to `site` sees it).
Target = Callable[[Factory, TenantFixture, uuid.UUID], Awaitable[str]]
Body = Callable[[uuid.UUID], dict[str, Any]]


async def _device(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str((await factory.device(tenant, site_id=site))[0])


async def _the_site(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str(site)


async def _fresh_site(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str(await factory.site(tenant))


async def _admin_user(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str(tenant.admin.user_id)


async def _fresh_user(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    from gito.auth.permissions import Role

    return str((await factory.user(tenant, Role.VIEWER)).user_id)


async def _the_tenant(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str(tenant.id)


async def _fresh_tenant(factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
    return str(await factory.bare_tenant())


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    method: str
    # Relative to /api/v1; `{tenant_id}` is the caller's tenant, `{id}` comes from `target`.
    path: str
    permission: Permission | str
    success: int
    target: Target | None = None
    body: Body | None = None
    # What `{id}` names; a tenant id of another tenant is refused with 403, not hidden.
    kind: str | None = None

    def __str__(self) -> str:
        return self.operation_id

    async def url(self, factory: Factory, tenant: TenantFixture, site: uuid.UUID) -> str:
        path = self.path.replace("{tenant_id}", str(tenant.id))
        if self.target is not None:
            path = path.replace("{id}", await self.target(factory, tenant, site))
        return "/api/v1" + path

    def request_kwargs(self, site: uuid.UUID) -> dict[str, Any]:
        return self.body(site) if self.body else {}


def _csv(site: uuid.UUID) -> dict[str, Any]:
    return {
        "content": f"name,device_type,site_id\n{_unique('csv')},sensor,{site}\n".encode(),
        "headers": {"Content-Type": "text/csv"},
    }


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("get_me", "GET", "/auth/me", SIGNED_IN, 200),
    Endpoint("list_tenants", "GET", "/tenants", Permission.TENANTS_MANAGE, 200),
    Endpoint(
        "create_tenant",
        "POST",
        "/tenants",
        Permission.TENANTS_MANAGE,
        201,
        body=lambda s: {"json": {"name": _unique("tenant")}},
    ),
    Endpoint(
        "get_tenant",
        "GET",
        "/tenants/{id}",
        Permission.TENANT_READ,
        200,
        _the_tenant,
        None,
        "tenant",
    ),
    Endpoint(
        "update_tenant",
        "PATCH",
        "/tenants/{id}",
        Permission.TENANTS_MANAGE,
        200,
        _the_tenant,
        lambda s: {"json": {"retention_days": 400}},
        "tenant",
    ),
    Endpoint(
        "delete_tenant",
        "DELETE",
        "/tenants/{id}",
        Permission.TENANTS_MANAGE,
        204,
        _fresh_tenant,
        None,
        "tenant",
    ),
    Endpoint("list_users", "GET", "/tenants/{tenant_id}/users", Permission.USERS_READ, 200),
    Endpoint(
        "create_user",
        "POST",
        "/tenants/{tenant_id}/users",
        Permission.USERS_WRITE,
        201,
        body=lambda s: {
            "json": {
                "email": f"{_unique('u')}@example.com",
                "password": "long enough password",
                "role": "VIEWER",
            }
        },
    ),
    Endpoint(
        "get_user",
        "GET",
        "/tenants/{tenant_id}/users/{id}",
        Permission.USERS_READ,
        200,
        _admin_user,
        kind="user",
    ),
    Endpoint(
        "update_user",
        "PATCH",
        "/tenants/{tenant_id}/users/{id}",
        Permission.USERS_WRITE,
        200,
        _admin_user,
        lambda s: {"json": {"full_name": "Renamed"}},
        "user",
    ),
    Endpoint(
        "delete_user",
        "DELETE",
        "/tenants/{tenant_id}/users/{id}",
        Permission.USERS_WRITE,
        204,
        _fresh_user,
        kind="user",
    ),
    Endpoint("list_sites", "GET", "/tenants/{tenant_id}/sites", Permission.SITES_READ, 200),
    Endpoint(
        "create_site",
        "POST",
        "/tenants/{tenant_id}/sites",
        Permission.SITES_WRITE,
        201,
        body=lambda s: {"json": {"name": _unique("site")}},
    ),
    Endpoint(
        "get_site",
        "GET",
        "/tenants/{tenant_id}/sites/{id}",
        Permission.SITES_READ,
        200,
        _the_site,
        kind="site",
    ),
    Endpoint(
        "update_site",
        "PATCH",
        "/tenants/{tenant_id}/sites/{id}",
        Permission.SITES_WRITE,
        200,
        _fresh_site,
        lambda s: {"json": {"description": "changed"}},
        "site",
    ),
    Endpoint(
        "delete_site",
        "DELETE",
        "/tenants/{tenant_id}/sites/{id}",
        Permission.SITES_WRITE,
        204,
        _fresh_site,
        kind="site",
    ),
    Endpoint("list_devices", "GET", "/tenants/{tenant_id}/devices", Permission.DEVICES_READ, 200),
    Endpoint(
        "count_devices", "GET", "/tenants/{tenant_id}/devices/counts", Permission.DEVICES_READ, 200
    ),
    Endpoint(
        "create_device",
        "POST",
        "/tenants/{tenant_id}/devices",
        Permission.DEVICES_WRITE,
        201,
        body=lambda s: {
            "json": {"name": _unique("dev"), "device_type": "sensor", "site_id": str(s)}
        },
    ),
    Endpoint(
        "import_devices",
        "POST",
        "/tenants/{tenant_id}/devices/import",
        Permission.DEVICES_WRITE,
        201,
        body=_csv,
    ),
    Endpoint(
        "get_device",
        "GET",
        "/tenants/{tenant_id}/devices/{id}",
        Permission.DEVICES_READ,
        200,
        _device,
        kind="device",
    ),
    Endpoint(
        "update_device",
        "PATCH",
        "/tenants/{tenant_id}/devices/{id}",
        Permission.DEVICES_WRITE,
        200,
        _device,
        lambda s: {"json": {"tags": ["patched"]}},
        "device",
    ),
    Endpoint(
        "delete_device",
        "DELETE",
        "/tenants/{tenant_id}/devices/{id}",
        Permission.DEVICES_WRITE,
        204,
        _device,
        kind="device",
    ),
    Endpoint(
        "rotate_device_credentials",
        "POST",
        "/tenants/{tenant_id}/devices/{id}/credentials/rotate",
        Permission.DEVICE_CREDENTIALS,
        200,
        _device,
        kind="device",
    ),
    Endpoint(
        "get_device_health",
        "GET",
        "/tenants/{tenant_id}/devices/{id}/health",
        Permission.DEVICES_READ,
        200,
        _device,
        kind="device",
    ),
    Endpoint(
        "get_health_summary",
        "GET",
        "/tenants/{tenant_id}/health/summary",
        Permission.DEVICES_READ,
        200,
    ),
    Endpoint("list_audit_log", "GET", "/tenants/{tenant_id}/audit-log", Permission.AUDIT_READ, 200),
)

# Operations that need no token at all; they are exercised in test_auth.py.
PUBLIC_OPERATIONS = frozenset({"login", "refresh_token", "logout"})

TENANT_SCOPED = tuple(e for e in ENDPOINTS if "{tenant_id}" in e.path or e.kind == "tenant")
WITH_TARGET = tuple(e for e in ENDPOINTS if e.target is not None)
