"""Device telemetry payloads (DESIGN §4): parsing and validation, shared by MQTT and HTTP.

Accepted forms, each alone or as a JSON array of them:
  {"temperature": 21.5, "humidity": 40}                    flat, timestamped on receipt
  {"ts": 1732700000000, "temperature": 21.5}               flat with a timestamp
  {"ts": "2026-11-27T10:00:00Z", "values": {...}}          explicit values object
Nested objects flatten to dotted keys; `temp`/`hum`/`batt` are aliases. Values are numbers,
booleans or short strings; `null` values are dropped (devices send them for absent sensors).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_KEYS = 200
MAX_KEY_LENGTH = 128
MAX_STRING_LENGTH = 256
MAX_ARRAY_MESSAGES = 1000
MAX_DEPTH = 8
# Earlier than this is a device clock that was never set, not a reading.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
# Later than now + this is a clock far off; a day tolerates any time zone mistake.
MAX_FUTURE = timedelta(hours=24)
# Epoch numbers below this are seconds, above it milliseconds (1e11 s is the year 5138;
# 1e11 ms is 1973, before EARLIEST_TS).
_SECONDS_LIMIT = 1e11
# Integers beyond this lose precision as JSON numbers elsewhere (JavaScript, float8).
_MAX_INT = 2**53

ALIASES = {"temp": "temperature", "hum": "humidity", "batt": "battery"}
_NON_FINITE = re.compile(rb"\b(NaN|-?Infinity)\b")

Value = float | int | bool | str


class Reason(StrEnum):
    """Why a message was rejected: the label of the rejection counter and dead-letter row."""

    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NON_FINITE = "non_finite"
    NOT_OBJECT = "not_object"
    TOO_MANY_KEYS = "too_many_keys"
    INVALID_KEY = "invalid_key"
    INVALID_VALUE = "invalid_value"
    INVALID_TS = "invalid_ts"
    TS_FUTURE = "ts_future"
    TS_TOO_OLD = "ts_too_old"
    NO_VALUES = "no_values"
    INVALID_TOPIC = "invalid_topic"
    UNKNOWN_DEVICE = "unknown_device"
    TENANT_MISMATCH = "tenant_mismatch"
    STORAGE_ERROR = "storage_error"
    # Command responses (gito.commands.answers).
    INVALID_RESPONSE = "invalid_response"
    UNKNOWN_COMMAND = "unknown_command"
    LATE_RESPONSE = "late_response"


class PayloadError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reading:
    """One moment of one device: `ts` is None when the device sent no timestamp."""

    ts: datetime | None
    values: dict[str, Value]


def parse(payload: bytes, *, now: datetime | None = None) -> list[Reading]:
    """Validate a raw payload; raises PayloadError with the first problem found. A message
    is accepted or rejected whole, so a device never gets half of an array stored."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(Reason.TOO_LARGE, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        # orjson checks the whole input is valid UTF-8 before parsing, so a valid document
        # is valid UTF-8; the (per-message) decode runs only to tell the two failures apart.
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as utf8_exc:
            raise PayloadError(Reason.INVALID_UTF8, str(utf8_exc)) from utf8_exc
        if "infinity" in str(exc) or _NON_FINITE.search(payload):
            raise PayloadError(Reason.NON_FINITE, "NaN and Infinity are not numbers") from exc
        raise PayloadError(Reason.INVALID_JSON, str(exc)) from exc
    now = now or datetime.now(UTC)
    if isinstance(document, list):
        if not document:
            raise PayloadError(Reason.NO_VALUES, "empty array")
        if len(document) > MAX_ARRAY_MESSAGES:
            raise PayloadError(
                Reason.TOO_MANY_KEYS, f"array of {len(document)} > {MAX_ARRAY_MESSAGES}"
            )
        return [_reading(item, now) for item in document]
    return [_reading(document, now)]


def _reading(item: Any, now: datetime) -> Reading:
    if not isinstance(item, dict):
        raise PayloadError(Reason.NOT_OBJECT, f"expected an object, got {type(item).__name__}")
    raw_ts = item.get("ts")
    values_obj = item.get("values")
    # {"values": {...}} or {"ts": ..., "values": {...}} and nothing else: keys are unique.
    if isinstance(values_obj, dict) and (len(item) == 1 or (len(item) == 2 and "ts" in item)):
        source = values_obj
    else:
        source = {k: v for k, v in item.items() if k != "ts"}
    values: dict[str, Value] = {}
    _flatten(source, "", values, 0)
    for alias, name in ALIASES.items():
        if alias in values:
            aliased = values.pop(alias)
            values.setdefault(name, aliased)
    if not values:
        raise PayloadError(Reason.NO_VALUES, "no values in message")
    return Reading(parse_ts(raw_ts, now) if raw_ts is not None else None, values)


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Value], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise PayloadError(Reason.INVALID_VALUE, f"nesting deeper than {MAX_DEPTH}")
    for key, value in obj.items():
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise PayloadError(Reason.INVALID_KEY, f"invalid key {key[:40]!r}")
        name = prefix + key if prefix else key
        # The exact types orjson produces first (a float, int, bool or str is by far the
        # commonest value); the checks are those of the general branch below.
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                raise PayloadError(Reason.NON_FINITE, f"{name}: not finite")
            out[name] = value
        elif kind is int:
            if abs(value) > _MAX_INT:
                raise PayloadError(Reason.INVALID_VALUE, f"{name}: integer out of range")
            out[name] = value
        elif kind is bool:
            out[name] = value
        elif kind is str:
            if len(value) > MAX_STRING_LENGTH:
                raise PayloadError(
                    Reason.INVALID_VALUE, f"{name}: string longer than {MAX_STRING_LENGTH}"
                )
            out[name] = value
        elif isinstance(value, dict):
            _flatten(value, f"{name}.", out, depth + 1)
            continue
        elif value is None:
            continue
        elif isinstance(value, bool | int):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
                raise PayloadError(Reason.INVALID_VALUE, f"{name}: integer out of range")
            out[name] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise PayloadError(Reason.NON_FINITE, f"{name}: not finite")
            out[name] = value
        elif isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                raise PayloadError(
                    Reason.INVALID_VALUE, f"{name}: string longer than {MAX_STRING_LENGTH}"
                )
            out[name] = value
        else:
            raise PayloadError(
                Reason.INVALID_VALUE,
                f"{name}: {type(value).__name__} is not a number, boolean or string",
            )
        # Without a prefix the name is the key, whose length was checked above.
        if prefix and len(name) > MAX_KEY_LENGTH:
            raise PayloadError(
                Reason.INVALID_KEY, f"key longer than {MAX_KEY_LENGTH}: {name[:40]!r}"
            )
        if len(out) > MAX_KEYS:
            raise PayloadError(Reason.TOO_MANY_KEYS, f"more than {MAX_KEYS} keys")


def parse_ts(raw: Any, now: datetime) -> datetime:
    """Epoch seconds or milliseconds (number), or ISO 8601 (string; no offset means UTC)."""
    if isinstance(raw, bool):
        raise PayloadError(Reason.INVALID_TS, "ts must be a number or an ISO 8601 string")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise PayloadError(Reason.NON_FINITE, "ts is not finite")
        seconds = raw if abs(raw) < _SECONDS_LIMIT else raw / 1000
        try:
            ts = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise PayloadError(Reason.INVALID_TS, f"ts {raw} out of range") from exc
    elif isinstance(raw, str) and len(raw) <= 64:
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise PayloadError(Reason.INVALID_TS, f"ts {raw!r} is not ISO 8601") from exc
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    else:
        raise PayloadError(Reason.INVALID_TS, "ts must be a number or an ISO 8601 string")
    if ts < EARLIEST_TS:
        raise PayloadError(Reason.TS_TOO_OLD, f"ts {ts.isoformat()} is before 2000")
    if ts > now + MAX_FUTURE:
        raise PayloadError(Reason.TS_FUTURE, f"ts {ts.isoformat()} is more than 24 h ahead")
    return ts


def battery_level(values: dict[str, Value]) -> float | None:
    """The device's battery percentage when the reading carries a plausible one."""
    battery = values.get("battery")
    if isinstance(battery, int | float) and not isinstance(battery, bool) and 0 <= battery <= 100:
        return float(battery)
    return None
