"""A simulated fleet: registration, connections opened gradually, reports spread evenly over
time, a summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

import structlog

from gito.config import Settings
from gito.simulator.device import Counters, MqttVersion, SimulatedDevice, speaks_mqtt5
from gito.simulator.model import DeviceModel
from gito.simulator.registry import ApiClient, RegistrationError, SimDevice, register_fleet

log = structlog.get_logger("gito.simulator")

# `gito up --demo`: a fleet small enough for the embedded broker and a laptop, busy enough
# that the dashboard moves at once (one report per device every 2 s).
DEMO_DEVICES = 8
DEMO_RATE = 4.0
# New connections per second: a thousand devices do not CONNECT in the same instant (each
# CONNECT costs the embedded broker a database lookup, Mosquitto's dynsec a hash).
CONNECT_RATE_PER_S = 50.0
# Device names are `sim-<prefix>-NNNN`: short, and safe in a search query and a CSV row.
PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
# How long the end of a run waits for the broker to acknowledge what is in flight.
DRAIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class SimulationSummary:
    tenant_id: uuid.UUID | None
    devices: int
    created: int
    reused: int
    connected: int  # devices that connected at least once
    mqtt5: bool
    elapsed_s: float
    published: int
    acknowledged: int
    unacknowledged: int  # still in flight when the run ended
    dropped: int
    offline_readings: int
    silent_readings: int
    commands: int
    responses: int
    reconnects: int
    connect_failures: int

    @property
    def published_per_s(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def acknowledged_per_s(self) -> float:
        return self.acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Simulation:
    """`register()` then `run(stop)`; `devices` are live while it runs (tests watch them)."""

    def __init__(
        self,
        *,
        api_url: str,
        broker_host: str,
        broker_port: int,
        email: str,
        password: str,
        devices: int,
        rate: float,
        duration: float,
        tenant: uuid.UUID | None = None,
        prefix: str = "demo",
        mqtt_version: MqttVersion = "auto",
        seed: int | str | None = None,
        silences: bool = True,
    ) -> None:
        if devices < 1 or rate <= 0 or duration < 0:
            raise ValueError("devices must be >= 1, rate > 0 and duration >= 0")
        if not PREFIX.fullmatch(prefix):
            raise ValueError("prefix: 1-40 letters, digits or '-', starting with one of the first")
        self.api_url = api_url
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.email = email
        self.password = password
        self.count = devices
        self.interval_s = devices / rate
        self.duration = duration
        self.tenant = tenant
        self.prefix = prefix
        self.mqtt_version = mqtt_version
        self.seed = seed if seed is not None else secrets.randbits(32)
        self.silences = silences
        self.counters = Counters()
        self.fleet: list[SimDevice] = []
        self.devices: list[SimulatedDevice] = []
        self.mqtt5 = mqtt_version == "5"

    async def register(self) -> list[SimDevice]:
        async with ApiClient(self.api_url) as api:
            self.fleet = await register_fleet(
                api,
                email=self.email,
                password=self.password,
                devices=self.count,
                interval_s=self.interval_s,
                prefix=self.prefix,
                tenant=self.tenant,
            )
        return self.fleet

    async def run(self, stop: asyncio.Event) -> SimulationSummary:
        if not self.fleet:
            await self.register()
        if self.mqtt_version == "auto":
            detected = await self._detect_mqtt5(stop)
            if detected is None:
                return self.summary(0.0, 0)
            self.mqtt5 = detected
        started = time.monotonic()
        self.devices = [
            SimulatedDevice(
                d,
                DeviceModel(d.name, self.seed, silences=self.silences),
                self.counters,
                interval_s=self.interval_s,
                # Even spread: device i reports at i/N of each interval.
                first_due=started + self.interval_s * d.index / self.count,
            )
            for d in self.fleet
        ]
        log.info(
            "simulation running",
            devices=self.count,
            rate=self.count / self.interval_s,
            broker=f"{self.broker_host}:{self.broker_port}",
            mqtt5=self.mqtt5,
            duration_s=self.duration or None,
        )
        ended = asyncio.Event()
        tasks = [
            asyncio.create_task(self._device(device, ended, delay=i / CONNECT_RATE_PER_S))
            for i, device in enumerate(self.devices)
        ]
        timeout = self.duration or None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout)
        ended.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.monotonic() - started
        unacknowledged = sum(
            await asyncio.gather(*(d.close(DRAIN_TIMEOUT_S) for d in self.devices))
        )
        return self.summary(elapsed, unacknowledged)

    async def _detect_mqtt5(self, stop: asyncio.Event) -> bool | None:
        """Ask the broker which MQTT it speaks, waiting for it to be up (None: stopped)."""
        delay = 0.5
        while not stop.is_set():
            try:
                return await speaks_mqtt5(self.broker_host, self.broker_port)
            except (OSError, TimeoutError) as exc:
                log.warning(
                    "mqtt broker unreachable; retrying",
                    broker=f"{self.broker_host}:{self.broker_port}",
                    error=repr(exc),
                    retry_in_s=delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 15.0)
        return None

    async def _device(self, device: SimulatedDevice, ended: asyncio.Event, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), delay)
        if not ended.is_set():
            await device.run(ended, mqtt5=self.mqtt5, host=self.broker_host, port=self.broker_port)

    def summary(self, elapsed_s: float, unacknowledged: int) -> SimulationSummary:
        c = self.counters
        created = sum(1 for d in self.fleet if d.created)
        return SimulationSummary(
            tenant_id=self.fleet[0].tenant_id if self.fleet else None,
            devices=len(self.fleet),
            created=created,
            reused=len(self.fleet) - created,
            connected=sum(1 for d in self.devices if d.ever_connected),
            mqtt5=self.mqtt5,
            elapsed_s=elapsed_s,
            published=c.published,
            acknowledged=c.acknowledged,
            unacknowledged=unacknowledged,
            dropped=c.dropped,
            offline_readings=c.offline_readings,
            silent_readings=c.silent_readings,
            commands=c.commands,
            responses=c.responses,
            reconnects=c.reconnects,
            connect_failures=c.connect_failures,
        )


async def run_simulation(
    api_url: str,
    broker_host: str,
    broker_port: int,
    email: str,
    password: str,
    devices: int,
    rate: float,
    duration: float,
    tenant: uuid.UUID | str | None = None,
    prefix: str = "demo",
    stop: asyncio.Event | None = None,
    *,
    mqtt_version: MqttVersion = "auto",
    seed: int | str | None = None,
    silences: bool = True,
) -> SimulationSummary:
    """Register (or reuse) `devices` devices named `sim-<prefix>-NNNN` through the API at
    `api_url`, then publish `rate` messages per second in total through the broker, each
    device with its own credentials, for `duration` seconds (0: until `stop` is set).
    `stop` ends the run early, registration included. `mqtt_version` "auto" asks the
    broker; `seed` makes the readings reproducible; `silences=False` turns off the random
    silent periods."""
    stop = stop or asyncio.Event()
    simulation = Simulation(
        api_url=api_url,
        broker_host=broker_host,
        broker_port=broker_port,
        email=email,
        password=password,
        devices=devices,
        rate=rate,
        duration=duration,
        tenant=uuid.UUID(str(tenant)) if tenant else None,
        prefix=prefix,
        mqtt_version=mqtt_version,
        seed=seed,
        silences=silences,
    )
    registration = asyncio.create_task(simulation.register())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({registration, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not registration.done():
        registration.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await registration
        return simulation.summary(0.0, 0)
    registration.result()  # a registration error surfaces here
    return await simulation.run(stop)


async def run_demo(settings: Settings, api_url: str, stop: asyncio.Event) -> None:
    """`gito up --demo`: DEMO_DEVICES devices in the first admin's tenant, on the platform's
    own broker, until `stop`. Matches `gito.platform.DemoRunner`; needs the admin's
    credentials in `GITO_ADMIN_EMAIL` / `GITO_ADMIN_PASSWORD` (a generated password is not
    kept anywhere the demo could read it)."""
    if not (settings.gito_admin_email and settings.gito_admin_password):
        log.warning("demo fleet not started: set GITO_ADMIN_EMAIL and GITO_ADMIN_PASSWORD")
        return
    try:
        summary = await run_simulation(
            api_url,
            settings.mqtt_broker_host or "127.0.0.1",
            settings.mqtt_broker_port,
            settings.gito_admin_email,
            settings.gito_admin_password,
            DEMO_DEVICES,
            DEMO_RATE,
            0,
            stop=stop,
        )
    except RegistrationError as exc:
        log.warning("demo fleet not started", error=str(exc))
        return
    log.info(
        "demo fleet stopped",
        published=summary.published,
        acknowledged=summary.acknowledged,
        seconds=round(summary.elapsed_s, 1),
    )
