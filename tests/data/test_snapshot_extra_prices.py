"""data.snapshot.with_prices_for: prices for securities a run adds (per-run overrides), frozen prices kept."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

from decimal import Decimal

import pytest

from data.demo import load_demo
from data.snapshot import build_market_snapshot, with_prices_for
from engine.errors import ExternalDataError
from engine.models import InvestmentModel, Position
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()


def tiny_model() -> InvestmentModel:
    aapl = DEMO.securities_by_ticker["AAPL"].security_id
    return InvestmentModel(
        name="tiny",
        positions=(
            Position(security_id=aapl, target=Decimal("0.5"), high_drift=Decimal("0.1"), low_drift=Decimal("0.1")),
        ),
        portfolios=(DEMO.portfolios_by_name["Edge - Cash Only"].portfolio_id,),
    )


def test_adds_price_and_security_of_new_ids_only_and_never_rereads_frozen_prices(services, simulator):
    snap = build_market_snapshot(services, tiny_model())
    aapl = tiny_model().positions[0].security_id
    msft = DEMO.securities_by_ticker["MSFT"]
    simulator.calls.clear()
    more = with_prices_for(services, snap, [aapl, msft.security_id, msft.security_id])
    assert more.prices[aapl] == snap.prices[aapl]
    assert more.prices[msft.security_id] > 0 and more.securities[msft.security_id].ticker == "MSFT"
    assert msft.security_id not in snap.prices  # the original snapshot is left as it was
    assert simulator.calls.count("pricing", "price") == 1  # MSFT once; AAPL stays frozen
    assert with_prices_for(services, more, [aapl, msft.security_id]) is more


def test_an_unknown_security_is_a_typed_error_naming_it(services):
    snap = build_market_snapshot(services, tiny_model())
    with pytest.raises(ExternalDataError) as err:
        with_prices_for(services, snap, ["0" * 24])
    assert "0" * 24 in err.value.message
