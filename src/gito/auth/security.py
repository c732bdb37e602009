"""Password hashing, JWT access tokens and opaque secrets (refresh and device tokens)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gito.config import Settings
from gito.errors import Unauthorized

# argon2id with the library's RFC 9106 "low memory" profile: ~50 ms on this machine class.
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = _hasher.hash("gito-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(prefix: str) -> str:
    """An opaque bearer secret with 256 bits of entropy and a readable type prefix."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def secret_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret; slow hashing is for low-entropy passwords only."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    jti: str
    exp: datetime


def issue_access_token(
    settings: Settings, *, user_id: uuid.UUID, tenant_id: uuid.UUID, role: str
) -> tuple[str, int]:
    now = datetime.now(UTC)
    expires_in = settings.jwt_expiration_hours * 3600
    claims = {
        "sub": str(user_id),
        "tenant_id": str(tenant_id),
        "role": role,
        "iat": now,
        "exp": now + timedelta(seconds=expires_in),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.jwt_secret(), algorithm=settings.jwt_algorithm)
    return token, expires_in


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Verify signature (only the configured algorithm: `alg=none` and key confusion fail),
    expiry and the presence of every claim Gito relies on."""
    try:
        payload = jwt.decode(
            token,
            settings.jwt_secret(),
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "tenant_id", "role", "exp", "iat", "jti"]},
        )
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            tenant_id=uuid.UUID(payload["tenant_id"]),
            role=str(payload["role"]),
            jti=str(payload["jti"]),
            exp=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired", code="TOKEN_EXPIRED") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
        raise Unauthorized("invalid access token", code="INVALID_TOKEN") from exc
