"""Findings against the real GlobeCo security and portfolio services (issue #13), reproduced on the simulator:
the v2 ticker search reads its value as a regular expression, and the services accept upper-case hex ids."""

from __future__ import annotations

from data.demo import load_demo
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401 - fixtures


def add_security(simulator, sid: str, ticker: str) -> None:  # noqa: F811
    state = simulator.sim.state
    with state.lock:
        kind = state.security_type["securityTypeId"]
        state.securities[sid] = {"ticker": ticker, "description": ticker, "securityTypeId": kind, "version": 1}


def test_the_simulator_reads_the_search_value_as_a_regular_expression_like_the_real_service(services, simulator):  # noqa: F811
    add_security(simulator, "e" * 24, "BRKXB")
    body = services.security._get("/api/v2/securities", params={"ticker": "BRK.B"}).json()  # the raw reply
    assert sorted(s["ticker"] for s in body["securities"]) == ["BRK.B", "BRKXB"]  # the real over-match


def test_ticker_search_is_exact_in_the_client(services, simulator):  # noqa: F811
    add_security(simulator, "e" * 24, "BRKXB")
    exact = services.security.search(ticker="BRK.B")
    assert [s.ticker for s in exact.items] == ["BRK.B"] and exact.total == 1
    like = services.security.search(ticker_like="A.L")
    assert like.items == () and like.total == 0  # no ticker contains "A.L"; the service alone would list ALL, AAL …
    plain = services.security.search(ticker_like="AL")
    assert all("al" in s.ticker.casefold() for s in plain.items) and any(s.ticker == "ALL" for s in plain.items)


def test_upper_case_hex_ids_are_normalised_in_the_clients(services):  # noqa: F811
    demo = load_demo()
    sid = demo.securities_by_ticker["AAPL"].security_id
    pid = next(p.portfolio_id for p in demo.portfolios if any(c.isalpha() for c in p.portfolio_id))
    upper = sid.upper()
    info = services.security.get(upper)
    assert info is not None and info.ticker == "AAPL" and info.security_id == upper  # the caller's spelling
    found = services.security.resolve([upper])
    assert found.found[upper].ticker == "AAPL" and not found.unknown
    lower = services.accounting.summary(pid)
    same = services.accounting.summary(pid.upper())
    assert same.portfolio_id == pid.upper() and same.holdings == lower.holdings and same.cash == lower.cash
    assert lower.holdings  # a real portfolio, not the empty answer of a 404
    assert services.portfolio.get(pid.upper()).name == services.portfolio.get(pid).name
