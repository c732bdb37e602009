from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from gito.api.schemas import ORMModel, PatchModel, StrictModel
from gito.api.validators import Name


class TenantCreate(StrictModel):
    name: Name
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    retention_days: int = Field(default=365, ge=1, le=36_500)


class TenantUpdate(PatchModel):
    nullable = frozenset({"rate_limit_per_minute"})

    name: Name | None = None
    is_active: bool | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    retention_days: int | None = Field(default=None, ge=1, le=36_500)


class TenantOut(ORMModel):
    id: uuid.UUID
    name: str
    is_active: bool
    rate_limit_per_minute: int | None
    retention_days: int
    created_at: datetime
    updated_at: datetime
