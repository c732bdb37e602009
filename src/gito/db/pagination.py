"""Offset pagination shared by every list endpoint (`page`, `per_page` ≤ 100, `meta.total`)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T", bound=Any)

MAX_PER_PAGE = 100

PageQuery = Annotated[
    int, Query(alias="page", ge=1, le=1_000_000, description="1-based page number.")
]
PerPageQuery = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page (≤ 100).")]


async def paginate(
    session: AsyncSession, query: Select[T], *, page: int, per_page: int
) -> tuple[list[T], int]:
    """Rows of one page of an already-ordered query, and the total row count."""
    total = (
        await session.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    ).scalar_one()
    rows = (await session.execute(query.offset((page - 1) * per_page).limit(per_page))).scalars()
    return list(rows), total


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
