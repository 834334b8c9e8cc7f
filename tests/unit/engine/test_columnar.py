"""The what-if's columnar results (issue 15 part 1, app side) against the per-position Decimal reference.

``engine.columnar`` builds holdings, market values and every optimal ``PortfolioResult`` from integer columns;
``engine.columnar.reference_only()`` runs the same call through the per-position reference
(``engine.rebalance._build_result`` and ``prepare_one``). The two must agree exactly: equal objects and equal
reprs (a Decimal's repr shows its exponent, so ``1.50`` and ``1.5`` differ; the CSV and saved records print
them), on random portfolios with extras outside the model, fractional and short holdings, zero and negative
market values, bad data (one bad portfolio fails only itself, with the reference's message), trade-controls
answers with ``kept_by`` and relaxed breaches, and with ``with_positions`` on and off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import columnar
from engine.columnar import build_optimal, prepare_portfolios, reference_only
from engine.construct import make_drift_rows, make_transactions
from engine.limits import fits_range, range_error
from engine.marketvalue import market_value, market_value_mills
from engine.models import (
    DriftRow,
    Holding,
    InvestmentModel,
    PortfolioHoldings,
    PortfolioResult,
    Position,
    RebalanceOptions,
    Transaction,
)
from engine.rebalance import rebalance_portfolios
from tests.unit.engine.support import sid

D = Decimal
DAY = dt.date(2026, 12, 7)
MODEL_IDS = [sid(i) for i in range(6)]
EXTRA_IDS = [sid(0xE0 + i) for i in range(3)]
UNPRICED = sid(0xFF)


def run(
    model: InvestmentModel,
    prices: dict[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    options: RebalanceOptions,
    with_positions: bool,
) -> tuple[list[PortfolioResult], list[PortfolioResult]]:
    """(columnar, reference) results of the same call."""
    new = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    with reference_only():
        ref = rebalance_portfolios(model, prices, portfolios, options, workers=1, with_positions=with_positions)
    return new, ref


def assert_same(new: list[PortfolioResult], ref: list[PortfolioResult]) -> None:
    assert new == ref
    for a, b in zip(new, ref, strict=True):
        assert repr(a) == repr(b)  # every Decimal's exponent, the field order of every row


def decimal_text(draw: st.DrawFn, places: int, low: int, high: int) -> str:
    """A decimal with up to ``places`` decimals (trailing zeros kept) between low and high."""
    scale = draw(st.integers(0, places))
    mant = draw(st.integers(low * 10**scale, high * 10**scale))
    return str(D(mant).scaleb(-scale))


def rare(draw: st.DrawFn) -> bool:
    """True about once in 10 draws (hypothesis favours the ends of a range, so a middle value is the rare one)."""
    return draw(st.integers(0, 20)) in (7, 13)


@st.composite
def quantities(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["whole"] * 12 + ["fraction", "fraction", "short", "zero", "odd"]))
    if kind == "whole":
        return str(draw(st.integers(1, 5000)))
    if kind == "fraction":
        return decimal_text(draw, 8, 0, 300)
    if kind == "short":
        return str(-draw(st.integers(1, 200)))
    if kind == "zero":
        return draw(st.sampled_from(["0", "0.00", "-0", "0E-9"]))
    # texts the columns do not take: exponent forms, negative zero, over 18 digits, out of range
    return draw(st.sampled_from(["1E+2", "5E-7", "123456789012.345678", "1000000000001", "2.500000000", "7.10"]))


@st.composite
def cases(draw: st.DrawFn) -> tuple[InvestmentModel, dict[str, Decimal], list[PortfolioHoldings], RebalanceOptions]:
    n = draw(st.integers(0, 6))
    units = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n).filter(lambda u: sum(u) <= 190))
    positions = tuple(
        Position(
            security_id=MODEL_IDS[i],
            target=D(u) * D("0.005"),
            low_drift=D(draw(st.sampled_from(["0.01", "0.02", "0.005", "0.1", "0"]))),
            high_drift=D(draw(st.sampled_from(["0.01", "0.02", "0.005", "0.1", "0"]))),
        )
        for i, u in enumerate(units)
    )
    model = InvestmentModel(name="m", positions=positions)
    prices: dict[str, Decimal] = {}
    for s in [*MODEL_IDS[:n], *EXTRA_IDS]:
        text = draw(
            st.one_of(
                st.builds(lambda t: t, st.sampled_from(["1E+1", "12.50", "0.01", "1500", "99.99999999"])),
                st.integers(1, 4000).map(str),
                st.integers(1, 400_000).map(lambda c: str(D(c) / 100)),
                st.integers(1, 10**8).map(lambda c: str(D(c).scaleb(-draw(st.integers(0, 8))))),
            )
        )
        prices[s] = D(text)
    if rare(draw):
        prices[EXTRA_IDS[-1]] = D(draw(st.sampled_from(["0", "-1", "1e16"])))  # unusable for whoever holds it
    portfolios = []
    for k in range(draw(st.integers(1, 6))):
        held = draw(st.lists(st.sampled_from([*MODEL_IDS[:n], *EXTRA_IDS]), max_size=8, unique=True))
        if rare(draw):
            held.append(UNPRICED)  # no price: this portfolio's error
        if held and rare(draw):
            held.append(held[0])  # a duplicated holding: this portfolio's error
        holdings = tuple(Holding(security_id=s, quantity=D(draw(quantities()))) for s in held)
        special = st.sampled_from(["0", "-50", "-0.0001", "1e16", "12.345678901", "1E+3", "250.5", "0.00"])
        cash = draw(special if draw(st.integers(0, 5)) == 0 else st.integers(0, 10**7).map(lambda c: str(D(c) / 100)))
        portfolios.append(PortfolioHoldings(portfolio_id=f"P{k}", cash=D(cash), holdings=holdings))
    controls = draw(st.sampled_from(["none", "none", "floor", "out-of-band", "min-trade", "no-buy", "nearest"]))
    options = RebalanceOptions(trade_date=DAY, tie_break="lower")
    if controls == "floor":
        options = options.model_copy(update={"min_cash_fraction": D("0.05")})
    elif controls == "out-of-band":
        options = options.model_copy(update={"trade_policy": "out-of-band"})
    elif controls == "min-trade":
        options = options.model_copy(update={"min_trade_value": D(500)})
    elif controls == "no-buy" and n:
        options = options.model_copy(update={"no_buy": (MODEL_IDS[0],), "no_sell": (EXTRA_IDS[0],)})
    elif controls == "nearest":
        options = options.model_copy(update={"trade_policy": "out-of-band", "on_infeasible": "nearest"})
    return model, prices, portfolios, options


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), with_positions=st.booleans())
def test_columnar_results_equal_the_per_position_reference(case, with_positions) -> None:
    model, prices, portfolios, options = case
    new, ref = run(model, prices, portfolios, options, with_positions)
    assert_same(new, ref)


def _plain_case(k: int = 40) -> tuple[InvestmentModel, dict[str, Decimal], list[PortfolioHoldings]]:
    rng = np.random.default_rng(7)
    model = InvestmentModel(
        name="m",
        positions=tuple(
            Position(security_id=MODEL_IDS[i], target=D("0.15"), low_drift=D("0.02"), high_drift=D("0.03"))
            for i in range(6)
        ),
    )
    prices = {s: D(int(rng.integers(100, 90_000))) / 100 for s in [*MODEL_IDS, *EXTRA_IDS]}
    portfolios = [
        PortfolioHoldings(
            portfolio_id=f"P{k}",
            cash=D(int(rng.integers(0, 10**7))) / 100,
            holdings=tuple(
                Holding(security_id=s, quantity=D(int(rng.integers(1, 3000))))
                for s in [*MODEL_IDS, EXTRA_IDS[k % 3]]
                if rng.random() < 0.8
            ),
        )
        for k in range(k)
    ]
    return model, prices, portfolios


@pytest.mark.parametrize("with_positions", [True, False])
def test_plain_portfolios_take_the_columns_and_match(with_positions) -> None:
    model, prices, portfolios = _plain_case()
    prepared = prepare_portfolios(portfolios, MODEL_IDS, prices)
    assert all(isinstance(p, columnar.Prepared) and p.cols is not None for p in prepared)
    new, ref = run(model, prices, portfolios, RebalanceOptions(trade_date=DAY), with_positions)
    assert_same(new, ref)
    assert all(r.status == "optimal" for r in new)


def test_a_portfolio_beyond_int64_takes_the_reference_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    model, prices, portfolios = _plain_case(4)
    huge = PortfolioHoldings(  # in range, but MV in mills (9e17) x target 0.15 (15 over 10**2) leaves int64
        portfolio_id="HUGE",
        cash=D("900000000000000"),
        holdings=(Holding(security_id=MODEL_IDS[0], quantity=D("0.12345678")),),
    )
    calls: list[list[PortfolioResult | None]] = []

    def spy(*args, **kwargs):
        out = build_optimal(*args, **kwargs)
        calls.append(out)
        return out

    monkeypatch.setattr("engine.rebalance.build_optimal", spy)
    new, ref = run(model, prices, [*portfolios, huge], RebalanceOptions(trade_date=DAY), True)
    assert_same(new, ref)
    built = [r for out in calls[: len(calls) // 2] for r in out]  # the columnar run (then the reference's)
    assert sum(r is None for r in built) == 1  # HUGE alone, rebuilt by the reference
    assert sum(r is not None for r in built) == len(portfolios)
    assert new[-1].status == "optimal"


def test_ratios_near_a_half_basis_point_take_the_reference_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every inexact weight treated as near a half basis point: the Decimal recomputation gives the same rows."""
    monkeypatch.setattr(columnar, "NEAR_HALF", 1e9)
    model, prices, portfolios = _plain_case(10)
    for with_positions in (True, False):
        new, ref = run(model, prices, portfolios, RebalanceOptions(trade_date=DAY), with_positions)
        assert_same(new, ref)


def test_bad_portfolios_fail_alone_with_the_reference_messages() -> None:
    model, prices, portfolios = _plain_case(3)
    bad = [
        PortfolioHoldings(portfolio_id="NOPRICE", holdings=(Holding(security_id=UNPRICED, quantity=D(3)),)),
        PortfolioHoldings(portfolio_id="BIGQ", holdings=(Holding(security_id=MODEL_IDS[0], quantity=D("1e13")),)),
        PortfolioHoldings(
            portfolio_id="DUP",
            holdings=(
                Holding(security_id=MODEL_IDS[0], quantity=D(1)),
                Holding(security_id=MODEL_IDS[0], quantity=D(0)),
            ),
        ),
        PortfolioHoldings(portfolio_id="CASH", cash=D("1e15")),
        PortfolioHoldings(portfolio_id="NEG", cash=D("-10")),
        PortfolioHoldings(portfolio_id="ZERO"),
    ]
    new, ref = run(model, prices, [*portfolios, *bad], RebalanceOptions(trade_date=DAY), True)
    assert_same(new, ref)
    by_id = {r.portfolio_id: r for r in new}
    assert {by_id[p].error_code for p in ("NOPRICE", "DUP")} == {"EXTERNAL_DATA_ERROR"}
    assert by_id["BIGQ"].error_code == by_id["CASH"].error_code == "INVALID_INPUT"
    assert by_id["ZERO"].status == "optimal" and by_id["ZERO"].market_value == D("0.000")
    assert all(by_id[p.portfolio_id].status == "optimal" for p in portfolios)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-(10**13), 10**13), st.integers(0, 10), st.integers(1, 10**12), st.integers(0, 9)),
        max_size=6,
    ),
    cash=st.tuples(st.integers(-(10**16), 10**16), st.integers(0, 10)),
)
def test_market_value_mills_is_market_value_where_ok(rows, cash) -> None:
    k = 1
    g = np.zeros(len(rows), dtype=np.int64)
    q_m, q_s, p_m, p_s = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(4))
    c_m, c_s = np.array([cash[0]], dtype=np.int64), np.array([cash[1]], dtype=np.int64)
    fits = fits_range(c_m, c_s, "money") & bool(
        fits_range(q_m, q_s, "quantity").all() and fits_range(p_m, p_s, "price").all()
    )  # the caller's contract: in-range inputs (the rest goes to market_value, which names the bad value)
    mills, ok = market_value_mills(g, k, q_m, q_s, p_m, p_s, c_m, c_s, fits)
    if not ok[0]:
        return
    held = {f"S{i}": D(r[0]).scaleb(-r[1]) for i, r in enumerate(rows)}
    prices = {f"S{i}": D(r[2]).scaleb(-r[3]) for i, r in enumerate(rows)}
    expected = market_value(D(cash[0]).scaleb(-cash[1]), held, prices)
    assert D(int(mills[0])).scaleb(-3) == expected
    assert expected.as_tuple().exponent == -3


@settings(max_examples=300, deadline=None)
@given(
    mant=st.integers(-(10**18), 10**18),
    scale=st.integers(0, 30),
    kind=st.sampled_from(["money", "quantity", "price", "derived money"]),
)
def test_fits_range_never_passes_what_range_error_refuses(mant, scale, kind) -> None:
    ok = fits_range(np.array([mant], dtype=np.int64), np.array([scale], dtype=np.int64), kind)[0]
    if ok:
        assert range_error(D(mant).scaleb(-scale), "x", kind) is None


def test_column_builders_make_the_validated_objects() -> None:
    states = [
        {
            "security_id": sid(i),
            "original_quantity": D(i),
            "adjusted_quantity": D("1.50"),
            "target": D("0.005"),
            "high_drift": D("0.01"),
            "low_drift": D("0.02"),
            "actual": D("-0.0000"),
            "kept_by": kept,
        }
        for i, kept in enumerate([None, "min-trade", "no-buy"])
    ]
    built = make_drift_rows([dict(s) for s in states])
    validated = [DriftRow(**s) for s in states]
    assert built == validated
    assert [repr(b) for b in built] == [repr(v) for v in validated]
    assert [hash(b) for b in built] == [hash(v) for v in validated]
    assert [b.model_dump(by_alias=True) for b in built] == [v.model_dump(by_alias=True) for v in validated]
    with pytest.raises(ValueError, match="frozen"):
        built[0].target = D(1)
    trade = {"transaction_type": "SELL", "security_id": sid(1), "quantity": D("2.5"), "trade_date": DAY}
    assert make_transactions([dict(trade)]) == [Transaction(**trade)]
