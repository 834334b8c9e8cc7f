"""Display formats shared by the what-if, orders and history pages (money 2 dp, weights as % with 2 dp).

Streamlit's ``format="percent"`` drops trailing zeros (9 %, 9.01 %); a blotter reads better with a fixed 2 dp, so
weights are shown multiplied by 100 with ``%.2f %%``. Money in metrics is short ($324.52 k, $107.81 M) because a
metric truncates long values; the exact 2-dp amount is in the metric's help and in every table.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import pandas as pd
import streamlit as st

Number = float | int | Decimal


def fmt_money_short(value: Number | None) -> str:
    """``$950.25``, ``$9,999.99``, ``$12.35 k``, ``$1.41 M``, ``$2.05 B`` (exact below ten thousand)."""
    if value is None:
        return "—"
    v = float(value)
    sign, a = ("-" if v < 0 else ""), abs(v)
    if a >= 1e9:
        return f"{sign}${a / 1e9:,.2f} B"
    if a >= 1e6:
        return f"{sign}${a / 1e6:,.2f} M"
    if a >= 1e4:
        return f"{sign}${a / 1e3:,.2f} k"
    return f"{sign}${a:,.2f}"


def pct100_col(label: str, help: str | None = None, dp: int = 2) -> st.column_config.NumberColumn:
    """A weight already multiplied by 100 (see :func:`as_percent`), shown with a fixed number of decimals."""
    return st.column_config.NumberColumn(label, help=help, format=f"%.{dp}f %%")


def as_percent(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` with the given fraction columns multiplied by 100 (for :func:`pct100_col`)."""
    out = frame.copy()
    for c in columns:
        if c in out:
            out[c] = out[c] * 100
    return out


__all__ = ["as_percent", "fmt_money_short", "pct100_col"]
