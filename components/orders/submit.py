"""Submitting proposed orders through the submission log (services.md §7; product-spec 3.19; issue #12 §3-4).

Only on an explicit, confirmed user action. :func:`data.submission.submit_logged` claims every order in the log
before its batch is posted and records each outcome after it, so a reload, a restart or a second tab knows what was
sent and never sends it again. A scenario's orders are logged under its run key: its saved run id once saved, else
``<workspace>:<scenario>``; both keys are read, so an order sent before the save still counts after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from components.rebalance.store import Scenario, SubmissionOutcome, order_key
from data.repositories import RebalanceRepository
from data.repositories.submissions import PlannedOrder, SubmissionEntry, SubmissionLog
from data.services import OrderClient, OrderRequest
from data.submission import ReconcileReport, SubmissionReport, never_sent, reconcile, submit_logged
from engine.orders import OrderRow

ID_CHUNK = 200  # portfolio ids per look-up
STATE_RANK = {"failed": 0, "unknown": 1, "sending": 1, "success": 2}


def order_requests(rows: Sequence[OrderRow], use_limit_price: bool = False) -> list[OrderRequest]:
    """``data.services`` order requests for the rows: market orders, or the rebalance price as the limit."""
    return [
        OrderRequest(
            portfolio_id=r.portfolio_id,
            security_id=r.security_id,
            side=r.transaction_type,
            quantity=r.quantity,
            limit_price=r.price if use_limit_price else None,
        )
        for r in rows
    ]


def scenario_key(scenario: Scenario, workspace_id: str | None) -> str:
    """The run key of a scenario not yet saved: ``<workspace>:<scenario>`` (the scenario id alone without one)."""
    return f"{workspace_id}:{scenario.id}" if workspace_id else scenario.id


def run_keys(scenario: Scenario, workspace_id: str | None) -> list[str]:
    """Every key the scenario's orders may be logged under, the one new submissions use first."""
    keys = [scenario_key(scenario, workspace_id)]
    if scenario.saved_rebalance_id:
        keys.insert(0, scenario.saved_rebalance_id)
    return keys


def link_saved(log: SubmissionLog, scenario: Scenario, workspace_id: str | None, rows: Sequence[OrderRow]) -> int:
    """After a save: the orders the scenario sent before it (under its scenario key) count for the saved run too."""
    if not scenario.saved_rebalance_id:
        return 0
    return log.link_saved_run(scenario_key(scenario, workspace_id), scenario.saved_rebalance_id, map(_natural, rows))


def entry_outcome(entry: SubmissionEntry, now: dt.datetime) -> SubmissionOutcome:
    """A log entry as the page shows it: an abandoned queued/sending order's outcome is unknown."""
    state = entry.state
    if state in ("queued", "sending"):
        state = "unknown" if entry.abandoned(now) else "sending"
    return SubmissionOutcome(state, entry.message, entry.order_id, entry.updated_at)


def logged_outcomes(log: SubmissionLog, keys: Iterable[str], rows: Sequence[OrderRow]) -> dict[str, SubmissionOutcome]:
    """What the log knows of each of ``rows`` (by ``order_key``), across the scenario's run keys."""
    now = dt.datetime.now(dt.UTC)
    logged = [entry for key in keys for entry in log.entries(key).values()]
    if not logged:  # nothing sent yet (the usual case): no key map of every row to build
        return {}
    wanted = {_natural(r): order_key(r.portfolio_id, r.security_id, r.transaction_type) for r in rows}
    out: dict[str, SubmissionOutcome] = {}
    for entry in logged:
        k = wanted.get((entry.portfolio_id, entry.security_id, entry.side, entry.quantity, entry.trade_date))
        if k is None:
            continue
        seen = entry_outcome(entry, now)
        if k not in out or STATE_RANK[seen.outcome] > STATE_RANK[out[k].outcome]:
            out[k] = seen
    return out


def _natural(r: OrderRow) -> tuple:
    return r.portfolio_id, r.security_id, r.transaction_type, r.quantity, r.trade_date


def submit(
    client: OrderClient,
    log: SubmissionLog,
    rows: Sequence[OrderRow],
    run_key: str,
    *,
    user: str | None,
    use_limit_price: bool = False,
) -> SubmissionReport:
    """Send ``rows`` through the log under ``run_key`` (orders claimed elsewhere are skipped, never sent twice)."""
    planned = [PlannedOrder(run_key, r.portfolio_id, r.security_id, r.transaction_type, r.quantity, r.trade_date)
               for r in rows]  # fmt: skip
    limits = {p.key: r.price for p, r in zip(planned, rows, strict=True) if use_limit_price and r.price is not None}
    return submit_logged(client, log, planned, user=user, limit_prices=limits)


def reconcile_all(client: OrderClient, log: SubmissionLog, keys: Iterable[str]) -> ReconcileReport:
    """Settle the unknown orders of every run key against the order service's list; one combined report."""
    found: dict[str, int] = {}
    not_found: list[str] = []
    still_open: list[str] = []
    scanned = 0
    for key in keys:
        report = reconcile(client, log, key)
        found.update(report.found)
        not_found.extend(report.not_found)
        still_open.extend(report.still_open)
        scanned += report.scanned
    return ReconcileReport(found, tuple(not_found), tuple(still_open), scanned)


@dataclasses.dataclass(frozen=True)
class PriorActivity:
    """What already happened to these portfolios on this trade date, outside this scenario."""

    saved_runs: int  # other saved runs of the same day holding any of the portfolios
    submitted_portfolios: int  # portfolios with orders sent (or possibly sent) by another run for the trade date

    @property
    def any(self) -> bool:
        return bool(self.saved_runs or self.submitted_portfolios)

    def describe(self) -> str:
        parts = []
        if self.saved_runs:
            parts.append(
                f"{self.saved_runs:,} saved rebalance(s) of the same day already hold some of these portfolios"
            )
        if self.submitted_portfolios:
            parts.append(f"{self.submitted_portfolios:,} of these portfolios already have orders submitted for this "
                         "trade date")  # fmt: skip
        return "; ".join(parts) + "."


def prior_activity(
    rebalances: RebalanceRepository, log: SubmissionLog, scenario: Scenario, keys: Sequence[str], trade_date: dt.date
) -> PriorActivity:
    """Saved runs and submitted orders of any scenario, workspace or user for the scenario's portfolios and day.

    Read fresh on every call except the submission log's part, which is kept on the scenario under the log's change
    stamp (read before the look-up): unchanged stamp, no order claimed or settled anywhere since, same answer. The
    saved runs are one query over the day's headers (cheap), so a run saved meanwhile by another tab or user is
    always seen.
    """
    pids = [r.portfolio_id for r in scenario.optimal_results]
    runs = rebalances.runs_holding(pids, trade_date) if pids else {}
    same_day = [rid for rid in runs if rid != scenario.saved_rebalance_id]
    return PriorActivity(len(same_day), len(_traded(log, scenario, pids, keys, trade_date)))


def _traded(
    log: SubmissionLog, scenario: Scenario, pids: Sequence[str], keys: Sequence[str], trade_date: dt.date
) -> frozenset[str]:
    """Portfolios with orders sent (or possibly sent) by another run for the trade date, cached per log stamp."""
    stamp = log.stamp()
    cache_key = ("prior_traded", trade_date, tuple(keys), stamp)
    cached = scenario.cache.get(cache_key)
    if cached is not None:
        return cached
    traded: set[str] = set()
    # In chunks: the embedded backend refuses one $in over ~1,000 ids ("expression tree is too large").
    for start in range(0, len(pids), ID_CHUNK):
        chunk = pids[start : start + ID_CHUNK]
        traded.update(e.portfolio_id for e in log.entries_for_portfolios(chunk, trade_date)
                      if e.run_key not in keys and e.state != "failed")  # fmt: skip
    for old in [k for k in scenario.cache if isinstance(k, tuple) and k[:1] == ("prior_traded",)]:
        del scenario.cache[old]
    scenario.cache[cache_key] = frozenset(traded)
    return scenario.cache[cache_key]


__all__ = [
    "PriorActivity",
    "link_saved",
    "logged_outcomes",
    "never_sent",
    "order_requests",
    "prior_activity",
    "reconcile_all",
    "run_keys",
    "scenario_key",
    "submit",
]
