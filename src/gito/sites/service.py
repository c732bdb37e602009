from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gito.auth.principal import Principal
from gito.db.models import Site
from gito.db.pagination import contains_pattern
from gito.errors import Conflict, NotFound


def listing(principal: Principal, q: str | None = None) -> Any:
    query = select(Site).order_by(Site.name)
    if principal.site_ids is not None:
        query = query.where(Site.id.in_(principal.site_ids))
    if q:
        query = query.where(Site.name.ilike(contains_pattern(q)))
    return query


async def get_visible(
    session: AsyncSession, principal: Principal, site_id: uuid.UUID, *, for_update: bool = False
) -> Site:
    """A site the caller may see, else 404 (never 403: existence is not disclosed).
    `for_update` locks the row for a write, so concurrent writes queue."""
    site = await session.get(Site, site_id, with_for_update=for_update)
    if site is None or not principal.sees_site(site.id):
        raise NotFound("site not found", code="SITE_NOT_FOUND")
    return site


async def save(session: AsyncSession, site: Site) -> None:
    session.add(site)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("a site with this name exists", code="SITE_NAME_TAKEN") from exc


def apply(site: Site, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        setattr(site, "metadata_" if key == "metadata" else key, value)
