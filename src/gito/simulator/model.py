"""What a simulated environmental sensor measures, reading by reading.

A model is a pure function of its seed and the times it is asked at: no clock, no I/O, so
the same seed and the same times give the same readings (tests and reproducible demos).

Each device has a *persona* drawn from its name alone — where it hangs (temperature offset,
amplitude of its daily cycle), how far it is from the gateway (RSSI), how old its battery is —
so `sim-demo-0003` looks like itself on every run. The noise on top comes from the run's
seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, tzinfo

Values = dict[str, float | int]

# The daily cycle peaks mid-afternoon and bottoms out before dawn, like indoor air does.
PEAK_HOUR = 15.0
TEMPERATURE_NOISE_SD = 0.25
HUMIDITY_NOISE_SD = 1.2
# Relative humidity falls as the same air warms: about 2-3 points per degree indoors.
HUMIDITY_PER_DEGREE = 2.5
RSSI_NOISE_SD = 2.5
RSSI_RANGE = (-120, -30)
# A glitching sensor or a door left open: rare, large, one reading long.
SPIKE_PROBABILITY = 0.005
SPIKE_RANGE = (8.0, 15.0)
# Silent periods (a flaky radio, a gateway reboot): on average one every 15 min per device,
# each 20 s to 2 min — long enough to be seen on a chart, short of most offline thresholds.
MEAN_S_BETWEEN_SILENCES = 900.0
SILENCE_RANGE_S = (20.0, 120.0)


@dataclass(frozen=True, slots=True)
class Persona:
    base_temperature: float
    amplitude: float
    base_humidity: float
    battery_start: float
    drain_per_hour: float
    rssi_mean: float

    @classmethod
    def draw(cls, rng: random.Random) -> Persona:
        return cls(
            base_temperature=21.0 + rng.uniform(-3.0, 3.0),
            amplitude=rng.uniform(2.0, 5.0),
            base_humidity=rng.uniform(38.0, 58.0),
            battery_start=rng.uniform(55.0, 100.0),
            drain_per_hour=rng.uniform(0.05, 0.5),
            rssi_mean=rng.uniform(-100.0, -60.0),
        )


class DeviceModel:
    """Readings of one device: `reading(at)` gives the values at `at`, or None while the
    device is in a silent period. Ask with non-decreasing times. `silences=False` keeps the
    device reporting steadily (load tests; a `reboot` command still silences it)."""

    def __init__(
        self, name: str, seed: int | str = 0, *, tz: tzinfo | None = None, silences: bool = True
    ) -> None:
        self.name = name
        # String seeds hash with SHA-512 (not the per-process str hash): stable across runs.
        self.persona = Persona.draw(random.Random(f"persona/{name}"))  # noqa: S311 - not crypto
        self.rng = random.Random(f"{seed}/{name}")  # noqa: S311 - simulation noise
        self.tz = tz
        self.silences = silences
        self.started: datetime | None = None
        self.last: datetime | None = None
        self.silent_until: datetime | None = None
        self.battery = self.persona.battery_start

    def daily_cycle(self, at: datetime) -> float:
        """Temperature deviation from the device's mean at `at`'s local hour, in degrees."""
        local = at.astimezone(self.tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        return self.persona.amplitude * math.cos(2 * math.pi * (hour - PEAK_HOUR) / 24)

    def silence(self, at: datetime, seconds: float) -> None:
        """Stop reporting for `seconds` from `at` (a reboot, a radio dropout)."""
        until = at.timestamp() + seconds
        if self.silent_until is None or self.silent_until.timestamp() < until:
            self.silent_until = datetime.fromtimestamp(until, at.tzinfo)

    def is_silent(self, at: datetime) -> bool:
        return self.silent_until is not None and at < self.silent_until

    def reading(self, at: datetime) -> Values | None:
        if self.started is None:
            self.started = at
        elapsed = 0.0 if self.last is None else max(0.0, (at - self.last).total_seconds())
        self.last = at
        if self.is_silent(at):
            return None
        # Poisson process: the chance that a silence began within the last `elapsed` seconds.
        if self.silences and self.rng.random() < 1 - math.exp(-elapsed / MEAN_S_BETWEEN_SILENCES):
            self.silence(at, self.rng.uniform(*SILENCE_RANGE_S))
            return None
        return self._values(at)

    def _values(self, at: datetime) -> Values:
        p = self.persona
        cycle = self.daily_cycle(at)
        temperature = p.base_temperature + cycle + self.rng.gauss(0, TEMPERATURE_NOISE_SD)
        humidity = (
            p.base_humidity
            - HUMIDITY_PER_DEGREE * (temperature - p.base_temperature)
            + self.rng.gauss(0, HUMIDITY_NOISE_SD)
        )
        if self.rng.random() < SPIKE_PROBABILITY:
            # After humidity: a glitch of the temperature sensor, not of the air.
            temperature += self.rng.choice((-1, 1)) * self.rng.uniform(*SPIKE_RANGE)
        assert self.started is not None
        hours = (at - self.started).total_seconds() / 3600
        # min(): never rises again, even if asked at an earlier time by mistake.
        self.battery = min(self.battery, max(0.0, p.battery_start - p.drain_per_hour * hours))
        rssi = round(p.rssi_mean + self.rng.gauss(0, RSSI_NOISE_SD))
        return {
            "temperature": round(temperature, 2),
            "humidity": round(min(100.0, max(0.0, humidity)), 1),
            "battery": round(self.battery, 2),
            "rssi": min(RSSI_RANGE[1], max(RSSI_RANGE[0], rssi)),
        }
