"""Rate limits: per tenant for the API, and per e-mail / per client IP for failed logins.

Backed by Redis when `REDIS_URL` is set (shared by every API process), in-process otherwise.
The `limits` library does the counting; this module only names the limits."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from gito.config import Settings
from gito.errors import RateLimited


def _storage(settings: Settings) -> Storage:
    if settings.redis_url:
        url = settings.redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1
        )
        return RedisStorage(url)
    return MemoryStorage()


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = _storage(settings)
        # Fixed window per tenant: one counter per minute keeps the hot path to one INCR.
        self.api = FixedWindowRateLimiter(self.storage)
        # Moving window for logins: an attacker cannot double the rate at a window boundary.
        self.logins = MovingWindowRateLimiter(self.storage)
        window = settings.login_window_s
        self.per_email = RateLimitItemPerSecond(settings.login_max_failures_per_email, window)
        self.per_ip = RateLimitItemPerSecond(settings.login_max_failures_per_ip, window)

    async def hit_tenant(self, tenant_id: str, per_minute: int | None) -> None:
        item = RateLimitItemPerMinute(per_minute or self.settings.rate_limit_per_minute)
        if not await self.api.hit(item, "tenant", tenant_id):
            stats = await self.api.get_window_stats(item, "tenant", tenant_id)
            raise RateLimited(
                "tenant request rate limit exceeded", retry_after=_retry_after(stats.reset_time)
            )

    async def hit_device(self, device_id: str) -> None:
        """HTTP ingestion is limited per device (a tenant's fleet is not one client)."""
        item = RateLimitItemPerMinute(self.settings.ingest_rate_limit_per_device_per_minute)
        if not await self.api.hit(item, "device", device_id):
            stats = await self.api.get_window_stats(item, "device", device_id)
            raise RateLimited(
                "device ingest rate limit exceeded",
                code="DEVICE_RATE_LIMITED",
                retry_after=_retry_after(stats.reset_time),
            )

    async def check_login(self, email: str, ip: str) -> None:
        for item, key in ((self.per_email, email.lower()), (self.per_ip, ip)):
            if not await self.logins.test(item, "login", key):
                stats = await self.logins.get_window_stats(item, "login", key)
                raise RateLimited(
                    "too many failed logins; try again later",
                    code="LOGIN_RATE_LIMITED",
                    retry_after=_retry_after(stats.reset_time),
                )

    async def login_failed(self, email: str, ip: str) -> None:
        await self.logins.hit(self.per_email, "login", email.lower())
        await self.logins.hit(self.per_ip, "login", ip)

    async def login_succeeded(self, email: str) -> None:
        await self.logins.clear(self.per_email, "login", email.lower())
