from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from gito.api.schemas import ORMModel, PatchModel, StrictModel
from gito.api.validators import Metadata, Name

DevEui = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-fA-F]{16}$"),
    AfterValidator(str.lower),
    Field(
        description="LoRaWAN DevEUI: 16 hex digits, unique per tenant.",
        examples=["0102030405060708"],
    ),
]
DeviceType = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Tags = Annotated[list[Tag], Field(max_length=50)]
# Up to 30 days: a device that reports less often than monthly is better watched otherwise.
ExpectedInterval = Annotated[
    int, Field(ge=1, le=30 * 86400, description="Expected seconds between reports.")
]


class DeviceStatus(StrEnum):
    online = "online"
    offline = "offline"
    idle = "idle"
    error = "error"


class DeviceCounts(BaseModel):
    online: int
    offline: int
    idle: int
    error: int
    total: int


class DeviceSort(StrEnum):
    name = "name"
    name_desc = "-name"
    created_at = "created_at"
    created_at_desc = "-created_at"
    last_seen = "last_seen"
    last_seen_desc = "-last_seen"
    status = "status"
    status_desc = "-status"
    device_type = "device_type"
    device_type_desc = "-device_type"
    health_score = "health_score"
    health_score_desc = "-health_score"


class DeviceCreate(StrictModel):
    name: Name
    device_type: DeviceType
    metadata: Metadata = Field(default_factory=dict)
    dev_eui: DevEui | None = None
    site_id: uuid.UUID | None = None
    tags: Tags = Field(default_factory=list)
    expected_interval_s: ExpectedInterval | None = None


class DeviceUpdate(PatchModel):
    nullable = frozenset({"dev_eui", "site_id", "expected_interval_s"})

    name: Name | None = None
    device_type: DeviceType | None = None
    metadata: Metadata | None = None
    dev_eui: DevEui | None = None
    site_id: uuid.UUID | None = None
    tags: Tags | None = None
    expected_interval_s: ExpectedInterval | None = None


class DeviceOut(ORMModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID | None
    name: str
    device_type: str
    dev_eui: str | None
    status: DeviceStatus
    last_seen: datetime | None
    battery_level: float | None
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    tags: list[str]
    expected_interval_s: int | None
    health_score: int | None = Field(
        description="Health 0-100 (GET .../health has the factors); null until computed."
    )
    created_at: datetime
    updated_at: datetime


class DeviceWithToken(DeviceOut):
    token: str = Field(description="The device's secret; shown only in this response.")


class DeviceToken(ORMModel):
    device_id: uuid.UUID
    token: str = Field(description="The new secret; the old one stops working at once.")


class ImportedDevice(ORMModel):
    row: int
    id: uuid.UUID
    name: str
    token: str


class RowError(ORMModel):
    row: int
    errors: list[str]
