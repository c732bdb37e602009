"""`GET /api/v1/ws?token=...`: live events of the caller's tenant over a WebSocket.

Events: `{"type": "telemetry", "device_id", "ts", "values"}`,
`{"type": "device_status", "device_id", "status", "previous_status", "last_seen"}`, and later
`alarm` / `command`. A SITE_ADMIN or CLIENT only receives events of devices in their sites.
The client may narrow the stream: `{"action": "subscribe", "device_ids": [...],
"types": [...]}`; `{"action": "subscribe"}` with no lists restores everything."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from gito.api.deps import load_principal
from gito.auth.principal import Principal
from gito.auth.security import decode_access_token
from gito.db.engine import tenant_transaction, unscoped_transaction
from gito.db.models import Device
from gito.errors import GitoError
from gito.events.bus import Event, Hub

log = structlog.get_logger("gito.ws")
router = APIRouter()

# Close codes in the private range (4000-4999): 4401 = not authenticated / token expired.
CLOSE_UNAUTHORIZED = 4401
# How often a site-scoped connection re-reads which devices it may see (new devices, moves).
VISIBILITY_REFRESH_S = 30.0
MAX_FILTER_IDS = 1000


class Filters:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.visible: set[str] | None = None  # None: the whole tenant
        self.refreshed = 0.0
        self.device_ids: set[str] | None = None
        self.types: set[str] | None = None

    async def refresh_visibility(self) -> None:
        if self.principal.site_ids is None:
            return
        async with tenant_transaction(self.principal.tenant_id) as session:
            rows = await session.execute(
                select(Device.id).where(Device.site_id.in_(self.principal.site_ids))
            )
            self.visible = {str(d) for d in rows.scalars()}
        self.refreshed = time.monotonic()

    def update(self, message: dict[str, Any]) -> None:
        ids = message.get("device_ids")
        types = message.get("types")
        if ids is not None and (not isinstance(ids, list) or len(ids) > MAX_FILTER_IDS):
            raise ValueError(f"device_ids must be a list of at most {MAX_FILTER_IDS} ids")
        if types is not None and not isinstance(types, list):
            raise ValueError("types must be a list")
        self.device_ids = {str(uuid.UUID(str(d))) for d in ids} if ids else None
        self.types = {str(t) for t in types} if types else None

    def admits(self, event: Event) -> bool:
        device = event.get("device_id")
        if self.visible is not None and device not in self.visible:
            return False
        if self.device_ids is not None and device not in self.device_ids:
            return False
        return self.types is None or event.get("type") in self.types


async def _authenticate(websocket: WebSocket, token: str) -> tuple[Principal, datetime] | None:
    try:
        claims = decode_access_token(websocket.app.state.settings, token)
        async with unscoped_transaction() as session:
            principal, _ = await load_principal(session, claims.user_id, claims.tenant_id)
    except GitoError:
        return None
    return principal, claims.exp


@router.websocket("/ws")
async def live_events(
    websocket: WebSocket,
    token: Annotated[str, Query(max_length=4096, description="An access token.")] = "",
) -> None:
    authenticated = await _authenticate(websocket, token) if token else None
    if authenticated is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="invalid or missing token")
        return
    principal, expires = authenticated
    filters = Filters(principal)
    await filters.refresh_visibility()
    await websocket.accept()
    hub: Hub = websocket.app.state.hub
    with hub.subscription(principal.tenant_id) as queue:
        reader = asyncio.create_task(_read_commands(websocket, filters))
        try:
            while not reader.done():
                remaining = (expires - datetime.now(UTC)).total_seconds()
                if remaining <= 0:
                    await websocket.close(code=CLOSE_UNAUTHORIZED, reason="token expired")
                    return
                try:
                    events = await asyncio.wait_for(queue.get(), timeout=min(remaining, 15.0))
                except TimeoutError:
                    continue
                if (
                    filters.visible is not None
                    and time.monotonic() - filters.refreshed > VISIBILITY_REFRESH_S
                ):
                    await filters.refresh_visibility()
                for event in events:
                    if filters.admits(event):
                        await websocket.send_text(orjson.dumps(event).decode())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _read_commands(websocket: WebSocket, filters: Filters) -> None:
    """Client → server messages: subscription filters; anything else gets an error event."""
    while True:
        try:
            raw = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return
        try:
            message = orjson.loads(raw)
            if not isinstance(message, dict) or message.get("action") != "subscribe":
                raise ValueError('expected {"action": "subscribe", ...}')
            filters.update(message)
            reply: dict[str, Any] = {
                "type": "subscribed",
                "device_ids": sorted(filters.device_ids) if filters.device_ids else None,
                "types": sorted(filters.types) if filters.types else None,
            }
        except (ValueError, orjson.JSONDecodeError) as exc:
            reply = {"type": "error", "message": str(exc)[:200]}
        try:
            await websocket.send_text(orjson.dumps(reply).decode())
        except (WebSocketDisconnect, RuntimeError):
            return
