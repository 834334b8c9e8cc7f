"""The open run's portfolio table, a page at a time (issue #12 §5): every page together is the whole filtered,
ordered table, each row once, ties in the saved order."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from components.columns import names
from components.history.frames import PORTFOLIO_SORTS, PORTFOLIO_TABLE, portfolio_page

NAMES = ["Alpha Growth", "alpha value", "Beta", "Gamma ALPHA", "Delta"]


def table(n: int, values: list[int]) -> pd.DataFrame:
    rows = [
        {
            "portfolio": NAMES[i % len(NAMES)] + f" {i}",
            "portfolio_id": f"{i:024x}",
            "nearest_feasible": False,
            "band_breach": 0.0,
            "market_value": float(values[i % len(values)]),
            "cash_before": 0.0,
            "cash_after": float(-values[i % len(values)]),
            "cash_change": 0.0,
            "positions": 3,
            "orders": values[i % len(values)] % 7,
            "traded_value": float(values[i % len(values)] % 5),
        }
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=names(PORTFOLIO_TABLE))


def test_first_page_then_the_rest():
    frame = table(60, [1])
    first, matching = portfolio_page(frame, "", "As saved", 1, 25)
    assert matching == 60 and first["portfolio_id"].tolist() == frame["portfolio_id"].tolist()[:25]
    last, _ = portfolio_page(frame, "", "As saved", 3, 25)
    assert last["portfolio_id"].tolist() == frame["portfolio_id"].tolist()[50:]
    beyond, _ = portfolio_page(frame, "", "As saved", 9, 25)  # clamped to the last page
    assert beyond["portfolio_id"].tolist() == last["portfolio_id"].tolist()


def test_find_by_name_or_id_in_any_case():
    frame = table(20, [1])
    found, matching = portfolio_page(frame, "  ALPHA ", "As saved", 1, 25)
    assert matching == len(found) == sum("alpha" in n.lower() for n in frame["portfolio"])
    by_id, n = portfolio_page(frame, f"{13:024x}".upper(), "As saved", 1, 25)
    assert n == 1 and by_id["portfolio_id"].tolist() == [f"{13:024x}"]
    none, n = portfolio_page(frame, "zzz", "As saved", 1, 25)
    assert n == 0 and none.empty


@given(
    n=st.integers(0, 80),
    values=st.lists(st.integers(0, 30), min_size=1, max_size=10),
    size=st.integers(1, 30),
    sort=st.sampled_from(list(PORTFOLIO_SORTS)),
    contains=st.sampled_from(["", "a", "alpha", "0", "Beta 1"]),
)
def test_the_pages_together_are_the_filtered_ordered_table(n, values, size, sort, contains):
    frame = table(n, values)
    _, matching = portfolio_page(frame, contains, sort, 1, size)
    pages = max(1, -(-matching // size))
    together = pd.concat([portfolio_page(frame, contains, sort, p, size)[0] for p in range(1, pages + 1)])
    assert len(together) == matching and together["portfolio_id"].is_unique
    text = contains.strip().casefold()
    expected = frame[
        frame["portfolio"].str.casefold().str.contains(text, regex=False)
        | frame["portfolio_id"].str.contains(text, regex=False)
    ]
    assert set(together["portfolio_id"]) == set(expected["portfolio_id"])
    order = PORTFOLIO_SORTS[sort]
    if order is None:
        assert together["portfolio_id"].tolist() == expected["portfolio_id"].tolist()
    else:
        column, ascending = order
        keys = list(zip(together[column], together.index, strict=True))  # ties: the saved order (index)
        assert keys == sorted(keys, key=lambda k: (k[0] if ascending else -k[0], k[1]))
