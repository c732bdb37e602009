"""Constrained types shared by request schemas."""

from __future__ import annotations

import math
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]

MAX_METADATA_BYTES = 16 * 1024


# jsonb prints a large float without an exponent (1e20 comes back as 100000000000000000000),
# which then reads back as an integer beyond the 64 bits JSON responses can carry.
MAX_METADATA_NUMBER = 2.0**63


def _representable(value: Any) -> bool:
    # Iterative: the JSON parser allows deeper nesting than recursion does.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not (
            math.isfinite(item) and abs(item) < MAX_METADATA_NUMBER
        ):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    # Python's JSON parser accepts NaN and Infinity, which `jsonb` does not.
    if not _representable(value):
        raise ValueError("metadata numbers must be finite and within ±2^63")
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:
        # Lone surrogates, integers beyond 64 bits, nesting deeper than 255 levels.
        raise ValueError(f"metadata is not storable JSON: {exc}") from exc
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_metadata),
    Field(description="Free-form JSON object (≤ 16 KiB)."),
]
