"""Device and service authentication for the embedded broker.

A device connects with username = its device id and password = its token. The API stores only
`sha256(token)`; `gito_resolve_device_token` (SECURITY DEFINER) finds the device of a token
before its tenant is known. Positive results are cached for `MQTT_AUTH_CACHE_TTL_S` so a
reconnect storm does not become a query storm; that TTL is also the revocation bound (see
`gito.broker.embedded` for how open connections are re-checked)."""

from __future__ import annotations

import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gito.auth.security import secret_hash
from gito.broker import acl
from gito.broker.credentials import ServiceCredentials
from gito.db.engine import set_tenant
from gito.db.models import Tenant
from gito.devices.service import resolve_token


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connected MQTT client is. Service identities have no tenant or device."""

    username: str
    tenant_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    token_hash: str | None = None

    @property
    def is_service(self) -> bool:
        return self.device_id is None

    def may_publish(self, topic: str) -> bool:
        if self.tenant_id is None or self.device_id is None:
            return any(acl.topic_matches(topic, f) for f in acl.SERVICE_PUBLISH)
        return topic in acl.device_publish_topics(self.tenant_id, self.device_id)

    def may_subscribe(self, topic_filter: str) -> bool:
        if self.tenant_id is None or self.device_id is None:
            return any(acl.filter_within(topic_filter, f) for f in acl.SERVICE_SUBSCRIBE)
        allowed = acl.device_subscribe_topics(self.tenant_id, self.device_id)
        return any(acl.filter_within(topic_filter, f) for f in allowed)

    def may_receive(self, topic: str) -> bool:
        if self.tenant_id is None or self.device_id is None:
            return True
        return topic in acl.device_subscribe_topics(self.tenant_id, self.device_id)


class AuthRefused(Exception):
    """A refused connect; `reason` is a metric label, the message is for the log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _TTLCache:
    """A bounded map whose entries expire `ttl_s` after insertion (oldest evicted first)."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, Identity]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Identity | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: tuple[str, str], identity: Identity) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl_s, identity)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class DeviceAuthenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        service: ServiceCredentials,
        *,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._service = service
        self.cache = _TTLCache(ttl_s, max_entries, clock)

    async def authenticate(self, username: str | None, password: str | None) -> Identity:
        """The identity of a CONNECT's credentials, or `AuthRefused`."""
        if not username:
            raise AuthRefused("anonymous", "no username (anonymous access is refused)")
        if username == self._service.username:
            expected = self._service.password or ""
            if password and hmac.compare_digest(password.encode(), expected.encode()):
                return Identity(username)
            raise AuthRefused("bad_credentials", "wrong service password")
        try:
            device_id = uuid.UUID(username)
        except ValueError:
            raise AuthRefused("bad_credentials", "username is not a device id") from None
        if not password:
            raise AuthRefused("bad_credentials", "no device token")
        token_hash = secret_hash(password)
        cached = self.cache.get((username, token_hash))
        if cached is not None:
            return cached
        async with self._sessions() as session, session.begin():
            found = await resolve_token(session, password)
            if found is None:
                raise AuthRefused("bad_credentials", "unknown or rotated device token")
            tenant_id, token_device_id = found
            if token_device_id != device_id:
                # A valid token presented under another device's id: never let the username
                # choose the topic prefix.
                raise AuthRefused("username_mismatch", "the token belongs to another device")
            if not await _tenant_active(session, tenant_id):
                raise AuthRefused("tenant_inactive", "the device's tenant is deactivated")
        identity = Identity(username, tenant_id, device_id, token_hash)
        self.cache.put((username, token_hash), identity)
        return identity

    async def still_valid(self, identities: Iterable[Identity]) -> set[Identity]:
        """Which device identities still hold: token current, device present, tenant active.
        One round trip for all tokens; refreshes the cache for the valid ones and drops the
        rest, so a revoked token is refused on its next connect too."""
        devices = [i for i in identities if i.token_hash is not None]
        if not devices:
            return set()
        async with self._sessions() as session, session.begin():
            rows = await session.execute(
                text(
                    "SELECT h, r.device_id, r.tenant_id "
                    "FROM unnest(CAST(:hashes AS text[])) AS h, "
                    "LATERAL gito_resolve_device_token(h) AS r"
                ),
                {"hashes": sorted({i.token_hash for i in devices if i.token_hash})},
            )
            resolved = {row[0]: (row[1], row[2]) for row in rows}
            active = {
                tenant_id
                for tenant_id in {t for _, t in resolved.values()}
                if await _tenant_active(session, tenant_id)
            }
        valid = set()
        for identity in devices:
            assert identity.token_hash is not None
            key = (identity.username, identity.token_hash)
            if resolved.get(identity.token_hash) == (identity.device_id, identity.tenant_id) and (
                identity.tenant_id in active
            ):
                valid.add(identity)
                self.cache.put(key, identity)
            else:
                self.cache.discard(key)
        return valid


async def _tenant_active(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    await set_tenant(session, tenant_id)
    active = await session.scalar(select(Tenant.is_active).where(Tenant.id == tenant_id))
    return bool(active)
