"""The one search ranking of every picker (issue 14 item 3), on the demo securities and portfolios."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from components.search import FUZZY_LABEL, Candidate, best, rank
from data.demo import load_demo

DEMO = load_demo()
SECURITIES = sorted(
    (Candidate(s.security_id, s.ticker, s.description) for s in DEMO.securities), key=lambda c: c.code
)  # the pickers list them by ticker: CDNS comes before MS
PORTFOLIOS = [Candidate(p.portfolio_id, "", p.name) for p in DEMO.portfolios]


def tickers(query: str, limit: int | None = None) -> list[str]:
    return [m.candidate.code for m in rank(query, SECURITIES, limit)]


def test_ms_is_morgan_stanley_never_cadence():
    got = rank("MS", SECURITIES)
    assert got[0].candidate.code == "MS" and got[0].kind == "exact"
    assert tickers("MS")[1:3] == ["MSCI", "MSFT"]  # then ticker prefixes, shorter first
    assert tickers("ms").index("CDNS") > tickers("ms").index("MSFT")  # "Systems" is only a name match
    assert best("MS", SECURITIES).candidate.code == "MS" and best(" ms ", SECURITIES).candidate.code == "MS"


def test_exact_then_prefix_then_name_then_fuzzy():
    kinds = [m.kind for m in rank("m", SECURITIES)]
    assert kinds == sorted(kinds, key=["exact", "prefix", "name", "fuzzy"].index)
    assert tickers("stanley") == ["MS"]  # a word of the name
    assert rank("morgan stanley", SECURITIES)[0].candidate.code == "MS"
    assert tickers("Morgan")[:3] == ["MS", "KMI", "JPM"]  # word starts first, then inside a word (JPMorgan)
    assert best("Morgan", SECURITIES) is None  # three names match: the PM chooses
    assert best("Stanley", SECURITIES).candidate.code == "MS"  # the only match: Enter picks it
    assert best("MSF", SECURITIES).candidate.code == "MSFT"


def test_enter_never_picks_a_fuzzy_or_an_ambiguous_match():
    assert best("Microsft", SECURITIES) is None  # a misspelling: offered, marked, not picked
    fuzzy = rank("Microsft", SECURITIES)
    assert fuzzy[0].candidate.code == "MSFT" and fuzzy[0].fuzzy and fuzzy[0].label.endswith(FUZZY_LABEL)
    assert best("MC", SECURITIES) is None  # MCD, MCHP, MCO: the PM chooses
    assert best("", SECURITIES) is None and rank("   ", SECURITIES) == []


def test_portfolio_search_puts_prefix_matches_first_and_marks_fuzzy_ones():
    got = rank("Miller", PORTFOLIOS)
    exact = [m for m in got if not m.fuzzy]
    assert exact and all(m.candidate.name.lower().startswith("miller") or "miller" in m.candidate.name.lower()
                         for m in exact)  # fmt: skip
    prefix = [m for m in exact if m.kind == "prefix"]
    assert got[: len(prefix)] == prefix  # names starting with Miller first
    assert all(m.label.endswith(FUZZY_LABEL) for m in got if m.fuzzy)
    assert all("Davis" not in m.candidate.name for m in exact)


@given(st.sampled_from(SECURITIES), st.booleans())
def test_an_exact_ticker_always_ranks_first(security, lower):
    query = security.code.lower() if lower else security.code
    top = rank(query, SECURITIES)[0]
    assert top.candidate == security and top.kind == "exact"
    assert best(query, SECURITIES).candidate == security


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=6))
def test_tiers_never_interleave(query):
    got = rank(query, SECURITIES + PORTFOLIOS)
    order = ["exact", "prefix", "name", "fuzzy"]
    assert [order.index(m.kind) for m in got] == sorted(order.index(m.kind) for m in got)
    assert [m.rank for m in got] == list(range(len(got)))
