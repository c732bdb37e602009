"""`gito bench ingest`: MQTT → processor → PostgreSQL, measured end to end.

Every part is a real process: Mosquitto (a private one on a free port unless
`MQTT_BROKER_HOST` is set), the processor (`gito processor` as a subprocess, so its peak RSS
is its own), publisher processes (gmqtt, QoS 1) and PostgreSQL (a scratch database on
`DATABASE_URL`'s server, or an embedded one). Each message is
`{"ts": <publish time, µs>, "values": {"temperature", "humidity", "battery", "rssi", "seq"}}`.

Figures:
- sustained msg/s: messages / (last row committed - first publish);
- publish→stored latency: the processor NOTIFYs live events inside each batch transaction,
  so an event arrives when its row committed; latency = arrival - the `ts` the publisher
  put in (the same clock, one machine);
- lost = published - stored; duplicates = stored rows - distinct `seq`;
- processor peak RSS (`VmHWM`) and its RSS once connected, before the first message (the
  cost of its imports and pools; the difference is what the flood added), bytes of
  table + index per stored metric value.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from gito.bench import create_bench_tenant, role_env
from gito.bench.api import scratch_database
from gito.bench.loadgen import percentile
from gito.bench.mosquitto import private_mosquitto
from gito.config import Settings
from gito.db import migrations
from gito.db.rawpool import asyncpg_dsn
from gito.events.bus import PG_CHANNEL

# temperature, humidity, battery, rssi and seq (the bench marker is a stored value too)
METRICS_PER_MESSAGE = 5
# A publisher waits above this many messages the broker has not acknowledged yet: gmqtt has
# 65,535 packet ids, and a full-speed publisher ran out of them (and died, its messages
# counted as lost) whenever the broker fell a few seconds behind on a busy machine.
MAX_UNACKED = 20_000


@dataclass
class IngestResult:
    messages: int
    devices: int
    publishers: int
    rate_target: float | None
    publish_seconds: float
    stored_rows: int
    distinct_seq: int
    sustained_msg_s: float
    latencies_ms: list[float]
    processor_peak_rss_mb: float
    processor_cpu_s: float
    bytes_per_metric: float
    rules: int = 0
    alarms_raised: int = 0
    processor_idle_rss_mb: float = 0.0

    @property
    def lost(self) -> int:
        return self.messages - self.distinct_seq

    @property
    def duplicates(self) -> int:
        return self.stored_rows - self.distinct_seq


def _publisher(
    port: int,
    tenant: str,
    devices: list[str],
    first_seq: int,
    count: int,
    rate: float | None,
    ready: Any,
    go: Any,
) -> None:
    """One publisher process: `count` messages round-robin over `devices`, QoS 1, waiting
    for every PUBACK before it exits."""
    from gmqtt import Client
    from gmqtt.mqtt.constants import MQTTv50

    async def main() -> None:
        client = Client(f"bench-pub-{uuid.uuid4().hex[:8]}")
        await client.connect("127.0.0.1", port, version=MQTTv50)
        topics = [f"{tenant}/devices/{d}/telemetry" for d in devices]
        unacked = client._persistent_storage._messages
        ready.set()
        go.wait()
        started = time.perf_counter()
        last_ts = 0.0
        for i in range(count):
            seq = first_seq + i
            now = time.time()
            # Strictly increasing per publisher: two messages of one device never share a ts.
            last_ts = max(now, last_ts + 1e-6)
            payload = orjson.dumps(
                {
                    "ts": datetime.fromtimestamp(last_ts, UTC).isoformat(),
                    "values": {
                        "temperature": 20 + (seq % 100) / 10,
                        "humidity": 40 + (seq % 37),
                        "battery": 100 - (seq % 50) / 10,
                        "rssi": -60 - (seq % 30),
                        "seq": seq,
                    },
                }
            )
            client.publish(topics[i % len(topics)], payload, qos=1)
            while len(unacked) >= MAX_UNACKED:  # noqa: ASYNC110 (gmqtt raises past 65,535)
                await asyncio.sleep(0.001)
            if rate:
                delay = started + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 200 == 0:
                await asyncio.sleep(0)  # let PUBACKs in
        # Every QoS 1 message acknowledged (gmqtt keeps unacknowledged ones in this storage).
        while not client._persistent_storage.is_empty:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await client.disconnect()

    asyncio.run(main())


@contextlib.contextmanager
def _processor(
    settings: Settings, database_url: str, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    env = role_env(
        database_url,
        port,
        settings.processor_batch_wait_ms,
        PROCESSOR_BATCH_SIZE=str(settings.processor_batch_size),
    )
    proc = subprocess.Popen([sys.executable, "-m", "gito.cli", "processor"], env=env)
    spy: subprocess.Popen[bytes] | None = None
    try:
        profile = os.environ.get("GITO_BENCH_PROFILE")
        if profile:  # where the processor's time goes: py-spy attached for the whole run
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            fmt = "speedscope" if profile.endswith(".json") else "flamegraph"
            record = [py_spy, "record", "--pid", str(proc.pid), "--format", fmt, "-o", profile]
            spy = subprocess.Popen(record)  # noqa: S603 (py-spy from PATH or the venv)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if spy is not None:  # it writes the profile once the processor has exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(30)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far (/proc/<pid>/stat, clock ticks)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def _status_mb(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS now, VmHWM the peak), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


# Fields of the bench messages, and some of other device kinds that the bench never sends.
_BENCH_RULES: tuple[tuple[str, dict[str, Any], list[dict[str, Any]]], ...] = (
    ("temperature", {"operator": ">", "value": 45}, [{"operator": ">", "value": 60}]),
    ("humidity", {"operator": "outside", "value": [10, 95]}, []),
    ("battery", {"operator": "<", "value": 5}, [{"operator": "<", "value": 2}]),
    ("rssi", {"operator": "<", "value": -110}, []),
)
_OTHER_RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("pressure", {"operator": ">", "value": 1100}),
    ("co2", {"operator": ">=", "value": 1500}),
    ("vibration", {"operator": "between", "value": [5, 50]}),
    ("door_open", {"operator": "==", "value": True}),
    ("state", {"operator": "==", "value": "fault"}),
)
_RULE_INSERT = """
INSERT INTO alert_rules (id, tenant_id, name, field, thresholds, clear_condition, severity,
  duration_s, device_id, device_type)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10)
"""


def bench_rules(tenant: uuid.UUID, devices: list[uuid.UUID], count: int) -> list[tuple[Any, ...]]:
    """`count` realistic rules: one in ten on the bench's fields (mostly per device, some per
    device type; one in 25 of those breaches about half the time, so alarms are raised,
    counted and cleared during the run), the rest on fields of other device kinds."""
    rules: list[tuple[Any, ...]] = []
    for i in range(count):
        device: uuid.UUID | None = devices[(i // 10) % len(devices)]
        device_type: str | None = None
        clear: dict[str, Any] | None = None
        escalation: list[dict[str, Any]] = []
        duration = 0
        if i % 10 == 0:
            field, condition, escalation = _BENCH_RULES[(i // 10) % len(_BENCH_RULES)]
            if (i // 10) % 5 == 4:
                device, device_type = None, "bench-sensor"
            if (i // 10) % 25 == 0:  # breaches: temperature runs 20..29.9
                field, condition, escalation = "temperature", {"operator": ">", "value": 25}, []
                clear = {"field": field, "operator": "<", "value": 22}
            if field == "rssi":
                duration = 300
        else:
            field, condition = _OTHER_RULES[i % len(_OTHER_RULES)]
            if i % 3 == 0:
                device, device_type = None, ("hvac", "meter", "door")[i % 3]
        thresholds = [{**condition, "severity": "MAJOR"}]
        thresholds += [{**e, "severity": "CRITICAL"} for e in escalation]
        rules.append(
            (
                uuid.uuid4(),
                tenant,
                f"bench-rule-{i:05d}",
                field,
                orjson.dumps(thresholds).decode(),
                orjson.dumps(clear).decode() if clear else None,
                "MAJOR",
                duration,
                device,
                device_type,
            )
        )
    return rules


async def _seed(dsn: str, devices: int, rules: int = 0) -> tuple[uuid.UUID, list[uuid.UUID]]:
    conn = await asyncpg.connect(dsn, server_settings={"role": "gito_app"})
    try:
        async with conn.transaction():
            tenant = await create_bench_tenant(conn, "bench-ingest")
            ids = [uuid.uuid4() for _ in range(devices)]
            await conn.executemany(
                "INSERT INTO devices (id, tenant_id, name, device_type) "
                "VALUES ($1, $2, $3, 'bench-sensor')",
                [(d, tenant, f"bench-{i:05d}") for i, d in enumerate(ids)],
            )
            if rules:
                await conn.executemany(_RULE_INSERT, bench_rules(tenant, ids, rules))
        return tenant, ids
    finally:
        await conn.close()


async def _measure(
    settings: Settings,
    database_url: str,
    port: int,
    messages: int,
    devices: int,
    publishers: int,
    rate: float | None,
    rules: int = 0,
) -> IngestResult:
    owner = asyncpg_dsn(database_url)
    tenant, device_ids = await _seed(owner, devices, rules)
    latencies: list[float] = []

    def on_event(_c: Any, _pid: int, _channel: str, payload: str) -> None:
        arrived = time.time()
        message = orjson.loads(payload)
        for event in message["e"]:
            if event["type"] == "telemetry":
                sent = datetime.fromisoformat(event["ts"]).timestamp()
                latencies.append((arrived - sent) * 1000)

    listener = await asyncpg.connect(owner)
    await listener.add_listener(PG_CHANNEL, on_event)
    watcher = await asyncpg.connect(owner)
    with _processor(settings, database_url, port) as processor:
        await asyncio.sleep(2.0)  # connected and subscribed
        idle_rss = _status_mb(processor.pid, "VmRSS")
        ctx = multiprocessing.get_context("spawn")
        go = ctx.Event()
        share = messages // publishers
        procs, readies = [], []
        for p in range(publishers):
            ready = ctx.Event()
            mine = [str(d) for d in device_ids[p::publishers]]
            count = share if p < publishers - 1 else messages - share * (publishers - 1)
            proc = ctx.Process(
                target=_publisher,
                args=(
                    port,
                    str(tenant),
                    mine,
                    p * share,
                    count,
                    rate / publishers if rate else None,
                    ready,
                    go,
                ),
            )
            proc.start()
            procs.append(proc)
            readies.append(ready)
        for ready in readies:
            await asyncio.to_thread(ready.wait, 30)
        cpu_before = _cpu_seconds(processor.pid)
        started = time.time()
        go.set()
        for proc in procs:
            await asyncio.to_thread(proc.join)
        publish_seconds = time.time() - started
        stored, stalled_since, last = 0, time.time(), -1
        while stored < messages and time.time() - stalled_since < 30:
            stored = await watcher.fetchval(
                "SELECT count(*) FROM telemetry WHERE tenant_id = $1", tenant
            )
            if stored != last:
                last, stalled_since, finished = stored, time.time(), time.time()
            await asyncio.sleep(0.02)
        peak_rss = _peak_rss_mb(processor.pid)
        cpu_used = _cpu_seconds(processor.pid) - cpu_before
    await asyncio.sleep(0.5)  # last NOTIFYs
    distinct_seq = await watcher.fetchval(
        "SELECT count(DISTINCT (values->>'seq')::bigint) FROM telemetry WHERE tenant_id = $1",
        tenant,
    )
    total_rows = await watcher.fetchval("SELECT count(*) FROM telemetry")
    alarms_raised = await watcher.fetchval("SELECT count(*) FROM alarms")
    size = await watcher.fetchval(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass"
    )
    await listener.close()
    await watcher.close()
    return IngestResult(
        messages=messages,
        devices=devices,
        publishers=publishers,
        rate_target=rate,
        publish_seconds=publish_seconds,
        stored_rows=stored,
        distinct_seq=distinct_seq,
        sustained_msg_s=stored / max(finished - started, 1e-9),
        latencies_ms=sorted(latencies),
        processor_peak_rss_mb=peak_rss,
        processor_cpu_s=cpu_used,
        bytes_per_metric=size / max(total_rows * METRICS_PER_MESSAGE, 1),
        rules=rules,
        alarms_raised=alarms_raised,
        processor_idle_rss_mb=idle_rss,
    )


def run_ingest(
    settings: Settings,
    *,
    messages: int,
    devices: int,
    publishers: int,
    rate: float | None,
    rules: int = 0,
) -> IngestResult:
    with scratch_database(settings.database_url) as database_url:
        migrations.upgrade(database_url)
        if settings.mqtt_broker_host:
            return asyncio.run(
                _measure(
                    settings,
                    database_url,
                    settings.mqtt_broker_port,
                    messages,
                    devices,
                    publishers,
                    rate,
                    rules,
                )
            )
        with private_mosquitto() as broker:
            return asyncio.run(
                _measure(
                    settings, database_url, broker.port, messages, devices, publishers, rate, rules
                )
            )


def render(result: IngestResult) -> str:
    lat = result.latencies_ms
    p50 = percentile(lat, 50) if lat else float("nan")
    p99 = percentile(lat, 99) if lat else float("nan")
    pace = f"paced at {result.rate_target:.0f} msg/s" if result.rate_target else "full speed"
    offered = result.messages / max(result.publish_seconds, 1e-9)
    lines = [
        f"messages published      {result.messages} over {result.devices} devices by "
        f"{result.publishers} publisher(s), QoS 1, {pace}",
        f"publish duration        {result.publish_seconds:.2f} s ({offered:.0f} msg/s offered)",
        f"sustained to storage    {result.sustained_msg_s:.0f} msg/s",
        f"publish->stored latency p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(lat)} samples)",
        f"lost                    {result.lost}",
        f"duplicates              {result.duplicates}",
        f"processor peak RSS      {result.processor_peak_rss_mb:.1f} MB "
        f"({result.processor_idle_rss_mb:.1f} MB connected, before the first message)",
        f"processor CPU           {result.processor_cpu_s:.2f} s = "
        f"{result.stored_rows / max(result.processor_cpu_s, 1e-9):.0f} msg per CPU-second",
        f"storage                 {result.bytes_per_metric:.1f} bytes of table+index per metric",
        f"alert rules             {result.rules} enabled, {result.alarms_raised} alarms raised",
    ]
    return "\n".join(lines)
