"""The committed demo dataset: reproducible generator, valid models, realistic scale and every edge case of §8.6."""

from __future__ import annotations

import math
import re
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from data.demo import DEMO_DIR, FILES, load_demo
from data.demo.generate import write
from engine.validation import MAX_POSITIONS, TARGET_STEP, model_violations

DEMO = load_demo()


def test_regenerating_gives_identical_bytes(tmp_path: Path):
    write(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DEMO_DIR / name).read_bytes(), name


def test_files_stay_small():
    assert sum((DEMO_DIR / name).stat().st_size for name in FILES) < 3_000_000


def test_models_pass_the_engine_rules():
    assert len(DEMO.models) >= 5
    for model in DEMO.models:
        assert model.model_id is None
        assert model_violations(model.name, model.positions, model.portfolios) == [], model.name
        assert sum(p.target for p in model.positions) <= Decimal("0.95")
        assert all(p.target % TARGET_STEP == 0 and p.target > 0 for p in model.positions)
        assert len(model.positions) <= MAX_POSITIONS


def test_scale_and_links():
    sizes = sorted(len(m.portfolios) for m in DEMO.models)
    assert sizes[-1] >= 1000 and all(5 <= s <= 50 for s in sizes[:-1])
    linked = [pid for m in DEMO.models for pid in m.portfolios]
    assert len(linked) == len(set(linked))  # a portfolio belongs to at most one model
    known = {p.portfolio_id for p in DEMO.portfolios}
    assert set(linked) <= known
    assert len(DEMO.unassigned_portfolio_ids) >= 10
    security_ids = {s.security_id for s in DEMO.securities}
    assert all(p.security_id in security_ids for m in DEMO.models for p in m.positions)


def test_ids_names_and_tickers():
    ids = [s.security_id for s in DEMO.securities] + [p.portfolio_id for p in DEMO.portfolios]
    assert all(re.match(r"^[0-9a-f]{24}$", i) for i in ids) and len(ids) == len(set(ids))
    tickers = [s.ticker for s in DEMO.securities]
    assert len(tickers) == len(set(tickers)) and "BRK.B" in tickers
    assert 250 <= len(DEMO.securities) <= 350
    assert all(re.match(r"^[A-Za-z0-9 _-]{1,200}$", p.name) for p in DEMO.portfolios)  # searchable by v2 name
    assert all(p.date_created.tzinfo is None and p.date_created.microsecond % 1000 == 0 for p in DEMO.portfolios)


def test_prices_look_like_an_equity_universe():
    prices = [float(s.price) for s in DEMO.securities if s.price is not None]
    assert 40 <= statistics.median(prices) <= 90
    assert sum(p > 1000 for p in prices) >= 3 and min(prices) > 1
    spread = [float(s.price_std / s.price) for s in DEMO.securities if s.price is not None]
    assert 0.012 <= statistics.median(spread) <= 0.02
    assert max(spread) > 0.5
    assert all(s.price == s.price.quantize(Decimal("0.01")) for s in DEMO.securities if s.price is not None)
    unpriced = [s.ticker for s in DEMO.securities if s.price is None]
    assert 1 <= len(unpriced) <= 10


def portfolio(name: str):
    return DEMO.holdings(DEMO.portfolios_by_name[name].portfolio_id)


def qty(name: str, ticker: str) -> Decimal | None:
    wanted = DEMO.securities_by_ticker[ticker].security_id
    return next((h.quantity for h in portfolio(name).holdings if h.security_id == wanted), None)


def test_edge_cases_are_present():
    edge = DEMO.model("Edge Case Lab")
    model_ids = {p.security_id for p in edge.positions}
    names = {p.name for p in DEMO.portfolios if p.portfolio_id in edge.portfolios}
    assert qty("Edge - Short Position", "MSFT") == -40
    assert qty("Edge - Fractional Shares", "AAPL") == Decimal("112.5")
    ko = DEMO.securities_by_ticker["KO"].security_id
    assert ko not in model_ids and qty("Edge - Non-Model Holding", "KO") == 350
    assert DEMO.balances_of(DEMO.portfolios_by_name["Edge - No Balances"].portfolio_id) == ()
    zero_rows = DEMO.balances_of(DEMO.portfolios_by_name["Edge - Zero Quantity Row"].portfolio_id)
    assert any(b.security_id and b.quantity_long == b.quantity_short == 0 for b in zero_rows)
    assert portfolio("Edge - Negative Cash").cash < 0
    assert DEMO.securities_by_ticker["CELG"].price is None and qty("Edge - Unpriced Holding", "CELG") == 25
    assert "Edge - Cash Only" in names and portfolio("Edge - Cash Only").holdings == ()
    assert any(p.low_drift > p.high_drift for p in edge.positions)  # the lowDrift > highDrift warning case


def test_small_account_has_a_band_without_a_whole_share():
    account = portfolio("Edge - Small Account")
    mv = account.cash + sum(h.quantity * DEMO.prices[h.security_id] for h in account.holdings)
    empty_bands = []
    for p in DEMO.model("Edge Case Lab").positions:
        price = DEMO.prices[p.security_id]
        lo = max(0, math.ceil(mv * (p.target - p.low_drift) / price))
        hi = math.floor(mv * (p.target + p.high_drift) / price)
        if lo > hi:
            empty_bands.append(p.security_id)
    assert empty_bands == [DEMO.securities_by_ticker["NVR"].security_id]


@pytest.mark.parametrize("model_name", ["Global Equity Core", "US Large Cap Growth", "Balanced Value"])
def test_portfolios_are_off_target_but_solvable(model_name):
    model = DEMO.model(model_name)
    out_of_band = 0
    for pid in model.portfolios[:100]:
        holdings = DEMO.holdings(pid)
        values = {h.security_id: h.quantity * DEMO.prices[h.security_id] for h in holdings.holdings}
        mv = holdings.cash + sum(values.values())
        assert holdings.cash > 0 and mv > 0
        for p in model.positions:
            weight = values.get(p.security_id, Decimal(0)) / mv
            if not (p.target - p.low_drift <= weight <= p.target + p.high_drift):
                out_of_band += 1
                break
    assert out_of_band >= 10  # plenty to rebalance
