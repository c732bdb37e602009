"""`gito bench api` machinery with tiny numbers: seed, real `gito api` subprocess, open-loop
generator subprocess, figures. It checks that the figures are sane, not that they are fast
(benchmarks print figures; they are not timed tests)."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import httpx

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
    # Open loop at 20 req/s: completions arrive at about the sending rate.
    assert 15 <= load.achieved_rate <= 25
    assert result.server_cpu_percent is not None and result.server_cpu_percent > 0
    assert result.path == "GET /api/v1/tenants/{t}/devices?per_page=50"
    assert render(result).row_count >= 15


async def test_generator_in_process_counts_every_status(
    app: object, factory: object, settings: Settings
) -> None:
    """The generator records non-200 answers as errors (here: a token of no user → 401)."""
    from gito.auth.security import issue_access_token

    token, _ = issue_access_token(
        settings, user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role="TENANT_ADMIN"
    )
    lines: list[str] = []
    report = await loadgen.generate(
        loadgen.LoadOptions(
            url=f"http://testserver/api/v1/tenants/{uuid.uuid4()}/devices",
            rate=50,
            duration_s=0.4,
            warmup_s=0.1,
            headers={"Authorization": f"Bearer {token}"},
        ),
        emit=lines.append,
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
    )
    assert lines == ["measure-start", "measure-end"]
    assert report.requests == 20
    assert report.ok == 0 and report.errors == 20
    assert report.outcomes == {"401": 20}
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
