"""The alarm and notification pages in a real browser against a real server: an alert rule
created in the UI (the API's 422 shown next to the field), an alarm raised by HTTP ingest
appearing and escalating live, acknowledged with a comment, its history; a webhook channel
created in the UI (secret shown once), test messages delivered by a running notifier to a
real receiver, a failed delivery retried; and what a VIEWER may not see."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gito.auth.permissions import Role
from gito.config import Settings
from gito.db.rawpool import create_app_pool
from gito.notifications.notifier import Notifier
from tests.factories import Factory
from tests.notifications.receivers import webhook_receiver
from tests.web.test_dashboard_e2e import sign_in

Page = Any  # playwright.async_api.Page; typed loosely so collection works without playwright


async def live(page: Page) -> None:
    await page.get_by_test_id("live-state").and_(page.locator("[data-state=live]")).wait_for()


async def pick(page: Page, trigger: Any, option: str) -> None:
    """Choose `option` in a Radix select (its list is portalled to the page's end)."""
    await trigger.click()
    await page.get_by_role("option", name=option, exact=True).click()


@asynccontextmanager
async def running_notifier(settings: Settings) -> AsyncIterator[None]:
    """A notifier as `gito notifier` runs it, on the test database, in this process."""
    pool = await create_app_pool(settings.database_url or "", max_size=4)
    notifier = Notifier(
        settings.model_copy(update={"notify_timeout_s": 2.0, "notify_retry_base_s": 0.05}), pool
    )
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await pool.close()


async def test_rule_in_ui_alarm_live_acknowledge_and_history(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    _, token = await factory.device(tenant, name="cold-room-1", device_type="fridge")
    await factory.device(tenant, name="office-sensor", device_type="climate")
    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")

    nav = page.get_by_role("navigation", name="Main").first
    await nav.get_by_role("link", name="Alarms").click()
    await page.wait_for_url(f"{server_url}/alarms/")
    await page.get_by_role("link", name="Alert rules").click()
    await page.get_by_text("No alert rules yet").wait_for()

    await page.get_by_role("button", name="New rule").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name", exact=True).fill("Cold room too warm")
    await pick(page, dialog.get_by_label("Scope"), "Devices of a type")
    await dialog.get_by_label("Device type").fill("fridge")
    await dialog.get_by_label("Telemetry field").fill("temperature")
    await dialog.get_by_label("Condition value").fill("warm")
    await dialog.get_by_role("button", name="Add escalation").click()
    await dialog.get_by_label("Escalation 1 value").fill("12")
    await dialog.get_by_label("Duration (s)").fill("0")
    await dialog.get_by_role("button", name="Create rule").click()
    # The API's 422 `details` land next to the condition they are about.
    await (
        dialog.get_by_role("alert")
        .filter(has_text="operator '>' needs a finite number as value")
        .wait_for()
    )
    await page.screenshot(path="/tmp/gito-web-rule-form.png", full_page=True)
    await dialog.get_by_label("Condition value").fill("8")
    await dialog.get_by_role("button", name="Create rule").click()
    await dialog.wait_for(state="detached")
    row = page.get_by_test_id("rule-row").filter(has_text="Cold room too warm")
    await row.wait_for()
    assert await row.get_by_test_id("rule-condition").inner_text() == "temperature > 8"
    assert "fridge" in await row.inner_text()
    assert "CRITICAL" in await row.inner_text()  # the escalation step

    # Editing loads the rule back into the form and PATCHes the whole of it.
    await row.get_by_role("button", name="Edit Cold room too warm").click()
    dialog = page.get_by_role("dialog")
    assert await dialog.get_by_label("Telemetry field").input_value() == "temperature"
    assert await dialog.get_by_label("Condition value").input_value() == "8"
    assert await dialog.get_by_label("Escalation 1 value").input_value() == "12"
    assert await dialog.get_by_label("Device type").input_value() == "fridge"
    await dialog.get_by_label("Cooldown (s)").fill("600")
    await dialog.get_by_role("button", name="Save").click()
    await dialog.wait_for(state="detached")
    await row.get_by_text("cooldown 10 min").wait_for()

    # A no-data rule: silence instead of a condition.
    await page.get_by_role("button", name="New rule").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name", exact=True).fill("Fridge silent")
    await pick(page, dialog.get_by_label("Kind"), "No data")
    await dialog.get_by_label("Silence (s)").fill("900")
    await dialog.get_by_role("button", name="Create rule").click()
    await dialog.wait_for(state="detached")
    silent = page.get_by_test_id("rule-row").filter(has_text="Fridge silent")
    assert await silent.get_by_test_id("rule-condition").inner_text() == "silent > 15 min"
    await page.screenshot(path="/tmp/gito-web-rules.png", full_page=True)

    await (
        page.get_by_role("navigation", name="Alarm views")
        .get_by_role("link", name="Alarms")
        .click()
    )
    await page.get_by_text("No open alarms").wait_for()
    await live(page)

    async with httpx.AsyncClient(base_url=server_url) as http:
        ingest = {"X-Device-Token": token}
        stored = await http.post("/api/v1/ingest", headers=ingest, json={"temperature": 9.5})
        assert stored.status_code == 200, stored.text
        # No reload: the WebSocket's `alarm` event brings the new alarm into the list.
        alarm = page.get_by_test_id("alarm-row")
        await alarm.wait_for()
        assert await alarm.count() == 1
        assert await alarm.get_by_test_id("severity-badge").inner_text() == "MAJOR"
        assert await alarm.get_by_test_id("alarm-status").inner_text() == "active"
        assert await alarm.get_by_test_id("alarm-device").inner_text() == "cold-room-1"
        assert "9.5" in await alarm.get_by_test_id("alarm-value").inner_text()
        await page.get_by_test_id("alarm-count-MAJOR").filter(has_text="1").wait_for()

        escalated = await http.post("/api/v1/ingest", headers=ingest, json={"temperature": 13})
        assert escalated.status_code == 200, escalated.text
        await alarm.get_by_test_id("severity-badge").filter(has_text="CRITICAL").wait_for()
        await alarm.get_by_test_id("alarm-count").filter(has_text="2").wait_for()
        await page.get_by_test_id("alarm-count-CRITICAL").filter(has_text="1").wait_for()
        await page.get_by_test_id("alarm-count-MAJOR").filter(has_text="0").wait_for()
        await page.screenshot(path="/tmp/gito-web-alarms.png", full_page=True)

    await alarm.get_by_role("button", name="Acknowledge").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Comment (optional)").fill("technician on site")
    await dialog.get_by_role("button", name="Acknowledge", exact=True).click()
    await dialog.wait_for(state="detached")
    await alarm.get_by_test_id("alarm-status").filter(has_text="acknowledged").wait_for()
    # Acknowledged alarms can still be cleared, not acknowledged again.
    assert await alarm.get_by_role("button", name="Acknowledge").count() == 0
    assert await alarm.get_by_role("button", name="Clear").count() == 1

    await alarm.get_by_role("button", name="Details").click()
    await page.wait_for_url(re.compile(r".*/alarms/\?alarm=[0-9a-f-]{36}$"))
    detail = page.get_by_test_id("alarm-detail")
    history = detail.get_by_test_id("history-entry")
    await history.nth(2).wait_for()
    actions = [await history.nth(i).get_attribute("data-action") for i in range(3)]
    assert actions == ["raised", "escalated", "acknowledged"]
    assert await detail.get_by_test_id("history-comment").inner_text() == "technician on site"
    assert "by you" in await history.nth(2).inner_text()
    assert await detail.get_by_test_id("alarm-rule-name").inner_text() == "Cold room too warm"
    await page.screenshot(path="/tmp/gito-web-alarm-detail.png", full_page=True)

    # The detail is in the URL: a reload opens it again.
    await page.reload()
    detail = page.get_by_test_id("alarm-detail")
    await detail.get_by_test_id("history-entry").nth(2).wait_for()

    # Cleared by hand from the detail (a dialog over the panel): history and list follow.
    await detail.get_by_role("button", name="Clear", exact=True).click()
    confirm = page.get_by_role("dialog", name="Clear alarm")
    await confirm.get_by_label("Comment (optional)").fill("sensor replaced")
    await confirm.get_by_role("button", name="Clear", exact=True).click()
    await confirm.wait_for(state="detached")
    cleared = detail.locator("[data-testid=history-entry][data-action=cleared]")
    await cleared.get_by_text("sensor replaced").wait_for()
    await detail.get_by_test_id("alarm-status").filter(has_text="cleared").wait_for()
    await page.keyboard.press("Escape")
    await detail.wait_for(state="detached")
    # The default view lists open alarms only.
    await page.get_by_text("No open alarms").wait_for()
    await page.get_by_test_id("alarm-count-total").filter(has_text="0").wait_for()


async def test_webhook_channel_secret_once_test_delivery_and_retry(
    page: Page, server_url: str, factory: Factory, settings: Settings
) -> None:
    tenant = await factory.tenant()
    with webhook_receiver() as receiver:
        async with running_notifier(settings):
            await sign_in(page, server_url, tenant.admin.email)
            await page.wait_for_url(f"{server_url}/")
            nav = page.get_by_role("navigation", name="Main").first
            await nav.get_by_role("link", name="Notifications").click()
            await page.get_by_text("No notification channels yet").wait_for()

            await page.get_by_role("button", name="New channel").click()
            dialog = page.get_by_role("dialog")
            await dialog.get_by_label("Name (optional)").fill("On-call")
            await dialog.get_by_label("URL").fill(receiver.url)
            await dialog.get_by_role("button", name="Create channel").click()
            shown = dialog.get_by_test_id("secret-value")
            await shown.wait_for()
            secret = await shown.inner_text()
            assert len(secret) >= 16
            assert "shown only once" in await dialog.inner_text()
            await dialog.get_by_role("button", name="Done").click()
            await dialog.wait_for(state="detached")
            # Closed means gone: the secret is nowhere in the page any more.
            assert secret not in await page.content()

            channel = page.get_by_test_id("channel-row").filter(has_text="On-call")
            await channel.wait_for()
            assert receiver.url in await channel.inner_text()

            await channel.get_by_role("button", name="Send test").click()
            log = page.get_by_test_id("delivery-log")
            delivered = log.locator("[data-testid=delivery-row][data-status=DELIVERED]")
            await delivered.wait_for()
            assert await delivered.get_by_test_id("delivery-last-status").inner_text() != ""
            assert "200" in await delivered.get_by_test_id("delivery-last-status").inner_text()
            assert "test" in await delivered.inner_text()
            assert len(receiver.requests) == 1
            assert receiver.requests[0].json["event"] == "test"
            # The receiver verifies the request with the secret the UI showed once.
            assert receiver.requests[0].signed_with(secret)

            # A refused request (404) fails at once; Retry sends it again, now accepted.
            receiver.answer(404)
            await channel.get_by_role("button", name="Send test").click()
            failed = log.locator("[data-testid=delivery-row][data-status=FAILED]")
            await failed.wait_for()
            assert "404" in await failed.inner_text()
            await page.screenshot(path="/tmp/gito-web-notifications.png", full_page=True)
            await failed.get_by_role("button", name="Retry").click()
            await failed.wait_for(state="detached")
            await page.wait_for_function(
                "document.querySelectorAll("
                "'[data-testid=delivery-row][data-status=DELIVERED]').length === 2"
            )
            assert len(receiver.requests) == 3
            retried = receiver.requests[2]
            assert (
                retried.headers["x-gito-delivery"]
                == receiver.requests[1].headers["x-gito-delivery"]
            )
            assert retried.signed_with(secret)

            # Disabled channels send nothing, so the test button waits for it to be enabled.
            await channel.get_by_role("switch", name="On-call enabled").click()
            await (
                channel.get_by_role("switch", name="On-call enabled")
                .and_(page.locator("[aria-checked=false]"))
                .wait_for()
            )
            await channel.get_by_role("button", name="Send test", disabled=True).wait_for()
            await channel.get_by_role("switch", name="On-call enabled", disabled=False).wait_for()


async def test_viewer_sees_alarms_but_no_actions_and_no_notifications(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    _, token = await factory.device(tenant, name="freezer-2", device_type="fridge")
    viewer = await factory.user(tenant, Role.VIEWER)
    async with httpx.AsyncClient(base_url=server_url) as http:
        rule = await http.post(
            tenant.url("/alert-rules"),
            headers=tenant.admin.headers,
            json={
                "name": "Freezer thawing",
                "device_type": "fridge",
                "condition": {"field": "temperature", "operator": ">", "value": -10},
                "severity": "CRITICAL",
            },
        )
        assert rule.status_code == 201, rule.text
        stored = await http.post(
            "/api/v1/ingest", headers={"X-Device-Token": token}, json={"temperature": -2}
        )
        assert stored.status_code == 200, stored.text

    await sign_in(page, server_url, viewer.email)
    await page.wait_for_url(f"{server_url}/")
    nav = page.get_by_role("navigation", name="Main").first
    await nav.get_by_role("link", name="Alarms").click()
    alarm = page.get_by_test_id("alarm-row")
    await alarm.wait_for()
    assert "Freezer thawing" in await alarm.inner_text()
    assert await page.get_by_test_id("alarm-count-CRITICAL").inner_text() == "1"
    assert await nav.get_by_role("link", name="Notifications").count() == 0
    actions = re.compile(r"^(Acknowledge|Clear)\b")
    assert await page.get_by_role("button", name=actions).count() == 0

    await alarm.get_by_role("button", name="Details").click()
    detail = page.get_by_test_id("alarm-detail")
    await detail.get_by_test_id("history-entry").first.wait_for()
    assert await detail.get_by_role("button", name=actions).count() == 0
    await page.keyboard.press("Escape")
    await detail.wait_for(state="detached")

    await page.get_by_role("link", name="Alert rules").click()
    await page.get_by_test_id("rule-row").first.wait_for()
    assert await page.get_by_role("button", name="New rule").count() == 0
    assert await page.get_by_role("switch").count() == 0

    # Typed in by hand, the page says why there is nothing, rather than failing.
    await page.goto(f"{server_url}/notifications/")
    await page.get_by_text("Only tenant administrators manage notification channels").wait_for()
