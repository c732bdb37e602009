"""Who may publish and subscribe where on the MQTT broker.

One definition serves the embedded broker (checked per packet), the per-device roles
provisioned into Mosquitto's dynamic-security plugin, and `deploy/mosquitto/dynsec-setup.sh`
(a test checks that script against the lists below), so the three cannot drift apart.

A device lives under `{tenant_id}/devices/{device_id}/` (DESIGN §4) and may only publish its
telemetry and command responses and subscribe to its commands there. The platform's service
client reads every device's telemetry and responses (optionally through `$share/gito/`, where
the broker supports shared subscriptions), ChirpStack events, and sends commands."""

from __future__ import annotations

import uuid

# Topic levels under a device's prefix, relative to `{tenant_id}/devices/{device_id}/`.
DEVICE_PUBLISH_LEVELS = ("telemetry", "commands/response")
DEVICE_SUBSCRIBE_LEVELS = ("commands",)

SHARED_GROUP = "gito"

SERVICE_SUBSCRIBE = (
    "+/devices/+/telemetry",
    "+/devices/+/commands/response",
    "application/+/device/+/event/+",
)
# ChirpStack's downlink topic is here so LoRaWAN commands can be queued through the broker.
SERVICE_PUBLISH = (
    "+/devices/+/commands",
    "application/+/device/+/command/down",
)


def device_prefix(tenant_id: uuid.UUID, device_id: uuid.UUID) -> str:
    return f"{tenant_id}/devices/{device_id}/"


def device_publish_topics(tenant_id: uuid.UUID, device_id: uuid.UUID) -> tuple[str, ...]:
    prefix = device_prefix(tenant_id, device_id)
    return tuple(prefix + level for level in DEVICE_PUBLISH_LEVELS)


def device_subscribe_topics(tenant_id: uuid.UUID, device_id: uuid.UUID) -> tuple[str, ...]:
    prefix = device_prefix(tenant_id, device_id)
    return tuple(prefix + level for level in DEVICE_SUBSCRIBE_LEVELS)


def shared(topic_filter: str) -> str:
    """The shared-subscription form processors use to split work (MQTT 5 §4.8.2)."""
    return f"$share/{SHARED_GROUP}/{topic_filter}"


def topic_matches(topic: str, topic_filter: str) -> bool:
    """MQTT topic matching of a concrete topic name against a filter (MQTT 3.1.1 §4.7)."""
    # [MQTT-4.7.2-1]: wildcards at the first level never match `$`-topics.
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    filter_levels = topic_filter.split("/")
    for i, level in enumerate(filter_levels):
        if level == "#":
            return True
        if i >= len(levels) or (level != "+" and level != levels[i]):
            return False
    return len(levels) == len(filter_levels)


def filter_within(requested: str, allowed: str) -> bool:
    """Whether every topic the `requested` subscription filter can match is also matched by
    `allowed` — so a client may not widen its subscription with wildcards."""
    req = requested.split("/")
    allow = allowed.split("/")
    for i, level in enumerate(allow):
        if level == "#":
            return True
        if i >= len(req) or req[i] == "#":
            return False
        if level != "+" and req[i] != level:
            return False
    return len(req) == len(allow)
