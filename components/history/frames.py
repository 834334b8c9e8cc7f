"""Frames of the Saved rebalances page (pure pandas) and the display spec of each of its tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

import pandas as pd

from components.columns import Col
from components.columns import names as column_names
from components.rebalance.frames import controls_labels
from data.repositories import RebalanceSummary
from engine.models import RebalanceOptions, RebalanceRecord, RecordPosition, RunInfo


def list_table(tz: dt.tzinfo) -> tuple[Col, ...]:
    """The list of saved rebalances; dates are shown in the business time zone ``tz``."""
    return (
        Col("date", f"Rebalance date ({tz})", "when"),
        Col("scenario", "Scenario", "text"),
        Col("model", "Model"),
        Col("model_version", "Model version used", "text", help="The version of the model the run was computed on"),
        Col("targets", "Targets and bands", "text", help="Run-only overrides: the stored model did not produce it"),
        Col("parameters", "Parameters", "text", width="large"),
        Col("portfolios", "Portfolios", "int"),
        Col("rebalance_id", "Rebalance ID", "text", width="medium"),
        Col("saved_by", "Saved by"),
        Col("submitted", "Orders submitted", "int", help="Orders of this run created at the Order Service (0: none)"),
    )


def run_columns(run: RunInfo | None) -> dict[str, str]:
    """The History columns that say what a run was (records saved before issue 14 show "—")."""
    if run is None:
        return {"scenario": "—", "model_version": "—", "targets": "—", "parameters": "—"}
    shown = [f"{k}: {v}" for k, v in run.parameters if k not in ("Model", "Targets and bands")]
    return {
        "scenario": run.scenario_name or "—",
        "model_version": "—" if run.model_version is None else f"v{run.model_version}",
        "targets": "run-only overrides" if run.overrides else "as in the model",
        "parameters": " · ".join(shown) or "—",
    }


PORTFOLIO_TABLE = (
    Col("portfolio", "Portfolio", "text", width="medium"),
    Col("portfolio_id", "Portfolio ID", "text", width="medium"),
    Col(
        "nearest_feasible",
        "Nearest feasible",
        "flag",
        help="No answer met every band: the saved orders leave the bands listed above breached (relaxed)",
    ),
    Col("band_breach", "Band breach", "money", help="Dollars outside the breached bands, in total"),
    Col("market_value", "Market value", "money"),
    Col("cash_before", "Cash before", "money"),
    Col("cash_after", "Cash after", "money"),
    Col("cash_change", "Cash change", "money"),
    Col("positions", "Positions", "int"),
    Col("orders", "Orders", "int"),
    Col("traded_value", "Traded value", "money"),
)
POSITION_TABLE = (
    Col("ticker", "Ticker"),
    Col("security_id", "Security ID", "text", width="medium"),
    Col("price", "Price", "money"),
    Col("original_quantity", "Original qty", "qty"),
    Col("adjusted_quantity", "Adjusted qty", "qty"),
    Col("original_value", "Original value", "money"),
    Col("adjusted_value", "Adjusted value", "money"),
    Col("target", "Target", "pct", dp=1),
    Col("actual", "Weight after", "pct"),
    Col(
        "relative_after",
        "Relative drift after",
        "pct",
        help="(weight after − target) / target; positive = overweight, 0 without target (stored as 1 − actual/target)",
    ),
    Col("trade", "Trade"),
    Col("trade_date", "Trade date", "date"),
)


def list_frame(
    summaries: Sequence[RebalanceSummary], tz: dt.tzinfo, submitted: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """One line per saved rebalance (newest first as given), its date in the business time zone ``tz``, and how
    many of its orders were submitted (from the submission log)."""
    return pd.DataFrame(
        [
            {
                "rebalance_id": s.rebalance_id,
                "model": s.model_name,
                "date": s.rebalance_date.astimezone(tz).replace(tzinfo=None),
                "portfolios": s.number_of_portfolios,
                **run_columns(s.run),
                "saved_by": s.saved_by or "—",
                "submitted": (submitted or {}).get(s.rebalance_id, 0),
            }
            for s in summaries
        ],
        columns=column_names(list_table(tz)),
    )


def portfolios_frame(record: RebalanceRecord, names: Mapping[str, str]) -> pd.DataFrame:
    """One line per portfolio of a saved record: values before/after, orders and traded value."""
    rows = []
    for p in record.portfolios:
        trades = [x for x in p.positions if x.transaction_type]
        rows.append(
            {
                "portfolio": p.portfolio_name or names.get(p.portfolio_id) or p.portfolio_id,
                "portfolio_id": p.portfolio_id,
                "nearest_feasible": bool(p.band_breaches),
                "band_breach": float(sum((b.amount for b in p.band_breaches), 0)),
                "market_value": float(p.market_value),
                "cash_before": float(p.cash_before_rebalance),
                "cash_after": float(p.cash_after_rebalance),
                "cash_change": float(p.cash_after_rebalance - p.cash_before_rebalance),
                "positions": len(p.positions),
                "orders": len(trades),
                "traded_value": float(sum((x.trade_quantity * x.price for x in trades if x.trade_quantity), 0)),
            }
        )
    return pd.DataFrame(rows, columns=column_names(PORTFOLIO_TABLE))


PORTFOLIO_SORTS: dict[str, tuple[str, bool] | None] = {
    "As saved": None,
    "Traded value, largest first": ("traded_value", False),
    "Orders, most first": ("orders", False),
    "Market value, largest first": ("market_value", False),
    "Cash after, lowest first": ("cash_after", True),
    "Band breach, largest first": ("band_breach", False),
}


def portfolio_page(frame: pd.DataFrame, contains: str, sort: str, page: int, size: int) -> tuple[pd.DataFrame, int]:
    """Page ``page`` (1-based, clamped) of ``size`` rows of the portfolio table: rows whose name or id contains
    ``contains`` (any case), ordered by ``PORTFOLIO_SORTS[sort]`` (ties keep the saved order); and how many match.

    The page opens with one small table instead of every portfolio of a large run (issue #12 §5: History in ≤ 1 s);
    the filter and the order cover every portfolio.
    """
    rows = frame
    text = contains.strip().casefold()
    if text:
        name, pid = (rows[c].astype(str).str.casefold() for c in ("portfolio", "portfolio_id"))
        rows = rows[name.str.contains(text, regex=False) | pid.str.contains(text, regex=False)]
    order = PORTFOLIO_SORTS.get(sort)
    if order is not None:
        column, ascending = order
        rows = rows.sort_values(column, ascending=ascending, kind="stable")
    pages = max(1, -(-len(rows) // size))
    start = (min(max(page, 1), pages) - 1) * size
    return rows.iloc[start : start + size], len(rows)


def run_parameters(run: RunInfo, shown_as_options: Collection[str]) -> list[tuple[str, str]]:
    """The run's parameters not already listed with its options (cash floor, trade controls, time limit): each
    once on the page."""
    return [(k, v) for k, v in run.parameters if k not in shown_as_options]


def positions_frame(positions: Sequence[RecordPosition], tickers: Mapping[str, str]) -> pd.DataFrame:
    """One line per stored position of a portfolio (as saved: price, quantities, values, weights, trade)."""
    return pd.DataFrame(
        [
            {
                "ticker": tickers.get(x.security_id, ""),
                "security_id": x.security_id,
                "price": float(x.price),
                "original_quantity": float(x.original_quantity),
                "adjusted_quantity": float(x.adjusted_quantity),
                "original_value": float(x.original_position_market_value),
                "adjusted_value": float(x.adjusted_position_market_value),
                "target": float(x.target),
                "actual": float(x.actual),
                "relative_after": float(-x.actual_drift),  # one sign convention on screen: positive = overweight
                "trade": ""
                if x.transaction_type is None
                else f"{x.transaction_type} {float(x.trade_quantity or 0):,.2f}",
                "trade_date": x.trade_date,
            }
            for x in positions
        ]
    )


def options_labels(options: RebalanceOptions, tickers: Mapping[str, str]) -> dict[str, str]:
    """The options a saved run used, as display text: cash floor, trade controls, solver settings, trade date."""
    floor = []
    if options.min_cash > 0:
        floor.append(f"${float(options.min_cash):,.2f}")
    if options.min_cash_fraction > 0:
        floor.append(f"{float(options.min_cash_fraction) * 100:g} % of MV")
    return {
        "Minimum cash": " or ".join(floor) + (" (greater applies)" if len(floor) == 2 else "") if floor else "none",
        **controls_labels(options, tickers),
        "Time limit": f"{options.time_limit:g} s",
        "Tie-break": options.tie_break + (f" (seed {options.seed})" if options.seed is not None else ""),
        "Trade date": options.trade_date.isoformat() if options.trade_date else "—",
    }


def options_cli(options: RebalanceOptions) -> dict[str, object]:
    """The options under their CLI names (product-spec 2.12; ``python -m engine solve``'s ``options``), to rerun it."""
    out: dict[str, object] = {
        "minCash": str(options.min_cash),
        "minCashPct": str(options.min_cash_fraction),
        "tradePolicy": options.trade_policy,
        "minTradeValue": str(options.min_trade_value),
        "noBuy": list(options.no_buy),
        "noSell": list(options.no_sell),
        "noTrade": list(options.no_trade),
        "direction": options.direction,
        "onInfeasible": options.on_infeasible,
        "timeLimit": options.time_limit,
        "tieBreak": options.tie_break,
    }
    if options.seed is not None:
        out["seed"] = options.seed
    if options.trade_date is not None:
        out["tradeDate"] = options.trade_date.isoformat()
    return out
