"""The simulator end to end: devices registered through the real API, telemetry through a
real broker into PostgreSQL by the real processor, commands answered over MQTT."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.handler import MQTTConnectError
from typer.testing import CliRunner

from gito.auth.permissions import Role
from gito.auth.security import secret_hash
from gito.bench.mosquitto import PrivateMosquitto, free_port
from gito.broker.credentials import service_credentials
from gito.broker.embedded import start_embedded_broker
from gito.cli import app
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.processor.service import BrokerAddress, Processor
from gito.simulator import DEMO_DEVICES, Simulation, SimulationSummary, run_demo, run_simulation
from gito.simulator.registry import (
    DEVICE_TYPE,
    IMPORT_THRESHOLD,
    TAG,
    ApiClient,
    RegistrationError,
    SimDevice,
    register_fleet,
)
from tests.factories import PASSWORD, Factory
from tests.processor.conftest import wait_for
from tests.simulator.conftest import fetch

pytestmark = pytest.mark.timeout(60)
KEYS = {"temperature", "humidity", "battery", "rssi"}


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def _stored(owner_dsn: str, tenant_id: uuid.UUID) -> dict[uuid.UUID, list[dict[str, object]]]:
    rows = await fetch(
        owner_dsn,
        "SELECT device_id, values FROM telemetry WHERE tenant_id = $1 ORDER BY ts",
        tenant_id,
    )
    out: dict[uuid.UUID, list[dict[str, object]]] = {}
    for row in rows:
        out.setdefault(row["device_id"], []).append(orjson.loads(row["values"]))
    return out


async def _ask(port: int, topic_prefix: str, command: dict[str, object]) -> dict[str, object]:
    """Publish a command as the platform would and wait for the device's response."""
    answered: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
    subscribed = asyncio.Event()
    client = Client(f"test-commander-{uuid.uuid4().hex[:8]}")

    def on_message(_c: Client, _topic: str, payload: bytes, _qos: int, _p: object) -> int:
        response = orjson.loads(payload)
        if response.get("id") == command["id"] and not answered.done():
            answered.set_result(response)
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    await client.connect("127.0.0.1", port, version=MQTTv50)
    try:
        client.subscribe(f"{topic_prefix}/commands/response", qos=1)
        await asyncio.wait_for(subscribed.wait(), 5)
        client.publish(f"{topic_prefix}/commands", orjson.dumps(command), qos=1)
        return await asyncio.wait_for(answered, 10)
    finally:
        await client.disconnect()


async def test_fleet_registers_publishes_and_answers_commands(
    broker: PrivateMosquitto,
    processor: Processor,
    api_url: str,
    factory: Factory,
    owner_dsn: str,
) -> None:
    tenant = await factory.tenant()
    prefix = _prefix()
    sim = Simulation(
        api_url=api_url,
        broker_host="127.0.0.1",
        broker_port=broker.port,
        email=tenant.admin.email,
        password=PASSWORD,
        devices=3,
        rate=15,  # one report per device every 0.2 s
        duration=0,
        prefix=prefix,
        seed=1,
        silences=False,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(sim.run(stop))
    try:

        async def every_device_reported() -> bool:
            stored = await _stored(owner_dsn, tenant.id)
            return len(stored) == 3 and all(len(rows) >= 3 for rows in stored.values())

        await wait_for(every_device_reported, timeout=15)
        assert all(d.subscribed.is_set() for d in sim.devices)
        first, second, third = (d.device for d in sim.devices)

        slower = await _ask(
            broker.port,
            first.topic_prefix,
            {"id": "cmd-1", "name": "set_interval", "params": {"interval_s": 0.5}},
        )
        assert slower == {
            "id": "cmd-1",
            "status": "SUCCESSFUL",
            "result": {"interval_s": 0.5, "previous_interval_s": pytest.approx(0.2)},
        }
        assert sim.devices[0].interval_s == 0.5
        unknown = await _ask(broker.port, second.topic_prefix, {"id": "cmd-2", "name": "dance"})
        assert unknown["status"] == "FAILED"
        assert unknown["result"] == {"reason": "unknown command 'dance'"}
        reboot = await _ask(
            broker.port,
            third.topic_prefix,
            {"id": "cmd-3", "name": "reboot", "params": {"duration_s": 0.5}},
        )
        assert reboot["id"] == "cmd-3"
        assert reboot["status"] == "SUCCESSFUL"
        await asyncio.sleep(0.6)  # the reboot's silence (0.5 s) covers at least two slots
    finally:
        stop.set()
        summary = await asyncio.wait_for(running, 15)

    assert (summary.devices, summary.created, summary.reused, summary.connected) == (3, 3, 0, 3)
    assert summary.mqtt5 is True
    assert summary.connect_failures == 0
    assert summary.published > 9
    assert summary.acknowledged == summary.published
    assert summary.unacknowledged == summary.dropped == summary.offline_readings == 0
    assert summary.silent_readings >= 1  # the rebooted device skipped at least one slot
    assert (summary.commands, summary.responses) == (3, 3)

    # Every acknowledged message is stored exactly once, with the simulator's keys.
    async def all_stored() -> bool:
        stored = await _stored(owner_dsn, tenant.id)
        return sum(len(rows) for rows in stored.values()) == summary.published

    await wait_for(all_stored, timeout=10)
    stored = await _stored(owner_dsn, tenant.id)
    assert set(stored) == {d.device.id for d in sim.devices}
    assert all(set(values) == KEYS for rows in stored.values() for values in rows)

    devices = await fetch(
        owner_dsn,
        "SELECT d.id, d.name, d.device_type, d.tags, d.status, c.token_hash FROM devices d "
        "JOIN device_credentials c ON c.device_id = d.id WHERE d.tenant_id = $1 ORDER BY name",
        tenant.id,
    )
    assert [d["name"] for d in devices] == [f"sim-{prefix}-000{i}" for i in (1, 2, 3)]
    assert all(d["device_type"] == DEVICE_TYPE and TAG in d["tags"] for d in devices)
    assert all(d["status"] == "online" for d in devices)
    # The simulator held each device's current token (the API stores only its hash).
    tokens = {d.device.id: d.device.token for d in sim.devices}
    assert all(secret_hash(tokens[d["id"]]) == d["token_hash"] for d in devices)

    # A second run reuses the three devices, with rotated tokens.
    again = await run_simulation(
        api_url,
        "127.0.0.1",
        broker.port,
        tenant.admin.email,
        PASSWORD,
        devices=3,
        rate=15,
        duration=1.0,
        prefix=prefix,
        silences=False,
    )
    assert (again.created, again.reused, again.connected) == (0, 3, 3)
    assert again.published > 0
    assert again.acknowledged == again.published
    after = await fetch(
        owner_dsn,
        "SELECT d.id, c.token_hash FROM devices d JOIN device_credentials c "
        "ON c.device_id = d.id WHERE d.tenant_id = $1",
        tenant.id,
    )
    assert {d["id"] for d in after} == {d["id"] for d in devices}
    assert not {d["token_hash"] for d in after} & {d["token_hash"] for d in devices}


async def test_large_registrations_import_once_and_reuse_by_rotation(
    api_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    count = IMPORT_THRESHOLD + 1

    async def register() -> list[SimDevice]:
        async with ApiClient(api_url) as api:
            return await register_fleet(
                api,
                email=tenant.admin.email,
                password=PASSWORD,
                devices=count,
                interval_s=1.0,
                prefix="bulk",
            )

    created = await register()
    reused = await register()
    assert all(d.created for d in created) and not any(d.created for d in reused)
    assert [d.id for d in created] == [d.id for d in reused]
    assert len({d.id for d in created}) == count
    assert not {d.token for d in created} & {d.token for d in reused}


async def test_tenant_choice_and_refusals(api_url: str, factory: Factory) -> None:
    platform = await factory.tenant(admin_role=Role.SUPER_ADMIN)
    customer = await factory.tenant()
    other = await factory.tenant()

    async def register(email: str, password: str, tenant: uuid.UUID | None) -> list[SimDevice]:
        async with ApiClient(api_url) as api:
            return await register_fleet(
                api,
                email=email,
                password=password,
                devices=1,
                interval_s=1.0,
                prefix="choice",
                tenant=tenant,
            )

    # A SUPER_ADMIN fills a customer's tenant.
    fleet = await register(platform.admin.email, PASSWORD, customer.id)
    assert fleet[0].tenant_id == customer.id
    # A tenant admin cannot reach into another tenant: the API's 403 is reported.
    with pytest.raises(RegistrationError, match="403"):
        await register(customer.admin.email, PASSWORD, other.id)
    with pytest.raises(RegistrationError, match="INVALID_CREDENTIALS"):
        await register(customer.admin.email, "wrong password", None)
    with pytest.raises(ValueError, match="prefix"):
        Simulation(
            api_url=api_url,
            broker_host="127.0.0.1",
            broker_port=1,
            email="x",
            password="y",
            devices=1,
            rate=1,
            duration=1,
            prefix="no spaces",
        )


@pytest.fixture(scope="module")
async def embedded(app: object, settings: Settings) -> AsyncIterator[Settings]:
    """The `gito up` stack: the embedded broker (MQTT 3.1.1, per-device auth against the
    database) and a processor connected to it with the platform's service credentials."""
    stack = settings.model_copy(
        update={
            "mqtt_broker_port": free_port(),
            "processor_client_id": f"gito-test-sim-embedded-{uuid.uuid4().hex[:8]}",
            "processor_batch_wait_ms": 20,
        }
    )
    broker = await start_embedded_broker(stack)
    creds = service_credentials(stack)
    address = BrokerAddress(
        "127.0.0.1",
        broker.port,
        creds.username,
        creds.password,
        mqtt5=False,
        shared_subscriptions=False,
    )
    pool = await create_app_pool(stack.database_url or "")
    proc = Processor(stack, pool, address)
    stop = asyncio.Event()
    task = asyncio.create_task(proc.run(stop))
    try:
        await asyncio.wait_for(proc.connected.wait(), 10)
        await asyncio.sleep(0.2)
        yield stack
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()
        await broker.stop()


async def test_embedded_broker_authenticates_created_and_rotated_tokens(
    embedded: Settings, api_url: str, factory: Factory, owner_dsn: str
) -> None:
    """On the embedded broker of `gito up` the simulator detects MQTT 3.1.1, and its devices
    get in with their own, current tokens: created on the first run, rotated on the second."""
    tenant = await factory.tenant()
    prefix = _prefix()
    runs: list[SimulationSummary] = []
    for _ in range(2):
        runs.append(
            await run_simulation(
                api_url,
                "127.0.0.1",
                embedded.mqtt_broker_port,
                tenant.admin.email,
                PASSWORD,
                devices=2,
                rate=10,
                duration=1.0,
                prefix=prefix,
                silences=False,
            )
        )
    for run, created in zip(runs, (2, 0), strict=True):
        assert run.mqtt5 is False
        assert run.created == created
        assert run.connected == 2
        assert run.connect_failures == 0
        assert run.published > 0 and run.acknowledged == run.published
    # The broker drops refused publishes silently (3.1.1), so storage proves acceptance.
    total = sum(run.published for run in runs)

    async def all_stored() -> bool:
        stored = await _stored(owner_dsn, tenant.id)
        return sum(len(rows) for rows in stored.values()) == total

    await wait_for(all_stored, timeout=10)
    # And the broker does check: a wrong token is refused.
    async with ApiClient(api_url) as api:
        await api.login(tenant.admin.email, PASSWORD)
        existing = await api.existing(tenant.id, prefix)
    intruder = Client(f"intruder-{uuid.uuid4().hex[:6]}")
    intruder.set_auth_credentials(str(next(iter(existing.values()))), "not-the-token")
    intruder.set_config({"reconnect_retries": -2})
    with pytest.raises(MQTTConnectError, match="not authorised"):
        await asyncio.wait_for(
            intruder.connect("127.0.0.1", embedded.mqtt_broker_port, version=MQTTv311), 5
        )


async def test_demo_fleet_reports_on_the_gito_up_stack(
    embedded: Settings, api_url: str, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    demo_settings = embedded.model_copy(
        update={"gito_admin_email": tenant.admin.email, "gito_admin_password": PASSWORD}
    )
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(demo_settings, api_url, stop))
    try:

        async def every_device_reported() -> bool:
            return len(await _stored(owner_dsn, tenant.id)) == DEMO_DEVICES

        await wait_for(every_device_reported, timeout=15)
    finally:
        stop.set()
        await asyncio.wait_for(demo, 15)
    names = await fetch(owner_dsn, "SELECT name FROM devices WHERE tenant_id = $1", tenant.id)
    assert sorted(r["name"] for r in names) == [
        f"sim-demo-{i:04d}" for i in range(1, DEMO_DEVICES + 1)
    ]
    # Without the admin's credentials the demo says so and does nothing.
    await asyncio.wait_for(run_demo(embedded, api_url, asyncio.Event()), 5)


async def test_command_line_run_prints_a_summary(
    broker: PrivateMosquitto,
    processor: Processor,
    api_url: str,
    factory: Factory,
    owner_dsn: str,
    tmp_path: Path,
) -> None:
    tenant = await factory.tenant()
    env = {
        **os.environ,
        "GITO_ADMIN_EMAIL": tenant.admin.email,
        "GITO_ADMIN_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
    }
    gito = Path(sys.executable).with_name("gito")
    proc = await asyncio.create_subprocess_exec(
        str(gito),
        "simulate",
        "--devices",
        "2",
        "--rate",
        "4",
        "--duration",
        "1",
        "--api-url",
        api_url,
        "--broker-port",
        str(broker.port),
        "--prefix",
        "cli",
        "--no-silences",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "Simulation summary" in text
    assert "devices (created / reused)" in text and "2 (2 / 0)" in text

    async def stored() -> bool:
        return len(await _stored(owner_dsn, tenant.id)) == 2

    await wait_for(stored, timeout=10)

    failed = await asyncio.create_subprocess_exec(
        str(gito),
        "simulate",
        "--api-url",
        api_url,
        "--duration",
        "1",
        env={**env, "GITO_ADMIN_PASSWORD": "wrong"},
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(failed.communicate(), 30)
    assert failed.returncode == 1
    assert "INVALID_CREDENTIALS" in err.decode()


def test_command_line_rejects_bad_options() -> None:
    """In-process: these fail before any logging is configured or connection opened."""
    runner = CliRunner()
    common = ["simulate", "--email", "a@example.com", "--password", "b", "--duration", "1"]
    bad_tenant = runner.invoke(app, [*common, "--tenant", "nope"])
    assert bad_tenant.exit_code == 2
    assert "--tenant must be a tenant id" in bad_tenant.output
    bad_version = runner.invoke(app, [*common, "--mqtt-version", "4"])
    assert bad_version.exit_code == 2
    assert "--mqtt-version must be" in bad_version.output
