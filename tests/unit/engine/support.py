"""Test helpers for the engine: instance builders and an independent exact reference.

The reference works in ``fractions.Fraction`` straight from product-spec 2.3 (no code shared with the
engine): it enumerates every integer vector in the bands, keeps the ones that satisfy every band and the
cash floor, and returns the minimum drift and all the vectors reaching it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from engine.bands import ModelArrays
from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position

D = Decimal


def sid(i: int) -> str:
    """A valid 24-hex security id."""
    return f"{i:024x}"


def pid(i: int) -> str:
    """A valid 24-hex portfolio id."""
    return f"{0xABC000 + i:024x}"


def arrays(*rows: tuple[str, str, str, str]) -> ModelArrays:
    """ModelArrays from (target, low, high, price) strings; ids are sid(0..)."""
    return ModelArrays(
        tuple(sid(i) for i in range(len(rows))),
        tuple(D(r[0]) for r in rows),
        tuple(D(r[1]) for r in rows),
        tuple(D(r[2]) for r in rows),
        tuple(D(r[3]) for r in rows),
    )


def model_of(
    specs: Sequence[tuple[str, str, str]], ids: Sequence[str] | None = None, name: str = "m"
) -> InvestmentModel:
    """A model from (target, lowDrift, highDrift) strings; ids default to sid(0..)."""
    ids = list(ids) if ids is not None else [sid(i) for i in range(len(specs))]
    return InvestmentModel(
        name=name,
        positions=tuple(
            Position(security_id=s, target=D(t), low_drift=D(lo), high_drift=D(hi))
            for s, (t, lo, hi) in zip(ids, specs, strict=True)
        ),
    )


def portfolio_of(
    cash: str, holdings: dict[str, str] | None = None, portfolio_id: str | None = None
) -> PortfolioHoldings:
    return PortfolioHoldings(
        portfolio_id=portfolio_id or pid(0),
        cash=D(cash),
        holdings=tuple(Holding(security_id=s, quantity=D(q)) for s, q in (holdings or {}).items()),
    )


def F(x: Decimal | int | str) -> Fraction:
    return Fraction(str(x)) if not isinstance(x, int) else Fraction(x)


def reference_bands(mv: Fraction, t: Fraction, lo: Fraction, hi: Fraction, p: Fraction) -> tuple[int, int]:
    """[max(0, ceil(MV(t−l)/p)), floor(MV(t+h)/p)] in exact rational arithmetic."""
    return max(0, math.ceil(mv * (t - lo) / p)), math.floor(mv * (t + hi) / p)


def reference_objective(
    mv: Fraction, targets: Sequence[Fraction], prices: Sequence[Fraction], u: Sequence[int]
) -> Fraction:
    return sum((abs(mv * t - q * p) for t, p, q in zip(targets, prices, u, strict=True)), Fraction(0))


def reference_violations(
    mv: Fraction,
    specs: Sequence[tuple[Fraction, Fraction, Fraction]],
    prices: Sequence[Fraction],
    u: Sequence[Fraction | int],
    min_cash: Fraction,
) -> list[str]:
    """Every broken constraint of 2.3 for ``u`` (integrality, u ≥ 0, bands, cash floor)."""
    out = []
    for i, ((t, lo, hi), p, q) in enumerate(zip(specs, prices, u, strict=True)):
        q = Fraction(q)
        if q.denominator != 1:
            out.append(f"{i}: not an integer")
        if q < 0:
            out.append(f"{i}: negative")
        if q * p < mv * (t - lo):
            out.append(f"{i}: below band")
        if q * p > mv * (t + hi):
            out.append(f"{i}: above band")
    if sum((Fraction(q) * p for q, p in zip(u, prices, strict=True)), Fraction(0)) > mv - min_cash:
        out.append("cash floor")
    return out


def brute_force(
    mv: Fraction,
    specs: Sequence[tuple[Fraction, Fraction, Fraction]],
    prices: Sequence[Fraction],
    min_cash: Fraction,
    limit: int = 200_000,
) -> tuple[Fraction | None, list[tuple[int, ...]]]:
    """(minimum drift, every optimal vector) by enumeration; (None, []) when infeasible."""
    ranges = [reference_bands(mv, t, lo, hi, p) for (t, lo, hi), p in zip(specs, prices, strict=True)]
    if any(a > b for a, b in ranges):
        return None, []
    size = math.prod(b - a + 1 for a, b in ranges)
    if size > limit:
        raise ValueError(f"brute force over {size} vectors")
    best: Fraction | None = None
    winners: list[tuple[int, ...]] = []
    targets = [t for t, _, _ in specs]
    budget = mv - min_cash
    for u in itertools.product(*(range(a, b + 1) for a, b in ranges)):
        if sum((q * p for q, p in zip(u, prices, strict=True)), Fraction(0)) > budget:
            continue
        obj = reference_objective(mv, targets, prices, u)
        if best is None or obj < best:
            best, winners = obj, [u]
        elif obj == best:
            winners.append(u)
    return best, winners


def space_size(mv: Fraction, specs: Sequence[tuple[Fraction, Fraction, Fraction]], prices: Sequence[Fraction]) -> int:
    ranges = [reference_bands(mv, t, lo, hi, p) for (t, lo, hi), p in zip(specs, prices, strict=True)]
    return math.prod(max(0, b - a + 1) for a, b in ranges)


# Hypothesis settings for the engine's property tests (applied per test, never as a global profile).
PROPERTY_SETTINGS = dict(deadline=None, max_examples=120)
