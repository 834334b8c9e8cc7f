"""Domain types of the engine (product-spec 1-2).

Python attributes are snake_case; every model serialises to the camelCase names of the DTOs and
documents (``model_dump(by_alias=True)``) and accepts either spelling on input. All numbers are
``Decimal`` built from strings (pydantic converts JSON strings, ints and floats via ``str``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from engine.exactmath import MONEY

TransactionType = Literal["BUY", "SELL"]
Status = Literal["optimal", "relaxed", "infeasible", "error"]
TradePolicy = Literal["all", "out-of-band"]
Direction = Literal["both", "buy-only", "sell-only"]
OnInfeasible = Literal["flag", "nearest"]
# The control that kept an off-target position from trading (product-spec 2.12), shown in the "not traded" view.
KeptBy = Literal["in-band", "min-trade", "no-buy", "no-sell", "no-trade"]


class DomainModel(BaseModel):
    """Base: camelCase aliases, construction by either name, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Position(DomainModel):
    """One model position: target weight with the drift band around it (fractions of MV)."""

    security_id: str
    target: Decimal
    high_drift: Decimal
    low_drift: Decimal


class TradeControls(DomainModel):
    """A model's default PM trade controls (product-spec 2.12), saved with the model and pre-filled in a what-if.

    The same fields as :class:`RebalanceOptions`; a run may override them (:meth:`RebalanceOptions.with_controls`).
    """

    trade_policy: TradePolicy = "all"
    min_trade_value: Decimal = Decimal(0)
    no_buy: tuple[str, ...] = ()
    no_sell: tuple[str, ...] = ()
    no_trade: tuple[str, ...] = ()
    direction: Direction = "both"
    on_infeasible: OnInfeasible = "flag"

    @property
    def is_default(self) -> bool:
        return self == TradeControls()


class InvestmentModel(DomainModel):
    """An investment model as stored (product-spec 1.1)."""

    model_id: str | None = None
    name: str
    positions: tuple[Position, ...] = ()
    portfolios: tuple[str, ...] = ()
    last_rebalance_date: dt.datetime | None = None
    version: int = 1
    updated_by: str | None = None  # who made the last change (audit, issue #13); None before sign-in existed
    controls: TradeControls = TradeControls()  # default trade controls of a what-if on this model (2.12)

    def position_map(self) -> dict[str, Position]:
        return {p.security_id: p for p in self.positions}


class ModelVersion(DomainModel):
    """One stored version of a model (collection ``modelVersions``, issue 14): the model as that write left it,
    who wrote it (``model.updated_by``) and when."""

    model: InvestmentModel
    saved_at: dt.datetime


class Holding(DomainModel):
    """One line of an accounting summary: ``quantity`` is netQuantity (negative for a short)."""

    security_id: str
    quantity: Decimal


class PortfolioHoldings(DomainModel):
    """Cash and holdings of one portfolio at snapshot time (product-spec 2.1)."""

    portfolio_id: str
    cash: Decimal = Decimal(0)
    holdings: tuple[Holding, ...] = ()
    name: str | None = None


class RebalanceOptions(DomainModel):
    """Everything that defines a run: cash floor, solver limit, tie-break and business date (product-spec 2.12).

    The cash floor of a portfolio is the greater of ``min_cash`` (an amount) and ``min_cash_fraction`` of its
    market value (:meth:`cash_floor`); both default to 0.
    """

    min_cash: Decimal = Decimal(0)
    min_cash_fraction: Decimal = Decimal(0)  # share of MV (0.02 = 2 %); the CLI's ``minCashPct``
    time_limit: float = 30.0
    tie_break: Literal["lower", "random"] = "lower"
    seed: int | None = None
    trade_date: dt.date | None = None  # None: today in the business time zone (UTC default)
    # PM trade controls (product-spec 2.12); each default reproduces the 2.3 objective unchanged.
    trade_policy: TradePolicy = "all"  # out-of-band: a security inside its band does not trade
    min_trade_value: Decimal = Decimal(0)  # every trade 0 or |Δ|·p ≥ this, except selling the whole position
    no_buy: tuple[str, ...] = ()  # security ids that may not be bought
    no_sell: tuple[str, ...] = ()  # ... sold
    no_trade: tuple[str, ...] = ()  # ... traded at all
    direction: Direction = "both"  # buy-only = noSell for every security (invest cash); sell-only = noBuy (raise cash)
    on_infeasible: OnInfeasible = "flag"  # nearest: least band breach when no answer meets every band (relaxed)

    def cash_floor(self, market_value: Decimal) -> Decimal:
        """The cash floor of a portfolio of this market value: max(min_cash, min_cash_fraction · MV), exact.

        A non-positive MV contributes nothing by fraction (such a portfolio never trades anyway).
        """
        if not self.min_cash_fraction or market_value <= 0:
            return self.min_cash
        with localcontext(MONEY):  # exact: a product that needed rounding would raise
            return max(self.min_cash, market_value * self.min_cash_fraction)

    @property
    def controls(self) -> TradeControls:
        """The trade controls of this run (what a model saves as its defaults)."""
        return TradeControls.model_validate(self.model_dump(include=set(TradeControls.model_fields)))

    def with_controls(self, controls: TradeControls) -> RebalanceOptions:
        """These options with the trade controls replaced (cash floor, time limit, tie-break, date kept)."""
        return self.model_copy(update=dict(controls))


class Transaction(DomainModel):
    """A proposed order line (TransactionDTO)."""

    transaction_type: TransactionType
    security_id: str
    quantity: Decimal
    trade_date: dt.date


class DriftRow(DomainModel):
    """DriftDTO: one row per security in holdings ∪ model; ``actual`` rounded to 4 dp half-up."""

    security_id: str
    original_quantity: Decimal
    adjusted_quantity: Decimal
    target: Decimal
    high_drift: Decimal
    low_drift: Decimal
    actual: Decimal
    kept_by: KeptBy | None = None  # the control that kept this position off target from trading


class BandBreach(DomainModel):
    """One band a ``relaxed`` answer breaches: which side and by how many dollars (product-spec 2.12)."""

    security_id: str
    side: Literal["low", "high"]
    amount: Decimal


class RecordPosition(DomainModel):
    """Position sub-document of a saved rebalance record (product-spec 2.8)."""

    security_id: str
    price: Decimal
    original_quantity: Decimal
    adjusted_quantity: Decimal
    original_position_market_value: Decimal
    adjusted_position_market_value: Decimal
    target: Decimal
    high_drift: Decimal
    low_drift: Decimal
    actual: Decimal  # full precision
    actual_drift: Decimal  # 1 - actual/target, 0 when target is 0
    transaction_type: TransactionType | None = None
    trade_quantity: Decimal | None = None
    trade_date: dt.date | None = None


class PortfolioResult(DomainModel):
    """The outcome of rebalancing one portfolio (optimal, infeasible with a diagnosis, or error)."""

    portfolio_id: str
    portfolio_name: str | None = None
    status: Status
    market_value: Decimal | None = None
    cash_before: Decimal | None = None
    cash_after: Decimal | None = None
    portfolio_drift: Decimal | None = None  # dollars, Σ|MV·t − u'·p| of the integer answer
    drift_before: Decimal | None = None  # dollars, same measure on current holdings
    transactions: tuple[Transaction, ...] = ()
    drifts: tuple[DriftRow, ...] = ()
    positions: tuple[RecordPosition, ...] = ()  # the saved-record draft (2.8)
    diagnosis: str | None = None
    error_code: str | None = None
    rebalance_id: str | None = None
    band_breaches: tuple[BandBreach, ...] = ()  # only with status "relaxed"
    # the cash floor (> 0) cut into this answer: the best quantities without any cash limit spend more than
    # MV − floor, or even the least ones do (infeasible); read by engine.scenarios.floor_binding
    floor_bound: bool = False


class RunInfo(DomainModel):
    """What a saved run was (issue 14): its scenario name, the model version it used, whether run-only overrides of
    targets/bands replaced the stored model's, and its parameters as display pairs (label, value)."""

    scenario_name: str | None = None
    model_version: int | None = None
    overrides: bool = False
    parameters: tuple[tuple[str, str], ...] = ()


class RebalanceRecord(DomainModel):
    """A saved rebalance run (collection ``rebalances``)."""

    rebalance_id: str | None = None
    model_id: str
    model_name: str
    run: RunInfo | None = None  # None for records saved before issue 14
    rebalance_date: dt.datetime
    portfolios: tuple[RecordPortfolio, ...] = ()
    version: int = 1
    saved_by: str | None = None  # who saved the run (audit, issue #13)
    options: RebalanceOptions | None = None  # the run's options (cash floor, trade controls); None: saved before 2.12

    @property
    def number_of_portfolios(self) -> int:
        return len(self.portfolios)


class RecordPortfolio(DomainModel):
    """Portfolio sub-document of a saved record."""

    portfolio_id: str
    market_value: Decimal
    cash_before_rebalance: Decimal
    cash_after_rebalance: Decimal
    positions: tuple[RecordPosition, ...] = ()
    portfolio_name: str | None = None
    band_breaches: tuple[BandBreach, ...] = ()  # a "relaxed" (nearest feasible) answer: the bands it breaches


RebalanceRecord.model_rebuild()


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Parse a number the exact way: ``Decimal(str(value))``; raise ValueError naming the field."""
    from decimal import InvalidOperation

    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: {value!r} is not a number")
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{field}: {value!r} is not a number") from exc
    if not d.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return d


__all__ = [
    "DomainModel",
    "DriftRow",
    "Field",
    "Holding",
    "InvestmentModel",
    "PortfolioHoldings",
    "PortfolioResult",
    "Position",
    "RebalanceOptions",
    "RebalanceRecord",
    "RecordPortfolio",
    "RecordPosition",
    "TradeControls",
    "Transaction",
    "to_decimal",
]
