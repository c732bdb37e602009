from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class HealthBand(StrEnum):
    """Score bands of the summary and of the device list filter."""

    good = "good"  # 80-100
    fair = "fair"  # 50-79
    poor = "poor"  # 0-49
    unknown = "unknown"  # not computed yet


class Factor(BaseModel):
    name: str = Field(description="freshness, battery, signal, rejects or alarms.")
    score: int = Field(ge=0, le=100)
    weight: int = Field(description="Weight in the average; missing factors are left out.")
    value: float | str | None = Field(
        description="The measured input: seconds since last seen, battery %, the limiting "
        "RSSI dBm or SNR dB, rejected share 0..1, or the worst open alarm severity."
    )
    detail: dict[str, Any] = Field(description="The other inputs of the factor.")


class DeviceHealthOut(BaseModel):
    device_id: uuid.UUID
    score: int | None = Field(description="0-100; null until the first computation.")
    computed_at: datetime | None
    factors: list[Factor]


class HealthSummary(BaseModel):
    good: int = Field(description="Devices scoring 80-100.")
    fair: int = Field(description="Devices scoring 50-79.")
    poor: int = Field(description="Devices scoring 0-49.")
    unknown: int = Field(description="Devices without a score yet.")
    total: int
