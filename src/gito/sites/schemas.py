from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from gito.api.schemas import ORMModel, PatchModel, StrictModel
from gito.api.validators import Metadata, Name, ShortText


class SiteCreate(StrictModel):
    name: Name
    description: ShortText | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    metadata: Metadata = Field(default_factory=dict)


class SiteUpdate(PatchModel):
    nullable = frozenset({"description", "latitude", "longitude"})

    name: Name | None = None
    description: ShortText | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    metadata: Metadata | None = None


class SiteOut(ORMModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str | None
    latitude: float | None
    longitude: float | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime
    updated_at: datetime
