"""`gito up`: every role of the platform in one process (DESIGN §2, embedded defaults).

API + WebSocket + dashboard (uvicorn), the telemetry processor, the scheduler, and — without
`MQTT_BROKER_HOST` — the embedded MQTT broker, all on one event loop. That suits a laptop, a
demo or a small fleet; larger deployments run `gito api` and `gito processor` as separate
processes next to Mosquitto (docs/DEPLOYMENT.md). Ctrl-C stops the parts in the order that
loses nothing: the API first, then the processor (which writes and acknowledges what it
holds), then the broker."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
import uvicorn

from gito.config import Settings

log = structlog.get_logger("gito.platform")

DemoRunner = Callable[[Settings, str, asyncio.Event], Coroutine[Any, Any, None]]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def embedded_broker_port(settings: Settings, *, explicit: bool) -> int:
    """The configured MQTT port, or — when the default 1883 is taken (a system Mosquitto, say)
    and nobody asked for it explicitly — a free one, announced in the log."""
    port = settings.mqtt_broker_port
    if _port_free(settings.mqtt_embedded_bind_host, port):
        return port
    if explicit:
        raise SystemExit(f"MQTT port {port} is in use; choose another with MQTT_BROKER_PORT")
    with socket.socket() as probe:
        probe.bind((settings.mqtt_embedded_bind_host, 0))
        free = int(probe.getsockname()[1])
    log.warning("mqtt port in use; the embedded broker takes another", wanted=port, port=free)
    return free


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    broker_port_explicit: bool = False,
    demo: DemoRunner | None = None,
) -> None:
    from gito.api.app import create_app
    from gito.broker.credentials import service_credentials, uses_embedded_broker
    from gito.processor.service import BrokerAddress, run_processor
    from gito.scheduler.runner import run_scheduler

    broker = None
    if uses_embedded_broker(settings):
        from gito.broker.embedded import start_embedded_broker

        mqtt_port = embedded_broker_port(settings, explicit=broker_port_explicit)
        settings = settings.model_copy(update={"mqtt_broker_port": mqtt_port})
        broker = await start_embedded_broker(settings)
        creds = service_credentials(settings)
        address = BrokerAddress(
            "127.0.0.1",
            mqtt_port,
            creds.username,
            creds.password,
            mqtt5=False,
            shared_subscriptions=False,
        )
    else:
        assert settings.mqtt_broker_host
        creds = service_credentials(settings)
        address = BrokerAddress(
            settings.mqtt_broker_host, settings.mqtt_broker_port, creds.username, creds.password
        )

    stop_workers = asyncio.Event()
    processor = asyncio.create_task(
        run_processor(settings, address, stop_workers), name="processor"
    )
    scheduler = asyncio.create_task(run_scheduler(settings, stop_workers), name="scheduler")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host=host, port=port, log_config=None, access_log=False
        )
    )
    extras: list[asyncio.Task[None]] = []
    if demo is not None:
        extras.append(asyncio.create_task(demo(settings, f"http://{host}:{port}", stop_workers)))
    log.info("gito is up", api=f"http://{host}:{port}", mqtt=f"{address.host}:{address.port}")
    try:
        await server.serve()
    finally:
        stop_workers.set()
        for task in extras:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 15)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(processor, 40)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(scheduler, 15)
        if broker is not None:
            await broker.stop()
