"""Rule evaluation through the real storage path (`write_batch`) on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import orjson

from gito.alarms.engine import REACTIVATED, evaluate_no_data
from tests.alarms.helpers import alarm_events, alarms_of, at, history_of, make_rule, send
from tests.api.helpers import data
from tests.factories import Factory


async def test_threshold_raises_deduplicates_escalates_and_clears(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        severity="MAJOR",
        escalation=[{"operator": ">", "value": 40, "severity": "CRITICAL"}],
    )
    result = await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    assert [e["action"] for e in alarm_events(result)] == ["raised"]
    await send(owner_dsn, tenant.id, device, [(at(10), {"temperature": 35})])
    result = await send(owner_dsn, tenant.id, device, [(at(20), {"temperature": 45.5})])
    assert [e["action"] for e in alarm_events(result)] == ["escalated"]
    (alarm,) = await alarms_of(owner_dsn, rule)
    assert (alarm["status"], alarm["severity"], alarm["count"]) == ("ACTIVE", "CRITICAL", 3)
    assert orjson.loads(alarm["last_value"]) == 45.5
    assert orjson.loads(alarm["first_value"]) == 31
    assert alarm["last_occurrence"] == at(20)

    result = await send(owner_dsn, tenant.id, device, [(at(30), {"temperature": 20})])
    assert [e["action"] for e in alarm_events(result)] == ["cleared"]
    # A breach after a clear is a new alarm, not the old one reopened.
    await send(owner_dsn, tenant.id, device, [(at(40), {"temperature": 33})])
    first, second = await alarms_of(owner_dsn, rule)
    assert (first["status"], first["cleared_at"]) == ("CLEARED", at(30))
    assert (second["status"], second["severity"], second["count"]) == ("ACTIVE", "MAJOR", 1)
    assert await history_of(owner_dsn, first["id"]) == ["raised", "escalated", "cleared"]


async def test_one_batch_walks_the_lifecycle_in_time_order(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client, tenant, condition={"field": "temperature", "operator": ">=", "value": 30}
    )
    # Out of order within the batch: evaluation sorts by reading time.
    await send(
        owner_dsn,
        tenant.id,
        device,
        [
            (at(3), {"temperature": 31}),
            (at(1), {"temperature": 30}),
            (at(2), {"temperature": 10}),
            (at(4), {"temperature": 32}),
        ],
    )
    first, second = await alarms_of(owner_dsn, rule)
    assert (first["status"], first["count"], first["cleared_at"]) == ("CLEARED", 1, at(2))
    assert (second["status"], second["count"]) == ("ACTIVE", 2)


async def test_duration_must_hold_without_a_break_and_survives_restarts(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        duration_s=300,
    )
    # Each `send` is a new connection and batch: the "since" lives in the database.
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    await send(owner_dsn, tenant.id, device, [(at(200), {"temperature": 31})])
    assert await alarms_of(owner_dsn, rule) == []
    await send(owner_dsn, tenant.id, device, [(at(250), {"temperature": 29})])  # a break
    await send(owner_dsn, tenant.id, device, [(at(400), {"temperature": 31})])
    await send(owner_dsn, tenant.id, device, [(at(650), {"temperature": 31})])
    assert await alarms_of(owner_dsn, rule) == []
    await send(owner_dsn, tenant.id, device, [(at(700), {"temperature": 32})])
    (alarm,) = await alarms_of(owner_dsn, rule)
    assert alarm["first_occurrence"] == at(700)


async def test_clear_condition_gives_hysteresis(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        clear_condition={"operator": "<", "value": 25},
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    await send(owner_dsn, tenant.id, device, [(at(1), {"temperature": 28})])
    assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["ACTIVE"]
    await send(owner_dsn, tenant.id, device, [(at(2), {"temperature": 24})])
    assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["CLEARED"]


async def test_operators_on_booleans_strings_and_ranges(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    door = await make_rule(
        client, tenant, condition={"field": "door", "operator": "==", "value": True}
    )
    mode = await make_rule(
        client, tenant, condition={"field": "mode", "operator": "!=", "value": "eco"}
    )
    band = await make_rule(
        client, tenant, condition={"field": "humidity", "operator": "outside", "value": [20, 60]}
    )
    inside = await make_rule(
        client, tenant, condition={"field": "rssi", "operator": "between", "value": [-120, -100]}
    )
    await send(
        owner_dsn,
        tenant.id,
        device,
        [(at(0), {"door": True, "mode": "eco", "humidity": 70, "rssi": -90})],
    )
    assert len(await alarms_of(owner_dsn, door)) == 1
    assert await alarms_of(owner_dsn, mode) == []
    assert len(await alarms_of(owner_dsn, band)) == 1
    assert await alarms_of(owner_dsn, inside) == []
    # A value of another type says nothing: 1 is not `true`, "70" is not a number.
    await send(owner_dsn, tenant.id, device, [(at(1), {"door": 1, "humidity": "40"})])
    assert [a["status"] for a in await alarms_of(owner_dsn, door)] == ["ACTIVE"]
    assert [a["count"] for a in await alarms_of(owner_dsn, band)] == [1]
    await send(
        owner_dsn,
        tenant.id,
        device,
        [(at(2), {"door": False, "mode": "boost", "humidity": 40, "rssi": -110})],
    )
    assert [a["status"] for a in await alarms_of(owner_dsn, door)] == ["CLEARED"]
    assert [a["status"] for a in await alarms_of(owner_dsn, band)] == ["CLEARED"]
    assert len(await alarms_of(owner_dsn, mode)) == 1
    assert len(await alarms_of(owner_dsn, inside)) == 1


async def test_scopes_device_type_site_device_and_tenant(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    site = await factory.site(tenant)
    fridge, _ = await factory.device(tenant, device_type="fridge", site_id=site)
    meter, _ = await factory.device(tenant, device_type="meter")
    cond = {"field": "t", "operator": ">", "value": 0}
    by_type = await make_rule(client, tenant, condition=cond, device_type="fridge")
    by_site = await make_rule(client, tenant, condition=cond, site_id=str(site))
    by_device = await make_rule(client, tenant, condition=cond, device_id=str(meter))
    everyone = await make_rule(client, tenant, condition=cond)
    for device in (fridge, meter):
        await send(owner_dsn, tenant.id, device, [(at(0), {"t": 5})])
    assert [a["device_id"] for a in await alarms_of(owner_dsn, by_type)] == [fridge]
    (site_alarm,) = await alarms_of(owner_dsn, by_site)
    assert (site_alarm["device_id"], site_alarm["site_id"]) == (fridge, site)
    assert [a["device_id"] for a in await alarms_of(owner_dsn, by_device)] == [meter]
    assert {a["device_id"] for a in await alarms_of(owner_dsn, everyone)} == {fridge, meter}


async def test_cooldown_suppresses_a_new_alarm_soon_after_a_clear(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        cooldown_s=600,
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    await send(owner_dsn, tenant.id, device, [(at(10), {"temperature": 20})])
    await send(owner_dsn, tenant.id, device, [(at(100), {"temperature": 31})])
    assert len(await alarms_of(owner_dsn, rule)) == 1
    await send(owner_dsn, tenant.id, device, [(at(700), {"temperature": 31})])
    assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["CLEARED", "ACTIVE"]


async def test_rule_changes_apply_to_the_next_batch(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        enabled=False,
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    assert await alarms_of(owner_dsn, rule) == []
    response = await client.patch(
        tenant.url(f"/alert-rules/{rule}"),
        json={"enabled": True, "condition": {"field": "temperature", "operator": ">", "value": 50}},
        headers=tenant.admin.headers,
    )
    assert data(response)["condition"]["value"] == 50
    await send(owner_dsn, tenant.id, device, [(at(1), {"temperature": 31})])
    assert await alarms_of(owner_dsn, rule) == []
    await send(owner_dsn, tenant.id, device, [(at(2), {"temperature": 51})])
    assert len(await alarms_of(owner_dsn, rule)) == 1
    response = await client.delete(tenant.url(f"/alert-rules/{rule}"), headers=tenant.admin.headers)
    assert response.status_code == 204
    assert await alarms_of(owner_dsn, rule) == []
    result = await send(owner_dsn, tenant.id, device, [(at(3), {"temperature": 51})])
    assert alarm_events(result) == []


async def test_manual_clear_then_a_breach_raises_a_new_alarm(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client, tenant, condition={"field": "temperature", "operator": ">", "value": 30}
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    (alarm,) = await alarms_of(owner_dsn, rule)
    response = await client.post(
        tenant.url(f"/alarms/{alarm['id']}/clear"),
        json={"comment": "fixed the door"},
        headers=tenant.admin.headers,
    )
    assert data(response)["status"] == "CLEARED"
    await send(owner_dsn, tenant.id, device, [(at(10), {"temperature": 31})])
    first, second = await alarms_of(owner_dsn, rule)
    assert first["clear_comment"] == "fixed the door"
    assert first["cleared_by"] == tenant.admin.user_id
    assert (second["status"], second["count"]) == ("ACTIVE", 1)


async def _set_last_seen(owner_dsn: str, device: object, when: datetime) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute("UPDATE devices SET last_seen = $2 WHERE id = $1", device, when)
    finally:
        await conn.close()


async def test_no_data_rules_raise_and_clear(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    silent, _ = await factory.device(tenant, device_type="gw")
    chatty, _ = await factory.device(tenant, device_type="gw")
    slow, _ = await factory.device(tenant, device_type="slow", expected_interval_s=600)
    fixed = await make_rule(
        client, tenant, kind="no_data", no_data_s=300, device_type="gw", severity="MINOR"
    )
    factor = await make_rule(client, tenant, kind="no_data", no_data_factor=2, device_type="slow")
    now = datetime.now(UTC)
    await _set_last_seen(owner_dsn, silent, now - timedelta(minutes=10))
    await _set_last_seen(owner_dsn, chatty, now - timedelta(minutes=1))
    await _set_last_seen(owner_dsn, slow, now - timedelta(minutes=15))  # < 2 x 10 min
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        assert await evaluate_no_data(conn, now) >= 1
        (alarm,) = await alarms_of(owner_dsn, fixed)
        assert (alarm["device_id"], alarm["severity"], alarm["status"]) == (
            silent,
            "MINOR",
            "ACTIVE",
        )
        assert await alarms_of(owner_dsn, factor) == []
        # Still silent: still one open alarm, not a second one.
        await evaluate_no_data(conn, now + timedelta(minutes=1))
        assert len(await alarms_of(owner_dsn, fixed, silent)) == 1
        later = now + timedelta(minutes=10)
        await _set_last_seen(owner_dsn, silent, later)
        await evaluate_no_data(conn, later)
        assert [a["status"] for a in await alarms_of(owner_dsn, fixed, silent)] == ["CLEARED"]
        assert [a["device_id"] for a in await alarms_of(owner_dsn, fixed)] == [silent, chatty]
        assert [a["device_id"] for a in await alarms_of(owner_dsn, factor)] == [slow]
    finally:
        await conn.close()


async def test_escalation_makes_an_acknowledged_alarm_active_again(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    headers = tenant.admin.headers
    await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        severity="MINOR",
        escalation=[
            {"operator": ">", "value": 40, "severity": "MAJOR"},
            {"operator": ">", "value": 50, "severity": "CRITICAL"},
        ],
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    (alarm,) = data(await client.get(tenant.url("/alarms"), headers=headers))
    url = tenant.url(f"/alarms/{alarm['id']}")
    acked = data(await client.post(f"{url}/acknowledge", json={"comment": "seen"}, headers=headers))
    assert acked["status"] == "ACKNOWLEDGED"

    # A repeat at the same severity leaves the acknowledgement alone.
    await send(owner_dsn, tenant.id, device, [(at(10), {"temperature": 35})])
    still = data(await client.get(url, headers=headers))
    assert (still["status"], still["count"], still["ack_comment"]) == ("ACKNOWLEDGED", 2, "seen")

    result = await send(owner_dsn, tenant.id, device, [(at(20), {"temperature": 45})])
    (event,) = alarm_events(result)
    assert (event["action"], event["severity"], event["status"]) == ("escalated", "MAJOR", "ACTIVE")
    escalated = data(await client.get(url, headers=headers))
    assert (escalated["status"], escalated["severity"], escalated["count"]) == (
        "ACTIVE",
        "MAJOR",
        3,
    )
    # The acknowledgement is withdrawn on the alarm and kept in its history.
    assert escalated["acknowledged_at"] is None
    assert escalated["acknowledged_by"] is None and escalated["ack_comment"] is None
    history = data(await client.get(f"{url}/history", headers=headers))
    assert [(h["action"], h["severity"]) for h in history] == [
        ("raised", "MINOR"),
        ("acknowledged", "MINOR"),
        ("escalated", "MAJOR"),
    ]
    assert (history[1]["comment"], history[1]["user_id"]) == ("seen", str(tenant.admin.user_id))
    assert history[2]["comment"] == REACTIVATED and history[2]["value"] == 45
    counts = data(await client.get(tenant.url("/alarms/counts"), headers=headers))
    assert (counts["MAJOR"], counts["MINOR"], counts["total"]) == (1, 0, 1)

    # Acknowledged again, then escalated and cleared within one batch: the history has both,
    # and the clear wins.
    await client.post(f"{url}/acknowledge", json={"comment": "again"}, headers=headers)
    result = await send(
        owner_dsn,
        tenant.id,
        device,
        [(at(30), {"temperature": 55}), (at(31), {"temperature": 20})],
    )
    assert [(e["action"], e["status"]) for e in alarm_events(result)] == [
        ("escalated", "ACTIVE"),
        ("cleared", "CLEARED"),
    ]
    final = data(await client.get(url, headers=headers))
    assert (final["status"], final["severity"], final["acknowledged_by"]) == (
        "CLEARED",
        "CRITICAL",
        None,
    )
    history = data(await client.get(f"{url}/history", headers=headers))
    assert [h["action"] for h in history][-3:] == ["acknowledged", "escalated", "cleared"]
    assert history[-2]["comment"] == REACTIVATED


async def test_escalation_of_an_active_alarm_has_no_comment(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant)
    rule = await make_rule(
        client,
        tenant,
        condition={"field": "temperature", "operator": ">", "value": 30},
        escalation=[{"operator": ">", "value": 40, "severity": "CRITICAL"}],
    )
    await send(owner_dsn, tenant.id, device, [(at(0), {"temperature": 31})])
    result = await send(owner_dsn, tenant.id, device, [(at(1), {"temperature": 41})])
    assert [(e["action"], e["status"]) for e in alarm_events(result)] == [("escalated", "ACTIVE")]
    (alarm,) = await alarms_of(owner_dsn, rule)
    conn = await asyncpg.connect(owner_dsn)
    try:
        comments = await conn.fetch(
            "SELECT action, comment FROM alarm_events WHERE alarm_id = $1 ORDER BY id", alarm["id"]
        )
    finally:
        await conn.close()
    assert [tuple(c) for c in comments] == [("raised", None), ("escalated", None)]


async def test_no_data_rules_honour_the_cooldown(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, device_type="cooled")
    cooled = await make_rule(
        client, tenant, kind="no_data", no_data_s=300, device_type="cooled", cooldown_s=3600
    )
    plain = await make_rule(client, tenant, kind="no_data", no_data_s=300, device_type="cooled")
    now = datetime.now(UTC)
    await _set_last_seen(owner_dsn, device, now - timedelta(minutes=10))
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        await evaluate_no_data(conn, now)
        assert [a["status"] for a in await alarms_of(owner_dsn, cooled)] == ["ACTIVE"]
        # The device reports: both alarms clear.
        back = now + timedelta(minutes=10)
        await _set_last_seen(owner_dsn, device, back)
        await evaluate_no_data(conn, back)
        assert [a["status"] for a in await alarms_of(owner_dsn, cooled)] == ["CLEARED"]
        assert [a["status"] for a in await alarms_of(owner_dsn, plain)] == ["CLEARED"]
        # Silent again 20 minutes later: within the hour's cooldown, only the rule without
        # one raises a new alarm.
        await evaluate_no_data(conn, back + timedelta(minutes=20))
        assert [a["status"] for a in await alarms_of(owner_dsn, cooled)] == ["CLEARED"]
        assert [a["status"] for a in await alarms_of(owner_dsn, plain)] == ["CLEARED", "ACTIVE"]
        # An hour after the clear, the cooled rule raises again.
        await evaluate_no_data(conn, back + timedelta(minutes=61))
        statuses = [a["status"] for a in await alarms_of(owner_dsn, cooled)]
        assert statuses == ["CLEARED", "ACTIVE"]
    finally:
        await conn.close()


async def test_no_data_cooldown_follows_a_manual_clear(
    client: httpx.AsyncClient, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, _ = await factory.device(tenant, device_type="manual")
    rule = await make_rule(
        client, tenant, kind="no_data", no_data_s=300, device_type="manual", cooldown_s=600
    )
    now = datetime.now(UTC)
    await _set_last_seen(owner_dsn, device, now - timedelta(minutes=10))
    conn = await asyncpg.connect(owner_dsn, server_settings={"role": "gito_app"})
    try:
        await evaluate_no_data(conn, now)
        (alarm,) = await alarms_of(owner_dsn, rule)
        response = await client.post(
            tenant.url(f"/alarms/{alarm['id']}/clear"), headers=tenant.admin.headers
        )
        cleared_at = datetime.fromisoformat(data(response)["cleared_at"])
        # Still silent, but cleared by hand a moment ago: no new alarm within the cooldown.
        await evaluate_no_data(conn, cleared_at + timedelta(minutes=5))
        assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["CLEARED"]
        await evaluate_no_data(conn, cleared_at + timedelta(minutes=11))
        assert [a["status"] for a in await alarms_of(owner_dsn, rule)] == ["CLEARED", "ACTIVE"]
    finally:
        await conn.close()
