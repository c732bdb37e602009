"""E-mail channels end to end: an alarm change sent by the notifier over SMTP with STARTTLS
and AUTH to a real local SMTP server (aiosmtpd), verified against a throwaway CA."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.factories import Factory
from tests.notifications.conftest import (
    RunNotifier,
    deliveries,
    make_channel,
    raise_alarm,
    wait_for,
)
from tests.notifications.receivers import smtp_server


async def _finished(owner_dsn: str, channel_id: str) -> dict[str, object]:
    async def done() -> object:
        rows = await deliveries(owner_dsn, channel_id)
        return rows[0] if rows and rows[0]["status"] in ("DELIVERED", "FAILED") else None

    row: dict[str, object] = dict(await wait_for(done, timeout=20))
    return row


async def test_alarm_mail_arrives_over_starttls_with_auth(
    smtp_client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
    run_notifier: RunNotifier,
    tmp_path: Path,
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, name="freezer <7>")
    with smtp_server(tmp_path) as smtp:
        channel = await make_channel(
            smtp_client, tenant, type="email", to=["ops@example.com", "boss@example.com"]
        )
        await run_notifier(
            smtp_port=smtp.port,
            smtp_username=smtp.username,
            smtp_password=smtp.password,
            smtp_ca_file=smtp.ca_file,
            smtp_from="Gito Alerts <alerts@example.com>",
        )
        await raise_alarm(smtp_client, owner_dsn, tenant, device, severity="CRITICAL", value=41.5)
        row = await _finished(owner_dsn, channel["id"])

        assert row["status"] == "DELIVERED" and row["last_status"] == 250
        assert smtp.logins == [f"PLAIN:{smtp.username}"] or smtp.logins[0].endswith(smtp.username)
        ((mail_from, rcpt),) = smtp.envelopes
        assert mail_from == "alerts@example.com"
        assert rcpt == ["ops@example.com", "boss@example.com"]
        (message,) = smtp.messages
        assert message["Subject"].startswith("[Gito] CRITICAL alarm raised:")
        assert "freezer <7>" in message["Subject"]
        assert message["X-Gito-Delivery"] == str(row["id"])
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        plain = text.get_content()
        assert "41.5" in plain and "temperature" in plain and "CRITICAL" in plain
        markup = html.get_content()
        assert "<table>" in markup and "freezer &lt;7&gt;" in markup  # escaped, not injected


async def test_wrong_smtp_password_fails_without_retries(
    smtp_client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
    run_notifier: RunNotifier,
    tmp_path: Path,
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with smtp_server(tmp_path) as smtp:
        channel = await make_channel(smtp_client, tenant, type="email", to=["ops@example.com"])
        await run_notifier(
            smtp_port=smtp.port,
            smtp_username=smtp.username,
            smtp_password="wrong",
            smtp_ca_file=smtp.ca_file,
        )
        await raise_alarm(smtp_client, owner_dsn, tenant, device)
        row = await _finished(owner_dsn, channel["id"])
        assert row["status"] == "FAILED" and row["attempts"] == 1
        assert row["last_status"] == 535
        assert smtp.messages == []


async def test_untrusted_smtp_certificate_is_retried_not_ignored(
    smtp_client: httpx.AsyncClient,
    factory: Factory,
    owner_dsn: str,
    run_notifier: RunNotifier,
    tmp_path: Path,
) -> None:
    """Without the private CA the server's certificate does not verify: no mail is sent in
    clear or to an unverified server; the delivery fails after its attempts."""
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    with smtp_server(tmp_path) as smtp:
        channel = await make_channel(smtp_client, tenant, type="email", to=["ops@example.com"])
        await run_notifier(
            smtp_port=smtp.port,
            smtp_username=smtp.username,
            smtp_password=smtp.password,
            notify_max_attempts=2,
        )
        await raise_alarm(smtp_client, owner_dsn, tenant, device)
        row = await _finished(owner_dsn, channel["id"])
        assert row["status"] == "FAILED" and row["attempts"] == 2
        assert (
            "CERTIFICATE_VERIFY_FAILED" in str(row["last_error"])
            or "certificate" in str(row["last_error"]).lower()
        )
        assert smtp.messages == [] and smtp.logins == []
