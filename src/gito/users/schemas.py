from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from gito.api.schemas import ORMModel, PatchModel, StrictModel
from gito.auth.permissions import Role

# NIST SP 800-63B: at least 8 characters, allow long passphrases; argon2 bounds the cost.
Password = str
PASSWORD_FIELD = Field(min_length=8, max_length=128)


class UserCreate(StrictModel):
    email: EmailStr = Field(max_length=320)
    password: Password = PASSWORD_FIELD
    role: Role
    full_name: str | None = Field(default=None, max_length=200)
    site_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=1000, description="Sites a SITE_ADMIN or CLIENT may see."
    )


class UserUpdate(PatchModel):
    nullable = frozenset({"full_name"})

    password: Password | None = Field(default=None, min_length=8, max_length=128)
    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    site_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)


class UserOut(ORMModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    full_name: str | None
    is_active: bool
    site_ids: list[uuid.UUID] = []
    last_login_at: datetime | None
    created_at: datetime
