"""Drift analysis results as display frames, plus the triage classification (pure: no Streamlit, no I/O).

The numbers come from ``engine.drift.analyse_drift``; this module only reshapes them (Decimal -> float for
display), labels securities with tickers, flags cash far from the model's implied cash, and ranks portfolios.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from components.columns import Col
from engine.drift import DriftReport
from engine.errors import ErrorInfo
from engine.models import InvestmentModel

PORTFOLIO_COLUMNS = [
    "portfolio_id",
    "name",
    "market_value",
    "cash",
    "cash_weight",
    "drift_weight",
    "drift_dollars",
    "out_of_band",
    "needs_rebalance",
    "error",
]
ROW_COLUMNS = [
    "portfolio_id",
    "security_id",
    "ticker",
    "quantity",
    "price",
    "value",
    "weight",
    "target",
    "low_drift",
    "high_drift",
    "drift",
    "band_low",
    "band_high",
    "in_band",
    "position",
    "relative",
    "in_model",
]
# display specs (components.columns) of the Drift page's tables
DRIFT_PP_HELP = "Current weight minus target, in percentage points (pp) of portfolio market value."
RELATIVE_HELP = "Drift divided by the band width on its side: 0 on target, ±1 at the band edge, beyond ±1 out of band."
RANKED_TABLE = (  # the portfolios of one model, worst first
    Col("name", "Portfolio", "text", width="medium"),
    Col("portfolio_id", "Portfolio ID", "text", width="medium"),
    Col("market_value", "Market value", "money"),
    Col("cash", "Cash", "money"),
    Col("cash_weight", "Cash weight", "pct"),
    Col("drift_weight", "Total drift now (Σ|weight − target|)", "pct", help="Sum of absolute weight drifts"),
    Col("drift_dollars", "Drift ($)", "money", help="Σ|MV·target − value|: the dollars off target"),
    Col("out_of_band", "Out of band", "count", help="Securities outside their band"),
    Col("needs_rebalance", "Needs rebalance", "flag", width="small"),
)
DRILL_TABLE = (  # one portfolio, per security
    Col("ticker", "Security", "text", width="small"),
    Col("security_id", "Security ID", "text", width="medium"),
    Col("quantity", "Quantity", "qty"),
    Col("price", "Price", "money"),
    Col("value", "Value", "money"),
    Col("weight", "Weight now", "pct"),
    Col("target", "Target", "pct"),
    Col("drift_pp", "Weight now − target", "pp", help=DRIFT_PP_HELP),
    Col("band", "Band (weight)", "text"),
    Col("status", "In / out of band", "text"),
)
TRIAGE_TABLE = (  # firm-wide, one line per model
    Col("model", "Model", "text", width="medium"),
    Col("portfolios", "Portfolios", "count"),
    Col("analysed", "Analysed", "count"),
    Col("out_of_band", "Out of band", "count", help="Portfolios needing a rebalance"),
    Col("share_out", "Share out of band", "pct", dp=1),
    Col("cash_high", "Cash high", "count"),
    Col("cash_low", "Cash low", "count"),
    Col("never_rebalanced", "Never rebalanced", "count", help="In no saved rebalance"),
    Col("failed", "Failed", "count", help="Portfolios whose data could not be read: see “why” under the table"),
    Col("drift_dollars", "Total drift ($)", "money"),
    Col("last_rebalance", "Last rebalance (UTC)", "text"),
)
QUEUE_TABLE = (  # firm-wide, the worst portfolios
    Col("model", "Model", "text"),
    Col("name", "Portfolio", "text"),
    Col("market_value", "Market value", "money"),
    Col("drift_dollars", "Drift ($)", "money", help="Σ|MV·target − value|"),
    Col("drift_weight", "Total drift now (Σ|weight − target|)", "pct"),
    Col("out_of_band", "Out of band", "count"),
    Col("cash_weight", "Cash weight", "pct"),
    Col("cash_high", "Cash high", "flag", width="small"),
    Col("cash_low", "Cash low", "flag", width="small"),
    Col("portfolio_id", "Portfolio ID", "text"),
)

DEFAULT_CASH_TOLERANCE = 0.02


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _relative(relative: Any, drift: Any) -> float:
    # a zero-width band side with drift on it is infinitely far out: keep the sign, the heatmap clips it
    if relative is None:
        return float("inf") if drift > 0 else float("-inf")
    return float(relative)


def portfolio_frame(report: DriftReport) -> pd.DataFrame:
    """One row per portfolio of a ``DriftReport`` (errors kept, with NaN figures and the error message)."""
    rows = []
    for p in report.portfolios:
        err = p.error
        rows.append(
            {
                "portfolio_id": p.portfolio_id,
                "name": p.name or p.portfolio_id,
                "market_value": _f(p.market_value),
                "cash": _f(p.cash),
                "cash_weight": _f(p.cash_weight),
                "drift_weight": _f(p.drift_weight),
                "drift_dollars": _f(p.drift_dollars),
                "out_of_band": int(p.out_of_band or 0),
                "needs_rebalance": bool(p.needs_rebalance),
                "error": None if err is None else err.message,
            }
        )
    frame = pd.DataFrame(rows, columns=PORTFOLIO_COLUMNS)
    for col in ("market_value", "cash", "cash_weight", "drift_weight", "drift_dollars"):
        frame[col] = frame[col].astype("float64")
    return frame


def row_frame(report: DriftReport, ticker_of: Mapping[str, str]) -> pd.DataFrame:
    """One row per (portfolio, security) of a ``DriftReport``; ``ticker`` falls back to the id."""
    rows = [
        {
            "portfolio_id": r.portfolio_id,
            "security_id": r.security_id,
            "ticker": ticker_of.get(r.security_id, r.security_id),
            "quantity": float(r.quantity),
            "price": float(r.price),
            "value": float(r.value),
            "weight": float(r.weight),
            "target": float(r.target),
            "low_drift": float(r.low_drift),
            "high_drift": float(r.high_drift),
            "drift": float(r.drift),
            "band_low": float(r.band_low),
            "band_high": float(r.band_high),
            "in_band": bool(r.in_band),
            "position": int(r.position),
            "relative": _relative(r.relative_drift, r.drift),
            "in_model": bool(r.in_model),
        }
        for r in report.rows
    ]
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


def implied_cash(model: InvestmentModel) -> float:
    """The cash weight the model implies: 1 − Σ targets."""
    return 1.0 - float(sum((p.target for p in model.positions), 0))


def add_cash_flags(portfolios: pd.DataFrame, implied: float, tolerance: float) -> pd.DataFrame:
    """Add ``cash_high`` / ``cash_low``: cash weight more than ``tolerance`` above / below the implied cash."""
    out = portfolios.copy()
    w = out["cash_weight"]
    out["cash_high"] = (w > implied + tolerance).fillna(False).astype(bool)
    out["cash_low"] = (w < implied - tolerance).fillna(False).astype(bool)
    return out


@dataclass
class DriftView:
    """Everything the drift page shows for one model, computed once per snapshot and kept in session state.

    The per-security ``rows`` frame (30,000 rows for the largest demo model) is built on first use: the firm-wide
    triage needs only the per-portfolio figures.
    """

    model: InvestmentModel
    taken_at: dt.datetime
    portfolios: pd.DataFrame
    report: DriftReport | None = None
    ticker_of: dict[str, str] = field(default_factory=dict)
    failures: dict[str, ErrorInfo] = field(default_factory=dict)
    seconds: float = 0.0
    requests: int = 0
    _rows: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def rows(self) -> pd.DataFrame:
        """One row per (portfolio, security) of the report (``row_frame``), built once."""
        if self._rows is None:
            self._rows = (
                row_frame(self.report, self.ticker_of) if self.report is not None else pd.DataFrame(columns=ROW_COLUMNS)
            )
        return self._rows

    def fresh_for(self, model: InvestmentModel, now: dt.datetime, max_age: dt.timedelta) -> bool:
        """Reusable for ``model`` at ``now``: same model version, snapshot younger than ``max_age``."""
        return self.model.version == model.version and now - self.taken_at <= max_age

    @property
    def implied_cash(self) -> float:
        """1 − Σ targets of the model."""
        return implied_cash(self.model)


def model_summary(
    views: Iterable[DriftView],
    models: Sequence[InvestmentModel],
    rebalanced: set[str] | None,
    tolerance: float,
) -> pd.DataFrame:
    """Triage per model: portfolios, out of band, cash high/low, never rebalanced, failures, total drift."""
    by_id = {v.model.model_id: v for v in views}
    rows = []
    for m in models:
        v = by_id.get(m.model_id)
        flagged = add_cash_flags(v.portfolios, v.implied_cash, tolerance) if v is not None else None
        ok = flagged[flagged["error"].isna()] if flagged is not None else None
        never = None
        if rebalanced is not None:
            never = sum(1 for p in m.portfolios if p not in rebalanced)
        rows.append(
            {
                "model_id": m.model_id,
                "model": m.name,
                "portfolios": len(m.portfolios),
                "analysed": 0 if ok is None else len(ok),
                "out_of_band": 0 if ok is None else int(ok["needs_rebalance"].sum()),
                "cash_high": 0 if ok is None else int(ok["cash_high"].sum()),
                "cash_low": 0 if ok is None else int(ok["cash_low"].sum()),
                "never_rebalanced": never,
                "failed": 0 if flagged is None else int(flagged["error"].notna().sum()) + len(v.failures),
                "drift_dollars": 0.0 if ok is None else float(ok["drift_dollars"].sum()),
                "last_rebalance": "Never"
                if m.last_rebalance_date is None
                else f"{m.last_rebalance_date.astimezone(dt.UTC):%b %d, %Y %H:%M}",
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["share_out"] = frame["out_of_band"] / frame["analysed"].where(frame["analysed"] > 0)
    return frame


def triage_portfolios(views: Iterable[DriftView]) -> pd.DataFrame:
    """Every analysed portfolio of the scanned models (model, drift_weight, needs_rebalance) for the triage chart."""
    parts = [
        v.portfolios.loc[v.portfolios["error"].isna(), ["drift_weight", "needs_rebalance"]].assign(model=v.model.name)
        for v in views
    ]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["model", "drift_weight", "needs_rebalance"])
    return pd.concat(parts, ignore_index=True)


def failure_reasons(view: DriftView) -> list[tuple[str, str]]:
    """(portfolio, reason) of every portfolio of ``view`` whose data could not be read or analysed."""
    out = [(pid, info.message) for pid, info in view.failures.items()]
    errors = view.portfolios[view.portfolios["error"].notna()]
    out += [(str(n), str(e)) for n, e in zip(errors["name"], errors["error"], strict=True)]
    return out


def worst_queue(views: Iterable[DriftView], tolerance: float, by: str = "drift_dollars", n: int = 100) -> pd.DataFrame:
    """The ``n`` portfolios with the largest drift (``drift_dollars`` or ``drift_weight``) across models."""
    parts = []
    for v in views:
        f = add_cash_flags(v.portfolios, v.implied_cash, tolerance)
        f = f[f["error"].isna()].assign(model=v.model.name, model_id=v.model.model_id)
        parts.append(f)
    if not parts:
        return pd.DataFrame(columns=[*PORTFOLIO_COLUMNS, "cash_high", "cash_low", "model", "model_id"])
    every = pd.concat(parts, ignore_index=True)
    return every.sort_values([by, "portfolio_id"], ascending=[False, True]).head(n).reset_index(drop=True)


def rank_portfolios(
    portfolios: pd.DataFrame, search: str = "", only_out: bool = False, by: str = "drift_dollars"
) -> pd.DataFrame:
    """Filter by name (case-insensitive, literal) and out-of-band flag; worst first."""
    out = portfolios[portfolios["error"].isna()]
    if search.strip():
        needle = search.strip().casefold()
        out = out[out["name"].str.casefold().str.contains(needle, regex=False)]
    if only_out:
        out = out[out["needs_rebalance"]]
    return out.sort_values([by, "name"], ascending=[False, True])


def drill_rows(rows: pd.DataFrame, portfolio_id: str) -> pd.DataFrame:
    """The rows of one portfolio, by descending target then ticker."""
    sub = rows[rows["portfolio_id"] == portfolio_id]
    return sub.sort_values(["target", "ticker"], ascending=[False, True]).reset_index(drop=True)


def status_text(position: int) -> str:
    """In band / below band / above band."""
    return {0: "In band", -1: "Below band", 1: "Above band"}.get(int(position), "?")
