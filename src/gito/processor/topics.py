"""Device topics (DESIGN §4): `{tenant_id}/devices/{device_id}/telemetry` and
`{tenant_id}/devices/{device_id}/commands/response`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TELEMETRY = "telemetry"
    COMMAND_RESPONSE = "commands/response"


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    tenant_id: uuid.UUID
    device_id: uuid.UUID
    kind: Kind


def subscriptions(shared_group: str | None) -> list[str]:
    """The processor's subscription filters, as shared subscriptions when a group is given,
    so that several processors split the load instead of each receiving everything."""
    filters = ["+/devices/+/telemetry", "+/devices/+/commands/response"]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters


def parse_topic(topic: str) -> DeviceTopic | None:
    parts = topic.split("/")
    if len(parts) == 4 and parts[1] == "devices" and parts[3] == "telemetry":
        kind = Kind.TELEMETRY
    elif len(parts) == 5 and parts[1] == "devices" and parts[3:] == ["commands", "response"]:
        kind = Kind.COMMAND_RESPONSE
    else:
        return None
    try:
        return DeviceTopic(uuid.UUID(parts[0]), uuid.UUID(parts[2]), kind)
    except ValueError:
        return None
