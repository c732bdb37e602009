from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gito.api.context import client_ip_var
from gito.api.deps import CurrentUser, SessionDep, SettingsDep
from gito.api.ratelimit import RateLimits
from gito.api.schemas import Envelope, ok
from gito.audit import service as audit
from gito.auth import service
from gito.auth.permissions import Role
from gito.auth.principal import Principal
from gito.auth.schemas import LoginRequest, RefreshRequest, TokenPair
from gito.db.engine import unscoped_transaction
from gito.db.models import User
from gito.errors import GitoError, Unauthorized
from gito.users.schemas import UserOut
from gito.users.service import get as get_user
from gito.users.service import site_ids_of

router = APIRouter(prefix="/auth", tags=["auth"])


def _principal(user: User) -> Principal:
    return Principal(user.id, user.tenant_id, user.email, Role(user.role), None)


async def _user_out(session: SessionDep, user: User) -> dict[str, Any]:
    out = UserOut.model_validate(user)
    out.site_ids = (await site_ids_of(session, [user.id]))[user.id]
    return out.model_dump(mode="json")


@router.post("/login", operation_id="login", response_model=Envelope[TokenPair])
async def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> Any:
    """Exchange e-mail and password for an access token and a rotating refresh token.
    Repeated failures per e-mail or per client IP are answered with 429 and `Retry-After`."""
    limits: RateLimits = request.app.state.rate_limits
    ip = client_ip_var.get() or "unknown"
    await limits.check_login(body.email, ip)
    user = await service.authenticate(session, body.email, body.password)
    if user is None:
        await limits.login_failed(body.email, ip)
        raise Unauthorized("invalid e-mail or password", code="INVALID_CREDENTIALS")
    await limits.login_succeeded(body.email)
    tokens = await service.issue_tokens(session, settings, user)
    await audit.record(
        session,
        _principal(user),
        tenant_id=user.tenant_id,
        action="auth.login",
        entity_type="user",
        entity_id=user.id,
    )
    return ok({**tokens, "user": await _user_out(session, user)})


@router.post("/refresh", operation_id="refresh_token", response_model=Envelope[TokenPair])
async def refresh(body: RefreshRequest, settings: SettingsDep) -> Any:
    """Rotate a refresh token. Each refresh token works once; presenting a used one revokes
    every token descended from the same login."""
    failure: GitoError | None = None
    # Its own transaction: the family revocation on reuse must commit although we answer 401.
    async with unscoped_transaction() as session:
        try:
            user, tokens = await service.rotate(session, settings, body.refresh_token)
        except service.RefreshReused as exc:
            failure = exc
        else:
            await audit.record(
                session,
                _principal(user),
                tenant_id=user.tenant_id,
                action="auth.refresh",
                entity_type="user",
                entity_id=user.id,
            )
            return ok({**tokens, "user": await _user_out(session, user)})
    raise failure


@router.post("/logout", operation_id="logout", status_code=204)
async def logout(body: RefreshRequest, session: SessionDep) -> None:
    """Revoke the refresh token and every token of its family. Unknown tokens are ignored."""
    user = await service.logout(session, body.refresh_token)
    if user is not None:
        await audit.record(
            session,
            _principal(user),
            tenant_id=user.tenant_id,
            action="auth.logout",
            entity_type="user",
            entity_id=user.id,
        )


@router.get("/me", operation_id="get_me", response_model=Envelope[UserOut])
async def me(principal: CurrentUser, session: SessionDep) -> Any:
    return ok(await _user_out(session, await get_user(session, principal.user_id)))
