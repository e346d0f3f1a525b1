"""A live stack per test for the browser tests: the test's database, a Redis (TEST_REDIS_URL or
the embedded stand-in), the Shiprocket sandbox, gunicorn and a real `flask rq worker`; and one
Chromium (Debian's, driven by Playwright) for the whole session, with a fresh context per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.admin_helpers import PASSWORD
from tests.conftest import TEST_REDIS_URL
from tests.server import ROOT, gunicorn
from tests.shipping_helpers import Sandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
OPS = "ops@example.in"
VIEWER = "viewer@example.in"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1366, "height": 900}
EXPECT_MS = 10_000  # default for Playwright's expect() and waits


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_MS)
    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis the web and worker processes share: TEST_REDIS_URL (emptied) or the stand-in."""
    if TEST_REDIS_URL:
        conn = redis.Redis.from_url(TEST_REDIS_URL)
        conn.flushdb()
        yield TEST_REDIS_URL
        conn.flushdb()
        conn.close()
        return
    from fulfilment.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis().start()
    yield embedded.url
    embedded.stop()


@pytest.fixture
def sandbox_server() -> Iterator[Sandbox]:
    from fulfilment.shiprocket.sandbox import SandboxServer

    server = SandboxServer().start()
    yield Sandbox(server)
    server.stop()


@dataclass
class Stack:
    base: str
    app: Any  # a Flask app on the same database and Redis, for setup and checks
    sandbox: Sandbox
    env: dict[str, str]

    def url(self, path: str) -> str:
        return self.base + path

    def order(self, order_id: str) -> dict[str, Any]:
        """The order as the API shows it, read from the database."""
        from tests.shipping_helpers import load

        return load(self.app, order_id)

    def wait_order(
        self, order_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if until(order):
                return order
            if time.monotonic() > deadline:
                raise AssertionError(f"{order_id} did not get there in {timeout} s: {order}")
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def stack(
    browser: Any,  # first, so a missing Chromium skips before anything starts
    make_app: Any,
    database_url: str,
    redis_url: str,
    sandbox_server: Sandbox,
    tmp_path: Path,
) -> Iterator[Stack]:
    from fulfilment.services.users import create_user

    # Built first: it writes the instance secrets (webhook secret, SECRET_KEY) the servers read.
    app = make_app(
        REDIS_CONNECTION_FACTORY=lambda: redis.Redis.from_url(redis_url),
        SHIPROCKET_SANDBOX_URL=sandbox_server.url,
    )
    with app.app_context():
        create_user(OPS, "ops", PASSWORD, actor="test")
        create_user(VIEWER, "viewer", PASSWORD, actor="test")
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FULFILMENT_INSTANCE_PATH": str(tmp_path / "instance"),
        "SHIPROCKET_SANDBOX_URL": sandbox_server.url,
        "LOG_LEVEL": "warning",
    }
    worker_log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "rq", "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    # Two sync workers serve a test's one or two pages; --preload imports the app once.
    web_env = {**env, "GUNICORN_CMD_ARGS": "--preload"}
    try:
        with gunicorn(web_env, workers=2, log=tmp_path / "gunicorn.log") as base:
            yield Stack(base=base, app=app, sandbox=sandbox_server, env=env)
            worker.terminate()  # stops alongside gunicorn, not after it
    finally:
        _stop(worker)
        worker_log.close()


@pytest.fixture
def new_page(browser: Any, stack: Stack) -> Iterator[Callable[..., Any]]:
    """Opens pages in fresh browser contexts (own cookies), desktop-sized unless told."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None, **options: Any) -> Any:
        context = browser.new_context(base_url=stack.base, viewport=viewport or DESKTOP, **options)
        context.set_default_timeout(EXPECT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


def login(page: Any, email: str = OPS, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def api(stack: Stack, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        stack.url(path),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kwargs,
    )
