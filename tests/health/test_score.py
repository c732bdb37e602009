"""Each factor of the health score, from data written through the real storage path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.alarms.helpers import make_rule
from tests.api.helpers import data
from tests.factories import Factory
from tests.health.helpers import compute, health, owner_execute, write


def _now() -> datetime:
    return datetime.now(UTC)


async def test_freshness_against_the_expected_interval(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    now = _now()
    fresh, _ = await factory.device(tenant, expected_interval_s=60)
    late, _ = await factory.device(tenant, expected_interval_s=60)
    stale, _ = await factory.device(tenant)  # the 300 s default
    never, _ = await factory.device(tenant, expected_interval_s=60)
    for device, ago in ((fresh, 60), (late, 180), (stale, 1800)):
        await write(owner_dsn, tenant.id, device, [(now - timedelta(seconds=ago), {"t": 1})])

    assert (await compute(owner_dsn, tenant.id, now)).computed == 4

    score, factors = await health(owner_dsn, fresh)
    # 1 interval old: 100. Also 1 accepted message, no rejects, no alarm: all 100.
    assert factors["freshness"]["score"] == 100 and factors["freshness"]["value"] == 60
    assert set(factors) == {"freshness", "rejects", "alarms"} and score == 100
    _, factors = await health(owner_dsn, late)
    # 3 intervals: 100 * (5 - 3) / (5 - 1.5) = 57.1
    assert factors["freshness"]["score"] == 57
    assert factors["freshness"]["detail"]["intervals"] == 3.0
    _, factors = await health(owner_dsn, stale)
    assert factors["freshness"]["score"] == 0  # 6 x 300 s
    assert factors["freshness"]["detail"]["expected_interval_s"] == 300
    score, factors = await health(owner_dsn, never)
    assert factors["freshness"]["score"] == 0 and factors["freshness"]["value"] is None


async def test_missing_factors_redistribute_their_weight(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    now = _now()
    never, _ = await factory.device(tenant)
    late, _ = await factory.device(tenant, expected_interval_s=60)
    await write(
        owner_dsn, tenant.id, late, [(now - timedelta(seconds=180), {"battery": 20, "rssi": -95})]
    )
    await compute(owner_dsn, tenant.id, now)

    score, factors = await health(owner_dsn, never)
    # Only freshness (30, never seen: 0) and alarms (20, none open: 100) apply.
    assert [(f["name"], f["weight"]) for f in factors.values()] == [
        ("freshness", 30),
        ("alarms", 20),
    ]
    assert score == round((0 * 30 + 100 * 20) / 50) == 40

    score, factors = await health(owner_dsn, late)
    weights = {name: f["weight"] for name, f in factors.items()}
    assert weights == {"freshness": 30, "battery": 20, "signal": 15, "rejects": 15, "alarms": 20}
    scores = {name: f["score"] for name, f in factors.items()}
    # freshness 57, battery 20 % = 40, RSSI -95 = 50, no rejects 100, no alarms 100
    assert scores == {"freshness": 57, "battery": 40, "signal": 50, "rejects": 100, "alarms": 100}
    assert score == round((57 * 30 + 40 * 20 + 50 * 15 + 100 * 15 + 100 * 20) / 100) == 68


async def test_battery_level_and_drain(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    t0 = _now()
    full, _ = await factory.device(tenant)
    low, _ = await factory.device(tenant)
    draining, _ = await factory.device(tenant)
    steady, _ = await factory.device(tenant)
    for device, level in ((full, 80), (low, 20), (draining, 80), (steady, 80)):
        await write(owner_dsn, tenant.id, device, [(t0, {"battery": level})])
    await compute(owner_dsn, tenant.id, t0)
    assert (await health(owner_dsn, full))[1]["battery"]["score"] == 100
    assert (await health(owner_dsn, low))[1]["battery"]["score"] == 40  # 20 % x 2
    # No reference reading yet: no trend.
    assert (await health(owner_dsn, draining))[1]["battery"]["detail"]["drain_per_day"] is None

    # 12 h later: the marks roll, the reading of t0 is the reference.
    t1 = t0 + timedelta(hours=12)
    await write(owner_dsn, tenant.id, draining, [(t1, {"battery": 60})])
    await write(owner_dsn, tenant.id, steady, [(t1, {"battery": 79})])
    await compute(owner_dsn, tenant.id, t1)
    _, factors = await health(owner_dsn, draining)
    battery = factors["battery"]
    # 20 points in half a day: 40 %/day, empty in 1.5 days: penalty 50 x (1 - 1.5/7) = 39.
    assert battery["value"] == 60
    assert battery["detail"]["drain_per_day"] == 40.0
    assert battery["detail"]["days_left"] == 1.5
    assert battery["detail"]["trend_penalty"] == 39
    assert battery["detail"]["reference"] == 80
    assert battery["score"] == 100 - 39
    _, factors = await health(owner_dsn, steady)
    # 2 %/day: 39.5 days left, no penalty.
    assert factors["battery"]["detail"]["trend_penalty"] == 0
    assert factors["battery"]["score"] == 100


async def test_signal_is_the_worse_of_rssi_and_snr(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    now = _now()
    weak, _ = await factory.device(tenant)
    noisy, _ = await factory.device(tenant)
    strong, _ = await factory.device(tenant)
    odd, _ = await factory.device(tenant)
    await write(owner_dsn, tenant.id, weak, [(now, {"rssi": -110, "snr": 0})])
    await write(owner_dsn, tenant.id, noisy, [(now, {"snr": -10})])
    await write(owner_dsn, tenant.id, strong, [(now, {"rssi": -40})])
    await write(owner_dsn, tenant.id, odd, [(now, {"rssi": "n/a"})])
    # The latest value counts: an older reading of the same key does not.
    await write(owner_dsn, tenant.id, strong, [(now - timedelta(minutes=1), {"rssi": -119})])
    await compute(owner_dsn, tenant.id, now)

    signal = (await health(owner_dsn, weak))[1]["signal"]
    # RSSI -110: 100 x 10/50 = 20; SNR 0: 100 x 15/20 = 75; the worse one counts.
    assert signal["score"] == 20 and signal["value"] == -110
    assert signal["detail"]["limited_by"] == "rssi" and signal["detail"]["snr_score"] == 75
    signal = (await health(owner_dsn, noisy))[1]["signal"]
    assert signal["score"] == 25 and signal["value"] == -10
    assert signal["detail"]["limited_by"] == "snr" and signal["detail"]["rssi"] is None
    assert (await health(owner_dsn, strong))[1]["signal"]["score"] == 100
    assert "signal" not in (await health(owner_dsn, odd))[1]


async def test_rejected_messages_in_the_window(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    other = await factory.tenant()
    now = _now()
    some, _ = await factory.device(tenant)
    many, _ = await factory.device(tenant)
    clean, _ = await factory.device(tenant)
    # 9 accepted + 1 rejected; 8 + 2; 4 + 0 (timestamps distinct, each its own message).
    for device, good, bad in ((some, 9, 1), (many, 8, 2), (clean, 4, 0)):
        readings = [(now - timedelta(seconds=s), {"t": s}) for s in range(good)]
        await write(owner_dsn, tenant.id, device, readings, rejected=bad)
    # A dead letter claiming `clean` under another tenant counts nowhere.
    await write(owner_dsn, other.id, clean, [], rejected=3)
    counters = await owner_execute(
        owner_dsn,
        "SELECT id, messages_accepted FROM devices WHERE id = ANY($1)",
        [some, many, clean],
    )
    assert {r["id"]: r["messages_accepted"] for r in counters} == {some: 9, many: 8, clean: 4}

    await compute(owner_dsn, tenant.id, now)
    rejects = (await health(owner_dsn, some))[1]["rejects"]
    assert rejects["value"] == 0.1 and rejects["score"] == 50  # 10 % of 20 %
    assert rejects["detail"]["accepted"] == 9 and rejects["detail"]["rejected"] == 1
    assert (await health(owner_dsn, many))[1]["rejects"]["score"] == 0  # 20 %
    rejects = (await health(owner_dsn, clean))[1]["rejects"]
    assert rejects["score"] == 100 and rejects["detail"]["rejected"] == 0

    # The window rolls every 12 h: after 12 h the window starts at the first computation
    # (everything above still counts); after 24 h at the second, so it is empty.
    await compute(owner_dsn, tenant.id, now + timedelta(hours=12))
    assert (await health(owner_dsn, some))[1]["rejects"]["detail"]["rejected"] == 1
    await write(owner_dsn, tenant.id, many, [(now + timedelta(hours=13), {"t": 1})])
    await compute(owner_dsn, tenant.id, now + timedelta(hours=24))
    assert "rejects" not in (await health(owner_dsn, some))[1]
    rejects = (await health(owner_dsn, many))[1]["rejects"]
    assert (rejects["detail"]["accepted"], rejects["detail"]["rejected"]) == (1, 0)


async def test_worst_open_alarm_counts(
    factory: Factory, owner_dsn: str, client: httpx.AsyncClient
) -> None:
    tenant = await factory.tenant()
    now = _now()
    critical, _ = await factory.device(tenant)
    minor, _ = await factory.device(tenant)
    for device, severity in ((critical, "CRITICAL"), (critical, "WARNING"), (minor, "MINOR")):
        await make_rule(
            client,
            tenant,
            device_id=str(device),
            severity=severity,
            condition={"field": "temperature", "operator": ">", "value": 50},
        )
    for device in (critical, minor):
        await write(owner_dsn, tenant.id, device, [(now, {"temperature": 60})])
    await compute(owner_dsn, tenant.id, now)

    score, factors = await health(owner_dsn, critical)
    alarms = factors["alarms"]
    assert alarms["score"] == 0 and alarms["value"] == "CRITICAL"
    assert alarms["detail"] == {"CRITICAL": 1, "MAJOR": 0, "MINOR": 0, "WARNING": 1}
    # freshness 100 (30), rejects 100 (15), alarms 0 (20)
    assert score == round(45 * 100 / 65) == 69
    alarms = (await health(owner_dsn, minor))[1]["alarms"]
    assert alarms["score"] == 70 and alarms["value"] == "MINOR"

    # Cleared alarms no longer count.
    listed = data(
        await client.get(
            tenant.url(f"/alarms?device_id={critical}&per_page=100"), headers=tenant.admin.headers
        )
    )
    assert len(listed) == 2
    for alarm in listed:
        response = await client.post(
            tenant.url(f"/alarms/{alarm['id']}/clear"), json={}, headers=tenant.admin.headers
        )
        assert response.status_code == 200, response.text
    await compute(owner_dsn, tenant.id, now)
    alarms = (await health(owner_dsn, critical))[1]["alarms"]
    assert alarms["score"] == 100 and alarms["value"] is None


async def test_deleted_device_takes_its_health_with_it(factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    await compute(owner_dsn, tenant.id, _now())
    await owner_execute(owner_dsn, "DELETE FROM devices WHERE id = $1", device)
    rows = await owner_execute(
        owner_dsn, "SELECT 1 FROM device_health WHERE device_id = $1", device
    )
    assert rows == []
