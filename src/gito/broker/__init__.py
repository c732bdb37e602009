"""MQTT broker integration: the embedded broker of `gito up` (`embedded`), per-device broker
credentials on Mosquitto's dynamic-security plugin (`dynsec`), the seam the device API calls
(`provisioning`), and the topic ACLs both enforce (`acl`).

For the processor and command sender: `service_credentials(settings)` is what to connect
with; `shared_subscriptions_supported(settings)` says whether `$share/gito/...` filters work."""

from gito.broker.credentials import (
    ServiceCredentials,
    service_credentials,
    shared_subscriptions_supported,
    uses_embedded_broker,
)

__all__ = [
    "ServiceCredentials",
    "service_credentials",
    "shared_subscriptions_supported",
    "uses_embedded_broker",
]
