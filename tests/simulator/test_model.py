"""The reading model alone: plausible ranges, the daily cycle, determinism per seed."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from gito.simulator.model import (
    RSSI_RANGE,
    SILENCE_RANGE_S,
    SPIKE_RANGE,
    DeviceModel,
    Values,
)

START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def _series(
    model: DeviceModel, *, hours: float, step_s: float
) -> list[tuple[datetime, Values | None]]:
    out = []
    for i in range(int(hours * 3600 / step_s)):
        at = START + timedelta(seconds=i * step_s)
        out.append((at, model.reading(at)))
    return out


def test_temperature_follows_a_daily_cycle_with_the_persona_amplitude() -> None:
    model = DeviceModel("sim-test-0001", seed=1, tz=UTC, silences=False)
    readings = [(at, v) for at, v in _series(model, hours=24, step_s=300) if v is not None]
    # Hourly means smooth out noise and the rare spike.
    hourly: dict[int, list[float]] = {}
    for at, values in readings:
        hourly.setdefault(at.hour, []).append(float(values["temperature"]))
    means = {hour: statistics.median(v) for hour, v in hourly.items()}
    hottest, coldest = max(means, key=means.__getitem__), min(means, key=means.__getitem__)
    assert 13 <= hottest <= 17
    assert coldest <= 5 or coldest >= 23
    swing = means[hottest] - means[coldest]
    amplitude = model.persona.amplitude
    assert 2 * amplitude * 0.8 < swing < 2 * amplitude * 1.2, (swing, amplitude)
    assert 10 < statistics.mean(means.values()) < 30


def test_humidity_moves_against_temperature() -> None:
    model = DeviceModel("sim-test-0002", seed=1, tz=UTC, silences=False)
    values = [v for _, v in _series(model, hours=24, step_s=300) if v is not None]
    temperature = [float(v["temperature"]) for v in values]
    humidity = [float(v["humidity"]) for v in values]
    assert statistics.correlation(temperature, humidity) < -0.6
    assert all(0 <= h <= 100 for h in humidity)


def test_battery_drains_slowly_and_never_rises_or_goes_negative() -> None:
    model = DeviceModel("sim-test-0003", seed=1, silences=False)
    # A year at one reading an hour: every persona's battery runs flat within it.
    levels = [float(v["battery"]) for _, v in _series(model, hours=365 * 24, step_s=3600) if v]
    assert all(b >= a for a, b in zip(levels[1:], levels, strict=False))
    assert levels[0] <= 100
    assert levels[-1] == 0
    # "Slowly": under half a percent per hour.
    assert levels[0] - levels[24] <= 0.5 * 24 + 0.01
    assert levels[0] - levels[24] > 0


def test_rssi_stays_in_radio_range_around_the_device_mean() -> None:
    model = DeviceModel("sim-test-0004", seed=1, silences=False)
    rssi = [v["rssi"] for _, v in _series(model, hours=6, step_s=30) if v is not None]
    assert all(isinstance(r, int) and RSSI_RANGE[0] <= r <= RSSI_RANGE[1] for r in rssi)
    assert abs(statistics.mean(rssi) - model.persona.rssi_mean) < 1.5
    assert statistics.pstdev(rssi) > 1  # noisy, not a constant


def test_rare_spikes_stand_out_from_the_cycle() -> None:
    model = DeviceModel("sim-test-0005", seed=7, tz=UTC, silences=False)
    spikes = 0
    total = 0
    for at, values in _series(model, hours=48, step_s=10):
        assert values is not None
        total += 1
        expected = model.persona.base_temperature + model.daily_cycle(at)
        if abs(float(values["temperature"]) - expected) >= SPIKE_RANGE[0] - 2:
            spikes += 1
    assert 0 < spikes < total * 0.02, (spikes, total)


def test_silent_periods_come_and_go() -> None:
    model = DeviceModel("sim-test-0006", seed=3)
    series = _series(model, hours=24, step_s=5)
    silent = [at for at, v in series if v is None]
    assert 0 < len(silent) < len(series) * 0.2
    # Group consecutive silent readings into periods; each lasts within the configured range.
    periods: list[list[datetime]] = []
    for at in silent:
        if periods and (at - periods[-1][-1]) <= timedelta(seconds=5):
            periods[-1].append(at)
        else:
            periods.append([at])
    for period in periods:
        assert (period[-1] - period[0]).total_seconds() <= SILENCE_RANGE_S[1]
    assert len(periods) >= 20  # about one every 15 minutes


def test_silence_is_explicit_too() -> None:
    model = DeviceModel("sim-test-0007", seed=1, silences=False)
    assert model.reading(START) is not None
    model.silence(START, 10)
    assert model.reading(START + timedelta(seconds=9)) is None
    assert model.reading(START + timedelta(seconds=10)) is not None


def test_same_seed_same_readings_other_seed_other_noise_same_persona() -> None:
    times = [START + timedelta(seconds=30 * i) for i in range(500)]

    def run(seed: int) -> list[Values | None]:
        model = DeviceModel("sim-test-0008", seed=seed)
        return [model.reading(at) for at in times]

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert DeviceModel("sim-test-0008", 1).persona == DeviceModel("sim-test-0008", 2).persona
    assert DeviceModel("sim-test-0008", 1).persona != DeviceModel("sim-test-0009", 1).persona
