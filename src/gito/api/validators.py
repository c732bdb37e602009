"""Constrained types shared by request schemas."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]

MAX_METADATA_BYTES = 16 * 1024


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_metadata),
    Field(description="Free-form JSON object (≤ 16 KiB)."),
]
