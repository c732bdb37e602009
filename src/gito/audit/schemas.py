from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gito.api.schemas import ORMModel


class AuditEntryOut(ORMModel):
    id: int
    tenant_id: uuid.UUID
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    entity_type: str
    entity_id: str | None
    changes: dict[str, Any]
    client_ip: str | None
    request_id: str | None
    created_at: datetime
