"""Display tables of what-if results: pure builders from engine results/metrics to pandas DataFrames.

Numbers become floats here, for display and charts only; orders, CSV and saved records always use the engine's
Decimals. Weights are fractions (0.05 = 5 %); ``drift_pp`` is actual − target in percentage points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

import pandas as pd

from components.columns import Col
from engine.models import BandBreach, PortfolioResult, RebalanceOptions
from engine.orders import readable_diagnosis
from engine.scenarios import PortfolioMetrics, ScenarioSummary, difference

STATUS_LABELS = {"optimal": "optimal", "relaxed": "nearest feasible", "infeasible": "infeasible", "error": "failed"}
# The trade controls as the what-if panel, the comparison and History name them (product-spec 2.12).
POLICY_LABELS = {"all": "All positions", "out-of-band": "Out-of-band only"}
DIRECTION_LABELS = {"both": "Both", "buy-only": "Invest cash: buy only", "sell-only": "Raise cash: sell only"}
INFEASIBLE_LABELS = {"flag": "Flag it (no orders)", "nearest": "Nearest feasible"}
PORTFOLIO_COLUMNS = [
    "portfolio_id",
    "portfolio",
    "status",
    "diagnosis",
    "market_value",
    "cash_before",
    "cash_after",
    "cash_change",
    "cash_change_pct",
    "drift_before",
    "drift_after",
    "orders",
    "turnover",
    "out_of_band_before",
    "out_of_band_after",
]
POSITION_COLUMNS = [
    "security_id",
    "label",
    "ticker",
    "price",
    "original_quantity",
    "adjusted_quantity",
    "change",
    "trade",
    "target",
    "band_low",
    "band_high",
    "weight_before",
    "weight_after",
    "drift_pp",
    "actual_drift",
    "relative_after",
    "in_model",
]


# display specs (components.columns): the per-portfolio results and one portfolio's positions, in display order
PORTFOLIO_TABLE = (
    Col("portfolio", "Portfolio", "text", width="medium"),
    Col("status", "Status"),
    Col("market_value", "Market value", "money"),
    Col("cash_before", "Cash before", "money"),
    Col("cash_after", "Cash after", "money"),
    Col("cash_change", "Cash change", "money"),
    Col("cash_change_pct", "Cash change (% MV)", "pct"),
    Col("drift_before", "Drift before", "pct", help="Σ|weight − target|"),
    Col("drift_after", "Drift after", "pct", help="Σ|weight − target|"),
    Col("orders", "Orders", "int"),
    Col("turnover", "Turnover", "money"),
    Col("out_of_band_before", "Out of band before", "flag"),
    Col("out_of_band_after", "Out of band after", "flag"),
    Col("diagnosis", "Diagnosis", "text", width="medium"),
    Col("portfolio_id", "Portfolio ID", "text", width="medium"),
)
BREACH_TABLE = (  # the bands a relaxed ("nearest feasible") answer breaches
    Col("portfolio", "Portfolio", "text", width="medium"),
    Col("ticker", "Ticker"),
    Col("side", "Band"),
    Col("amount", "Breach", "money"),
    Col("portfolio_id", "Portfolio ID", "text", width="medium"),
    Col("security_id", "Security ID", "text", width="medium"),
)
FAILED_TABLE = (  # the portfolios not rebalanced, when there are many
    Col("portfolio", "Portfolio"),
    Col("status", "Status"),
    Col("diagnosis", "Diagnosis", "text", width="large"),
    Col("portfolio_id", "Portfolio ID"),
)
POSITION_TABLE = (
    Col("ticker", "Ticker"),
    Col("price", "Price", "money"),
    Col("original_quantity", "Original qty", "qty"),
    Col("adjusted_quantity", "Adjusted qty", "qty"),
    Col("change", "Change", "number", fmt="%+.2f"),
    Col("trade", "Trade"),
    Col("target", "Target", "pct", dp=1),
    Col("weight_before", "Weight before", "pct"),
    Col("weight_after", "Weight after", "pct"),
    Col("drift_pp", "Weight after − target", "number", fmt="%+.3f pp", help="Positive = overweight"),
    Col(
        "relative_after",
        "Relative drift after",
        "pct",
        help="(weight after − target) / target; positive = overweight (the record stores 1 − actual/target)",
    ),
    Col("badge", "Drift"),
    Col("security_id", "Security ID", "text", width="medium"),
)


def _f(value: Decimal | int | None) -> float | None:
    return None if value is None else float(value)


def short_id(value: str) -> str:
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def display_names(items: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Portfolio id → a unique display name: the name, with a short id where names repeat or are missing."""
    pairs = list(items)
    counts = Counter(name for _, name in pairs if name)
    out: dict[str, str] = {}
    for pid, name in pairs:
        if not name:
            out[pid] = short_id(pid)
        elif counts[name] > 1:
            out[pid] = f"{name} ({short_id(pid)})"
        else:
            out[pid] = name
    return out


def portfolio_frame(metrics: Sequence[PortfolioMetrics], tickers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per portfolio: status, diagnosis (securities by ticker where ``tickers`` knows them), MV, cash
    before/after/change, drift before/after (weights), orders, turnover, and whether it is out of band before/after."""
    names = display_names((m.portfolio_id, m.portfolio_name) for m in metrics)
    tickers = tickers or {}
    rows = []
    for m in metrics:
        change = None if m.cash_after is None or m.cash_before is None else m.cash_after - m.cash_before
        rows.append(
            {
                "portfolio_id": m.portfolio_id,
                "portfolio": names[m.portfolio_id],
                "status": STATUS_LABELS.get(m.status, m.status),
                "diagnosis": readable_diagnosis(m.diagnosis, tickers) if m.diagnosis else "",
                "market_value": _f(m.market_value),
                "cash_before": _f(m.cash_before),
                "cash_after": _f(m.cash_after),
                "cash_change": _f(change),
                "cash_change_pct": _f(change / m.market_value)
                if change is not None and m.market_value and m.market_value > 0
                else None,
                "drift_before": _f(m.drift_before_weight),
                "drift_after": _f(m.drift_after_weight),
                "orders": m.orders,
                "turnover": _f(m.turnover),
                "out_of_band_before": m.out_of_band_before,
                "out_of_band_after": m.out_of_band_after,
            }
        )
    frame = pd.DataFrame(rows, columns=PORTFOLIO_COLUMNS)
    numeric = [c.name for c in PORTFOLIO_TABLE if c.kind in ("money", "pct")]
    frame[numeric] = frame[numeric].astype("float64")  # missing numbers (failed portfolios) become blank, not "None"
    return frame


class Breaching(Protocol):
    """A portfolio answer that may breach bands: a run's ``PortfolioResult`` or a saved run's portfolio."""

    portfolio_id: str
    portfolio_name: str | None
    band_breaches: tuple[BandBreach, ...]


def breaches_frame(
    results: Sequence[Breaching], tickers: Mapping[str, str] | None = None, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per band breached by a relaxed answer: portfolio, security, side (below low / above high), dollars.

    ``names``: portfolio names to use where an answer carries none (a saved run's portfolios)."""
    tickers = tickers or {}
    names = names or {}
    shown = display_names((r.portfolio_id, r.portfolio_name or names.get(r.portfolio_id)) for r in results)
    rows = [
        {
            "portfolio": shown[r.portfolio_id],
            "ticker": tickers.get(b.security_id) or short_id(b.security_id),
            "side": "below low band" if b.side == "low" else "above high band",
            "amount": float(b.amount),
            "portfolio_id": r.portfolio_id,
            "security_id": b.security_id,
        }
        for r in results
        for b in r.band_breaches
    ]
    frame = pd.DataFrame(rows, columns=[c.name for c in BREACH_TABLE])
    frame["amount"] = frame["amount"].astype("float64")
    return frame


def positions_frame(result: PortfolioResult, tickers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per security of the combined list S of one optimal result (the record draft, product-spec 2.8)."""
    tickers = tickers or {}
    mv = result.market_value
    rows = []
    for p in result.positions:
        ticker = tickers.get(p.security_id)
        trade = "" if p.transaction_type is None else f"{p.transaction_type} {_qty_text(p.trade_quantity)}"
        in_model = p.target != 0 or p.low_drift != 0 or p.high_drift != 0
        before = p.original_position_market_value / mv if mv and mv > 0 else Decimal(0)
        rows.append(
            {
                "security_id": p.security_id,
                "label": ticker or short_id(p.security_id),
                "ticker": ticker or "",
                "price": _f(p.price),
                "original_quantity": _f(p.original_quantity),
                "adjusted_quantity": _f(p.adjusted_quantity),
                "change": _f(p.adjusted_quantity - p.original_quantity),
                "trade": trade,
                "target": _f(p.target),
                "band_low": max(0.0, float(p.target - p.low_drift)),
                "band_high": float(p.target + p.high_drift),
                "weight_before": _f(before),
                "weight_after": _f(p.actual),
                "drift_pp": float((p.actual - p.target) * 100),
                "actual_drift": _f(p.actual_drift),
                "relative_after": _f(-p.actual_drift),  # one sign convention on screen: positive = overweight
                "in_model": in_model,
            }
        )
    frame = pd.DataFrame(rows, columns=POSITION_COLUMNS)
    # model securities first (largest target first), then non-model holdings
    return frame.sort_values(["in_model", "target", "label"], ascending=[False, False, True], ignore_index=True)


def _qty_text(q: Decimal | None) -> str:
    if q is None:
        return ""
    return str(int(q)) if q == q.to_integral_value() else format(q.normalize(), "f")


def controls_labels(options: RebalanceOptions, tickers: Mapping[str, str] | None = None) -> dict[str, str]:
    """A run's trade controls as display text (restricted securities by ticker), for comparison and History."""
    tickers = tickers or {}

    def securities(ids: tuple[str, ...]) -> str:
        return ", ".join(tickers.get(i) or short_id(i) for i in ids) or "none"

    m = options.min_trade_value
    return {
        "Rebalance": POLICY_LABELS.get(options.trade_policy, options.trade_policy),
        "Minimum trade": f"${float(m):,.2f}" if m > 0 else "none",
        "Direction": DIRECTION_LABELS.get(options.direction, options.direction),
        "No buy": securities(options.no_buy),
        "No sell": securities(options.no_sell),
        "Do not trade": securities(options.no_trade),
        "If a band cannot be met": INFEASIBLE_LABELS.get(options.on_infeasible, options.on_infeasible),
    }


# The controls left off (their defaults): a caption or a saved run's parameters name only the controls that differ.
CONTROLS_OFF = controls_labels(RebalanceOptions())


COMPARE_ROWS = [
    ("Portfolios", "portfolios"),
    ("Optimal", "optimal"),
    ("Nearest feasible (relaxed)", "relaxed"),
    ("Total band breach (relaxed)", "band_breach"),
    ("Infeasible", "infeasible"),
    ("Failed", "failed"),
    ("Out of band before", "out_of_band_before"),
    ("Still out of band", "still_out_of_band"),
    ("Orders", "orders"),
    ("Orders under $500", "small_orders"),
    ("Turnover", "turnover"),
    ("Turnover (% of MV)", "turnover_weight"),
    ("Drift before (% of MV)", "drift_before_weight"),
    ("Drift after (% of MV)", "drift_after_weight"),
    ("Drift reduction", "drift_reduction"),
    ("Cash before", "cash_before"),
    ("Cash after", "cash_after"),
    ("Cash after (% of MV)", "cash_after_weight"),
]
_MONEY = {"turnover", "cash_before", "cash_after", "band_breach"}
_PCT = {"turnover_weight", "drift_before_weight", "drift_after_weight", "drift_reduction", "cash_after_weight"}


def _fmt(attr: str, value: object) -> str:
    if value is None:
        return "—"
    if attr in _MONEY:
        return f"${float(value):,.2f}"  # type: ignore[arg-type]
    if attr in _PCT:
        return f"{float(value) * 100:,.2f} %"  # type: ignore[arg-type]
    return f"{value:,}"


def compare_frame(
    summaries: Mapping[str, ScenarioSummary], parameters: Mapping[str, Mapping[str, str]]
) -> pd.DataFrame:
    """Side-by-side table: one row per parameter and metric, one text column per scenario (formatted for display).

    ``parameters`` maps scenario name → {parameter label: text} (minimum cash, time limit, overrides, snapshot).
    """
    labels: list[str] = []
    for params in parameters.values():
        labels += [k for k in params if k not in labels]
    data: dict[str, list[str]] = {}
    for name, s in summaries.items():
        params = parameters.get(name, {})
        data[name] = [params.get(k, "—") for k in labels] + [_fmt(attr, getattr(s, attr)) for _, attr in COMPARE_ROWS]
    index = labels + [label for label, _ in COMPARE_ROWS]
    return pd.DataFrame(data, index=pd.Index(index, name="metric"))


def _fmt_delta(attr: str, value: object) -> str:
    if value is None:
        return "—"
    if attr in _MONEY:
        v = float(value)  # type: ignore[arg-type]
        return f"{'+' if v >= 0 else '−'}${abs(v):,.2f}"
    if attr in _PCT:
        return f"{float(value) * 100:+,.2f} pp"  # type: ignore[arg-type]
    return f"{value:+,}"


def compare_with_base(
    summaries: Mapping[str, ScenarioSummary], parameters: Mapping[str, Mapping[str, str]], base: str
) -> pd.DataFrame:
    """``compare_frame`` plus, for every other scenario, a "Δ <name> vs <base>" column (``engine.scenarios.
    difference``: other − base; percentages in percentage points; a parameter row says "changed" or "same")."""
    table = compare_frame(summaries, parameters)
    labels = {attr: label for label, attr in COMPARE_ROWS}
    for name, summary in summaries.items():
        if name == base:
            continue
        delta = difference(summaries[base], summary)
        column = []
        for row in table.index:
            attr = next((a for a, label in labels.items() if label == row), None)
            if attr is None:
                column.append("same" if table.at[row, name] == table.at[row, base] else "changed")
            else:
                column.append(_fmt_delta(attr, delta.get(attr)))
        table[f"Δ {name} vs {base}"] = column
    return table


def compare_chart_frame(summaries: Mapping[str, ScenarioSummary]) -> pd.DataFrame:
    """Numbers for the comparison charts: drift before/after, turnover and cash after as fractions of total MV, and
    the tickets (orders, orders under $500) against the residual drift."""
    return pd.DataFrame(
        [
            {
                "scenario": name,
                "drift_before": _f(s.drift_before_weight),
                "drift_after": _f(s.drift_after_weight),
                "turnover": _f(s.turnover_weight),
                "cash_after": _f(s.cash_after_weight),
                "orders": s.orders,
                "small_orders": s.small_orders,
                "still_out_of_band": s.still_out_of_band,
            }
            for name, s in summaries.items()
        ],
        columns=[
            "scenario",
            "drift_before",
            "drift_after",
            "turnover",
            "cash_after",
            "orders",
            "small_orders",
            "still_out_of_band",
        ],
    )


__all__ = [
    "CONTROLS_OFF",
    "DIRECTION_LABELS",
    "INFEASIBLE_LABELS",
    "POLICY_LABELS",
    "breaches_frame",
    "compare_chart_frame",
    "compare_frame",
    "compare_with_base",
    "controls_labels",
    "display_names",
    "portfolio_frame",
    "positions_frame",
]
