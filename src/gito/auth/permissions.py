"""The one permission matrix of Gito (documented in docs/SECURITY.md)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SUPER_ADMIN = "SUPER_ADMIN"
    TENANT_ADMIN = "TENANT_ADMIN"
    SITE_ADMIN = "SITE_ADMIN"
    CLIENT = "CLIENT"
    VIEWER = "VIEWER"


class Permission(StrEnum):
    TENANTS_MANAGE = "tenants:manage"
    TENANT_READ = "tenant:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    SITES_READ = "sites:read"
    SITES_WRITE = "sites:write"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"
    DEVICE_CREDENTIALS = "devices:credentials"
    AUDIT_READ = "audit:read"
    ALARMS_READ = "alarms:read"
    ALARMS_ACK = "alarms:ack"
    RULES_WRITE = "rules:write"
    COMMANDS_SEND = "commands:send"
    NOTIFICATIONS_READ = "notifications:read"
    NOTIFICATIONS_WRITE = "notifications:write"


_READ = {
    Permission.TENANT_READ,
    Permission.SITES_READ,
    Permission.DEVICES_READ,
    Permission.ALARMS_READ,
}

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.SUPER_ADMIN: frozenset(Permission),
    Role.TENANT_ADMIN: frozenset(set(Permission) - {Permission.TENANTS_MANAGE}),
    Role.SITE_ADMIN: frozenset(
        _READ
        | {
            Permission.DEVICES_WRITE,
            Permission.DEVICE_CREDENTIALS,
            Permission.ALARMS_ACK,
            Permission.RULES_WRITE,
            Permission.COMMANDS_SEND,
        }
    ),
    Role.CLIENT: frozenset(_READ | {Permission.ALARMS_ACK, Permission.COMMANDS_SEND}),
    Role.VIEWER: frozenset(_READ),
}

# These roles see only the sites assigned to them, and the devices of those sites.
SITE_SCOPED_ROLES = frozenset({Role.SITE_ADMIN, Role.CLIENT})


def allows(role: str, permission: Permission) -> bool:
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False
