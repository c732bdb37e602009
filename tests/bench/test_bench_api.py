"""`gito bench api` machinery with tiny numbers: seed, real `gito api` subprocess, open-loop
generator subprocess, figures. It checks that the figures are sane, not that they are fast
(benchmarks print figures; they are not timed tests)."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

from gito.bench import loadgen, seed
from gito.bench.api import measure, render
from gito.config import Settings


async def test_bench_api_smoke(database_url: str, settings: Settings) -> None:
    result = await asyncio.to_thread(
        measure,
        database_url,
        devices=50,
        rate=20,
        duration_s=2,
        warmup_s=0.5,
        settings=settings,
    )
    load = result.load
    assert load.requests == 40
    assert load.errors == 0, load.outcomes
    assert load.outcomes == {"200": 40}
    lat = load.latency_ms
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    # Open loop: 40 answers over at least the 1.95 s between the first and last due time, so
    # never above the sending rate (a busy CI machine may stretch the span, never shrink it).
    assert 0 < load.achieved_rate <= 40 / 1.95
    assert result.server_cpu_percent is not None and result.server_cpu_percent > 0
    assert result.path == "GET /api/v1/tenants/{t}/devices?per_page=50"
    assert render(result).row_count >= 15


async def test_generator_counts_statuses_timeouts_and_reconnects() -> None:
    """Against a small real HTTP server that answers 200, 503, closes connections and
    sometimes never answers: every request is accounted for, exactly once."""
    received = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                received += 1
                n = received
                if n % 10 == 3:
                    await reader.read()  # never answer; wait until the client gives up
                    return
                status = 503 if n % 5 == 0 else 200
                close = n % 7 == 0
                body = b'{"success": true}'
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n%s\r\n%s"
                    % (status, len(body), b"connection: close\r\n" if close else b"", body)
                )
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lines: list[str] = []
    try:
        report = await loadgen.generate(
            loadgen.LoadOptions(
                url=f"http://127.0.0.1:{port}/api/v1/x?per_page=50",
                rate=100,
                duration_s=0.5,
                warmup_s=0,
                headers={"Authorization": "Bearer t"},
                timeout_s=0.25,
            ),
            emit=lines.append,
        )
    finally:
        server.close()
    assert lines == ["measure-start", "measure-end"]
    assert received == 50
    assert report.outcomes == {"200": 35, "503": 10, "timeout": 5}
    assert report.requests == 50 and report.ok == 35 and report.errors == 15
    assert report.latency_ms["max"] >= 250  # the timed-out ones count at their deadline
    assert loadgen.LoadReport.from_json(report.to_json()) == report


def test_percentiles_are_nearest_rank() -> None:
    samples = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms
    summary = loadgen.summarise(samples)
    assert summary["p50"] == 500
    assert summary["p99"] == 990
    assert summary["p99.9"] == 999
    assert summary["max"] == 1000
    assert loadgen.percentile([], 50) != loadgen.percentile([], 50)  # NaN when empty


def test_seeded_devices_are_valid_and_varied() -> None:
    tenant = uuid.uuid4()
    sites = [uuid.uuid4() for _ in range(5)]
    rows = seed.device_rows(tenant, 500, sites, random.Random(1))
    assert len({r["name"] for r in rows}) == 500
    assert {r["status"] for r in rows} == {"online", "offline", "idle", "error"}
    assert len({r["device_type"] for r in rows}) >= 6
    assert all(r["dev_eui"] is None or re.fullmatch("[0-9a-f]{16}", r["dev_eui"]) for r in rows)
    assert all(r["site_id"] in sites or r["site_id"] is None for r in rows)
    assert any(r["last_seen"] is None for r in rows)
    assert all(r["battery_level"] is None or 0 <= r["battery_level"] <= 100 for r in rows)
