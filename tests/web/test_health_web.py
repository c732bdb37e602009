"""The device page shows the health score with its factors (a real browser, a real server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.factories import Factory
from tests.health.helpers import compute
from tests.web.test_dashboard_e2e import sign_in

Page = Any  # playwright.async_api.Page


async def test_device_page_shows_health_and_its_factors(
    page: Page, server_url: str, factory: Factory, owner_dsn: str
) -> None:
    tenant = await factory.tenant()
    device, token = await factory.device(tenant, name="tank-7", expected_interval_s=60)
    async with httpx.AsyncClient(base_url=server_url) as http:
        stored = await http.post(
            "/api/v1/ingest",
            headers={"X-Device-Token": token},
            json={"battery": 30, "rssi": -95, "temperature": 4.2},
        )
        assert stored.status_code == 200, stored.text
    await compute(owner_dsn, tenant.id, datetime.now(UTC))
    fresh, _ = await factory.device(tenant, name="just-registered")  # no score yet

    await sign_in(page, server_url, tenant.admin.email)
    await page.wait_for_url(f"{server_url}/")
    await page.goto(f"{server_url}/devices/view/?id={device}")
    card = page.get_by_test_id("device-health")
    score = card.get_by_test_id("health-score")
    await score.wait_for()
    # freshness 100 (30), battery 30 % = 60 (20), RSSI -95 = 50 (15), rejects 100 (15),
    # alarms 100 (20): (3000 + 1200 + 750 + 1500 + 2000) / 100 = 84.5, rounded half up: 85
    assert await score.inner_text() == "85"
    factors = card.get_by_test_id("health-factor")
    assert [await factors.nth(i).get_attribute("data-factor") for i in range(5)] == [
        "freshness",
        "battery",
        "signal",
        "rejects",
        "alarms",
    ]
    signal = card.locator("[data-factor=signal]")
    assert "RSSI -95 dBm" in await signal.inner_text()
    assert "good" in await card.inner_text()
    await page.screenshot(path="/tmp/gito-web-device-health.png", full_page=True)

    await page.goto(f"{server_url}/devices/view/?id={fresh}")
    await page.get_by_test_id("health-pending").wait_for()
