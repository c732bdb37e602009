"""The notifier: sends the deliveries the alarm trigger queued in `notification_deliveries`.

It claims due deliveries of every tenant (`gito_claim_notifications`: `FOR UPDATE SKIP
LOCKED`, so several notifiers share the work), sends each on its own task (a slow receiver
holds one slot, not the others), and records the outcome in a transaction bound to the
delivery's tenant. It wakes on `NOTIFY gito_notifications` (sent by the trigger on commit) and
polls every second as well, for retries falling due and for a lost LISTEN connection.

At-least-once: a delivery is marked DELIVERED only after the receiver accepted it. A notifier
that dies mid-send leaves the delivery SENDING until its claim expires; then another claims
it again, and the receiver sees the same `X-Gito-Delivery` id twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import orjson
import structlog
from prometheus_client import Counter, Histogram

from gito.config import Settings
from gito.db.engine import APP_ROLE
from gito.db.rawpool import app_pool_with_retry, asyncpg_dsn
from gito.events.bus import listen
from gito.notifications.message import email_message, webhook_body, webhook_headers
from gito.notifications.targets import TargetRefused, check_target

log = structlog.get_logger("gito.notifier")

CHANNEL = "gito_notifications"
POLL_INTERVAL_S = 1.0
TRIM_INTERVAL_S = 3600.0
# Receivers' error text kept in the delivery log.
MAX_ERROR_CHARS = 500

SENT = Counter(
    "gito_notifications_total",
    "Notification delivery attempts by channel type and outcome",
    ["type", "outcome"],
)
SEND_SECONDS = Histogram(
    "gito_notification_send_seconds",
    "Time a webhook receiver or SMTP server took to accept a delivery",
    ["type"],
)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    event: str
    attempts: int
    payload: dict[str, Any]
    channel_type: str
    channel_enabled: bool
    url: str | None
    secret: str | None
    recipients: list[str]

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> Claimed:
        payload = r["payload"]
        return cls(
            id=r["id"],
            tenant_id=r["tenant_id"],
            channel_id=r["channel_id"],
            event=r["event"],
            attempts=r["attempts"],
            payload=orjson.loads(payload) if isinstance(payload, str | bytes) else payload,
            channel_type=r["channel_type"],
            channel_enabled=r["channel_enabled"],
            url=r["url"],
            secret=r["secret"],
            recipients=list(r["recipients"] or []),
        )


@dataclass(frozen=True)
class Outcome:
    """`delivered`, or not: then `retry` says whether another attempt may succeed."""

    delivered: bool
    retry: bool = False
    code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def label(self) -> str:
        return "delivered" if self.delivered else ("retry" if self.retry else "failed")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the exponential backoff applies


def classify_http(response: httpx.Response) -> Outcome:
    """2xx delivered; 408, 425, 429 and 5xx retried; other statuses (a 4xx refusal, a
    redirect, which is not followed) fail at once: repeating the request cannot help."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(delivered=True, code=code)
    retry = code >= 500 or code in (408, 425, 429)
    text = response.text[:MAX_ERROR_CHARS] if response.content else ""
    error = f"HTTP {code}" + (f": {text}" if text else "")
    if 300 <= code < 400:
        error = f"HTTP {code}: redirects are not followed; update the channel's url"
    return Outcome(
        delivered=False,
        retry=retry,
        code=code,
        error=error,
        retry_after_s=_retry_after(response) if retry else None,
    )


class Notifier:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.http = http or httpx.AsyncClient(
            timeout=settings.notify_timeout_s, follow_redirects=False
        )
        self._own_http = http is None
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        # A claim outlives any send (timeout) by far: a live notifier never loses one.
        self.lease_s = settings.notify_timeout_s * 3 + 30
        self._tls = self._smtp_tls_context()

    def _smtp_tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.smtp_ca_file:
            context.load_verify_locations(cafile=str(self.settings.smtp_ca_file))
        return context

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("notifier started", concurrency=self.settings.notify_concurrency)
        listener = asyncio.create_task(self._listen(), name="gito-notifier-listen")
        next_trim = 0.0
        try:
            while not stop.is_set():
                # Cleared before claiming: a NOTIFY during the claim wakes the next wait.
                self._wake.clear()
                try:
                    if time.monotonic() >= next_trim:
                        await self.trim()
                        next_trim = time.monotonic() + TRIM_INTERVAL_S
                    await self.dispatch()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("notifier: database unavailable", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL_S)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self.drain(within_s=self.settings.notify_timeout_s + 1)
            if self._own_http:
                await self.http.aclose()

    async def _listen(self) -> None:
        """Wake on the trigger's NOTIFY (and once per (re)connection, for anything queued
        while not listening); the 1 s poll keeps deliveries moving without it."""
        await listen(
            asyncpg_dsn(self.settings.database_url or ""),
            CHANNEL,
            lambda _payload: self._wake.set(),
            server_settings={"role": APP_ROLE, "application_name": "gito-notifier"},
            on_connected=self._wake.set,
        )

    async def dispatch(self) -> int:
        """Claim as many due deliveries as there are free slots and start sending them;
        returns how many were claimed."""
        free = self.settings.notify_concurrency - len(self._inflight)
        if free <= 0:
            return 0
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM gito_claim_notifications($1, $2)", free, self.lease_s
            )
        for row in rows:
            task = asyncio.create_task(self._deliver(Claimed.from_record(row)))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free: claim again without waiting for the poll
        if not task.cancelled() and task.exception() is not None:
            log.error("notifier: delivery task failed", error=repr(task.exception()))

    async def drain(self, within_s: float | None = None) -> None:
        """Wait for the deliveries in flight (their claims expire if we give up)."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=within_s)

    async def trim(self) -> int:
        async with self.pool.acquire() as conn:
            deleted: int = await conn.fetchval(
                "SELECT gito_trim_notification_deliveries($1)",
                self.settings.notify_log_retention_days,
            )
        if deleted:
            log.info("notification log trimmed", deleted=deleted)
        return deleted

    # --- one delivery ------------------------------------------------------------------

    async def _deliver(self, d: Claimed) -> None:
        started = time.perf_counter()
        outcome = await self.send(d)
        elapsed = time.perf_counter() - started
        SENT.labels(d.channel_type, outcome.label).inc()
        if outcome.delivered:
            SEND_SECONDS.labels(d.channel_type).observe(elapsed)
        else:
            log.warning(
                "notification not delivered",
                delivery_id=str(d.id),
                channel_id=str(d.channel_id),
                attempt=d.attempts,
                retry=outcome.retry,
                error=outcome.error,
            )
        # Recording must not be lost to a blip: the receiver already has the message.
        for attempt in range(5):
            try:
                await self._record(d, outcome, elapsed * 1000)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notifier: recording failed", error=repr(exc), attempt=attempt)
                await asyncio.sleep(min(2**attempt, 10))

    async def send(self, d: Claimed) -> Outcome:
        if not d.channel_enabled:
            return Outcome(delivered=False, error="channel disabled")
        try:
            if d.channel_type == "webhook":
                return await self._send_webhook(d)
            return await self._send_email(d)
        except Exception as exc:  # an unexpected error is a failed attempt, not a crash
            log.exception("notifier: send failed unexpectedly", delivery_id=str(d.id))
            return Outcome(delivered=False, retry=True, error=repr(exc)[:MAX_ERROR_CHARS])

    async def _send_webhook(self, d: Claimed) -> Outcome:
        assert d.url is not None and d.secret is not None
        if not self.settings.webhooks_may_target_private:
            try:
                await check_target(d.url)
            except TargetRefused as exc:
                return Outcome(delivered=False, error=str(exc))
        body = webhook_body(str(d.id), d.payload)
        headers = webhook_headers(str(d.id), d.event, d.secret, body)
        try:
            response = await self.http.post(d.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(
                delivered=False,
                retry=True,
                error=f"no response within {self.settings.notify_timeout_s:g} s",
            )
        except httpx.HTTPError as exc:
            return Outcome(delivered=False, retry=True, error=f"{type(exc).__name__}: {exc}")
        return classify_http(response)

    async def _send_email(self, d: Claimed) -> Outcome:
        s = self.settings
        if not s.smtp_host:
            return Outcome(delivered=False, error="SMTP is not configured (SMTP_HOST)")
        message = email_message(
            sender=s.smtp_from, recipients=d.recipients, delivery_id=str(d.id), payload=d.payload
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls and not s.smtp_tls,
                tls_context=self._tls,
                timeout=s.notify_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return Outcome(
                delivered=False,
                retry=all(400 <= c < 500 for c in codes),
                code=max(codes, default=None),
                error=f"recipients refused: {exc}"[:MAX_ERROR_CHARS],
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: try again later; 5xx: refused for good (authentication, policy, ...).
            return Outcome(
                delivered=False,
                retry=400 <= exc.code < 500,
                code=exc.code,
                error=f"SMTP {exc.code}: {exc.message}"[:MAX_ERROR_CHARS],
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return Outcome(
                delivered=False, retry=True, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            )
        return Outcome(delivered=True, code=250)

    def backoff_s(self, attempts: int, retry_after_s: float | None) -> float:
        """Delay before attempt `attempts + 1`: base * 2^(attempts-1) with ±20 % jitter (so
        receivers that fail together are not retried in lockstep), at least the receiver's
        Retry-After, at most notify_retry_max_s."""
        s = self.settings
        delay = s.notify_retry_base_s * 2 ** (attempts - 1) * random.uniform(0.8, 1.2)  # noqa: S311
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return float(min(delay, s.notify_retry_max_s))

    async def _record(self, d: Claimed, outcome: Outcome, duration_ms: float) -> None:
        now = datetime.now(UTC)
        if outcome.delivered:
            status, due_at = "DELIVERED", now
        elif outcome.retry and d.attempts < self.settings.notify_max_attempts:
            status = "PENDING"
            delay = self.backoff_s(d.attempts, outcome.retry_after_s)
            due_at = now + timedelta(seconds=delay)
            # Wake up when it falls due rather than at the next poll.
            asyncio.get_running_loop().call_later(delay, self._wake.set)
        else:
            status, due_at = "FAILED", now
        error = outcome.error
        if status == "FAILED" and outcome.retry:
            error = f"gave up after {d.attempts} attempts; last: {error}"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(d.tenant_id))
            await conn.execute(
                """
                UPDATE notification_deliveries
                SET status = $2::varchar, due_at = $3, last_status = $4, last_error = $5,
                    last_duration_ms = $6, updated_at = now(),
                    delivered_at = CASE WHEN $2::varchar = 'DELIVERED' THEN now() END
                WHERE id = $1 AND status = 'SENDING'
                """,
                d.id,
                status,
                due_at,
                outcome.code,
                error,
                duration_ms,
            )


async def run_notifier(settings: Settings, stop: asyncio.Event) -> None:
    """`gito notifier`: the notifier on its own (the scheduler also runs one)."""
    assert settings.database_url
    pool = await app_pool_with_retry(settings.database_url, stop, max_size=6)
    try:
        await Notifier(settings, pool).run(stop)
    finally:
        await pool.close()
