"""The notification-channel endpoints: validation, roles, tenant isolation (REST and SQL)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gito.auth.permissions import Role
from tests.api.helpers import app_role, assert_error, data
from tests.factories import Factory
from tests.notifications.conftest import make_channel

HOOK = "https://hooks.example.com/gito"


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ({"type": "webhook"}, "needs url"),
        ({"type": "webhook", "url": "ftp://example.com/x"}, "URL scheme"),
        ({"type": "webhook", "url": "not a url"}, "URL"),
        ({"type": "webhook", "url": HOOK, "secret": "short"}, "at least 16"),
        ({"type": "webhook", "url": HOOK, "to": ["a@example.com"]}, "no 'to'"),
        ({"type": "webhook", "url": HOOK + "/" + "x" * 2100}, "2048"),
        ({"type": "webhook", "url": HOOK, "min_severity": "LOUD"}, "min_severity"),
        ({"type": "webhook", "url": HOOK, "events": []}, "events"),
        ({"type": "webhook", "url": HOOK, "events": ["exploded"]}, "events"),
        ({"type": "webhook", "url": HOOK, "site_ids": ["nope"]}, "site_ids"),
        ({"type": "email"}, "needs 'to'"),
        ({"type": "email", "to": []}, "at least 1 item"),
        ({"type": "email", "to": ["not-an-address"]}, "email"),
        ({"type": "email", "to": ["a@example.com"], "url": HOOK}, "no url"),
        ({"type": "sms", "to": ["+4912345"]}, "type"),
        ({"type": "webhook", "url": HOOK, "colour": "red"}, "colour"),
    ],
)
async def test_invalid_channels_are_422(
    smtp_client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], hint: str
) -> None:
    tenant = await factory.tenant()
    response = await smtp_client.post(
        tenant.url("/notification-channels"), json=body, headers=tenant.admin.headers
    )
    error = assert_error(response, 422)
    assert hint.lower() in str(error).lower(), error


async def test_webhook_channel_lifecycle_and_secret_shown_once(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    created = await make_channel(
        client,
        tenant,
        type="webhook",
        url=HOOK,
        min_severity="MAJOR",
        site_ids=[str(site), str(site)],
        events=["raised", "cleared"],
    )
    assert created["name"] == "webhook hooks.example.com"
    assert created["secret"] and created["has_secret"]
    assert created["site_ids"] == [str(site)]  # repeats dropped
    assert created["to"] is None
    url = tenant.url(f"/notification-channels/{created['id']}")
    got = data(await client.get(url, headers=tenant.admin.headers))
    assert "secret" not in got and got["min_severity"] == "MAJOR"
    assert got["events"] == ["raised", "cleared"]

    patched = data(
        await client.patch(
            url,
            json={"enabled": False, "name": "ops", "site_ids": []},
            headers=tenant.admin.headers,
        )
    )
    assert (patched["enabled"], patched["name"], patched["site_ids"]) == (False, "ops", [])
    assert_error(
        await client.patch(url, json={"to": ["a@example.com"]}, headers=tenant.admin.headers),
        422,
    )
    assert_error(await client.patch(url, json={"type": "email"}, headers=tenant.admin.headers), 422)
    assert_error(await client.patch(url, json={"enabled": None}, headers=tenant.admin.headers), 422)
    rotated = data(await client.post(url + "/rotate-secret", headers=tenant.admin.headers))
    assert rotated["secret"] and rotated["secret"] != created["secret"]

    listed = await client.get(
        tenant.url("/notification-channels"),
        params={"type": "webhook"},
        headers=tenant.admin.headers,
    )
    assert [c["id"] for c in data(listed)] == [created["id"]]
    assert listed.json()["meta"]["total"] == 1

    audit = data(
        await client.get(
            tenant.url("/audit-log"),
            params={"entity_type": "notification_channel"},
            headers=tenant.admin.headers,
        )
    )
    assert {a["action"] for a in audit} >= {
        "notification_channel.create",
        "notification_channel.update",
        "notification_channel.rotate_secret",
    }
    assert created["secret"] not in str(audit)

    assert (await client.delete(url, headers=tenant.admin.headers)).status_code == 204
    assert_error(await client.get(url, headers=tenant.admin.headers), 404, "CHANNEL_NOT_FOUND")


async def test_email_channel_needs_smtp_and_takes_recipients(
    client: httpx.AsyncClient, smtp_client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    body = {"type": "email", "to": ["ops@example.com", "OPS2@example.com"]}
    response = await client.post(
        tenant.url("/notification-channels"), json=body, headers=tenant.admin.headers
    )
    assert_error(response, 422, "SMTP_NOT_CONFIGURED")
    created = await make_channel(smtp_client, tenant, **body)
    assert created["to"] == ["ops@example.com", "OPS2@example.com"]
    assert created["has_secret"] is False and created["secret"] == ""
    url = tenant.url(f"/notification-channels/{created['id']}")
    assert_error(
        await smtp_client.patch(url, json={"url": HOOK}, headers=tenant.admin.headers), 422
    )
    assert_error(await smtp_client.post(url + "/rotate-secret", headers=tenant.admin.headers), 422)


async def test_sites_must_be_the_tenants(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    other = await factory.tenant()
    foreign = await factory.site(other)
    response = await client.post(
        tenant.url("/notification-channels"),
        json={"type": "webhook", "url": HOOK, "site_ids": [str(foreign)]},
        headers=tenant.admin.headers,
    )
    error = assert_error(response, 422, "SITE_NOT_FOUND")
    assert error["details"] == {"site_ids": [str(foreign)]}


async def test_private_literal_targets_refused_in_production_like_settings(
    app: object, factory: Factory, notify_settings: Any
) -> None:
    from gito.api.app import create_app

    strict = create_app(notify_settings.model_copy(update={"notify_allow_private_targets": False}))
    tenant = await factory.tenant()
    transport = httpx.ASGITransport(app=strict)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for url in (
            "http://127.0.0.1:8000/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/hook",
            "http://[::1]/x",
            "http://localhost/x",
        ):
            response = await c.post(
                tenant.url("/notification-channels"),
                json={"type": "webhook", "url": url},
                headers=tenant.admin.headers,
            )
            assert_error(response, 422, "WEBHOOK_TARGET_REFUSED")
        allowed = await c.post(
            tenant.url("/notification-channels"),
            json={"type": "webhook", "url": "https://93.184.216.34/hook"},
            headers=tenant.admin.headers,
        )
        assert allowed.status_code == 201


@pytest.mark.parametrize("role", [Role.SITE_ADMIN, Role.CLIENT, Role.VIEWER])
async def test_only_admins_manage_or_read_channels(
    client: httpx.AsyncClient, factory: Factory, role: Role
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    channel = await make_channel(client, tenant, type="webhook", url=HOOK)
    actor = await factory.user(tenant, role, site_ids=[site] if role != Role.VIEWER else None)
    base = tenant.url("/notification-channels")
    one = f"{base}/{channel['id']}"
    calls = [
        client.get(base, headers=actor.headers),
        client.post(base, json={"type": "webhook", "url": HOOK}, headers=actor.headers),
        client.get(one, headers=actor.headers),
        client.patch(one, json={"enabled": False}, headers=actor.headers),
        client.delete(one, headers=actor.headers),
        client.post(one + "/test", headers=actor.headers),
        client.post(one + "/rotate-secret", headers=actor.headers),
        client.get(one + "/deliveries", headers=actor.headers),
    ]
    for call in calls:
        assert_error(await call, 403)


async def test_other_tenants_channels_are_invisible(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    mine = await factory.tenant()
    theirs = await factory.tenant()
    their_channel = await make_channel(client, theirs, type="webhook", url=HOOK)
    queued = data(
        await client.post(
            theirs.url(f"/notification-channels/{their_channel['id']}/test"),
            headers=theirs.admin.headers,
        ),
        202,
    )
    # Their channel through my tenant's path: 404, as if it did not exist.
    one = mine.url(f"/notification-channels/{their_channel['id']}")
    for response in (
        await client.get(one, headers=mine.admin.headers),
        await client.patch(one, json={"enabled": False}, headers=mine.admin.headers),
        await client.delete(one, headers=mine.admin.headers),
        await client.post(one + "/test", headers=mine.admin.headers),
        await client.get(one + "/deliveries", headers=mine.admin.headers),
        await client.post(one + f"/deliveries/{queued['id']}/retry", headers=mine.admin.headers),
    ):
        assert_error(response, 404)
    assert (
        data(await client.get(mine.url("/notification-channels"), headers=mine.admin.headers)) == []
    )
    # Their tenant in the path with my token: 403.
    assert_error(
        await client.get(theirs.url("/notification-channels"), headers=mine.admin.headers), 403
    )
    # And at the SQL level, as the app role bound to my tenant.
    async with app_role(owner_dsn, mine.id) as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM notification_channels WHERE tenant_id = $1", theirs.id
            )
            == 0
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM notification_deliveries WHERE tenant_id = $1", theirs.id
            )
            == 0
        )
        updated = await conn.execute(
            "UPDATE notification_deliveries SET status = 'FAILED' WHERE id = $1",
            uuid.UUID(queued["id"]),
        )
        assert updated == "UPDATE 0"
    async with app_role(owner_dsn, mine.id) as conn:
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                "INSERT INTO notification_channels (id, tenant_id, name, type, url, secret,"
                " events) VALUES ($1, $2, 'x', 'webhook', 'http://x', 'y', '{raised}')",
                uuid.uuid4(),
                theirs.id,
            )


async def test_unknown_channel_and_delivery_are_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    tenant = await factory.tenant()
    channel = await make_channel(client, tenant, type="webhook", url=HOOK)
    assert_error(
        await client.get(
            tenant.url(f"/notification-channels/{uuid.uuid4()}"), headers=tenant.admin.headers
        ),
        404,
        "CHANNEL_NOT_FOUND",
    )
    assert_error(
        await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/deliveries/{uuid.uuid4()}/retry"),
            headers=tenant.admin.headers,
        ),
        404,
        "DELIVERY_NOT_FOUND",
    )
    queued = data(
        await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/test"),
            headers=tenant.admin.headers,
        ),
        202,
    )
    # Not finished yet (no notifier runs here): a manual retry is a conflict.
    assert_error(
        await client.post(
            tenant.url(f"/notification-channels/{channel['id']}/deliveries/{queued['id']}/retry"),
            headers=tenant.admin.headers,
        ),
        409,
        "DELIVERY_IN_PROGRESS",
    )
