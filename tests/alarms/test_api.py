"""The alert-rule and alarm endpoints: validation, roles, tenant isolation, lifecycle."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gito.auth.permissions import Role
from tests.alarms.helpers import alarms_of, at, make_rule, send
from tests.api.helpers import assert_error, data
from tests.factories import Factory, TenantFixture

COND = {"field": "temperature", "operator": ">", "value": 30}


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ({"name": "r", "severity": "MAJOR"}, "needs a condition"),
        ({"name": "r", "severity": "BAD", "condition": COND}, "severity"),
        ({"name": "r", "severity": "MAJOR", "condition": {**COND, "operator": "~"}}, "operator"),
        ({"name": "r", "severity": "MAJOR", "condition": {**COND, "value": "hot"}}, "number"),
        (
            {"name": "r", "severity": "MAJOR", "condition": {**COND, "operator": "between"}},
            "[low, high]",
        ),
        (
            {
                "name": "r",
                "severity": "MAJOR",
                "condition": {**COND, "operator": "outside", "value": [5, 1]},
            },
            "low <= high",
        ),
        ({"name": "r", "severity": "MAJOR", "condition": {**COND, "value": None}}, "number"),
        ({"name": "r", "severity": "MAJOR", "condition": {**COND, "value": 1e300}}, "finite"),
        (
            {
                "name": "r",
                "severity": "MAJOR",
                "condition": COND,
                "device_type": "x",
                "site_id": str(uuid.uuid4()),
            },
            "at most one",
        ),
        (
            {
                "name": "r",
                "severity": "MAJOR",
                "condition": COND,
                "escalation": [{"operator": ">", "value": 40, "severity": "MAJOR"}],
            },
            "own severity",
        ),
        (
            {
                "name": "r",
                "severity": "MAJOR",
                "condition": COND,
                "clear_condition": {"field": "humidity", "operator": "<", "value": 3},
            },
            "condition's field",
        ),
        ({"name": "r", "severity": "MAJOR", "kind": "no_data"}, "exactly one"),
        (
            {
                "name": "r",
                "severity": "MAJOR",
                "kind": "no_data",
                "no_data_s": 60,
                "condition": COND,
            },
            "takes no condition",
        ),
        ({"name": "r", "severity": "MAJOR", "condition": COND, "duration_s": -1}, "duration_s"),
        ({"name": "r", "severity": "MAJOR", "condition": COND, "extra": 1}, "extra"),
    ],
)
async def test_invalid_rules_are_422_with_a_clear_error(
    client: httpx.AsyncClient, factory: Factory, body: dict[str, Any], hint: str
) -> None:
    tenant = await factory.tenant()
    response = await client.post(
        tenant.url("/alert-rules"), json=body, headers=tenant.admin.headers
    )
    error = assert_error(response, 422)
    assert hint in response.text, error


async def test_rule_crud_round_trip(client: httpx.AsyncClient, factory: Factory) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    body = {
        "name": "hot fridge",
        "device_id": str(device),
        "condition": COND,
        "severity": "MAJOR",
        "escalation": [{"operator": ">", "value": 40, "severity": "CRITICAL"}],
        "duration_s": 300,
        "clear_condition": {"operator": "<", "value": 25},
        "cooldown_s": 60,
    }
    created = data(
        await client.post(tenant.url("/alert-rules"), json=body, headers=tenant.admin.headers),
        201,
    )
    assert created["condition"] == COND
    assert created["escalation"] == body["escalation"]
    assert created["clear_condition"] == {"field": "temperature", "operator": "<", "value": 25}
    rule_url = tenant.url(f"/alert-rules/{created['id']}")
    assert data(await client.get(rule_url, headers=tenant.admin.headers)) == created
    listed = data(await client.get(tenant.url("/alert-rules"), headers=tenant.admin.headers))
    assert [r["id"] for r in listed] == [created["id"]]
    patched = data(
        await client.patch(rule_url, json={"duration_s": 0}, headers=tenant.admin.headers)
    )
    assert patched["duration_s"] == 0 and patched["clear_condition"] == created["clear_condition"]
    # A PATCH that breaks the merged rule is refused as a whole.
    response = await client.patch(
        rule_url,
        json={"escalation": [{"operator": ">", "value": 40, "severity": "MAJOR"}]},
        headers=tenant.admin.headers,
    )
    assert_error(response, 422, "VALIDATION_ERROR")
    assert (await client.delete(rule_url, headers=tenant.admin.headers)).status_code == 204
    assert_error(await client.get(rule_url, headers=tenant.admin.headers), 404, "RULE_NOT_FOUND")


async def _alarm(
    client: httpx.AsyncClient,
    factory: Factory,
    tenant: TenantFixture,
    owner_dsn: str,
    **device: Any,
) -> str:
    device_id, _ = await factory.device(tenant, **device)
    rule = await make_rule(client, tenant, condition=COND, device_id=str(device_id))
    await send(owner_dsn, tenant.id, device_id, [(at(0), {"temperature": 31})])
    (alarm,) = await alarms_of(owner_dsn, rule)
    return str(alarm["id"])


async def test_alarm_lifecycle_filters_counts_and_history(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    alarm_id = await _alarm(client, factory, tenant, owner_dsn)
    headers = tenant.admin.headers
    counts = data(await client.get(tenant.url("/alarms/counts"), headers=headers))
    assert counts == {"CRITICAL": 0, "MAJOR": 1, "MINOR": 0, "WARNING": 0, "total": 1}
    active = data(await client.get(tenant.url("/alarms?status=ACTIVE"), headers=headers))
    assert [a["id"] for a in active] == [alarm_id]
    assert data(await client.get(tenant.url("/alarms?severity=CRITICAL"), headers=headers)) == []

    client_user = await factory.user(tenant, Role.CLIENT)  # no sites: cannot see the alarm
    response = await client.post(
        tenant.url(f"/alarms/{alarm_id}/acknowledge"), headers=client_user.headers
    )
    assert_error(response, 404, "ALARM_NOT_FOUND")
    # The operator was shown a CRITICAL, but the alarm is MAJOR: refused, nothing changes.
    stale = await client.post(
        tenant.url(f"/alarms/{alarm_id}/acknowledge"),
        json={"comment": "on it", "severity": "CRITICAL"},
        headers=headers,
    )
    assert assert_error(stale, 409, "ALARM_CHANGED")["details"] == {"severity": "MAJOR"}
    acked = data(
        await client.post(
            tenant.url(f"/alarms/{alarm_id}/acknowledge"),
            json={"comment": "on it", "severity": "MAJOR"},
            headers=headers,
        )
    )
    assert acked["status"] == "ACKNOWLEDGED"
    assert acked["acknowledged_by"] == str(tenant.admin.user_id)
    assert acked["ack_comment"] == "on it" and acked["acknowledged_at"]
    again = await client.post(tenant.url(f"/alarms/{alarm_id}/acknowledge"), headers=headers)
    assert_error(again, 409, "ALARM_NOT_ACTIVE")
    cleared = data(await client.post(tenant.url(f"/alarms/{alarm_id}/clear"), headers=headers))
    assert cleared["status"] == "CLEARED"
    assert_error(
        await client.post(tenant.url(f"/alarms/{alarm_id}/clear"), headers=headers),
        409,
        "ALARM_CLEARED",
    )
    history = data(await client.get(tenant.url(f"/alarms/{alarm_id}/history"), headers=headers))
    assert [h["action"] for h in history] == ["raised", "acknowledged", "cleared"]
    assert history[1]["comment"] == "on it"
    counts = data(await client.get(tenant.url("/alarms/counts"), headers=headers))
    assert counts["total"] == 0
    assert (
        data(await client.get(tenant.url("/alarms?status=CLEARED"), headers=headers))[0]["id"]
        == alarm_id
    )
    assert_error(await client.get(tenant.url("/alarms?status=NOPE"), headers=headers), 422)


async def test_roles(client: httpx.AsyncClient, factory: Factory, owner_dsn: str) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    other_site = await factory.site(tenant)
    mine = await _alarm(client, factory, tenant, owner_dsn, site_id=site)
    theirs = await _alarm(client, factory, tenant, owner_dsn, site_id=other_site)
    viewer = await factory.user(tenant, Role.VIEWER)
    operator = await factory.user(tenant, Role.CLIENT, site_ids=[site])
    site_admin = await factory.user(tenant, Role.SITE_ADMIN, site_ids=[site])
    rule = {"name": "r", "severity": "MINOR", "condition": COND}

    # VIEWER reads everything, changes nothing.
    assert len(data(await client.get(tenant.url("/alarms"), headers=viewer.headers))) == 2
    assert_error(
        await client.post(tenant.url("/alert-rules"), json=rule, headers=viewer.headers), 403
    )
    assert_error(
        await client.post(tenant.url(f"/alarms/{mine}/acknowledge"), headers=viewer.headers), 403
    )
    # CLIENT acknowledges alarms of their sites only, and writes no rules.
    listed = data(await client.get(tenant.url("/alarms"), headers=operator.headers))
    assert [a["id"] for a in listed] == [mine]
    counts = data(await client.get(tenant.url("/alarms/counts"), headers=operator.headers))
    assert counts["total"] == 1
    data(await client.post(tenant.url(f"/alarms/{mine}/acknowledge"), headers=operator.headers))
    assert_error(
        await client.post(tenant.url(f"/alarms/{theirs}/clear"), headers=operator.headers), 404
    )
    assert_error(
        await client.post(tenant.url("/alert-rules"), json=rule, headers=operator.headers), 403
    )
    # SITE_ADMIN writes rules for their sites (and devices there), not tenant-wide ones.
    assert_error(
        await client.post(tenant.url("/alert-rules"), json=rule, headers=site_admin.headers),
        403,
        "RULE_SCOPE_FORBIDDEN",
    )
    assert_error(
        await client.post(
            tenant.url("/alert-rules"),
            json={**rule, "site_id": str(other_site)},
            headers=site_admin.headers,
        ),
        422,
        "SITE_NOT_FOUND",
    )
    created = data(
        await client.post(
            tenant.url("/alert-rules"),
            json={**rule, "site_id": str(site)},
            headers=site_admin.headers,
        ),
        201,
    )
    tenant_rule = await make_rule(client, tenant, condition=COND)
    everything = data(await client.get(tenant.url("/alert-rules"), headers=tenant.admin.headers))
    visible = data(await client.get(tenant.url("/alert-rules"), headers=site_admin.headers))
    # Theirs: the site rule, the rule of the device in their site, and the tenant-wide rule.
    assert len(everything) == 4
    assert len(visible) == 3
    assert {created["id"], tenant_rule} <= {r["id"] for r in visible}
    assert_error(
        await client.patch(
            tenant.url(f"/alert-rules/{tenant_rule}"),
            json={"enabled": False},
            headers=site_admin.headers,
        ),
        403,
        "RULE_SCOPE_FORBIDDEN",
    )
    data(
        await client.patch(
            tenant.url(f"/alert-rules/{created['id']}"),
            json={"enabled": False},
            headers=site_admin.headers,
        )
    )


async def test_other_tenants_rules_and_alarms_are_invisible(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    a = await factory.tenant()
    b = await factory.tenant()
    alarm_a = await _alarm(client, factory, a, owner_dsn)
    rules_a = data(await client.get(a.url("/alert-rules"), headers=a.admin.headers))
    rule_a = rules_a[0]["id"]
    device_a, _ = await factory.device(a)
    # Another tenant in the path: 403, whatever the endpoint.
    for method, path in [
        ("GET", "/alert-rules"),
        ("POST", "/alert-rules"),
        ("GET", f"/alert-rules/{rule_a}"),
        ("PATCH", f"/alert-rules/{rule_a}"),
        ("DELETE", f"/alert-rules/{rule_a}"),
        ("GET", "/alarms"),
        ("GET", "/alarms/counts"),
        ("GET", f"/alarms/{alarm_a}"),
        ("GET", f"/alarms/{alarm_a}/history"),
        ("POST", f"/alarms/{alarm_a}/acknowledge"),
        ("POST", f"/alarms/{alarm_a}/clear"),
    ]:
        body = {"name": "x", "severity": "MAJOR", "condition": COND} if method != "GET" else None
        response = await client.request(
            method,
            a.url(path),
            json=body if method in ("POST", "PATCH") else None,
            headers=b.admin.headers,
        )
        assert_error(response, 403, "TENANT_FORBIDDEN")
    # A's ids inside B's own path: 404, and B's lists are empty.
    for path in (f"/alert-rules/{rule_a}", f"/alarms/{alarm_a}", f"/alarms/{alarm_a}/history"):
        assert_error(await client.get(b.url(path), headers=b.admin.headers), 404)
    assert_error(
        await client.post(b.url(f"/alarms/{alarm_a}/acknowledge"), headers=b.admin.headers), 404
    )
    assert data(await client.get(b.url("/alarms"), headers=b.admin.headers)) == []
    assert data(await client.get(b.url("/alert-rules"), headers=b.admin.headers)) == []
    # A body naming A's device from B is a 422, never a cross-tenant foreign key.
    response = await client.post(
        b.url("/alert-rules"),
        json={"name": "x", "severity": "MAJOR", "condition": COND, "device_id": str(device_a)},
        headers=b.admin.headers,
    )
    assert_error(response, 422, "DEVICE_NOT_FOUND")
