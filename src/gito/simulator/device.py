"""One simulated device on the broker: its own MQTT connection and credentials, telemetry on a
schedule, and answers to commands (DESIGN §4).

Connection handling is done here rather than by gmqtt's automatic reconnect: a reconnect
gmqtt has scheduled runs even after `disconnect()` (see `gito.broker.dynsec`), and it does
not fit a run that must end on time. The session is persistent (clean start off, expiry one
hour), as a real device would keep it: commands sent while it was away are delivered when it
returns, and telemetry the broker had not acknowledged is sent again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

import orjson
import structlog
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.storage import PersistentStorage

from gito.simulator.model import DeviceModel
from gito.simulator.registry import SimDevice

log = structlog.get_logger("gito.simulator")

# gmqtt logs every connection event of every client, and an error on each lost connection
# (its own reconnect being disabled); with hundreds of devices that drowns the console. The
# simulator logs connection events itself.
GMQTT_LOG = logging.getLogger("gito.simulator.gmqtt")
GMQTT_LOG.setLevel(logging.CRITICAL)

MqttVersion = Literal["auto", "5", "3.1.1"]

# The broker keeps a device's session (subscription, queued commands) this long while the
# device is away — long enough for a restart of the simulator, short enough that abandoned
# simulated devices do not pile up on a broker (MQTT 5 only; 3.1.1 has no expiry).
SESSION_EXPIRY_S = 3600
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 10.0
RECONNECT_DELAY_S = (0.5, 15.0)  # first retry, cap of the exponential backoff
# A reboot command silences the device this long unless its params say otherwise.
REBOOT_SILENCE_S = 5.0
MAX_REBOOT_SILENCE_S = 600.0
INTERVAL_RANGE_S = (0.05, 86_400.0)
# Reports late by up to this much are still sent (catching up); later ones are skipped.
CATCH_UP_S = 1.0
# Command ids remembered to answer a redelivered command again without running it twice.
ANSWERED_CACHE = 256


@dataclass
class Counters:
    """Totals over the whole fleet, for the run's summary."""

    published: int = 0  # telemetry messages handed to the broker
    acknowledged: int = 0  # of those, acknowledged by the broker (PUBACK)
    dropped: int = 0  # unacknowledged when the broker had lost the session: gone
    offline_readings: int = 0  # readings due while the device was disconnected: not sent
    silent_readings: int = 0  # readings not sent because the device was in a silent period
    responses: int = 0  # command responses published
    commands: int = 0  # commands received (duplicates included)
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class CountingStorage(PersistentStorage):  # type: ignore[misc]
    """gmqtt's store of unacknowledged QoS 1 messages, counting the acknowledgements of
    telemetry. gmqtt removes a message from this store when its PUBACK arrives, and clears the
    store when the broker did not resume the session (those messages are lost)."""

    def __init__(self, counters: Counters) -> None:
        super().__init__()
        self.counters = counters
        self.telemetry: set[int] = set()
        self.next_is_telemetry = False

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)
        if self.next_is_telemetry:
            self.telemetry.add(mid)

    def remove_message_by_mid(self, mid: int) -> None:
        if mid in self.telemetry:
            self.telemetry.discard(mid)
            self.counters.acknowledged += 1
        super().remove_message_by_mid(mid)

    def clear(self) -> None:
        self.counters.dropped += len(self.telemetry)
        self.telemetry.clear()
        super().clear()

    @property
    def in_flight(self) -> int:
        return len(self.telemetry)


def _utf8(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


async def speaks_mqtt5(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether the broker accepts MQTT 5, from one anonymous CONNECT and its CONNACK.

    gmqtt falls back to 3.1.1 only through its automatic reconnect, which the simulator does
    not use; hence this probe, once per run. An MQTT 5 broker answers with an MQTT 5 CONNACK,
    whose variable header is longer than 3.1.1's two bytes (it carries properties) — so the
    length tells, whatever the reason code (an anonymous probe may well be refused).
    amqtt (the embedded broker of `gito up`, 3.1.1 only) parses the CONNECT as 3.1.1; the
    empty property list reads as an empty client id there, the packet parses, and it
    answers "unacceptable protocol version" at once. A broker that does not answer within
    `timeout_s` is taken for 3.1.1, which every broker speaks."""
    client_id = f"gito-sim-probe-{uuid.uuid4().hex[:12]}".encode()
    # Protocol name, level 5, flags (clean start only), keep-alive 10 s, no properties.
    body = _utf8(b"MQTT") + bytes([5, 0x02]) + struct.pack("!H", 10) + b"\x00" + _utf8(client_id)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(b"\x10" + bytes([len(body)]) + body)
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(2), timeout_s)
        mqtt5 = header[0] == 0x20 and header[1] > 2
        if mqtt5:
            writer.write(b"\xe0\x00")  # DISCONNECT, normal
            await writer.drain()
        return mqtt5
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class SimulatedDevice:
    def __init__(
        self,
        device: SimDevice,
        model: DeviceModel,
        counters: Counters,
        *,
        interval_s: float,
        first_due: float,
    ) -> None:
        self.device = device
        self.model = model
        self.counters = counters
        self.interval_s = interval_s
        # Monotonic time of the first report; later reports keep this phase, so a fleet's
        # reports stay spread evenly over each interval.
        self.next_due = first_due
        self.telemetry_topic = f"{device.topic_prefix}/telemetry"
        self.commands_topic = f"{device.topic_prefix}/commands"
        self.response_topic = f"{device.topic_prefix}/commands/response"
        self.storage = CountingStorage(counters)
        self.client = Client(
            f"gito-sim-{device.id}",
            clean_session=False,
            session_expiry_interval=SESSION_EXPIRY_S,
            persistent_storage=self.storage,
            logger=GMQTT_LOG,
        )
        self.client.set_auth_credentials(str(device.id), device.token)
        # gmqtt: -1 = forever, n >= 0 allows n + 1 attempts, below -1 none.
        self.client.set_config({"reconnect_retries": -2})
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self.ever_connected = False
        self._answered: OrderedDict[Any, dict[str, Any]] = OrderedDict()

    # -- MQTT callbacks -------------------------------------------------------------------

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        self._lost.clear()
        self.connected.set()
        client.subscribe(self.commands_topic, qos=1)

    def _on_subscribe(self, client: Client, mid: int, qos: Any, properties: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client: Client, packet: Any, exc: Exception | None = None) -> None:
        if self.connected.is_set():
            log.warning("simulated device disconnected", device=self.device.name)
        self.connected.clear()
        self.subscribed.clear()
        self._lost.set()

    def _on_message(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        if topic == self.commands_topic:
            self.counters.commands += 1
            response = self.execute(payload, datetime.now(UTC))
            if response is not None and self.connected.is_set():
                self.client.publish(self.response_topic, orjson.dumps(response), qos=1)
                self.counters.responses += 1
        return 0

    # -- commands ---------------------------------------------------------------------------

    def execute(self, payload: bytes, now: datetime) -> dict[str, Any] | None:
        """The response to a command message (DESIGN §4), or None when it has no id to
        answer to. A redelivered command (QoS 1 is at-least-once) gets its first answer
        again and is not run twice."""
        try:
            command = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("command is not JSON; ignored", device=self.device.name)
            return None
        command_id = command.get("id") if isinstance(command, dict) else None
        if not isinstance(command_id, str | int) or isinstance(command_id, bool):
            log.warning("command without an id; ignored", device=self.device.name)
            return None
        if command_id in self._answered:
            return self._answered[command_id]
        name, params = command.get("name"), command.get("params") or {}
        if not isinstance(params, dict):
            outcome = _failed("params must be an object")
        elif name == "reboot":
            outcome = self._reboot(params, now)
        elif name == "set_interval":
            outcome = self._set_interval(params)
        else:
            outcome = _failed(f"unknown command {name!r}")
        response = {"id": command_id, **outcome}
        self._answered[command_id] = response
        if len(self._answered) > ANSWERED_CACHE:
            self._answered.popitem(last=False)
        log.info("command answered", device=self.device.name, command=name, **outcome)
        return response

    def _reboot(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        seconds = params.get("duration_s", REBOOT_SILENCE_S)
        if not _number(seconds) or not 0 <= seconds <= MAX_REBOOT_SILENCE_S:
            return _failed(f"duration_s must be a number from 0 to {MAX_REBOOT_SILENCE_S:g}")
        self.model.silence(now, seconds)
        return _succeeded({"rebooted_at": now.isoformat(), "silent_s": seconds})

    def _set_interval(self, params: dict[str, Any]) -> dict[str, Any]:
        low, high = INTERVAL_RANGE_S
        interval = params.get("interval_s")
        if not _number(interval) or not low <= interval <= high:
            return _failed(f"interval_s must be a number from {low:g} to {high:g}")
        previous, self.interval_s = self.interval_s, float(interval)
        # The next report comes one new interval after the previous one.
        self.next_due += self.interval_s - previous
        self._wake.set()
        return _succeeded({"interval_s": self.interval_s, "previous_interval_s": previous})

    # -- running ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, mqtt5: bool, host: str, port: int) -> None:
        publisher = asyncio.create_task(self._publish_loop(stop))
        try:
            await self._connection_loop(stop, mqtt5=mqtt5, host=host, port=port)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher

    async def _connection_loop(
        self, stop: asyncio.Event, *, mqtt5: bool, host: str, port: int
    ) -> None:
        delay = RECONNECT_DELAY_S[0]
        while not stop.is_set():
            attempt = asyncio.ensure_future(
                asyncio.wait_for(
                    self.client.connect(
                        host, port, version=MQTTv50 if mqtt5 else MQTTv311, keepalive=KEEPALIVE_S
                    ),
                    CONNECT_TIMEOUT_S,
                )
            )
            await _first(stop.wait(), attempt)
            if stop.is_set() and not self.connected.is_set():
                # Ended while connecting: close what the attempt may have opened.
                await self._close_socket()
                return
            error = None if attempt.cancelled() else attempt.exception()
            if error is not None:
                self.counters.connect_failures += 1
                log.warning(
                    "simulated device could not connect; retrying",
                    device=self.device.name,
                    error=repr(error),
                    retry_in_s=delay,
                )
                if isinstance(error, TimeoutError):
                    # Half open (no CONNACK yet). Refused connections are closed already,
                    # and gmqtt warns about a DISCONNECT written to a closed socket.
                    await self._close_socket()
                await _wait(stop, delay)
                delay = min(delay * 2, RECONNECT_DELAY_S[1])
                continue
            delay = RECONNECT_DELAY_S[0]
            self.counters.connects += 1
            if self.ever_connected:
                self.counters.reconnects += 1
                log.info("simulated device reconnected", device=self.device.name)
            self.ever_connected = True
            await _first(stop.wait(), self._lost.wait())

    async def _close_socket(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        # A device starts measuring once it is on the network; slots before that are not
        # "missed" readings.
        await _first(stop.wait(), self.connected.wait())
        self._skip_missed_slots()
        while not stop.is_set():
            wait = self.next_due - time.monotonic()
            if wait > 0:
                self._wake.clear()
                await _first(stop.wait(), self._wake.wait(), limit_s=wait)
                continue
            self.publish_reading(datetime.now(UTC))
            self.next_due += self.interval_s
            self._skip_missed_slots(tolerance_s=CATCH_UP_S)

    def _skip_missed_slots(self, tolerance_s: float = 0.0) -> None:
        """Keep the phase; slots missed by more than `tolerance_s` are skipped, not sent in
        a burst. Short delays (a busy event loop, a descheduled process) are caught up, so
        the rate holds on a loaded machine."""
        behind = time.monotonic() - self.next_due
        if behind > tolerance_s:
            self.next_due += math.ceil(behind / self.interval_s) * self.interval_s

    def publish_reading(self, now: datetime) -> None:
        values = self.model.reading(now)
        if values is None:
            self.counters.silent_readings += 1
            return
        if not self.connected.is_set():
            self.counters.offline_readings += 1
            return
        payload = orjson.dumps({"ts": int(now.timestamp() * 1000), "values": values})
        self.storage.next_is_telemetry = True
        try:
            self.client.publish(self.telemetry_topic, payload, qos=1)
        finally:
            self.storage.next_is_telemetry = False
        self.counters.published += 1

    async def close(self, drain_timeout_s: float) -> int:
        """Wait up to `drain_timeout_s` for outstanding acknowledgements, then disconnect.
        Returns how many telemetry messages stayed unacknowledged."""
        if self.connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.storage.wait_empty(), drain_timeout_s)
            self.connected.clear()  # an intended disconnect: not worth a warning
            await self._close_socket()
        return self.storage.in_flight


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _succeeded(result: dict[str, Any]) -> dict[str, Any]:
    return {"status": "SUCCESSFUL", "result": result}


def _failed(reason: str) -> dict[str, Any]:
    return {"status": "FAILED", "result": {"reason": reason}}


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _first(*aws: Any, limit_s: float | None = None) -> None:
    """Wait until the first of `aws` finishes (or `limit_s` passed); cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
