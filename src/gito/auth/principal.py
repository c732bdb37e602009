"""Who is acting: the authenticated user as the rest of the code sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gito.auth.permissions import Permission, Role, allows
from gito.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    # None: the whole tenant. A set: only these sites (SITE_ADMIN, CLIENT).
    site_ids: frozenset[uuid.UUID] | None

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(
                f"role {self.role} lacks permission {permission}", code="PERMISSION_DENIED"
            )

    def sees_site(self, site_id: uuid.UUID | None) -> bool:
        return self.site_ids is None or (site_id is not None and site_id in self.site_ids)
