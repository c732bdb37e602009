"""Device commands as the API speaks them (docs/COMMANDS.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

import orjson
from pydantic import Field, model_validator

from gito.api.schemas import ORMModel, StrictModel

# Devices are small; a command is an instruction, not a file transfer.
MAX_PARAMS_BYTES = 8 * 1024
DEFAULT_TIMEOUT_S = 30


class CommandStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    EXPIRED = "EXPIRED"


OPEN_STATUSES = frozenset({CommandStatus.PENDING, CommandStatus.SENT})


class CommandCreate(StrictModel):
    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="What the device should do, e.g. `reboot` or `set_interval`.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="A JSON object of at most 8 KiB, passed as is."
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S,
        ge=1,
        le=86_400,
        description="Seconds to deliver the command (else EXPIRED), and then seconds for the "
        "device to answer (else TIMEOUT).",
    )

    @model_validator(mode="after")
    def _params_size(self) -> Self:
        if len(orjson.dumps(self.params)) > MAX_PARAMS_BYTES:
            raise ValueError(f"params must be at most {MAX_PARAMS_BYTES} bytes of JSON")
        return self


class CommandOut(ORMModel):
    id: uuid.UUID
    device_id: uuid.UUID
    name: str
    params: dict[str, Any]
    status: CommandStatus
    result: Any = None
    timeout_s: int
    expires_at: datetime
    created_by: uuid.UUID | None = None
    created_at: datetime
    sent_at: datetime | None = None
    completed_at: datetime | None = None
