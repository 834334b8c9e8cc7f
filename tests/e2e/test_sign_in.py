"""Real OpenID Connect sign-in in Chromium against a local mock provider (``oidc-provider-mock``), one user per role.

The app runs with ``--secrets.files`` pointing at a secrets.toml whose ``[auth]`` names the mock provider and whose
``[roles]`` maps the ``groups`` claim: vera (viewer), paula (pm), tom (trader). Each test signs in through the
provider's page exactly as a user does (app button → provider → "Authorize as …" → back in the app).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWPORT
from tests.e2e.helpers import ROOT, free_port, goto_page, screenshot, wait_for_app, wait_until_health_ok
from tests.support.simulator import ServedSimulator

pytestmark = pytest.mark.slow

USERS = {
    "vera": ("vera@firm.example", ["analysts"]),
    "paula": ("paula@firm.example", ["pms"]),
    "tom": ("tom@firm.example", ["traders"]),
}
MODEL = "Technology Leaders"


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory: pytest.TempPathFactory, simulator_urls: ServedSimulator) -> Iterator[str]:
    """The app with sign-in configured against a mock OIDC provider on a free port."""
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=sub, claims={"email": email, "groups": groups}) for sub, (email, groups) in USERS.items()]
    folder = tmp_path_factory.mktemp("signin")
    with run_server_in_thread(user_claims=users) as provider:
        port = free_port()
        secrets = folder / "secrets.toml"
        secrets.write_text(
            f"""[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{"c" * 32}"
client_id = "rebalancer"
client_secret = "secret"
server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"

[roles]
claim = "groups"
viewer = ["analysts"]
pm = ["pms"]
trader = ["traders"]
"""
        )
        env = {
            **os.environ,
            **dict(simulator_urls),
            "MONGODB_URI": f"mongoeco:///{folder}/e2e.sqlite3",
            "DEMO_SEED": "1",
            "PYTHONUNBUFFERED": "1",
        }
        log = open(folder / "server.log", "w+")  # noqa: SIM115 - a file, not an unread PIPE
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
                "--browser.gatherUsageStats=false", "--server.fileWatcherType=none", f"--secrets.files={secrets}",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_health_ok(f"http://127.0.0.1:{port}/_stcore/health", timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


@pytest.fixture
def new_page(browser: Any, signed_app: str) -> Iterator[Page]:
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(signed_app)
    wait_for_app(page)
    yield page
    ctx.close()


def sign_in(page: Page, who: str) -> None:
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Sign in to use the rebalancer")
    expect(page.get_by_test_id("stHeading")).to_have_count(0)  # nothing of a page before sign-in
    main.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=f"Authorize as {who}").click()
    page.wait_for_url("**/127.0.0.1:*/**", timeout=30_000)
    wait_for_app(page)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {USERS[who][0]}")


def run_whatif(page: Page) -> None:
    goto_page(page, "What-if rebalance")
    box = page.get_by_test_id("stSelectbox").filter(has_text="Investment model").first
    box.click()
    page.keyboard.type(MODEL, delay=10)
    page.get_by_role("option").filter(has_text=MODEL).first.click()
    wait_for_app(page)
    page.get_by_role("button", name="Run what-if").click()
    page.wait_for_timeout(250)
    wait_for_app(page, timeout=90_000)
    expect(page.get_by_test_id("stExpander").filter(has_text="Done:").last).to_be_visible(timeout=90_000)
    goto_page(page, "Orders & export")


def test_viewer_reads_but_cannot_change_models_run_or_submit(new_page: Page) -> None:
    page = new_page
    sign_in(page, "vera")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("viewer")
    expect(page.get_by_test_id("stHeading").first).to_contain_text("Investment models")
    expect(page.get_by_role("button", name="New model")).to_be_disabled()
    screenshot(page, "60_signin_viewer_models")
    goto_page(page, "What-if rebalance")
    expect(page.get_by_role("button", name="Run what-if")).to_be_disabled()
    expect(page.get_by_test_id("stMain")).to_contain_text("run what-ifs needs the pm or trader role")
    goto_page(page, "Orders & export")  # the viewer tries to submit: there is nothing a viewer can send
    expect(page.get_by_role("button", name="Submit orders…")).to_have_count(0)
    screenshot(page, "61_signin_viewer_orders")


def test_pm_runs_and_may_save_but_not_submit(new_page: Page) -> None:
    page = new_page
    sign_in(page, "paula")
    run_whatif(page)
    expect(page.get_by_role("button", name="Save rebalance…")).to_be_enabled()
    expect(page.get_by_role("button", name="Submit orders…")).to_be_disabled()
    expect(page.get_by_test_id("stMain")).to_contain_text("Submitting is disabled: submit orders needs the trader role")
    screenshot(page, "62_signin_pm_orders", full_height=1600)


def test_trader_submits_and_may_not_save(new_page: Page, signed_app: str) -> None:
    page = new_page
    sign_in(page, "tom")
    run_whatif(page)
    expect(page.get_by_role("button", name="Save rebalance…")).to_be_disabled()
    page.get_by_role("button", name="Submit orders…").click()
    wait_for_app(page)
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Submit").first.click()
    wait_for_app(page, timeout=60_000)
    expect(page.get_by_test_id("stMain")).to_contain_text("created", timeout=30_000)
    screenshot(page, "63_signin_trader_submitted", full_height=1600)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/oauth2/end_session**")  # the provider's sign-out page; the app's cookie is gone
    page.goto(signed_app)
    wait_for_app(page)
    expect(page.get_by_test_id("stMain")).to_contain_text("Sign in to use the rebalancer")
