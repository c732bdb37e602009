"""The dashboard in a real browser against a real server: sign-in, the device list and its
search, creating a device (token shown once), the device page, token rotation, CSV import
errors, and role-dependent actions."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gito.auth.permissions import Role
from tests.factories import PASSWORD, Factory, TenantFixture

Page = Any  # playwright.async_api.Page; typed loosely so collection works without playwright


async def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def fleet(factory: Factory) -> tuple[TenantFixture, dict[str, uuid.UUID]]:
    tenant = await factory.tenant()
    site = await factory.site(tenant, "Plant North")
    ids = {}
    for name, device_type, extra in (
        ("boiler-room-temp", "temperature", {"site_id": site, "tags": ["hvac", "basement"]}),
        ("pump-station-2", "meter", {"dev_eui": "a1b2c3d4e5f60718"}),
        ("roof-weather", "weather", {"site_id": site}),
    ):
        ids[name], _ = await factory.device(tenant, name=name, device_type=device_type, **extra)
    return tenant, ids


async def test_sign_in_list_search_and_screenshot(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant, _ = await fleet(factory)
    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")
    await page.get_by_role("heading", name="Overview").wait_for()
    await page.get_by_test_id("count-offline").wait_for()

    await page.get_by_role("link", name="Devices").first.click()
    rows = page.get_by_test_id("device-row")
    await rows.first.wait_for()
    assert await rows.count() == 3
    assert await page.get_by_test_id("pagination-summary").inner_text() == "1\u20133 of 3"
    # The site column shows the site's name, not its id.
    assert await page.get_by_role("cell", name="Plant North").count() == 2
    await page.screenshot(path="/tmp/gito-web-devices.png", full_page=True)

    await page.get_by_label("Search devices").fill("pump")
    await page.wait_for_url(re.compile(r".*[?&]q=pump"))
    await page.wait_for_function(
        "document.querySelectorAll('[data-testid=device-row]').length === 1"
    )
    assert await rows.first.get_by_role("link").inner_text() == "pump-station-2"

    # A reload keeps both the session (sessionStorage) and the filter (query string).
    await page.reload()
    await rows.first.wait_for()
    assert await rows.count() == 1


async def test_wrong_password_shows_error(page: Page, server_url: str, factory: Factory) -> None:
    tenant = await factory.tenant()
    await sign_in(page, server_url, tenant.admin.email, "not the password")
    # (Next.js keeps an empty role=alert route announcer on every page, hence the filter.)
    await page.get_by_role("alert").filter(has_text="Wrong e-mail or password").wait_for()
    assert page.url.startswith(f"{server_url}/login")


async def test_signed_out_visit_redirects_to_login_and_back(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant, _ = await fleet(factory)
    await page.goto(f"{server_url}/devices/?status=offline")
    await page.wait_for_url(re.compile(r".*/login/\?next="))
    await page.get_by_label("E-mail").fill(tenant.admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/devices/\?status=offline$"))
    await page.get_by_test_id("device-row").first.wait_for()


async def test_create_device_token_once_detail_and_rotate(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant, _ = await fleet(factory)
    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")
    await page.goto(f"{server_url}/devices/")

    await page.get_by_role("button", name="New device").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("cold-store-7")
    await dialog.get_by_label("Type").fill("temperature")
    await dialog.get_by_label("Tags").fill("cold-chain, warehouse")
    await dialog.get_by_label("Metadata (JSON object)").fill('{"floor": 1}')
    await dialog.get_by_role("button", name="Create device").click()

    secret = dialog.get_by_test_id("secret-value")
    await secret.wait_for()
    token = await secret.inner_text()
    assert len(token) >= 20
    assert "shown only once" in await dialog.inner_text()
    await dialog.get_by_role("button", name="Done").click()
    await dialog.wait_for(state="detached")
    # Closed means gone: the token is nowhere in the page any more.
    assert token not in await page.content()
    await page.get_by_role("link", name="cold-store-7").wait_for()

    await page.get_by_role("link", name="cold-store-7").click()
    await page.wait_for_url(re.compile(r".*/devices/view/\?id=[0-9a-f-]{36}$"))
    assert await page.get_by_test_id("device-name").inner_text() == "cold-store-7"
    # No telemetry yet (or no telemetry endpoint yet): an empty state, not an error.
    await page.get_by_text("No telemetry yet").wait_for()
    assert await page.get_by_text("cold-chain").is_visible()
    await page.screenshot(path="/tmp/gito-web-device-new.png", full_page=True)

    await page.get_by_role("button", name="Rotate token").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Rotate token").click()
    new_secret = dialog.get_by_test_id("secret-value")
    await new_secret.wait_for()
    new_token = await new_secret.inner_text()
    assert new_token != token and len(new_token) >= 20
    await dialog.get_by_role("button", name="Done").click()

    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_text("device.credentials.rotate").wait_for()
    assert await page.get_by_text("device.create").first.is_visible()


async def test_csv_import_shows_row_errors_then_imports(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")
    await page.goto(f"{server_url}/devices/")
    await page.get_by_role("button", name="Import CSV").click()
    dialog = page.get_by_role("dialog")

    bad = b"name,device_type,dev_eui\nok-1,sensor,\n,sensor,\nok-3,sensor,nothex\n"
    await dialog.get_by_label("CSV file").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}
    )
    await dialog.get_by_role("button", name="Import", exact=True).click()
    errors = dialog.get_by_test_id("import-errors")
    await errors.wait_for()
    text = await errors.inner_text()
    assert re.search(r"\b3\b", text) and re.search(r"\b4\b", text)
    assert "dev_eui" in text

    good = b"name,device_type,tags\nimported-a,sensor,a;b\nimported-b,sensor,\n"
    await dialog.get_by_label("CSV file").set_input_files(
        {"name": "good.csv", "mimeType": "text/csv", "buffer": good}
    )
    await dialog.get_by_role("button", name="Import", exact=True).click()
    await dialog.get_by_text("Imported 2 devices").wait_for()
    assert await dialog.get_by_role("button", name="Download tokens").is_visible()
    await dialog.get_by_role("button", name="Done").click()
    await page.get_by_role("link", name="imported-a").wait_for()


async def test_viewer_sees_no_write_actions(page: Page, server_url: str, factory: Factory) -> None:
    tenant, ids = await fleet(factory)
    viewer = await factory.user(tenant, Role.VIEWER)
    await sign_in(page, server_url, viewer.email)
    await page.wait_for_url(f"{server_url}/")
    await page.goto(f"{server_url}/devices/")
    await page.get_by_test_id("device-row").first.wait_for()
    assert await page.get_by_role("button", name="New device").count() == 0
    assert await page.get_by_role("button", name="Import CSV").count() == 0
    nav = page.get_by_role("navigation", name="Main").first
    assert await nav.get_by_role("link", name="Devices").is_visible()
    assert await nav.get_by_role("link", name="Users").count() == 0
    assert await nav.get_by_role("link", name="Audit log").count() == 0

    await page.goto(f"{server_url}/devices/view/?id={ids['roof-weather']}")
    await page.get_by_test_id("device-name").wait_for()
    for action in ("Edit", "Rotate token", "Delete"):
        assert await page.get_by_role("button", name=action).count() == 0


async def test_tenant_admin_manages_users_and_sees_audit(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")
    await page.get_by_role("link", name="Users").first.click()
    await page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog")
    email = f"operator-{uuid.uuid4().hex[:8]}@example.com"
    await dialog.get_by_label("E-mail").fill(email)
    await dialog.get_by_label("Password").fill("short")
    await dialog.get_by_role("button", name="Create user").click()
    # The server's 422 lands on the field it is about.
    field_error = dialog.get_by_role("alert").filter(has_text=re.compile("at least 8", re.I))
    await field_error.wait_for()
    await dialog.get_by_label("Password").fill("a long enough passphrase")
    await dialog.get_by_role("button", name="Create user").click()
    await dialog.wait_for(state="detached")
    await page.get_by_role("cell", name=email, exact=True).wait_for()

    await page.get_by_role("link", name="Audit log").first.click()
    await page.get_by_text("user.create").first.wait_for()


async def test_unknown_page_shows_dashboard_404(page: Page, server_url: str) -> None:
    response = await page.goto(f"{server_url}/no/such/page")
    assert response is not None and response.status == 404
    await page.get_by_text("This page does not exist").wait_for()


async def test_telemetry_chart_latest_values_and_live_updates(
    page: Page, server_url: str, factory: Factory
) -> None:
    tenant = await factory.tenant()
    device_id, token = await factory.device(tenant, name="greenhouse-1", device_type="climate")
    now = datetime.now(UTC)
    history = [
        {
            "ts": (now - timedelta(minutes=5 * i)).isoformat(),
            "values": {"temperature": round(18 + 0.4 * (24 - i), 2), "humidity": 40 + i},
        }
        for i in range(24, 0, -1)
    ]
    async with httpx.AsyncClient(base_url=server_url) as http:
        stored = await http.post("/api/v1/ingest", headers={"X-Device-Token": token}, json=history)
        assert stored.status_code == 200, stored.text

        await sign_in(page, server_url, tenant.admin.email)
        await page.wait_for_url(f"{server_url}/")
        await page.goto(f"{server_url}/devices/view/?id={device_id}")
        latest = page.get_by_test_id("latest-values")
        await latest.wait_for()
        assert "temperature" in await latest.inner_text()
        # uPlot draws into a canvas once the series arrived.
        await page.locator("[data-testid=telemetry-chart] canvas").wait_for()
        await page.get_by_test_id("live-state").and_(page.locator("[data-state=live]")).wait_for()
        await page.screenshot(path="/tmp/gito-web-device.png", full_page=True)

        # A new message reaches the open page over the WebSocket, without a reload.
        live = await http.post(
            "/api/v1/ingest", headers={"X-Device-Token": token}, json={"temperature": 31.75}
        )
        assert live.status_code == 200, live.text
        await latest.get_by_text("31.75").wait_for()

        await page.get_by_role("link", name="Overview").first.click()
        await page.get_by_test_id("live-state").and_(page.locator("[data-state=live]")).wait_for()
        await http.post(
            "/api/v1/ingest", headers={"X-Device-Token": token}, json={"temperature": 29.5}
        )
        feed = page.get_by_test_id("live-feed")
        await feed.get_by_text("temperature=29.5").wait_for()
        # Named once the recently-active device list has loaded (an id prefix until then).
        await feed.get_by_role("link", name="greenhouse-1").first.wait_for()
        await page.screenshot(path="/tmp/gito-web-overview.png", full_page=True)
