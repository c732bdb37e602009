"""QoS-1 throughput of the embedded broker: `python -m gito.broker.bench [messages]`.

One gmqtt device publishes ~100-byte telemetry at QoS 1 as fast as it can; one gmqtt service
client subscribed to `+/devices/+/telemetry` counts arrivals. The figure is messages / (last
arrival - first publish), all in one process (as in `gito up`): first through Gito's
embedded broker (auth and ACL checks on every packet), then, for comparison, through stock
amqtt with anonymous access and no checks.
The device's credential is put in the auth cache up front, so no database is needed."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import gmqtt
from gmqtt.mqtt.constants import MQTTv311
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gito.auth.security import secret_hash
from gito.bench import free_port
from gito.broker.auth import Identity
from gito.broker.credentials import service_credentials
from gito.broker.embedded import start_embedded_broker
from gito.config import Settings


@dataclass(frozen=True)
class BenchResult:
    messages: int
    seconds: float
    plain: bool

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def measure(
    messages: int = 20_000, *, plain: bool = False, timeout_s: float = 300
) -> BenchResult:
    tenant_id, device_id = uuid.uuid4(), uuid.uuid4()
    token = "gdt_bench"
    with TemporaryDirectory(prefix="gito-broker-bench-") as data_dir:
        settings = Settings(
            _env_file=None,
            gito_data_dir=Path(data_dir),
            mqtt_broker_port=free_port(),
            mqtt_auth_cache_ttl_s=3600,  # no re-check sweep during the run
        )
        if plain:
            from amqtt.broker import Broker

            broker = Broker(
                {
                    "listeners": {
                        "default": {"type": "tcp", "bind": f"127.0.0.1:{settings.mqtt_broker_port}"}
                    },
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {
                            "allow_anonymous": True
                        }
                    },
                }
            )
            await broker.start()
            stop = broker.shutdown
        else:
            embedded = await start_embedded_broker(
                settings, sessions=async_sessionmaker[AsyncSession]()
            )
            key = (str(device_id), secret_hash(token))
            embedded.guard.authenticator.cache.put(
                key, Identity(key[0], tenant_id, device_id, key[1])
            )
            stop = embedded.stop
        try:
            return await _run(settings, messages, tenant_id, device_id, token, plain, timeout_s)
        finally:
            await stop()


async def _run(
    settings: Settings,
    messages: int,
    tenant_id: uuid.UUID,
    device_id: uuid.UUID,
    token: str,
    plain: bool,
    timeout_s: float,
) -> BenchResult:
    port = settings.mqtt_broker_port
    received = 0
    done = asyncio.Event()
    last = 0.0

    def on_message(*_: object) -> int:
        nonlocal received, last
        received += 1
        if received >= messages:
            last = time.perf_counter()
            done.set()
        return 0

    subscribed = asyncio.Event()
    service = gmqtt.Client(f"bench-service-{uuid.uuid4().hex[:6]}")
    device = gmqtt.Client(f"bench-device-{uuid.uuid4().hex[:6]}")
    if not plain:
        creds = service_credentials(settings)
        service.set_auth_credentials(creds.username, creds.password)
        device.set_auth_credentials(str(device_id), token)
    service.on_message = on_message
    service.on_subscribe = lambda *_: subscribed.set()
    await service.connect("127.0.0.1", port, version=MQTTv311)
    service.subscribe("+/devices/+/telemetry", qos=1)
    await asyncio.wait_for(subscribed.wait(), 10)
    await device.connect("127.0.0.1", port, version=MQTTv311)
    topic = f"{tenant_id}/devices/{device_id}/telemetry"
    payload = b'{"temperature": 21.5, "humidity": 48.2, "battery": 97, "rssi": -71, "seq": %08d}'
    start = time.perf_counter()
    for i in range(messages):
        device.publish(topic, payload % i, qos=1)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the loop move packets
    try:
        await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await device.disconnect()
        await service.disconnect()
    return BenchResult(messages, last - start, plain)


def main(argv: list[str]) -> None:
    messages = int(argv[0]) if argv and argv[0].isdigit() else 20_000
    for plain in (False, True):
        result = asyncio.run(measure(messages, plain=plain))
        label = "stock amqtt, no auth/ACL" if plain else "Gito embedded broker (auth + ACL)"
        print(
            f"{label:36s} {result.messages} QoS-1 msgs in {result.seconds:.2f} s"
            f" = {result.rate:,.0f} msg/s"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
