"""Benchmark: the PM's record operations on the 1,000-portfolio demo run in Chromium, old code next to new (#12 §5).

For each variant — this checkout ("new") and, with ``--baseline REF``, that commit exported by ``git archive`` into a
temporary folder ("old") — the app is served (``streamlit run app.py``) against one served simulator and a fresh
embedded database with the demo models, and headless Chromium does what a PM does: run the what-if of the
1,000-portfolio model, open the Orders page, **Save rebalance** (click in the dialog until "Saved as rebalance"
shows), open **Saved rebalances** (click in the sidebar until the newest run is open with its Delete button), and
**Delete** it. The variants run one after the other in the same process, rounds interleaved, so both see the same
machine load. A step ends when its result shows and the script run is over (``helpers.wait_for_run_end``: no fixed
widget debounce added). Prints seconds per step side by side with the issue's targets, and the load average at the
timed steps; nothing is asserted.

    .venv/bin/python bench/bench_ui_storage.py [--baseline main] [--rounds 1] [--model "Global Equity Core"]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e import helpers
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, VIEWPORT
from tests.support.simulator import served_simulator

TARGETS = {"Save rebalance": "≤ 2 s", "Saved rebalances opens": "≤ 1 s", "Delete": "≤ 1 s"}
LONG = 300_000  # ms: a step that fails shows as a timeout, not as a number


LOADS: list[float] = []  # 1-minute load average at the start of every timed step


def seconds(step: Callable[[], None]) -> float:
    LOADS.append(os.getloadavg()[0])
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def one_round(pg: Page, url: str, model: str) -> dict[str, float]:
    """The PM's steps on a fresh server (the shared steps of ``tests/e2e/helpers.py``); seconds per step."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    ws = helpers.run_what_if(pg, url, model, timeout=LONG)
    times["What-if run (1,000 portfolios)"] = time.perf_counter() - started
    helpers.open_orders(pg, url, ws, timeout=LONG)
    dialog = helpers.open_save_dialog(pg, timeout=LONG)
    times["Save rebalance"] = seconds(lambda: helpers.confirm_save(pg, dialog, timeout=LONG))
    times["Saved rebalances opens"] = seconds(lambda: helpers.open_history(pg, timeout=LONG))
    pg.get_by_role("button", name="Delete…").click()
    dialog = pg.get_by_role("dialog")

    def delete() -> None:
        dialog.get_by_role("button", name="Delete", exact=True).click()
        expect(pg.get_by_text("Deleted ").first).to_be_visible(timeout=LONG)
        helpers.wait_for_run_end(pg, timeout=LONG)

    times["Delete"] = seconds(delete)
    return times


def export(ref: str, into: Path) -> Path:
    """The tree of commit ``ref`` in ``into`` (``git archive``: no worktree, nothing checked out)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref of the old code (e.g. main); without it only this checkout")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="Global Equity Core")
    args = parser.parse_args()
    if not CHROMIUM:
        print("chromium not installed (apt-get install -y chromium)")
        return 1
    with tempfile.TemporaryDirectory() as tmp, served_simulator(price_mode="fixed") as simulator:
        variants = {"new": ROOT}
        if args.baseline:
            variants = {"old": export(args.baseline, Path(tmp) / "old"), **variants}
        results: dict[str, dict[str, list[float]]] = {name: {} for name in variants}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for n in range(args.rounds):
                for name, code in variants.items():
                    folder = Path(tmp) / f"{name}-{n}"
                    folder.mkdir()
                    simulator.reset()
                    with helpers.served_app(folder, simulator, code=code, health_timeout=120) as url:
                        ctx = browser.new_context(viewport=VIEWPORT)
                        try:
                            for step, t in one_round(ctx.new_page(), url, args.model).items():
                                results[name].setdefault(step, []).append(t)
                        finally:
                            ctx.close()
            browser.close()
    print(f"\n## Chromium, model {args.model!r}, median of {args.rounds} round(s), seconds (click to result shown)")
    low, high, mean = min(LOADS), max(LOADS), statistics.mean(LOADS)
    print(f"load average (1 min) at the timed steps: {low:.1f}–{high:.1f}, mean {mean:.1f}")
    names = list(variants)
    print(f"{'':34}" + "".join(f"{n:>10}" for n in names) + f"{'target':>10}")
    for step in results["new"]:
        cells = "".join(f"{statistics.median(results[n][step]):>10.2f}" for n in names)
        print(f"{step:34}{cells}{TARGETS.get(step, ''):>10}")
    print("every round:")
    for step in results["new"]:
        print(f"  {step:32}" + "  ".join(f"{n} " + " ".join(f"{t:.2f}" for t in results[n][step]) for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
