"""Drift analytics of the current holdings (product-spec 2.11), vectorised over the portfolios of a model.

For every portfolio and every security of S = holdings ∪ model: current weight w = u·p/MV, drift w − t,
and the band check MV·(t−l) ≤ u·p ≤ MV·(t+h) (decided exactly). Per portfolio: Σ|w − t|, the dollar
drift Σ|MV·t − u·p| (PD of 2.3 on the current holdings), the count of securities outside their band and
"needs rebalance" when that count is positive. With MV = 0 all weights are 0 (nothing is divided).

The band checks run as one K x N pass for the model securities (:func:`engine.postcheck.value_vs_weight`);
the rows carry exact Decimals. ``DriftReport.matrix`` keeps float weight/drift matrices for charts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import NamedTuple

import numpy as np

from engine.bands import ModelArrays, market_values_f
from engine.construct import paused_gc
from engine.errors import EngineError, ErrorInfo, ExternalDataError, NonPositiveMarketValue
from engine.exactmath import MONEY, RATIO, WIDE, ZERO, mills_of, plain
from engine.limits import in_range, model_range_error
from engine.marketvalue import holding_map, market_value, require_price
from engine.models import InvestmentModel, PortfolioHoldings
from engine.postcheck import value_vs_weight
from engine.validation import clean_positions


class SecurityDrift(NamedTuple):
    """One security of one portfolio: current weight against its target and band."""

    portfolio_id: str
    security_id: str
    quantity: Decimal
    price: Decimal
    value: Decimal  # u·p, exact
    weight: Decimal  # u·p / MV; 0 when MV = 0
    target: Decimal
    low_drift: Decimal
    high_drift: Decimal
    drift: Decimal  # weight − target
    band_low: Decimal  # t − l, as a weight
    band_high: Decimal  # t + h, as a weight
    in_band: bool  # MV·(t−l) ≤ u·p ≤ MV·(t+h), exactly
    position: int  # −1 below the band, 0 inside, +1 above
    relative_drift: Decimal | None  # drift / band width on its side; None when that width is 0 and drift ≠ 0
    in_model: bool


class PortfolioDrift(NamedTuple):
    """Totals of one portfolio; ``error`` is set (and the figures may be None) when it cannot be analysed."""

    portfolio_id: str
    name: str | None
    market_value: Decimal | None
    cash: Decimal | None  # None only beside an error, when the input cash is outside the supported range
    cash_weight: Decimal | None  # C / MV; 0 when MV = 0
    drift_weight: Decimal | None  # Σ|w − t|
    drift_dollars: Decimal | None  # Σ|MV·t − u·p|
    out_of_band: int
    needs_rebalance: bool
    error: ErrorInfo | None = None


@dataclass(frozen=True, eq=False)
class DriftMatrix:
    """Model securities only, for heatmaps: float weights/drifts and exact band positions (K x N)."""

    portfolio_ids: list[str]
    security_ids: list[str]
    weights: np.ndarray
    drifts: np.ndarray
    position: np.ndarray  # int8: −1 below, 0 in band, +1 above (rows of failed portfolios are 0)


@dataclass(frozen=True, eq=False)
class DriftReport:
    """Drift of every portfolio of a model: one ``PortfolioDrift`` each (input order) and all the rows."""

    portfolios: list[PortfolioDrift]
    rows: list[SecurityDrift]
    matrix: DriftMatrix
    _by_portfolio: dict[str, list[SecurityDrift]] = field(default_factory=dict, repr=False)

    def rows_for(self, portfolio_id: str) -> list[SecurityDrift]:
        """The rows of one portfolio (model securities first, then other holdings)."""
        if not self._by_portfolio:
            for row in self.rows:
                self._by_portfolio.setdefault(row.portfolio_id, []).append(row)
        return self._by_portfolio.get(portfolio_id, [])


def _relative(drift: Decimal, low: Decimal, high: Decimal) -> Decimal | None:
    if drift == 0:
        return ZERO
    width = high if drift > 0 else low
    return RATIO.divide(drift, width) if width else None


def _cash(portfolio: PortfolioHoldings) -> Decimal | None:
    """The cash to show beside an error: the input, or None when it is outside the supported range."""
    return in_range(portfolio.cash)


def analyse_drift(
    model: InvestmentModel, prices: Mapping[str, Decimal], portfolios: Sequence[PortfolioHoldings]
) -> DriftReport:
    """Current-state drift of ``portfolios`` against ``model`` at one price snapshot (no optimisation)."""
    # WIDE: operator arithmetic inside never depends on the caller's decimal context
    with paused_gc(), localcontext(WIDE):
        return _analyse(model, prices, portfolios)


def _analyse(
    model: InvestmentModel, prices: Mapping[str, Decimal], portfolios: Sequence[PortfolioHoldings]
) -> DriftReport:
    positions = clean_positions(model.positions)
    sids = [p.security_id for p in positions]
    model_ids = frozenset(sids)
    k_all = len(portfolios)
    empty_matrix = DriftMatrix(
        [p.portfolio_id for p in portfolios],
        sids,
        np.zeros((k_all, len(sids))),
        np.zeros((k_all, len(sids))),
        np.zeros((k_all, len(sids)), dtype=np.int8),
    )
    run_error: EngineError | None = model_range_error(positions, prices, None)  # first: NaN never compared
    missing = [] if run_error else [sid for sid in sids if not (prices.get(sid) is not None and prices[sid] > 0)]
    if run_error is None and missing:
        run_error = ExternalDataError(
            f"no positive price for model securities {', '.join(missing)}", {"securityIds": missing}
        )
    if run_error is not None:
        err = ErrorInfo.of(run_error)
        out = [
            PortfolioDrift(p.portfolio_id, p.name, None, _cash(p), None, None, None, 0, False, err) for p in portfolios
        ]
        return DriftReport(out, [], empty_matrix)
    arrays = ModelArrays(
        tuple(sids),
        tuple(p.target for p in positions),
        tuple(p.low_drift for p in positions),
        tuple(p.high_drift for p in positions),
        tuple(prices[s] for s in sids),
    )

    # Per portfolio: held quantities, market value, or the error that stops its analysis.
    held_maps: list[dict[str, Decimal]] = []
    mvs: list[Decimal | None] = []
    errors: list[ErrorInfo | None] = []
    for p in portfolios:
        mv = None
        try:
            held = holding_map(p.holdings, p.portfolio_id)
            for sid in held:
                if sid not in model_ids:
                    require_price(prices, sid, p.portfolio_id)
            mv = market_value(p.cash, held, prices, p.portfolio_id)  # checks prices, values and MV against the range
            if mv < 0:
                raise NonPositiveMarketValue(
                    f"cannot analyse drift of portfolio {p.portfolio_id}: market value {plain(mv)} is negative",
                    {"portfolioId": p.portfolio_id, "marketValue": str(mv)},
                )
            held_maps.append(held)
            mvs.append(mv)
            errors.append(None)
        except NonPositiveMarketValue as exc:
            held_maps.append({})
            mvs.append(mv)
            errors.append(ErrorInfo.of(exc))
        except EngineError as exc:
            held_maps.append({})
            mvs.append(None)
            errors.append(ErrorInfo.of(exc))

    # One vectorised pass over the model securities: exact band positions and float weights.
    ok = [k for k in range(k_all) if errors[k] is None]
    n = arrays.size
    qty = [[held_maps[k].get(s, ZERO) for s in sids] for k in ok]
    qty_f = np.array([[float(q) for q in row] for row in qty], dtype=np.float64).reshape(len(ok), n)
    mills = [mills_of(mvs[k]) for k in ok]  # type: ignore[arg-type]

    def exact(r: int, i: int) -> Decimal:
        return qty[r][i]

    below = value_vs_weight(qty_f, exact, arrays, mills, arrays.band_low_f, arrays.band_low) < 0
    above = value_vs_weight(qty_f, exact, arrays, mills, arrays.band_high_f, arrays.band_high) > 0
    position = above.astype(np.int8) - below.astype(np.int8)
    mv_f = market_values_f(np.array(mills, dtype=np.int64))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights_f = np.where(mv_f > 0, qty_f * arrays.price_f[None, :] / mv_f, 0.0)
    matrix = DriftMatrix(
        [p.portfolio_id for p in portfolios],
        sids,
        np.zeros((k_all, n)),
        np.zeros((k_all, n)),
        np.zeros((k_all, n), dtype=np.int8),
    )
    if ok:
        matrix.weights[ok] = weights_f
        matrix.drifts[ok] = weights_f - arrays.target_f[None, :]
        matrix.position[ok] = position

    rows: list[SecurityDrift] = []
    out: list[PortfolioDrift] = []
    position_rows = position.tolist()
    r = 0
    with localcontext(MONEY):  # exact money; ratios go through RATIO explicitly
        for k, p in enumerate(portfolios):
            mv = mvs[k]
            if errors[k] is not None:
                out.append(
                    PortfolioDrift(
                        p.portfolio_id, p.name, in_range(mv), _cash(p), None, None, None, 0, False, errors[k]
                    )
                )
                continue
            assert mv is not None
            held = held_maps[k]
            pid = p.portfolio_id
            zero_mv = mv == 0
            drift_weight = drift_dollars = ZERO
            out_of_band = 0
            pos_row = position_rows[r]
            entries = [
                (sid, prices[sid], pos.target, pos.low_drift, pos.high_drift, lo, hi, pos_row[i], True)
                for i, (sid, pos, lo, hi) in enumerate(
                    zip(sids, positions, arrays.band_low, arrays.band_high, strict=True)
                )
            ]
            for sid, q in held.items():
                if sid not in model_ids:
                    # band [0, 0]: a non-zero holding is above (long) or below (short) it
                    entries.append((sid, prices[sid], ZERO, ZERO, ZERO, ZERO, ZERO, 1 if q > 0 else -1, False))
            for sid, price, target, low, high, band_low, band_high, pos, in_model in entries:
                u = held.get(sid, ZERO)
                value = u * price
                weight = ZERO if zero_mv else RATIO.divide(value, mv)
                drift = RATIO.subtract(weight, target)
                drift_weight = RATIO.add(drift_weight, abs(drift))
                drift_dollars += abs(mv * target - value)
                if pos:
                    out_of_band += 1
                rows.append(
                    SecurityDrift(
                        pid,
                        sid,
                        u,
                        price,
                        value,
                        weight,
                        target,
                        low,
                        high,
                        drift,
                        band_low,
                        band_high,
                        pos == 0,
                        pos,
                        _relative(drift, low, high),
                        in_model,
                    )
                )
            cash_weight = ZERO if zero_mv else RATIO.divide(p.cash, mv)
            out.append(
                PortfolioDrift(
                    pid, p.name, mv, p.cash, cash_weight, drift_weight, drift_dollars, out_of_band, out_of_band > 0
                )
            )
            r += 1
    return DriftReport(out, rows, matrix)
