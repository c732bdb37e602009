"""Prometheus metrics of broker auth and provisioning (served by the API's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECT_REFUSED = Counter(
    "gito_mqtt_connect_refused_total",
    "MQTT connections the embedded broker refused, by reason.",
    ["reason"],
)
PUBLISH_REFUSED = Counter(
    "gito_mqtt_publish_refused_total",
    "PUBLISH packets the embedded broker dropped because the client may not publish there.",
    ["client"],
)
SUBSCRIBE_REFUSED = Counter(
    "gito_mqtt_subscribe_refused_total",
    "Subscriptions the embedded broker refused (SUBACK 0x80).",
    ["client"],
)
SESSIONS_REVOKED = Counter(
    "gito_mqtt_sessions_revoked_total",
    "Open device connections the embedded broker closed because the credential was rotated, "
    "the device deleted or its tenant deactivated.",
)
DYNSEC_COMMANDS = Counter(
    "gito_dynsec_commands_total",
    "Mosquitto dynamic-security commands sent, by command and outcome.",
    ["command", "outcome"],
)
DYNSEC_ORPHANS_REMOVED = Counter(
    "gito_dynsec_orphans_removed_total",
    "Dynsec clients/roles removed by reconcile because their device no longer exists.",
    ["kind"],
)
DYNSEC_DEVICES_WITHOUT_CLIENT = Gauge(
    "gito_dynsec_devices_without_client",
    "Devices with no dynsec client at the last reconcile; they need a credential rotation.",
)
