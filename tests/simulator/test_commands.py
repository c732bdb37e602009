"""The device side of commands (DESIGN §4), without a broker: what a device answers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gito.simulator.device import Counters, SimulatedDevice
from gito.simulator.model import DeviceModel
from gito.simulator.registry import SimDevice

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def device() -> SimulatedDevice:
    sim = SimDevice(0, "sim-cmd-0001", uuid.uuid4(), uuid.uuid4(), "token", created=True)
    model = DeviceModel(sim.name, seed=1, silences=False)
    return SimulatedDevice(sim, model, Counters(), interval_s=2.0, first_due=time.monotonic())


def _command(**body: object) -> bytes:
    return orjson.dumps(body)


def test_reboot_answers_and_silences_the_device(device: SimulatedDevice) -> None:
    response = device.execute(_command(id="c1", name="reboot"), NOW)
    assert response is not None
    assert response["id"] == "c1"
    assert response["status"] == "SUCCESSFUL"
    assert response["result"]["silent_s"] == 5.0
    assert device.model.reading(NOW + timedelta(seconds=4)) is None
    assert device.model.reading(NOW + timedelta(seconds=6)) is not None


def test_set_interval_changes_the_reporting_interval(device: SimulatedDevice) -> None:
    due = device.next_due
    response = device.execute(
        _command(id="c2", name="set_interval", params={"interval_s": 10}), NOW
    )
    assert response == {
        "id": "c2",
        "status": "SUCCESSFUL",
        "result": {"interval_s": 10.0, "previous_interval_s": 2.0},
    }
    assert device.interval_s == 10.0
    assert device.next_due == pytest.approx(due + 8.0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "self_destruct"}, "unknown command 'self_destruct'"),
        ({}, "unknown command None"),
        ({"name": "set_interval", "params": {"interval_s": "fast"}}, "interval_s must be"),
        ({"name": "set_interval", "params": {"interval_s": 0}}, "interval_s must be"),
        ({"name": "set_interval", "params": {"interval_s": True}}, "interval_s must be"),
        ({"name": "set_interval"}, "interval_s must be"),
        ({"name": "reboot", "params": {"duration_s": -1}}, "duration_s must be"),
        ({"name": "reboot", "params": [1]}, "params must be an object"),
    ],
)
def test_bad_commands_fail_with_a_reason(
    device: SimulatedDevice, body: dict[str, object], reason: str
) -> None:
    response = device.execute(_command(id=7, **body), NOW)
    assert response is not None
    assert response["id"] == 7
    assert response["status"] == "FAILED"
    assert response["result"]["reason"].startswith(reason)
    assert device.interval_s == 2.0


def test_a_redelivered_command_is_answered_again_but_not_run_twice(
    device: SimulatedDevice,
) -> None:
    body = _command(id="c3", name="set_interval", params={"interval_s": 4})
    first = device.execute(body, NOW)
    device.interval_s = 3.0  # would be overwritten if the command ran again
    assert device.execute(body, NOW) == first
    assert device.interval_s == 3.0


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1, 2]", b'{"name": "reboot"}', b'{"id": null}', b'{"id": true}']
)
def test_messages_without_an_id_get_no_answer(device: SimulatedDevice, payload: bytes) -> None:
    assert device.execute(payload, NOW) is None
