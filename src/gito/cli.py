"""`gito`: one console script, one sub-command per role (DESIGN §1)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel

from gito.auth.permissions import Role
from gito.config import Settings, get_settings
from gito.logging import configure_logging
from gito.platform import DemoRunner

app = typer.Typer(help="Gito IoT platform.", no_args_is_help=True, add_completion=False)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="GITO_DATA_DIR", help="Where embedded services keep data."),
]


def _settings(data_dir: Path | None = None) -> Settings:
    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"gito_data_dir": data_dir.expanduser()})
    configure_logging(settings.log_level)
    return settings


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Settings]:
    """Yield settings with a database URL: `DATABASE_URL`, or an embedded PostgreSQL kept in
    the data dir for as long as the block runs."""
    if settings.database_url:
        yield settings
        return
    import signal

    from gito.embedded.postgres import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.gito_data_dir)
    # SIGTERM's default action ends the process without `finally`, which would leave the
    # embedded server running. As a KeyboardInterrupt it unwinds like Ctrl-C (uvicorn
    # installs its own graceful handler while it serves, and restores this one after).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        console.print(f"[dim]starting embedded PostgreSQL in {embedded.pgdata}[/dim]")
        url = embedded.start()
        yield settings.model_copy(update={"database_url": url})
    finally:
        embedded.stop()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _migrate(settings: Settings) -> None:
    from gito.db import migrations

    assert settings.database_url
    migrations.upgrade(settings.database_url)


async def _bootstrap(settings: Settings) -> None:
    from gito.bootstrap import ensure_first_admin
    from gito.db.engine import dispose_engine, init_engine

    assert settings.database_url
    init_engine(settings.database_url, pool_size=1)
    try:
        created = await ensure_first_admin(settings.gito_admin_email, settings.gito_admin_password)
    finally:
        await dispose_engine()
    if created and created.generated:
        console.print(
            Panel(
                f"e-mail:   {created.email}\npassword: {created.password}\n\n"
                "Shown only now. Set GITO_ADMIN_EMAIL / GITO_ADMIN_PASSWORD to choose them.",
                title="Gito super-admin created",
            )
        )
    elif created:
        console.print(f"super-admin {created.email} created in tenant Default")


@app.command()
def up(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port (API, docs, dashboard).")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Also run a small simulated fleet (8 devices).")
    ] = False,
) -> None:
    """Start the whole platform: API, dashboard, processor and (without MQTT_BROKER_HOST) an
    embedded MQTT broker. Without DATABASE_URL an embedded PostgreSQL is used."""
    import os

    from gito import platform

    settings = _settings(data_dir)
    with _database(settings) as settings:
        _migrate(settings)
        asyncio.run(_bootstrap(settings))
        console.print(f"Gito is up: http://{host}:{port}/  API docs: /api/docs  (Ctrl-C stops)")
        asyncio.run(
            platform.serve(
                settings,
                host=host,
                port=port,
                broker_port_explicit="MQTT_BROKER_PORT" in os.environ,
                demo=asyncio.run(_demo_runner(settings)) if demo else None,
            )
        )


async def _demo_runner(settings: Settings) -> DemoRunner | None:
    """`gito up --demo`: the simulator's demo fleet, registered by a demo account of the
    Default tenant (gito.bootstrap.ensure_demo_user)."""
    from gito.bootstrap import ensure_demo_user
    from gito.db.engine import dispose_engine, init_engine
    from gito.simulator.runner import run_demo

    assert settings.database_url
    init_engine(settings.database_url, pool_size=1)
    try:
        credentials = await ensure_demo_user()
    finally:
        await dispose_engine()
    if credentials is None:
        console.print("[yellow]no tenant named Default: the demo fleet does not start[/yellow]")
        return None
    email, password = credentials

    async def run(live: Settings, api_url: str, stop: asyncio.Event) -> None:
        creds = {"gito_admin_email": email, "gito_admin_password": password}
        await run_demo(live.model_copy(update=creds), api_url, stop)

    console.print("demo fleet: 8 simulated devices in tenant Default")
    return run


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run only the API (DATABASE_URL required; migrations must have been applied)."""
    settings = _settings()
    if not settings.database_url:
        raise typer.BadParameter("DATABASE_URL is not set")
    uvicorn.run(
        "gito.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@app.command()
def processor() -> None:
    """Run the telemetry processor (DATABASE_URL and MQTT_BROKER_HOST required)."""
    settings = _settings()
    if not settings.database_url or not settings.mqtt_broker_host:
        raise typer.BadParameter("DATABASE_URL and MQTT_BROKER_HOST must be set")
    from gito.broker.credentials import service_credentials
    from gito.processor.service import BrokerAddress, run_processor

    credentials = service_credentials(settings)
    broker = BrokerAddress(
        settings.mqtt_broker_host,
        settings.mqtt_broker_port,
        credentials.username,
        credentials.password,
    )
    if settings.processor_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.processor_metrics_port, addr="127.0.0.1")
    asyncio.run(_until_signalled(lambda stop: run_processor(settings, broker, stop)))


@app.command()
def scheduler() -> None:
    """Run the scheduler: offline detection, command deadlines and resends, telemetry
    partitions and retention, audit-log retention, no-data alarms, and a notifier (webhook
    and e-mail deliveries). Safe to run several:
    each job runs once per interval across all of them (PostgreSQL advisory locks)."""
    settings = _settings()
    if not settings.database_url:
        raise typer.BadParameter("DATABASE_URL must be set")
    from gito.scheduler.runner import run_scheduler

    asyncio.run(_until_signalled(lambda stop: run_scheduler(settings, stop)))


@app.command()
def notifier() -> None:
    """Run a notifier on its own: sends webhook and e-mail deliveries of alarm changes.
    `gito scheduler` runs one too; several share the work (no double sends)."""
    settings = _settings()
    if not settings.database_url:
        raise typer.BadParameter("DATABASE_URL must be set")
    from gito.notifications.notifier import run_notifier

    asyncio.run(_until_signalled(lambda stop: run_notifier(settings, stop)))


async def _until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so the role shuts down cleanly."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply database migrations (to DATABASE_URL, else to the embedded database)."""
    settings = _settings(data_dir)
    with _database(settings) as settings:
        _migrate(settings)
    console.print("migrations applied")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    tenant: Annotated[str, typer.Option(help="Tenant name; created when missing.")] = "Default",
    role: Annotated[Role, typer.Option(case_sensitive=False)] = Role.SUPER_ADMIN,
    data_dir: DataDir = None,
) -> None:
    """Create a user (by default a SUPER_ADMIN) from the command line."""
    from gito.bootstrap import create_admin as create
    from gito.db.engine import dispose_engine, init_engine

    if len(password) < 8:
        raise typer.BadParameter("password must have at least 8 characters")
    settings = _settings(data_dir)

    async def run(url: str) -> None:
        init_engine(url, pool_size=1)
        try:
            await create(email, password, tenant, role)
        finally:
            await dispose_engine()

    with _database(settings) as settings:
        _migrate(settings)
        assert settings.database_url
        asyncio.run(run(settings.database_url))
    console.print(f"{role.value} {email} created in tenant {tenant}")


@app.command()
def simulate(
    email: Annotated[
        str, typer.Option(envvar="GITO_ADMIN_EMAIL", prompt=True, help="User to register with.")
    ],
    password: Annotated[
        str, typer.Option(envvar="GITO_ADMIN_PASSWORD", prompt=True, hide_input=True)
    ],
    devices: Annotated[int, typer.Option(min=1, help="Simulated devices.")] = 10,
    rate: Annotated[
        float, typer.Option(min=0.001, help="Messages per second, all devices together.")
    ] = 10.0,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run; 0: until Ctrl-C.")] = 0,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id (SUPER_ADMIN); default: the user's own.")
    ] = None,
    api_url: Annotated[str, typer.Option(help="The Gito API.")] = "http://127.0.0.1:8000",
    broker_host: Annotated[str, typer.Option(envvar="MQTT_BROKER_HOST")] = "127.0.0.1",
    broker_port: Annotated[int, typer.Option(envvar="MQTT_BROKER_PORT")] = 1883,
    prefix: Annotated[str, typer.Option(help="Devices are named sim-<prefix>-NNNN.")] = "sim",
    mqtt_version: Annotated[
        str, typer.Option(help="auto, 5 or 3.1.1 (auto asks the broker).")
    ] = "auto",
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible readings.")] = None,
    silences: Annotated[
        bool, typer.Option(help="Let devices fall silent now and then, as real ones do.")
    ] = True,
) -> None:
    """Simulate a fleet: register (or reuse) devices named sim-<prefix>-NNNN through the API,
    then publish realistic telemetry through the MQTT broker with each device's own
    credentials and answer commands (reboot, set_interval). Prints a summary at the end."""
    import os
    import uuid
    from typing import cast

    import httpx

    from gito.simulator import run_simulation
    from gito.simulator.device import MqttVersion
    from gito.simulator.registry import RegistrationError
    from gito.simulator.report import render_summary

    if mqtt_version not in ("auto", "5", "3.1.1"):
        raise typer.BadParameter("--mqtt-version must be auto, 5 or 3.1.1")
    try:
        tenant_id = uuid.UUID(tenant) if tenant else None
    except ValueError:
        raise typer.BadParameter("--tenant must be a tenant id (UUID)") from None
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), json=False)
    summaries = []

    async def main(stop: asyncio.Event) -> None:
        summaries.append(
            await run_simulation(
                api_url,
                broker_host,
                broker_port,
                email,
                password,
                devices,
                rate,
                duration,
                tenant=tenant_id,
                prefix=prefix,
                stop=stop,
                mqtt_version=cast(MqttVersion, mqtt_version),
                seed=seed,
                silences=silences,
            )
        )

    try:
        asyncio.run(_until_signalled(main))
    except (RegistrationError, ValueError, httpx.HTTPError) as exc:
        console.print(f"[red]simulation failed:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    Console().print(render_summary(summaries[0]))


@bench_app.command("api")
def bench_api(
    devices: Annotated[int, typer.Option(min=1, help="Devices in the bench tenant.")] = 10_000,
    rate: Annotated[float, typer.Option(min=0.1, help="Target requests per second.")] = 200,
    duration: Annotated[float, typer.Option(min=1, help="Measured seconds.")] = 30,
    warmup: Annotated[float, typer.Option(min=0, help="Unmeasured seconds first.")] = 5,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes.")] = 1,
    url: Annotated[
        str | None,
        typer.Option(help="Load an already running API instead (needs --token, --tenant-id)."),
    ] = None,
    token: Annotated[str | None, typer.Option(help="Access token, with --url.")] = None,
    tenant_id: Annotated[str | None, typer.Option(help="Tenant id, with --url.")] = None,
    profile: Annotated[
        Path | None,
        typer.Option(help="Record the API with py-spy to this file (.json: speedscope)."),
    ] = None,
) -> None:
    """p50/p99 latency of GET /api/v1/tenants/{t}/devices?per_page=50 at a fixed request
    rate, sent open-loop by a separate load process.

    Without --url: seeds a tenant with --devices devices into a scratch database (created on
    DATABASE_URL's server and dropped afterwards; an embedded PostgreSQL when unset), starts
    `gito api` on a free port and measures it."""
    from gito.bench import api as bench

    configure_logging("WARNING")
    if url:
        if not (token and tenant_id):
            raise typer.BadParameter("--url needs --token and --tenant-id")
        target = f"{url.rstrip('/')}/api/v1/tenants/{tenant_id}/devices?per_page=50"
        load, cpu = bench.run_load(
            target, token=token, rate=rate, duration_s=duration, warmup_s=warmup
        )
        console.print(bench.render_external(load, cpu, target))
        return
    settings = get_settings()
    where = "an embedded PostgreSQL" if not settings.database_url else "DATABASE_URL's server"
    console.print(f"[dim]seeding {devices:,} devices into a scratch database on {where}…[/dim]")
    with bench.scratch_database(settings.database_url) as database_url:
        result = bench.measure(
            database_url,
            devices=devices,
            rate=rate,
            duration_s=duration,
            warmup_s=warmup,
            workers=workers,
            settings=settings,
            profile_path=profile,
        )
    Console().print(bench.render(result))


@bench_app.command("ingest")
def bench_ingest(
    messages: Annotated[int, typer.Option(min=1, help="Messages to publish.")] = 100_000,
    devices: Annotated[int, typer.Option(min=1, help="Devices they come from.")] = 100,
    publishers: Annotated[int, typer.Option(min=1, help="Publisher processes.")] = 2,
    rate: Annotated[
        float | None, typer.Option(help="Total publish rate in msg/s (default: full speed).")
    ] = None,
    qos: Annotated[int, typer.Option(min=1, max=1, help="MQTT QoS (1: at least once).")] = 1,
    rules: Annotated[
        int,
        typer.Option(min=0, help="Enabled alert rules in the bench tenant (~10% on its fields)."),
    ] = 0,
) -> None:
    """MQTT ingest through a real broker and processor into PostgreSQL; prints msg/s,
    publish->stored latency, lost and duplicate messages, processor peak RSS."""
    from gito.bench.ingest import render, run_ingest

    settings = _settings()
    result = run_ingest(
        settings,
        messages=messages,
        devices=devices,
        publishers=publishers,
        rate=rate,
        rules=rules,
    )
    print(render(result))


@bench_app.command("notify")
def bench_notify(
    alarms: Annotated[int, typer.Option(min=1, help="Raise/clear cycles to time.")] = 200,
    load: Annotated[
        float, typer.Option(min=0, help="Other telemetry published meanwhile, msg/s.")
    ] = 0,
) -> None:
    """Time from a breaching MQTT message to its signed webhook arriving (p50/p99), through
    the real broker, processor, database and notifier."""
    from gito.bench.notify import render, run_notify_bench

    print(render(run_notify_bench(_settings(), alarms=alarms, load=load)))


@bench_app.command("query")
def bench_query(
    rows: Annotated[int, typer.Option(min=50_000, help="Rows in the telemetry table.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(min=1, help="Timed repetitions.")] = 20,
) -> None:
    """Time a 30-day hourly aggregate of one device in a table of `rows` rows."""
    from gito.bench.query import render, run_query_bench

    print(render(run_query_bench(_settings(), rows=rows, repeats=repeats)))


if __name__ == "__main__":
    app()
