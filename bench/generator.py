"""Seeded generator of realistic rebalancing instances (engine-design §4).

One model of N securities (N = 100 unless stated) at one price snapshot, and K portfolios:

- prices lognormal around $60, about 3 % of them around $1,500 (a few above $1,000), in cents;
- targets on the 0.005 grid, every one ≥ 0.005, summing to 0.90-0.95 (Dirichlet split of the grid units);
- drift bands: lowDrift and highDrift uniform on the 0.001 grid in [0.01, 0.05];
- market values log-uniform $10k-$10M; holdings off target (lognormal factor, sigma 0.35; 10 % of model
  securities not held); 25 % of portfolios also hold 1-3 securities outside the model; cash 1-12 % of MV.

Families used by ``bench_engine.py``:

- ``realistic``: the above (cash row slack almost always, a few integer-infeasible small accounts);
- ``binding``: realistic portfolios with a per-portfolio ``minCash`` between the cost of the band minimums
  and of the unconstrained optimum, so the cash floor binds and the MILP path runs;
- ``tight``: small accounts ($10k-$100k), bands of 0.5-3 % and 15 % of securities around $1,500: most
  portfolios have a band that holds no whole share (infeasibility detection), some are feasible.

Same seed, same instances: every figure of the benchmark is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Batch:
    """One model at one price snapshot with its portfolios (one cash floor per batch)."""

    model: InvestmentModel
    prices: dict[str, Decimal]
    portfolios: list[PortfolioHoldings]
    min_cash: Decimal = Decimal(0)


@dataclass(frozen=True)
class Single:
    """One portfolio with its own cash floor (the binding family)."""

    model: InvestmentModel
    prices: dict[str, Decimal]
    portfolio: PortfolioHoldings
    min_cash: Decimal


def security_id(i: int, kind: int = 0xA) -> str:
    return f"{kind:x}{i:023x}"


def _price(rng: np.random.Generator, expensive_share: float) -> Decimal:
    value = rng.lognormal(math.log(1500), 0.4) if rng.random() < expensive_share else rng.lognormal(math.log(60), 0.8)
    return max(CENT, Decimal(f"{value:.2f}"))


def generate_model(
    rng: np.random.Generator,
    n: int = 100,
    *,
    drift_range: tuple[float, float] = (0.01, 0.05),
    expensive_share: float = 0.03,
    n_extra: int = 20,
) -> tuple[InvestmentModel, dict[str, Decimal]]:
    """A valid model (product-spec 1.3) of ``n`` ≤ 100 securities and prices for them and ``n_extra`` others."""
    if not 1 <= n <= 100:
        raise ValueError("a model has 1 to 100 positions")
    units = int(rng.integers(180, 191))  # Σ target = units·0.005 ∈ [0.90, 0.95]
    units = max(units, n)
    split = 1 + rng.multinomial(units - n, rng.dirichlet(np.ones(n)))
    lo_g, hi_g = (round(x * 1000) for x in drift_range)
    positions = tuple(
        Position(
            security_id=security_id(i),
            target=Decimal(int(split[i])) * Decimal("0.005"),
            low_drift=Decimal(int(rng.integers(lo_g, hi_g + 1))) / 1000,
            high_drift=Decimal(int(rng.integers(lo_g, hi_g + 1))) / 1000,
        )
        for i in range(n)
    )
    prices = {p.security_id: _price(rng, expensive_share) for p in positions}
    prices |= {security_id(i, 0xE): _price(rng, expensive_share) for i in range(n_extra)}
    return InvestmentModel(name=f"bench model ({n} securities)", positions=positions), prices


def generate_portfolios(
    rng: np.random.Generator,
    model: InvestmentModel,
    prices: dict[str, Decimal],
    k: int,
    *,
    mv_range: tuple[float, float] = (1e4, 1e7),
    prefix: int = 0xB,
) -> list[PortfolioHoldings]:
    """``k`` portfolios drifted away from ``model``; non-model holdings come from the extra priced securities."""
    extras = [sid for sid in prices if sid not in model.position_map()]
    out = []
    for j in range(k):
        mv = math.exp(rng.uniform(math.log(mv_range[0]), math.log(mv_range[1])))
        holdings = []
        for p in model.positions:
            if rng.random() < 0.10:
                continue
            shares = mv * float(p.target) / float(prices[p.security_id]) * rng.lognormal(0, 0.35)
            if (q := round(shares)) > 0:
                holdings.append(Holding(security_id=p.security_id, quantity=Decimal(q)))
        if extras and rng.random() < 0.25:
            for sid in rng.choice(extras, size=int(rng.integers(1, 4)), replace=False):
                q = int(mv * rng.uniform(0.002, 0.01) / float(prices[sid]))
                if q > 0:
                    holdings.append(Holding(security_id=str(sid), quantity=Decimal(q)))
        cash = Decimal(f"{mv * rng.uniform(0.01, 0.12):.2f}")
        out.append(PortfolioHoldings(portfolio_id=f"{prefix:x}{j:023x}", cash=cash, holdings=tuple(holdings)))
    return out


def realistic(seed: int, n: int = 100, k: int = 1000) -> Batch:
    """The main family: one model, ``k`` portfolios, no cash floor."""
    rng = np.random.default_rng(seed)
    model, prices = generate_model(rng, n)
    return Batch(model, prices, generate_portfolios(rng, model, prices, k))


def tight(seed: int, n: int = 100, k: int = 200) -> Batch:
    """Small accounts, tight bands, more expensive securities: integer infeasibility is common."""
    rng = np.random.default_rng(seed)
    model, prices = generate_model(rng, n, drift_range=(0.005, 0.03), expensive_share=0.15)
    return Batch(model, prices, generate_portfolios(rng, model, prices, k, mv_range=(1e4, 1e5), prefix=0xC))


def _reference_bounds(mv: Fraction, p: Position, price: Fraction) -> tuple[int, int, int]:
    t, lo, hi = (Fraction(str(x)) for x in (p.target, p.low_drift, p.high_drift))
    lower = max(0, math.ceil(mv * (t - lo) / price))
    upper = math.floor(mv * (t + hi) / price)
    target_shares = mv * t / price
    nearest = math.ceil(2 * target_shares) // 2  # nearest integer, the lower one on a tie
    return lower, upper, min(max(nearest, lower), upper)


def binding(seed: int, n: int = 100, count: int = 100) -> list[Single]:
    """Portfolios whose own ``minCash`` makes the cash floor bind (but leaves a feasible answer)."""
    from engine.marketvalue import market_value

    rng = np.random.default_rng(seed)
    model, prices = generate_model(rng, n)
    out: list[Single] = []
    for portfolio in generate_portfolios(rng, model, prices, count * 2, mv_range=(3e4, 3e6), prefix=0xD):
        mv = Fraction(str(market_value(portfolio.cash, portfolio.holdings, prices)))
        bounds = [_reference_bounds(mv, p, Fraction(str(prices[p.security_id]))) for p in model.positions]
        if any(lo > hi for lo, hi, _ in bounds):
            continue
        px = [Fraction(str(prices[p.security_id])) for p in model.positions]
        spend_lo = sum((b[0] * x for b, x in zip(bounds, px, strict=True)), Fraction(0))
        spend_free = sum((b[2] * x for b, x in zip(bounds, px, strict=True)), Fraction(0))
        if spend_free - spend_lo < 1:
            continue
        budget = spend_free - (spend_free - spend_lo) * Fraction(float(rng.uniform(0.002, 0.03)))
        min_cash = Decimal(math.ceil((mv - budget) * 100)) / 100  # in cents, a little above the exact floor
        out.append(Single(model, prices, portfolio, min_cash))
        if len(out) == count:
            break
    return out


def market_value_mills(seed: int, k: int) -> np.ndarray:
    """``k`` market values (log-uniform $10k-$10M) in integer mills: the only per-portfolio input of the core."""
    rng = np.random.default_rng(seed)
    return np.round(np.exp(rng.uniform(math.log(1e4), math.log(1e7), k)) * 1000).astype(np.int64)
