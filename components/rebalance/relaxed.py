"""The "nearest feasible" warning (product-spec 2.12 ``relaxed``), one wording for What-if, Orders and History.

A relaxed answer breaches bands on purpose (least breach first, then drift): both pages flag it the same way, with
the breached bands in one table; only the pointer to where its orders are marked differs.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.columns import names
from components.rebalance import store
from components.rebalance.frames import BREACH_TABLE, breaches_frame
from components.tables import column_config, fmt_money

BREACH_CONFIG = column_config(BREACH_TABLE)
BREACH_ORDER = names(BREACH_TABLE)


def render(scenario: store.Scenario, orders_marked: str) -> None:
    """Warn about the scenario's relaxed portfolios (if any) and list their breached bands.

    ``orders_marked`` ends the warning: where the page shows their orders marked (e.g. "below").
    """
    relaxed = [r for r in scenario.results if r.status == "relaxed"]
    if relaxed:
        warn(len(relaxed), breaches_frame(relaxed, scenario.tickers), orders_marked)


def warn(count: int, frame: pd.DataFrame, orders_marked: str) -> None:
    """The warning for ``count`` relaxed portfolios whose breached bands are ``frame`` (``breaches_frame``)."""
    st.warning(
        f"**{count:,} portfolio(s) nearest feasible, not optimal**: no answer met every band, so their orders "
        f"leave {len(frame):,} band(s) breached by {fmt_money(frame['amount'].sum())} in total (least breach first, "
        f"then drift). Their orders are marked “Nearest feasible” {orders_marked}.",
        icon=":material/warning:",
    )
    with st.expander(f"Breached bands ({len(frame):,})"):
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            height=min(36 + 35 * len(frame), 320),
            column_config=BREACH_CONFIG,
            column_order=BREACH_ORDER,
        )


__all__ = ["render", "warn"]
