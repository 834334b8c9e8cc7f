"""The order CSV downloads shared by the Orders and Saved rebalances pages: per-portfolio orders and block orders.

The bytes come from ``engine.orders`` (``orders_to_csv`` / ``aggregated_to_csv``); the caption that lists the CSV
columns is generated from the same column list the CSV writer uses.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.orders import AGGREGATE_CSV_COLUMNS, ORDER_CSV_COLUMNS, REASON_CSV_COLUMN

CsvData = bytes | Callable[[], bytes]


def _download(where: DeltaGenerator | None, label: str, data: CsvData, file_name: str, key: str) -> None:
    (where.download_button if where is not None else st.download_button)(
        label, data=data, file_name=file_name, mime="text/csv", on_click="ignore", key=key, icon=":material/download:"
    )


def orders_button(
    data: CsvData, stem: str, key: str, where: DeltaGenerator | None = None, label: str = "Download orders CSV"
) -> None:
    """ "Download orders CSV" (one line per portfolio and security), ``orders_<stem>.csv``; ``label`` says which."""
    _download(where, label, data, f"orders_{stem}.csv", key)


def blocks_button(data: CsvData, stem: str, key: str, where: DeltaGenerator | None = None) -> None:
    """ "Download block orders CSV" (one line per security and side), ``block_orders_<stem>.csv``."""
    _download(where, "Download block orders CSV", data, f"block_orders_{stem}.csv", key)


def columns_caption() -> str:
    """What the orders CSV holds, from ``ORDER_CSV_COLUMNS`` (the writer's own list)."""
    names = [f"{c} (empty until saved)" if c == "rebalanceId" else c for c in ORDER_CSV_COLUMNS]
    return (
        f"CSV columns: {', '.join(names)}; optionally {REASON_CSV_COLUMN} last. Text that a spreadsheet would run "
        "as a formula is prefixed with an apostrophe."
    )


def blocks_caption(net: bool = False) -> str:
    """What the block orders CSV holds, from ``AGGREGATE_CSV_COLUMNS`` (its writer's own list)."""
    names = [f"{c} (empty until saved)" if c == "rebalanceId" else c for c in AGGREGATE_CSV_COLUMNS]
    how = (
        "one line per security, BUY and SELL netted (the per-portfolio CSV keeps both legs)"
        if net
        else "one line per security and side"
    )
    return f"Block CSV columns: {', '.join(names)}; {how}. Money to the cent, prices as given."
