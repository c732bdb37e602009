"""Browser tests of the dashboard: a real API server (uvicorn, subprocess) on the test
database serving the built `web/out`, driven by the system Chromium through Playwright.

They skip, saying why, when the dashboard is not built or Chromium is missing; `.ci/run`
builds the one and installs the other, so CI always runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gito.bench import free_port
from tests.conftest import TEST_JWT_SECRET

REPO = Path(__file__).resolve().parents[2]
WEB_OUT = REPO / "web" / "out"
CHROMIUM = Path(os.environ.get("GITO_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Generous for a cold 2-core CI machine; a healthy server answers within a second or two.
SERVER_START_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def web_out() -> Path:
    if not (WEB_OUT / "index.html").is_file():
        pytest.skip("web/out is not built: run `cd web && npm ci && npm run build`")
    return WEB_OUT


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` (Debian)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture(scope="session")
def server_url(web_out: Path, chromium: Path, database_url: str) -> Iterator[str]:
    """`http://127.0.0.1:<port>`: the whole app, API and dashboard, as `gito api` runs it."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="gito-web-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITO_", "MQTT_", "REDIS_", "CHIRPSTACK_"))
    }
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET_KEY=TEST_JWT_SECRET,
        APP_ENV="test",
        RATE_LIMIT_PER_MINUTE="1000000",
        GITO_DATA_DIR=str(workdir / "data"),
        LOG_LEVEL="WARNING",
    )
    log = (workdir / "server.log").open("wb")
    # cwd is a scratch directory, so a developer's .env cannot leak into the test server.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "gito.api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}:\n"
                    + (workdir / "server.log").read_text(errors="replace")
                )
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in time")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
async def browser_context(chromium: Path) -> AsyncIterator[object]:
    """One Chromium for the run, with a fresh profile. Each test opens its own page, and
    the dashboard keeps its session in sessionStorage (per tab), so tests do not share a
    login."""
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="gito-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=str(chromium),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1440, "height": 900},
                locale="en-US",
                timezone_id="UTC",
            )
            try:
                yield context
            finally:
                await context.close()


@pytest.fixture
async def page(browser_context: object, server_url: str) -> AsyncIterator[object]:
    """A new tab; fails the test on any uncaught script error in the page."""
    from playwright.async_api import BrowserContext

    assert isinstance(browser_context, BrowserContext)
    tab = await browser_context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        await tab.close()
    assert not errors, f"uncaught errors in the page: {errors}"
