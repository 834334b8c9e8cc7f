"""What-if scenario math: per-run parameters, per-portfolio metrics and scenario summaries for comparison.

Pure functions over engine results (product-spec 2.3, 2.6, 3.1, 3.8). Dollar drift is PD = Σ|MV·t − u·p| over the
combined list S; as a weight it is PD / MV. Turnover is the traded value Σ|Δ|·p. "Out of band" means at least one
security of the portfolio lies outside [t − lowDrift, t + highDrift] as a weight of MV. A ``relaxed`` result (the
nearest feasible answer of product-spec 2.12) is rebalanced like an ``optimal`` one and also counts its band breach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from engine.models import (
    InvestmentModel,
    PortfolioHoldings,
    PortfolioResult,
    Position,
    RebalanceOptions,
    RecordPosition,
)
from engine.validation import validate_model

ZERO = Decimal(0)
SMALL_ORDER = Decimal(500)  # "orders under $500": the tickets a PM would rather not send (issue #11)
REBALANCED = ("optimal", "relaxed")  # statuses whose answer trades (relaxed: nearest feasible, bands breached)


def model_with_overrides(model: InvestmentModel, positions: Sequence[Position]) -> InvestmentModel:
    """A copy of ``model`` whose targets and bands are replaced for one run only (never saved).

    The positions are validated like a model save (product-spec 1.3; ``InvalidInput`` lists every violation) and
    zero-target rows are dropped. Name, portfolios and version stay those of the stored model.
    """
    cleaned = validate_model(model.name, positions, model.portfolios)
    return model.model_copy(update={"positions": cleaned})


def positions_differ(a: Iterable[Position], b: Iterable[Position]) -> bool:
    """True when two position lists differ as numbers (order-insensitive; 0.02 == 0.020)."""

    def key(ps: Iterable[Position]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        return {p.security_id: (p.target, p.low_drift, p.high_drift) for p in ps}

    return key(a) != key(b)


def _outside_band(p: RecordPosition, value: Decimal, mv: Decimal) -> bool:
    weight = value / mv
    return weight < p.target - p.low_drift or weight > p.target + p.high_drift


@dataclass(frozen=True)
class PortfolioMetrics:
    """Before/after figures of one portfolio in one scenario (None where the result has no numbers)."""

    portfolio_id: str
    portfolio_name: str | None
    status: str
    market_value: Decimal | None
    cash_before: Decimal | None
    cash_after: Decimal | None
    drift_before: Decimal | None  # dollars
    drift_after: Decimal | None  # dollars
    turnover: Decimal  # traded value, dollars
    orders: int
    out_of_band_before: bool | None
    out_of_band_after: bool | None
    diagnosis: str | None = None
    small_orders: int = 0  # orders whose value |Δ|·p is below SMALL_ORDER
    band_breach: Decimal = ZERO  # dollars, Σ of the breached bands of a relaxed answer

    @property
    def drift_before_weight(self) -> Decimal | None:
        return _ratio(self.drift_before, self.market_value)

    @property
    def drift_after_weight(self) -> Decimal | None:
        return _ratio(self.drift_after, self.market_value)


def _ratio(num: Decimal | None, den: Decimal | None) -> Decimal | None:
    return None if num is None or den is None or den <= 0 else num / den


def portfolio_metrics(result: PortfolioResult, out_of_band_before: bool | None = None) -> PortfolioMetrics:
    """Metrics of one result. ``out_of_band_before`` (e.g. from the drift view of the snapshot) is used when the
    result has no record positions to derive it from, as for infeasible or failed portfolios.

    A portfolio that was not rebalanced keeps its holdings, so its state after is its state before.
    """
    mv = result.market_value
    positions = result.positions
    drift_before, drift_after = result.drift_before, result.portfolio_drift
    if positions and mv is not None:
        if drift_before is None:
            drift_before = sum((abs(mv * p.target - p.original_position_market_value) for p in positions), ZERO)
        if drift_after is None:
            drift_after = sum((abs(mv * p.target - p.adjusted_position_market_value) for p in positions), ZERO)
    before = out_of_band_before
    after: bool | None
    if positions and mv is not None and mv > 0:
        before = any(_outside_band(p, p.original_position_market_value, mv) for p in positions)
        after = any(_outside_band(p, p.adjusted_position_market_value, mv) for p in positions)
    elif result.status == "optimal" and mv is not None and mv <= 0:
        before = after = False  # an empty portfolio has nothing to be out of band
    else:
        after = before if result.status not in REBALANCED else None
    optimal = result.status in REBALANCED
    if not optimal:
        drift_after = drift_before
    traded = [abs(p.adjusted_position_market_value - p.original_position_market_value) for p in positions]
    turnover = sum(traded, ZERO)
    return PortfolioMetrics(
        portfolio_id=result.portfolio_id,
        portfolio_name=result.portfolio_name,
        status=result.status,
        market_value=mv,
        cash_before=result.cash_before,
        cash_after=result.cash_after if optimal else result.cash_before,
        drift_before=drift_before,
        drift_after=drift_after,
        turnover=turnover if optimal else ZERO,
        orders=sum(1 for t in result.transactions if t.quantity != 0) if optimal else 0,
        out_of_band_before=before,
        out_of_band_after=after,
        diagnosis=result.diagnosis,
        small_orders=sum(1 for v in traded if 0 < v < SMALL_ORDER) if optimal else 0,
        band_breach=sum((b.amount for b in result.band_breaches), ZERO) if optimal else ZERO,
    )


@dataclass(frozen=True)
class ScenarioSummary:
    """Totals of one scenario, the figures compared side by side."""

    portfolios: int
    optimal: int
    infeasible: int
    failed: int
    market_value: Decimal  # Σ MV of the portfolios with a known MV
    drift_before: Decimal  # dollars, Σ over portfolios with a known drift
    drift_after: Decimal
    turnover: Decimal
    orders: int
    cash_before: Decimal
    cash_after: Decimal
    out_of_band_before: int
    still_out_of_band: int
    cash_after_known: Decimal = ZERO  # Σ cash after of the portfolios counted in market_value
    relaxed: int = 0  # portfolios answered "nearest feasible" (bands breached), counted apart from optimal
    band_breach: Decimal = ZERO  # dollars, Σ breach of the relaxed portfolios
    small_orders: int = 0  # orders under SMALL_ORDER

    @property
    def drift_reduction(self) -> Decimal | None:
        """Share of the dollar drift removed (0.8 = 80 %); None when there was no drift."""
        return None if self.drift_before <= 0 else (self.drift_before - self.drift_after) / self.drift_before

    @property
    def turnover_weight(self) -> Decimal | None:
        """Traded value as a fraction of total market value."""
        return _ratio(self.turnover, self.market_value)

    @property
    def drift_before_weight(self) -> Decimal | None:
        return _ratio(self.drift_before, self.market_value)

    @property
    def drift_after_weight(self) -> Decimal | None:
        return _ratio(self.drift_after, self.market_value)

    @property
    def cash_after_weight(self) -> Decimal | None:
        """Cash after the trades as a fraction of total market value (portfolios with a known MV only)."""
        return _ratio(self.cash_after_known, self.market_value)


def summarise(metrics: Iterable[PortfolioMetrics]) -> ScenarioSummary:
    """Add up per-portfolio metrics. Non-rebalanced portfolios count with their unchanged state (cash, drift)."""
    ms = list(metrics)

    def total(values: Iterable[Decimal | None]) -> Decimal:
        return sum((v for v in values if v is not None), ZERO)

    return ScenarioSummary(
        portfolios=len(ms),
        optimal=sum(m.status == "optimal" for m in ms),
        infeasible=sum(m.status == "infeasible" for m in ms),
        failed=sum(m.status not in (*REBALANCED, "infeasible") for m in ms),
        market_value=total(m.market_value for m in ms if m.drift_before is not None),
        drift_before=total(m.drift_before for m in ms),
        drift_after=total(m.drift_after for m in ms),
        turnover=total(m.turnover for m in ms),
        orders=sum(m.orders for m in ms),
        cash_before=total(m.cash_before for m in ms),
        cash_after=total(m.cash_after for m in ms),
        out_of_band_before=sum(m.out_of_band_before is True for m in ms),
        still_out_of_band=sum(m.out_of_band_after is True for m in ms),
        cash_after_known=total(m.cash_after for m in ms if m.drift_before is not None),
        relaxed=sum(m.status == "relaxed" for m in ms),
        band_breach=total(m.band_breach for m in ms),
        small_orders=sum(m.small_orders for m in ms),
    )


COMPARED = (
    "portfolios", "optimal", "relaxed", "band_breach", "infeasible", "failed", "out_of_band_before",
    "still_out_of_band", "orders", "small_orders", "turnover", "turnover_weight", "drift_before_weight",
    "drift_after_weight", "drift_reduction", "cash_before", "cash_after", "cash_after_weight",
)  # fmt: skip


def difference(base: ScenarioSummary, other: ScenarioSummary) -> dict[str, Decimal | int | None]:
    """``other − base`` for every compared figure (counts, dollars, fractions); None where either is unknown."""
    out: dict[str, Decimal | int | None] = {}
    for attr in COMPARED:
        a, b = getattr(base, attr), getattr(other, attr)
        out[attr] = None if a is None or b is None else b - a
    return out


def scenario_summary(
    results: Iterable[PortfolioResult], out_of_band_before: Mapping[str, bool] | None = None
) -> ScenarioSummary:
    """``summarise`` of ``portfolio_metrics`` for every result."""
    flags = out_of_band_before or {}
    return summarise(portfolio_metrics(r, flags.get(r.portfolio_id)) for r in results)


@dataclass(frozen=True)
class FloorBinding:
    """Whether a run's cash floor changed any answer (issue 14 item 11).

    ``bound``: ids of the portfolios whose cash floor cut into their answer (``PortfolioResult.floor_bound``,
    set by the solver route that knew the cash row: the best quantities without a cash limit spend more than
    MV − floor, or the floor made the portfolio infeasible). ``checked``: portfolios looked at (the answered
    ones). ``least_cash_weight``: with no portfolio bound, the smallest cash after (as a share of MV) of the run,
    which the answers keep without any floor; ``implied_cash``: 1 − Σ targets of the model that ran.
    """

    bound: tuple[str, ...]
    checked: int
    least_cash_weight: Decimal | None
    implied_cash: Decimal

    @property
    def binds(self) -> bool:
        """The floor changed the answer of at least one portfolio."""
        return bool(self.bound)


def _implied_cash(model: InvestmentModel) -> Decimal:
    return Decimal(1) - sum((p.target for p in model.positions), ZERO)


def floor_binding(
    model: InvestmentModel,
    prices: Mapping[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    options: RebalanceOptions,
    results: Sequence[PortfolioResult],
) -> FloorBinding | None:
    """Did the run's cash floor (``min_cash`` / ``min_cash_fraction``) bind for any portfolio? None: no floor.

    Read from the results' ``floor_bound`` flags (no re-solve). A portfolio whose flag is off has the answer the
    same run without the floor gives: its best quantities leave at least the floor in cash. ``prices`` and
    ``portfolios`` are not needed any more (kept for callers).
    """
    if options.min_cash <= 0 and options.min_cash_fraction <= 0:
        return None
    answered = [r for r in results if r.status in (*REBALANCED, "infeasible")]
    bound = tuple(r.portfolio_id for r in answered if r.floor_bound)
    if bound:
        return FloorBinding(bound, len(answered), None, _implied_cash(model))
    weights = [
        r.cash_after / r.market_value
        for r in answered
        if r.cash_after is not None and r.market_value is not None and r.market_value > 0
    ]
    return FloorBinding((), len(answered), min(weights, default=None), _implied_cash(model))


__all__ = [
    "COMPARED",
    "REBALANCED",
    "SMALL_ORDER",
    "FloorBinding",
    "PortfolioMetrics",
    "ScenarioSummary",
    "difference",
    "floor_binding",
    "model_with_overrides",
    "portfolio_metrics",
    "positions_differ",
    "scenario_summary",
    "summarise",
]
