from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request

from gito.api.deps import TenantScope, requires
from gito.api.schemas import Envelope, PageEnvelope, ok, page
from gito.audit import service as audit
from gito.auth.permissions import Permission
from gito.commands import service
from gito.commands.schemas import CommandCreate, CommandOut, CommandStatus
from gito.commands.sender import CommandSender, command_payload, sender_address
from gito.db.engine import driver_connection, sessionmaker, set_tenant
from gito.db.models import Command
from gito.db.pagination import PageQuery, PerPageQuery, paginate
from gito.devices.service import get_visible
from gito.errors import NotFound
from gito.events.bus import notify_in_transaction

router = APIRouter(prefix="/tenants/{tenant_id}/devices/{device_id}/commands", tags=["commands"])


def get_sender(request: Request) -> CommandSender:
    """The API process's one MQTT connection for commands, opened on first use (a process
    that never sends a command never connects)."""
    sender: CommandSender | None = getattr(request.app.state, "command_sender", None)
    if sender is None:
        sender = CommandSender(sender_address(request.app.state.settings))
        request.app.state.command_sender = sender
    return sender


def _out(command: Command) -> dict[str, Any]:
    return CommandOut.model_validate(command).model_dump(mode="json")


@router.post(
    "",
    operation_id="send_command",
    status_code=201,
    response_model=Envelope[CommandOut],
    dependencies=[requires(Permission.COMMANDS_SEND)],
)
async def send_command(
    device_id: uuid.UUID, body: CommandCreate, scope: TenantScope, request: Request
) -> Any:
    """Send a command to a device (MQTT QoS 1 on `{tenant}/devices/{device}/commands`).

    Answers `SENT` when the broker took it; `PENDING` when the broker could not be reached —
    the scheduler then retries until `timeout_s` passed (then `EXPIRED`). The device's answer
    moves it to `SUCCESSFUL` or `FAILED`; no answer within `timeout_s` of sending is
    `TIMEOUT`. Status changes arrive as `command` events on the WebSocket."""
    await get_visible(scope.session, scope.principal, device_id)
    # Publishing may wait for the broker (connect and PUBACK timeouts, seconds): the
    # request's connection goes back to the pool now instead of idling in a transaction
    # meanwhile. The request session is not used after this.
    await scope.session.commit()
    command_id = uuid.uuid4()
    # The command is committed before it is published, so a fast device's answer always
    # finds its row; hence its own transaction.
    async with sessionmaker()() as session, session.begin():
        await set_tenant(session, scope.tenant_id)
        command = Command(
            id=command_id,
            tenant_id=scope.tenant_id,
            device_id=device_id,
            name=body.name,
            params=body.params,
            status=CommandStatus.PENDING.value,
            timeout_s=body.timeout_s,
            expires_at=datetime.now(UTC) + timedelta(seconds=body.timeout_s),
            created_by=scope.principal.user_id,
        )
        session.add(command)
        await session.flush()
        await session.refresh(command)
        out = _out(command)
        await audit.record(
            session,
            scope.principal,
            tenant_id=scope.tenant_id,
            action="command.send",
            entity_type="device",
            entity_id=device_id,
            changes={"command_id": str(command_id), **body.model_dump(mode="json")},
        )
    sent = await get_sender(request).send(
        scope.tenant_id, device_id, command_payload(command_id, body.name, body.params)
    )
    if sent:
        async with sessionmaker()() as session, session.begin():
            await set_tenant(session, scope.tenant_id)
            conn = await driver_connection(session)
            row = await service.mark_sent(conn, command_id)
            if row is not None:
                await notify_in_transaction(conn, [(scope.tenant_id, service.command_event(row))])
            # The row as it is now: SENT, or already answered by a fast device.
            current = await session.get(Command, command_id)
            if current is not None:
                out = _out(current)
    return ok(out, status_code=201)


@router.get(
    "",
    operation_id="list_commands",
    response_model=PageEnvelope[CommandOut],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def list_commands(
    device_id: uuid.UUID,
    scope: TenantScope,
    page_number: PageQuery = 1,
    per_page: PerPageQuery = 20,
    status: CommandStatus | None = None,
) -> Any:
    """The device's command history, newest first."""
    await get_visible(scope.session, scope.principal, device_id)
    rows, total = await paginate(
        scope.session, service.history(device_id, status), page=page_number, per_page=per_page
    )
    return page([_out(c) for c in rows], page=page_number, per_page=per_page, total=total)


@router.get(
    "/{command_id}",
    operation_id="get_command",
    response_model=Envelope[CommandOut],
    dependencies=[requires(Permission.DEVICES_READ)],
)
async def get_command(device_id: uuid.UUID, command_id: uuid.UUID, scope: TenantScope) -> Any:
    """One command with its status and the device's result."""
    await get_visible(scope.session, scope.principal, device_id)
    command = await scope.session.get(Command, command_id)
    if command is None or command.device_id != device_id:
        raise NotFound("command not found", code="COMMAND_NOT_FOUND")
    return ok(_out(command))
