"""Browser-test utilities (plain module: importing from conftest is fragile). Recipes of streamlit-guide §3.3.

Shared by the browser tests and the browser benchmarks (``bench/bench_ui_*.py``): serving the app, Chromium's
launch arguments, waiting for a script run, and the PM's steps on the What-if, Orders and Saved rebalances pages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.simulator import ServedSimulator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
SCREENSHOTS = ROOT / "artifacts" / "screenshots"  # git-ignored; CI keeps it as an artifact
ROW_PX = 35  # data grid header and row height
MARKER_PX = 32  # the row-marker column of a num_rows="dynamic" editor


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_health_ok(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError as err:
            last = err
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout} s: {last}")


@contextlib.contextmanager
def served_app(
    folder: Path,
    simulator: ServedSimulator,
    processes: list[subprocess.Popen] | None = None,
    *,
    code: Path = ROOT,
    health_timeout: float = 60,
) -> Iterator[str]:
    """``streamlit run app.py`` of the tree ``code`` on a free port against ``simulator`` and a fresh seeded database
    in ``folder`` (its log: ``folder/server.log``); the server process is appended to ``processes`` when given (a
    test may kill it)."""
    port = free_port()
    env = {
        **os.environ,
        **dict(simulator),
        "MONGODB_URI": f"mongoeco:///{folder}/e2e.sqlite3",
        "DEMO_SEED": "1",
        "HTTP_BACKOFF": "0.05",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(folder / "server.log", "w+")  # noqa: SIM115 - a file, not an unread PIPE that can fill and hang
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
        ],
        cwd=code,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    if processes is not None:
        processes.append(proc)
    try:
        wait_until_health_ok(f"http://127.0.0.1:{port}/_stcore/health", timeout=health_timeout)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def wait_for_app(page: Page, timeout: int = 30_000) -> None:
    """Wait until the websocket is connected and the script run has finished (plus the widget debounce)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout)
    page.wait_for_timeout(210)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def wait_for_run_end(page: Page, timeout: int = 30_000) -> None:
    """Wait until the script run has finished, once its result is already on screen (so the run surely started:
    no widget debounce to wait out, unlike ``wait_for_app``). The benchmarks time a step up to here."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def goto_page(page: Page, title: str) -> None:
    """Open a page through the sidebar navigation and wait for its run."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_for_app(page)
    expect(page.get_by_test_id("stHeading").first).to_be_visible()


def open_select(page: Page, label: str) -> Locator:
    """Open the st.selectbox labelled ``label``; return its options."""
    box = page.get_by_label(label, exact=True)
    box.scroll_into_view_if_needed()
    box.click()
    options = page.get_by_role("option")
    try:
        options.first.wait_for(timeout=2_000)
    except PlaywrightTimeoutError:
        box.press("ArrowDown")  # focused but closed (the click landed while the page scrolled)
        options.first.wait_for(timeout=5_000)
    return options


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` (its full text) in the st.selectbox labelled ``label``."""
    open_select(page, label).filter(has_text=option).first.click()
    wait_for_app(page)


def column_x(widths: list[int], index: int, dynamic: bool = True) -> float:
    """Pixel x offset of the centre of column ``index`` from the grid's left edge (fixed column widths)."""
    left = (MARKER_PX if dynamic else 0) + sum(widths[:index])
    return left + widths[index] / 2


def set_cell(page: Page, grid: Locator, x_px: float, row: int, value: str) -> None:
    """Type ``value`` into a grid cell: hover, double-click, retry until the overlay editor opens, Enter.

    ``grid`` is the stDataFrame element; ``x_px`` the column centre from its left edge; ``row`` 0-based.
    Percent columns take the raw fraction ("0.4").
    """
    editor = page.locator("input.gdg-input, textarea.gdg-input")
    page.keyboard.press("Escape")
    grid.scroll_into_view_if_needed()
    for _ in range(6):
        box = grid.bounding_box()  # re-measure: a rerun may move the grid
        assert box is not None, "grid not visible"
        x, y = box["x"] + x_px, box["y"] + ROW_PX + ROW_PX * row + ROW_PX / 2
        page.mouse.move(x, y)
        page.wait_for_timeout(80)
        page.mouse.dblclick(x, y)
        try:
            editor.first.wait_for(timeout=1_500)
            break
        except PlaywrightTimeoutError:
            continue
    else:
        raise AssertionError(f"cell editor did not open at row {row}, x {x_px}")
    editor.first.fill(value)
    editor.first.press("Enter")
    expect(editor).to_have_count(0)
    page.wait_for_timeout(300)  # the edit reaches the widget state asynchronously
    wait_for_app(page)


def add_row(page: Page, grid: Locator, x_px: float, row: int, search: str) -> None:
    """Start a new grid row by clicking the trailing "add" row in a selectbox column, type ``search``, Enter.

    ``row`` is the index the new row gets (the current row count).
    """
    page.keyboard.press("Escape")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None, "grid not visible"
    x, y = box["x"] + x_px, box["y"] + ROW_PX + ROW_PX * row + ROW_PX / 2
    page.mouse.move(x, y)
    page.wait_for_timeout(80)
    page.mouse.click(x, y)
    page.locator("#portal .glide-select input").first.wait_for(timeout=5_000)
    page.keyboard.type(search, delay=20)
    page.wait_for_timeout(200)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)


def screenshot(page: Page, name: str, full_height: int | None = None) -> Path:
    """Save ``artifacts/screenshots/<name>.png`` of the viewport (optionally enlarged first: stMain scrolls itself)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size
    if full_height and size:
        page.set_viewport_size({"width": size["width"], "height": full_height})
        page.wait_for_timeout(400)
    page.screenshot(path=str(path))
    if full_height and size:
        page.set_viewport_size(size)
        page.wait_for_timeout(200)
    return path


# --- the PM's steps with a saved run (issue #12: tests/e2e/test_durable_work.py, test_record_speed.py, bench) ------
def run_what_if(page: Page, url: str, model: str, timeout: int = 60_000) -> str:
    """Open the What-if page, pick ``model``, run it until "Done:" shows; return the workspace id from the URL."""
    page.goto(f"{url}/rebalance")
    wait_for_app(page, timeout=timeout)
    choose(page, "Investment model", model)
    wait_for_app(page, timeout=timeout)
    page.get_by_role("button", name="Run what-if").click()
    expect(page.get_by_text("Done:").first).to_be_visible(timeout=timeout)
    wait_for_app(page, timeout=timeout)
    (ws,) = parse_qs(urlparse(page.url).query)["ws"]
    return ws


def open_orders(page: Page, url: str, ws: str, timeout: int = 60_000) -> None:
    """The Orders page of workspace ``ws``."""
    page.goto(f"{url}/orders?ws={ws}")
    wait_for_app(page, timeout=timeout)


def open_save_dialog(page: Page, timeout: int = 60_000) -> Locator:
    """Press "Save rebalance…" on the Orders page; return the open dialog."""
    page.get_by_role("button", name="Save rebalance…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=timeout)
    return dialog


def confirm_save(page: Page, dialog: Locator, timeout: int = 60_000) -> None:
    """Press "Save rebalance" in the dialog; return once "Saved as rebalance" shows and the run is over."""
    dialog.get_by_role("button", name="Save rebalance").click()
    expect(page.get_by_text("Saved as rebalance").first).to_be_visible(timeout=timeout)
    wait_for_run_end(page, timeout=timeout)


def open_history(page: Page, timeout: int = 60_000) -> None:
    """Open Saved rebalances from the sidebar; return once the newest run is open (its Delete button shows)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Saved rebalances").click()
    expect(page.get_by_role("button", name="Delete…")).to_be_visible(timeout=timeout)
    wait_for_run_end(page, timeout=timeout)


def delete_open_run(page: Page, timeout: int = 60_000) -> None:
    """Delete the open saved run (button, then the dialog's Delete); return once "Deleted" shows."""
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("Deleted ").first).to_be_visible(timeout=timeout)
    wait_for_run_end(page, timeout=timeout)
