from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field

from gito.errors import InvalidInput

_INTERVAL = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_KEYS_PER_QUERY = 20
MAX_BUCKETS = 10_000
MAX_RAW_POINTS = 10_000
DEFAULT_WINDOW = timedelta(hours=24)


class Aggregate(StrEnum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"


class Point(BaseModel):
    ts: datetime
    value: Any


class LatestValue(BaseModel):
    ts: datetime
    value: Any


Series = dict[str, list[Point]]

IntervalQuery = Annotated[
    str | None,
    Field(
        description="Bucket width for aggregation: a number and s, m, h or d (`1m`, `1h`).",
        examples=["1h"],
    ),
]


def parse_interval(raw: str) -> timedelta:
    match = _INTERVAL.match(raw)
    if not match:
        raise InvalidInput(
            "interval must be a number followed by s, m, h or d (e.g. 1m, 1h, 1d)",
            code="INVALID_INTERVAL",
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_keys(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    keys = list(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    if len(keys) > MAX_KEYS_PER_QUERY:
        raise InvalidInput(f"at most {MAX_KEYS_PER_QUERY} keys per query", code="TOO_MANY_KEYS")
    if any(len(k) > 128 for k in keys):
        raise InvalidInput("a key is at most 128 characters", code="INVALID_KEY")
    return keys
