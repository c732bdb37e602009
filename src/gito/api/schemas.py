"""The response envelopes of DESIGN §4 and shared request-model settings."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Self, TypeVar

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    # Iterative: a body may nest as deep as the JSON parser allows, deeper than recursion.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, strings are trimmed, and no string
    (nor any key or string nested in JSON fields) holds a NUL character: PostgreSQL cannot
    store one in `text` or `jsonb`, so it would otherwise fail only at the database."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class PatchModel(StrictModel):
    """PATCH bodies: an omitted field stays as it is. Fields default to None only to mark
    them optional, so an explicit `null` is accepted just for the columns in `nullable`
    (those that may be cleared); for any other field it is a 422, not a database error."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_required(self) -> Self:
        refused = sorted(
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self.nullable
        )
        if refused:
            raise ValueError(f"may not be null: {', '.join(refused)}")
        return self


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class PageMeta(BaseModel):
    page: int
    per_page: int
    total: int


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T


class PageEnvelope(BaseModel, Generic[T]):
    success: bool = True
    data: list[T]
    meta: PageMeta


class ErrorBody(BaseModel):
    code: str = Field(examples=["DEVICE_NOT_FOUND"])
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody


class JSON(JSONResponse):
    """orjson-rendered response. Routes build their envelope once and return it as this, so
    FastAPI does not validate the same data a second time against `response_model` (which
    stays on the route for the OpenAPI schema). It subclasses `JSONResponse` because FastAPI
    documents a route's `response_model` only for JSON response classes; a plain `Response`
    made every success body `{"type": "string"}` in the OpenAPI document."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(data: Any, *, status_code: int = 200) -> JSON:
    return JSON({"success": True, "data": data}, status_code=status_code)


def page(data: list[Any], *, page: int, per_page: int, total: int) -> JSON:
    return JSON(
        {
            "success": True,
            "data": data,
            "meta": {"page": page, "per_page": per_page, "total": total},
        }
    )


# Documented on every route so the OpenAPI spec names the error envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}
