"""The committed demo dataset: ``load_demo()`` reads the files written by ``python -m data.demo.generate``.

Securities (with the price on one as-of date and a price deviation), portfolios, accounting balance rows (cash rows
have ``security_id`` None; shorts and zero rows included) and investment models (``engine.models.InvestmentModel``
without ``model_id``). The dataset is immutable and loaded once per process.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position

DEMO_DIR = Path(__file__).resolve().parent
FILES = ("securities.csv", "portfolios.csv", "balances.csv", "models.json")


@dataclass(frozen=True)
class DemoSecurity:
    """A security of the universe; ``price``/``price_std`` are None for delisted tickers (no price)."""

    security_id: str
    ticker: str
    description: str
    sector: str
    price: Decimal | None
    price_std: Decimal | None


@dataclass(frozen=True)
class DemoPortfolio:
    """A portfolio of the Portfolio Service; ``date_created`` is naive UTC with millisecond precision."""

    portfolio_id: str
    name: str
    date_created: dt.datetime


@dataclass(frozen=True)
class DemoBalance:
    """One accounting balance row; ``security_id`` None is the cash row."""

    portfolio_id: str
    security_id: str | None
    quantity_long: Decimal
    quantity_short: Decimal


@dataclass(frozen=True)
class DemoDataset:
    """Everything the simulator serves and the app seeds."""

    as_of: dt.date
    security_type: dict[str, str]
    securities: tuple[DemoSecurity, ...]
    portfolios: tuple[DemoPortfolio, ...]
    balances: tuple[DemoBalance, ...]
    models: tuple[InvestmentModel, ...]
    _by_portfolio: dict[str, tuple[DemoBalance, ...]] = field(default_factory=dict, repr=False, compare=False)

    @functools.cached_property
    def prices(self) -> dict[str, Decimal]:
        """Stored price by security id (the fixed-mode price; delisted securities absent)."""
        return {s.security_id: s.price for s in self.securities if s.price is not None}

    @functools.cached_property
    def securities_by_ticker(self) -> dict[str, DemoSecurity]:
        return {s.ticker: s for s in self.securities}

    @functools.cached_property
    def securities_by_id(self) -> dict[str, DemoSecurity]:
        return {s.security_id: s for s in self.securities}

    @functools.cached_property
    def portfolios_by_name(self) -> dict[str, DemoPortfolio]:
        return {p.name: p for p in self.portfolios}

    def model(self, name: str) -> InvestmentModel:
        """The demo model called ``name`` (KeyError if none)."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def balances_of(self, portfolio_id: str) -> tuple[DemoBalance, ...]:
        """The balance rows of one portfolio (empty for a portfolio without balances)."""
        return self._by_portfolio.get(portfolio_id, ())

    def holdings(self, portfolio_id: str) -> PortfolioHoldings:
        """What the accounting summary yields for ``portfolio_id``: cash and non-zero net quantities."""
        cash = Decimal(0)
        holdings = []
        for b in self.balances_of(portfolio_id):
            if b.security_id is None:
                cash = b.quantity_long
            elif b.quantity_long - b.quantity_short != 0:
                holdings.append(Holding(security_id=b.security_id, quantity=b.quantity_long - b.quantity_short))
        return PortfolioHoldings(portfolio_id=portfolio_id, cash=cash, holdings=tuple(holdings))

    @functools.cached_property
    def unassigned_portfolio_ids(self) -> tuple[str, ...]:
        """Portfolios linked to no model (the UI can link them)."""
        linked = {pid for m in self.models for pid in m.portfolios}
        return tuple(p.portfolio_id for p in self.portfolios if p.portfolio_id not in linked)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _optional_decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@functools.cache
def load_demo(directory: str | None = None) -> DemoDataset:
    """The demo dataset (cached per process); ``directory`` defaults to this package's folder."""
    folder = Path(directory) if directory else DEMO_DIR
    meta = json.loads((folder / "models.json").read_text(encoding="utf-8"))
    securities = tuple(
        DemoSecurity(
            r["security_id"],
            r["ticker"],
            r["description"],
            r["sector"],
            _optional_decimal(r["price"]),
            _optional_decimal(r["price_std"]),
        )
        for r in _rows(folder / "securities.csv")
    )
    portfolios = tuple(
        DemoPortfolio(r["portfolio_id"], r["name"], dt.datetime.fromisoformat(r["date_created"]))
        for r in _rows(folder / "portfolios.csv")
    )
    balances = tuple(
        DemoBalance(
            r["portfolio_id"], r["security_id"] or None, Decimal(r["quantity_long"]), Decimal(r["quantity_short"])
        )
        for r in _rows(folder / "balances.csv")
    )
    by_portfolio: dict[str, list[DemoBalance]] = {}
    for b in balances:
        by_portfolio.setdefault(b.portfolio_id, []).append(b)
    models = tuple(
        InvestmentModel(
            name=m["name"],
            positions=tuple(Position.model_validate(p) for p in m["positions"]),
            portfolios=tuple(m["portfolios"]),
        )
        for m in meta["models"]
    )
    return DemoDataset(
        as_of=dt.date.fromisoformat(meta["asOf"]),
        security_type=dict(meta["securityType"]),
        securities=securities,
        portfolios=portfolios,
        balances=balances,
        models=models,
        _by_portfolio={k: tuple(v) for k, v in by_portfolio.items()},
    )


__all__ = ["DemoBalance", "DemoDataset", "DemoPortfolio", "DemoSecurity", "load_demo"]
