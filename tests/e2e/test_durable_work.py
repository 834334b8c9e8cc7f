"""Durable work in the browser (issue #12 §2-3): the What-if scenarios come back after an F5 and after a server
restart (same database, the workspace id in the URL); a submission whose answer is lost, then a stopped server, and
a server killed with SIGKILL while its order POST waits for the answer, both show "outcome unknown" after the
restart, and Reconcile settles it before the rest is sent: no order posted twice."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import httpx
import pytest
from playwright.sync_api import expect

from data.services.order import parse_order_page
from tests.e2e import helpers
from tests.e2e.helpers import VIEWPORT, screenshot, served_app, wait_for_app

pytestmark = pytest.mark.slow
MODEL = "Technology Leaders"


def run_what_if(pg, url: str) -> str:
    """Run the model once on the What-if page; return the workspace id from the URL."""
    t0 = time.perf_counter()
    ws = helpers.run_what_if(pg, url, MODEL)
    print(f"what-if opened and run in {time.perf_counter() - t0:.2f} s")
    return ws


def confirm_in_dialog(pg) -> None:
    dialog = pg.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=re.compile(r"^Submit [\d,]+ orders$")).click()


def created_orders(simulator) -> Counter:
    """Every order the order service holds, counted by portfolio, security and quantity (1 each when none twice)."""
    body = httpx.get(f"{simulator['ORDER_URL']}/api/v1/orders", params={"limit": 1000, "offset": 0}, timeout=10)
    page = parse_order_page(body.json(), 0, 1000)
    return Counter((o["portfolio_id"], o["security_id"], o["quantity"]) for o in page.items)


def reconcile_then_send_the_rest(pg, url: str, ws: str, simulator, unknown_shot: str, done_shot: str) -> Counter:
    """After a restart, with the first batch of 3 orders created but its answer lost: the submission shows "outcome
    unknown" (nothing can be sent), Reconcile finds the 3 created, the rest is sent once. Returns the orders created."""
    helpers.open_orders(pg, url, ws)
    expect(pg.get_by_text("have an unknown outcome").first).to_be_visible()
    expect(pg.get_by_role("button", name="Submit remaining orders…")).to_be_disabled()
    screenshot(pg, unknown_shot)
    pg.get_by_role("button", name="Reconcile").click()
    wait_for_app(pg)
    expect(pg.get_by_text("3 found (created)").first).to_be_visible()
    pg.get_by_role("button", name="Submit remaining orders…").click()
    confirm_in_dialog(pg)
    expect(pg.get_by_text("created, 0 failed, 0 not sent, 0 unknown").first).to_be_visible(timeout=60_000)
    wait_for_app(pg)
    screenshot(pg, done_shot)
    counts = created_orders(simulator)
    assert counts and max(counts.values()) == 1  # no order posted twice
    expect(pg.get_by_role("button", name="Submit remaining orders…")).to_be_disabled()
    return counts


def test_reload_and_server_restart_keep_the_scenarios(browser, simulator_urls, tmp_path):
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    try:
        with served_app(tmp_path, simulator_urls) as url:
            ws = run_what_if(pg, url)
            scenario = pg.get_by_label("Name", exact=True).input_value()
            t0 = time.perf_counter()
            pg.reload()
            wait_for_app(pg, timeout=60_000)
            expect(pg.get_by_label("Name", exact=True)).to_have_value(scenario)
            print(f"F5 back with the scenario after {time.perf_counter() - t0:.2f} s")
            screenshot(pg, "workspace_after_reload")
        with served_app(tmp_path, simulator_urls) as url:  # a new server process on the same database
            pg.goto(f"{url}/rebalance?ws={ws}")
            wait_for_app(pg, timeout=60_000)
            expect(pg.get_by_label("Name", exact=True)).to_have_value(scenario)
            expect(pg.get_by_text("Results ·").first).to_be_visible()
            screenshot(pg, "workspace_after_restart")
    finally:
        ctx.close()


def test_lost_answer_then_server_kill_then_reconcile(browser, simulator_urls, tmp_path, monkeypatch):
    monkeypatch.setenv("ORDER_BATCH_SIZE", "3")
    simulator_urls.reset()
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    try:
        with served_app(tmp_path, simulator_urls) as url:
            ws = run_what_if(pg, url)
            helpers.open_orders(pg, url, ws)
            simulator_urls.set_faults(
                [{"kind": "drop", "service": "order", "endpoint": "orders_post", "count": 1, "after": True}]
            )
            pg.get_by_role("button", name="Submit orders…").click()
            confirm_in_dialog(pg)
            expect(pg.get_by_text("Sending stopped").first).to_be_visible(timeout=60_000)
            screenshot(pg, "orders_outcome_unknown")
        # the server is gone (stopped while the outcome was unknown); the simulator holds the first batch
        simulator_urls.clear_faults()
        assert sum(created_orders(simulator_urls).values()) == 3
        with served_app(tmp_path, simulator_urls) as url:
            reconcile_then_send_the_rest(
                pg, url, ws, simulator_urls, "orders_after_restart_unknown", "orders_all_submitted"
            )
    finally:
        ctx.close()


def test_server_killed_with_sigkill_mid_post_then_reconcile(browser, simulator_urls, tmp_path, monkeypatch):
    """kill -9 of the Streamlit server while its first order POST waits for an answer (the simulator has created the
    orders and holds the answer back): after the restart every order of the submission shows "outcome unknown"
    (its sender is gone), Reconcile finds the created ones, the rest is sent once."""
    monkeypatch.setenv("ORDER_BATCH_SIZE", "3")
    simulator_urls.reset()
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    servers: list = []
    try:
        with served_app(tmp_path, simulator_urls, servers) as url:
            ws = run_what_if(pg, url)
            helpers.open_orders(pg, url, ws)
            simulator_urls.set_faults(
                [{"kind": "timeout", "service": "order", "endpoint": "orders_post", "count": 1, "after": True,
                  "delay": 120}]
            )  # fmt: skip
            pg.get_by_role("button", name="Submit orders…").click()
            send = pg.get_by_role("dialog").get_by_role("button", name=re.compile(r"^Submit [\d,]+ orders$"))
            total = int(re.sub(r"\D", "", send.inner_text()))
            send.click()
            deadline = time.monotonic() + 60
            while sum(created_orders(simulator_urls).values()) < 3:  # the POST arrived; its answer is held back
                assert time.monotonic() < deadline, "the first order POST never reached the order service"
                time.sleep(0.1)
            os.kill(servers[0].pid, signal.SIGKILL)
            servers[0].wait(10)
            screenshot(pg, "orders_server_killed_mid_post")
        simulator_urls.clear_faults()
        assert sum(created_orders(simulator_urls).values()) == 3
        with served_app(tmp_path, simulator_urls) as url:
            counts = reconcile_then_send_the_rest(
                pg, url, ws, simulator_urls, "orders_after_kill_unknown", "orders_after_kill_all_submitted"
            )
            assert sum(counts.values()) == total
    finally:
        ctx.close()
