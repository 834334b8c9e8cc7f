"""PM trade controls (product-spec 2.12): exact optimality against brute force, every rule, diagnoses, kept_by.

The brute force below is written from the spec text alone (Fractions, every integer quantity in a box plus
the fractional holding) and shares no code with :mod:`engine.controls`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal as D
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.batch.run import run_local
from engine.cli import MalformedInput, parse_batch, solve_batch_line
from engine.milp.highs import HIGHS_THREADS
from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position, RebalanceOptions
from engine.options import OptionError, parse_options
from engine.rebalance import rebalance_portfolios
from tests.unit.engine.batch_support import actual, write_inputs

IDS = ["A" * 24, "B" * 24, "C" * 24, "E" * 24]  # E: held outside the model


def _mv(cash: D, held: dict[str, D], prices: dict[str, D]) -> F:
    return F(cash) + sum((F(q) * F(prices[s]) for s, q in held.items()), F(0))


def brute_force(model, prices, portfolio, options):
    """(status, best objective) by enumeration: objective = (breach, PD) — breach 0 when not relaxed."""
    held = {h.security_id: h.quantity for h in portfolio.holdings}
    mv = _mv(portfolio.cash, held, prices)
    floor = max(F(options.min_cash), F(options.min_cash_fraction) * mv)
    pos = {p.security_id: p for p in model.positions if p.target != 0}  # zero-target cleanup (rule 3)
    sids = list(dict.fromkeys([*pos, *held]))
    budget = mv - floor
    box = int(mv) + 1

    def per_security(sid, relaxed):
        p = F(prices[sid])
        u = F(held.get(sid, D(0)))
        t, lo_w, hi_w = (
            (F(pos[sid].target), F(pos[sid].target - pos[sid].low_drift), F(pos[sid].target + pos[sid].high_drift))
            if sid in pos
            else (F(0), F(0), F(0))
        )
        bl, bh = mv * lo_w, mv * hi_w
        nb = sid in options.no_buy or options.direction == "sell-only"
        ns = sid in options.no_sell or options.direction == "buy-only"
        if sid in options.no_trade or (options.trade_policy == "out-of-band" and bl <= u * p <= bh) or (nb and ns):
            r = "nt"
        else:
            r = "nb" if nb else "ns" if ns else "none"
        if r == "nb":
            band = (min(bl, u * p), min(bh, u * p))
        elif r == "ns":
            band = (max(bl, u * p), max(bh, u * p))
        elif r == "none":
            band = (bl, bh)
        else:
            band = None
        out = []
        for x in sorted({F(v) for v in range(0, max(box // int(p) + 2, int(u) + 2))} | {u}):
            if x < 0 or (x.denominator != 1 and x != u):
                continue
            if (r == "nt" and x != u) or (r == "nb" and x > u) or (r == "ns" and x < u):
                continue
            m = F(options.min_trade_value)
            if 0 < abs(x - u) * p < m and x != 0:
                continue
            b = F(0)
            if band is not None:
                b = max(F(0), band[0] - x * p, x * p - band[1])
            if b and not relaxed:
                continue
            out.append((x * p, b, abs(mv * t - x * p)))
        return out

    def best(relaxed):
        lists = [per_security(s, relaxed) for s in sids]
        best_obj = None
        for combo in itertools.product(*lists):
            if sum(c[0] for c in combo) > budget:
                continue
            obj = (sum(c[1] for c in combo), sum(c[2] for c in combo))
            if best_obj is None or obj < best_obj:
                best_obj = obj
        return best_obj

    strict = best(False)
    if strict is not None:
        return "optimal", strict
    if options.on_infeasible == "nearest":
        relaxed = best(True)
        if relaxed is not None:
            return "relaxed", relaxed
    return "infeasible", None


weights = st.integers(0, 8).map(lambda k: D(k) / 20)
drifts = st.integers(0, 4).map(lambda k: D(k) / 40)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 3))
    targets = [draw(weights) for _ in range(n)]
    if sum(targets) > D("0.95"):
        targets = [D(0)] * n
    positions = tuple(
        Position(security_id=IDS[i], target=targets[i], low_drift=draw(drifts), high_drift=draw(drifts))
        for i in range(n)
    )
    prices = {s: D(draw(st.integers(3, 40))) for s in IDS}
    held_ids = draw(st.lists(st.sampled_from([*IDS[:n], IDS[3]]), unique=True, max_size=3))
    holdings = tuple(
        Holding(
            security_id=s,
            quantity=D(draw(st.integers(-1, 12))) + draw(st.sampled_from([D(0), D(0), D("0.5")])),
        )
        for s in held_ids
    )
    cash = D(draw(st.integers(0, 150)))
    sub = st.lists(st.sampled_from(IDS), unique=True, max_size=2).map(tuple)
    options = RebalanceOptions(
        trade_policy=draw(st.sampled_from(["all", "out-of-band"])),
        min_trade_value=D(draw(st.sampled_from([0, 0, 10, 25, 60]))),
        no_buy=draw(sub),
        no_sell=draw(sub),
        no_trade=draw(st.lists(st.sampled_from(IDS), unique=True, max_size=1).map(tuple)),
        direction=draw(st.sampled_from(["both", "both", "buy-only", "sell-only"])),
        on_infeasible=draw(st.sampled_from(["flag", "nearest"])),
        min_cash_fraction=D(draw(st.sampled_from(["0", "0", "0.05", "0.2", "0.4"]))),
    )
    model = InvestmentModel(name="m", positions=positions)
    return model, prices, PortfolioHoldings(portfolio_id="p", cash=cash, holdings=holdings), options


def check_rules(model, prices, portfolio, options, result):
    """Every hard rule of 2.12 on the engine's answer, from the spec (bands only when optimal)."""
    held = {h.security_id: h.quantity for h in portfolio.holdings}
    mv = _mv(portfolio.cash, held, prices)
    floor = max(F(options.min_cash), F(options.min_cash_fraction) * mv)
    spend = F(0)
    for row in result.drifts:
        sid, u, x = row.security_id, row.original_quantity, row.adjusted_quantity
        p = prices[sid]
        spend += F(x) * F(p)
        assert x >= 0
        assert x == x.to_integral_value() or x == u
        if sid in options.no_trade:
            assert x == u
        if sid in options.no_buy or options.direction == "sell-only":
            assert x <= u
        if sid in options.no_sell or options.direction == "buy-only":
            assert x >= u
        trade = abs(x - u) * p
        assert not (0 < trade < options.min_trade_value and x != 0)
    assert spend <= mv - floor
    assert result.cash_after == result.market_value - D(spend.numerator) / D(spend.denominator)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_controls_match_brute_force(case):
    model, prices, portfolio, options = case
    assume(_mv(portfolio.cash, {h.security_id: h.quantity for h in portfolio.holdings}, prices) > 0)
    result = rebalance_portfolios(model, prices, [portfolio], options, workers=1)[0]
    status, best = brute_force(model, prices, portfolio, options)
    assert result.status == status, (result.status, result.diagnosis, status)
    if status == "infeasible":
        assert result.diagnosis
        return
    check_rules(model, prices, portfolio, options, result)
    breach = sum((b.amount for b in result.band_breaches), D(0))
    assert (F(breach), F(result.portfolio_drift)) == best
    if status == "optimal":
        assert result.band_breaches == ()


def _one(sid_targets, held, cash, options, prices=None):
    positions = tuple(
        Position(security_id=s, target=D(t), low_drift=D(lo), high_drift=D(hi)) for s, t, lo, hi in sid_targets
    )
    prices = prices or {s: D(10) for s in IDS}
    portfolio = PortfolioHoldings(
        portfolio_id="p", cash=D(cash), holdings=tuple(Holding(security_id=s, quantity=D(q)) for s, q in held)
    )
    return rebalance_portfolios(
        InvestmentModel(name="m", positions=positions), prices, [portfolio], options, workers=1
    )[0]


A, B, C, E = IDS


def test_out_of_band_keeps_in_band_positions_and_says_why():
    # MV 1000: A at 48 % (band 40-50 %) stays, B at 30 % (band 35-55 %) is bought back to target
    res = _one(
        [(A, "0.45", "0.05", "0.05"), (B, "0.45", "0.1", "0.1")],
        [(A, 48), (B, 30)],
        220,
        RebalanceOptions(trade_policy="out-of-band"),
    )
    assert res.status == "optimal"
    rows = {d.security_id: d for d in res.drifts}
    assert rows[A].adjusted_quantity == 48 and rows[A].kept_by == "in-band"
    assert rows[B].adjusted_quantity == 45 and rows[B].kept_by is None


def test_min_trade_kept_by_and_whole_sale_exemption():
    # MV 990: A is 4 shares ($40) off its nearest 45 and the next allowed sale (to 39) drifts more: A stays;
    # E (outside the model, $20) is sold whole although $20 is below the $100 minimum
    res = _one(
        [(A, "0.45", "0.1", "0.1"), (B, "0.45", "0.1", "0.1")],
        [(A, 49), (B, 50), (E, 2)],
        -20,
        RebalanceOptions(min_trade_value=D(100)),
    )
    rows = {d.security_id: d for d in res.drifts}
    assert res.status == "optimal"
    assert rows[A].adjusted_quantity == 49 and rows[A].kept_by == "min-trade"
    assert rows[E].adjusted_quantity == 0
    assert all(abs(t.quantity) * 10 >= 100 for t in res.transactions if t.security_id != E)


def test_no_buy_on_a_short_is_diagnosed_with_control_and_security():
    # the waiver keeps a long position below its band feasible; a short must be bought back: barred
    res = _one([(A, "0.45", "0.05", "0.05")], [(A, -5)], 1050, RebalanceOptions(no_buy=(A,)))
    assert res.status == "infeasible"
    assert f"{A} is 45.00 pp below its band; buying is barred (noBuy)" in res.diagnosis


def test_no_buy_waives_the_low_band():
    res = _one([(A, "0.45", "0.05", "0.05")], [(A, 30)], 700, RebalanceOptions(no_buy=(A,)))
    assert res.status == "optimal" and res.transactions == ()
    assert res.drifts[0].kept_by == "no-buy"


def test_min_trade_diagnosis():
    # MV 1000, band of A $400-$500, A holds $390: the gap needs $10, the band allows at most $110 more
    res = _one([(A, "0.45", "0.05", "0.05")], [(A, 39)], 610, RebalanceOptions(min_trade_value=D(500)))
    assert res.status == "infeasible"
    assert (
        f"closing {A}'s gap needs a $10.00 trade; the minimum trade is $500.00 and the band allows at most $110.00 more"
        in res.diagnosis
    )


def test_floor_diagnosis_names_in_band_positions():
    res = _one(
        [(A, "0.45", "0.2", "0.2"), (B, "0.45", "0.2", "0.2")],
        [(A, 50), (B, 45)],
        50,
        RebalanceOptions(trade_policy="out-of-band", min_cash_fraction=D("0.1")),
    )
    assert res.status == "infeasible"
    assert "floor of $100.00" in res.diagnosis and "tradePolicy is out-of-band" in res.diagnosis
    assert A in res.diagnosis and B in res.diagnosis


def test_nearest_lists_breaches_and_is_relaxed():
    # a 30 % floor leaves $700 for two band minimums of $400: $100 of breach at least
    res = _one(
        [(A, "0.45", "0.05", "0.05"), (B, "0.45", "0.05", "0.05")],
        [(A, 45), (B, 45)],
        100,
        RebalanceOptions(min_cash_fraction=D("0.3"), on_infeasible="nearest"),
    )
    assert res.status == "relaxed"
    assert sum(b.amount for b in res.band_breaches) == 100
    assert {b.side for b in res.band_breaches} == {"low"}
    flagged = _one(
        [(A, "0.45", "0.05", "0.05"), (B, "0.45", "0.05", "0.05")],
        [(A, 45), (B, 45)],
        100,
        RebalanceOptions(min_cash_fraction=D("0.3")),
    )
    assert flagged.status == "infeasible"


def test_binding_floor_with_min_trade_uses_milp_and_is_exact():
    # every security 1-2 shares off target; a 30 % floor forces sales that must each clear $25
    res = _one(
        [(A, "0.3", "0.3", "0.05"), (B, "0.3", "0.3", "0.05"), (C, "0.3", "0.3", "0.05")],
        [(A, 31), (B, 29), (C, 30)],
        100,
        RebalanceOptions(min_trade_value=D(25), min_cash_fraction=D("0.3")),
        prices={A: D(10), B: D(10), C: D(10), E: D(10)},
    )
    assert res.status == "optimal"
    assert res.cash_after >= D(300)


def test_defaults_and_nearest_alone_keep_todays_answers():
    opts = RebalanceOptions()
    near = RebalanceOptions(on_infeasible="nearest")
    args = ([(A, "0.3", "0.05", "0.05"), (B, "0.6", "0.05", "0.05")], [(A, 95), (E, 3)], 1000)
    assert _one(*args, opts) == _one(*args, near)


def test_options_parser_accepts_the_spec_names():
    o = parse_options(
        {
            "minCashPct": "0.05",
            "tradePolicy": "out-of-band",
            "minTradeValue": "1000",
            "noBuy": [A],
            "noSell": [B],
            "noTrade": [C, C],
            "direction": "buy-only",
            "onInfeasible": "nearest",
        }
    )
    assert (o.trade_policy, o.min_trade_value, o.no_buy, o.no_sell, o.no_trade) == (
        "out-of-band",
        D(1000),
        (A,),
        (B,),
        (C,),
    )
    assert (o.direction, o.on_infeasible, o.min_cash_fraction) == ("buy-only", "nearest", D("0.05"))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"tradePolicy": "some"}, "options.tradePolicy"),
        ({"direction": 1}, "options.direction"),
        ({"noBuy": "A"}, "options.noBuy: must be a JSON array"),
        ({"noSell": [1]}, "options.noSell[0]"),
        ({"minTradeValue": "x"}, "options.minTradeValue"),
        ({"minTrade": "5"}, "unknown option"),
    ],
)
def test_options_parser_errors(raw, fragment):
    with pytest.raises(OptionError) as info:
        parse_options(raw)
    assert fragment in str(info.value)


def test_negative_min_trade_is_an_error_per_portfolio():
    res = _one([(A, "0.5", "0.05", "0.05")], [(A, 50)], 500, RebalanceOptions(min_trade_value=D(-1)))
    assert res.status == "error" and "minimum trade value" in res.diagnosis


def test_cli_result_json_carries_relaxed_breaches_and_kept_by():
    line = {
        "model": {"positions": [{"securityId": A, "target": "0.45", "lowDrift": "0.05", "highDrift": "0.05"}]},
        "prices": {A: "10", B: "10"},
        "options": {"minCashPct": "0.4", "onInfeasible": "nearest", "noSell": [B]},
        "portfolios": [{"portfolioId": "p", "cash": "500", "holdings": [{"securityId": B, "quantity": "50"}]}],
    }
    out = solve_batch_line(parse_batch(line), 30.0, 1)["results"][0]
    assert out["status"] == "relaxed" and "diagnosis" not in out
    # MV 1000, floor $400: B ($500) may not be sold, so A can hold at most $100 -> $300 below its band
    [breach] = out["bandBreaches"]
    assert (breach["securityId"], breach["side"], D(breach["amount"])) == (A, "low", 300)
    assert {d["securityId"]: d.get("keptBy") for d in out["drifts"]} == {A: None, B: "no-sell"}


def test_cli_unknown_option_is_malformed():
    line = {"model": {"positions": []}, "prices": {}, "options": {"minTrade": "1"}, "portfolios": []}
    with pytest.raises(MalformedInput) as info:
        parse_batch(line)
    assert "options.minTrade" in str(info.value)


@pytest.mark.slow
def test_engine_batch_takes_the_controls(tmp_path):
    rng = random.Random(11)
    positions = tuple(
        Position(security_id=s, target=D("0.3"), low_drift=D("0.05"), high_drift=D("0.05")) for s in IDS[:3]
    )
    portfolios = [
        PortfolioHoldings(
            portfolio_id=f"{k:024d}",
            cash=D(rng.randint(0, 40_000)),
            holdings=tuple(Holding(security_id=s, quantity=D(rng.randint(0, 400))) for s in IDS),
        )
        for k in range(30)
    ]
    models = [InvestmentModel(name="m", positions=positions, portfolios=tuple(p.portfolio_id for p in portfolios))]
    prices = {s: D(rng.randint(20, 90)) for s in IDS}
    options = RebalanceOptions(
        trade_date=dt.date(2026, 1, 5),
        trade_policy="out-of-band",
        min_trade_value=D(1000),
        min_cash_fraction=D("0.05"),
        on_infeasible="nearest",
    )
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios, csv=False)
    run_local(inputs, tmp_path / "out", options, chunk_size=4, workers=1)
    got = {r[0]: r for r in actual(tmp_path / "out")[0]}
    by_id = {p.portfolio_id: p for p in portfolios}
    seen = set()
    for m in models:
        results = rebalance_portfolios(m, prices, [by_id[p] for p in m.portfolios], options, workers=1)
        for r in results:
            row = got[r.portfolio_id]
            seen.add(r.status)
            assert (row[1], row[4], row[7]) == (r.status, r.cash_after, len(r.transactions))
            if r.status == "relaxed":
                assert row[8].startswith("band breaches: ")
    assert "optimal" in seen


def independent_milp(model, prices, portfolio, options):
    """The optimum PD by a CVXPY + HiGHS model written from §2.12 (integer holdings; big-M disjunctions)."""
    import cvxpy as cp

    held = {h.security_id: h.quantity for h in portfolio.holdings}
    mv = float(_mv(portfolio.cash, held, prices))
    floor = max(float(options.min_cash), float(options.min_cash_fraction) * mv)
    pos = {p.security_id: p for p in model.positions if p.target != 0}
    sids = list(dict.fromkeys([*pos, *held]))
    n = len(sids)
    p = np.array([float(prices[s]) for s in sids])
    u = np.array([float(held.get(s, 0)) for s in sids])
    t = np.array([float(pos[s].target) if s in pos else 0.0 for s in sids])
    bl = np.array([mv * float(pos[s].target - pos[s].low_drift) if s in pos else 0.0 for s in sids])
    bh = np.array([mv * float(pos[s].target + pos[s].high_drift) if s in pos else 0.0 for s in sids])
    big = mv / p.min() + u.max() + 10
    x = cp.Variable(n, integer=True)
    e = cp.Variable(n)
    cons = [x >= 0, e >= mv * t - cp.multiply(p, x), e >= cp.multiply(p, x) - mv * t, p @ x <= mv - floor]
    m = float(options.min_trade_value)
    for i, s in enumerate(sids):
        in_band = bl[i] <= u[i] * p[i] <= bh[i]
        nb = s in options.no_buy or options.direction == "sell-only"
        ns = s in options.no_sell or options.direction == "buy-only"
        if s in options.no_trade or (options.trade_policy == "out-of-band" and in_band) or (nb and ns):
            cons.append(x[i] == u[i])
            continue
        lo, hi = bl[i], bh[i]
        if nb:
            cons.append(x[i] <= u[i])
            lo, hi = min(lo, u[i] * p[i]), min(hi, u[i] * p[i])
        if ns:
            cons.append(x[i] >= u[i])
            lo, hi = max(lo, u[i] * p[i]), max(hi, u[i] * p[i])
        cons += [p[i] * x[i] >= lo - 1e-7, p[i] * x[i] <= hi + 1e-7]
        if m > 0:
            keep, zero, buy, sell = cp.Variable(4, boolean=True)
            cons += [keep + zero + buy + sell == 1]
            cons += [x[i] - u[i] <= big * (1 - keep), u[i] - x[i] <= big * (1 - keep)]
            cons += [x[i] <= big * (1 - zero)]
            cons += [p[i] * (x[i] - u[i]) >= m - big * p[i] * (1 - buy)]
            cons += [p[i] * (u[i] - x[i]) >= m - big * p[i] * (1 - sell)]
    problem = cp.Problem(cp.Minimize(cp.sum(e)), cons)
    # threads as the engine sets them: HiGHS's process-wide scheduler keeps the first solve's thread count, and
    # a later engine solve asking for another one fails ("Not Set") in the same test process
    problem.solve(solver=cp.HIGHS, mip_rel_gap=0.0, threads=HIGHS_THREADS)
    return problem.status, problem.value


@st.composite
def larger_cases(draw):
    n = draw(st.integers(4, 9))
    step = D("0.95") / n
    positions = tuple(
        Position(
            security_id=f"{i:024d}",
            target=D(int(step * draw(st.sampled_from([D("0.5"), D("0.8"), D(1)])) * 200)) / 200,
            low_drift=D(draw(st.integers(1, 4))) / 100,
            high_drift=D(draw(st.integers(1, 4))) / 100,
        )
        for i in range(n)
    )
    prices = {f"{i:024d}": D(draw(st.integers(5, 400))) for i in range(n + 1)}
    holdings = tuple(
        Holding(security_id=f"{i:024d}", quantity=D(draw(st.integers(0, 300))))
        for i in range(n + 1)
        if draw(st.booleans())
    )
    options = RebalanceOptions(
        trade_policy=draw(st.sampled_from(["all", "out-of-band"])),
        min_trade_value=D(draw(st.sampled_from([0, 500, 2000]))),
        no_buy=tuple(draw(st.lists(st.sampled_from(sorted(prices)), max_size=2, unique=True))),
        no_sell=tuple(draw(st.lists(st.sampled_from(sorted(prices)), max_size=2, unique=True))),
        direction=draw(st.sampled_from(["both", "buy-only", "sell-only"])),
        min_cash_fraction=D(draw(st.sampled_from(["0", "0.05", "0.1"]))),
    )
    cash = D(draw(st.integers(0, 200_000)))
    return (
        InvestmentModel(name="m", positions=positions),
        prices,
        PortfolioHoldings(portfolio_id="p", cash=cash, holdings=holdings),
        options,
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(larger_cases())
def test_controls_match_an_independent_milp(case):
    model, prices, portfolio, options = case
    assume(all(p.target > 0 for p in model.positions))
    assume(_mv(portfolio.cash, {h.security_id: h.quantity for h in portfolio.holdings}, prices) > 0)
    result = rebalance_portfolios(model, prices, [portfolio], options, workers=1)[0]
    status, value = independent_milp(model, prices, portfolio, options)
    if result.status == "infeasible":
        assert status in ("infeasible", "infeasible_inaccurate")
        return
    assert result.status == "optimal", result.diagnosis
    check_rules(model, prices, portfolio, options, result)
    assert status == "optimal"
    assert abs(float(result.portfolio_drift) - value) <= 1e-6 * max(1.0, value) + 1e-4


def test_controlled_run_reports_progress_and_can_be_cancelled():
    """The vectorised route checks ``cancel`` before each stage: cancelled at once, nothing is solved."""
    model = InvestmentModel(
        name="m", positions=(Position(security_id=A, target=D("0.5"), low_drift=D("0.1"), high_drift=D("0.1")),)
    )
    ports = [PortfolioHoldings(portfolio_id=f"p{k}", cash=D(1000), holdings=()) for k in range(4)]
    for cancel_now, expected in ((False, ["optimal"] * 4), (True, ["error"] * 4)):
        seen: list[tuple[int, int]] = []
        results = rebalance_portfolios(
            model,
            {A: D(10)},
            ports,
            RebalanceOptions(trade_policy="out-of-band"),
            workers=1,
            progress=lambda d, t, seen=seen: seen.append((d, t)),
            cancel=lambda cancel_now=cancel_now: cancel_now,
        )
        assert [r.status for r in results] == expected
        assert seen[-1] == (4, 4)
        if cancel_now:
            assert {r.error_code for r in results} == {"CANCELLED"}
