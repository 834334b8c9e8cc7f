"""Column-config presets and text formatters: money 2 dp, weights and drifts in % (1-3 dp), short ids.

Read-only tables keep numbers numeric (so sorting works) and format them through ``column_config``; text built for
metrics, captions and messages uses the ``fmt_*`` helpers. Weights are fractions (0.05 = 5 %) everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from components.columns import Col
from engine.validation import MAX_TARGET, TARGET_STEP, WEIGHT_RULE

Number = float | int | Decimal


# --- text formatters -------------------------------------------------------------------------------------------
def fmt_money(value: Number | None, currency: str = "$") -> str:
    """``$1,234,567.89``; negative as ``-$12.50``; None as an em dash."""
    if value is None:
        return "—"
    v = float(value)
    return f"{'-' if v < 0 else ''}{currency}{abs(v):,.2f}"


def fmt_pct(value: Number | None, dp: int = 1) -> str:
    """A fraction as a percentage: ``fmt_pct(0.0525, 2) == '5.25 %'``."""
    if value is None:
        return "—"
    return f"{float(value) * 100:,.{dp}f} %"


def fmt_pp(value: Number | None, dp: int = 2) -> str:
    """A weight difference in percentage points with its sign: ``+1.25 pp``."""
    if value is None:
        return "—"
    return f"{float(value) * 100:+,.{dp}f} pp"


def fmt_money_short(value: Number | None, currency: str = "$") -> str:
    """Money for a tile: ``$950.25``, ``$9,999.99``, ``$12.35 k``, ``$107.81 M``, ``$4.44 B``.

    Exact (2 dp) below ten thousand; a metric truncates long values, so the full amount belongs in its help.
    """
    if value is None:
        return "—"
    v = float(value)
    for threshold, unit, suffix in ((1e9, 1e9, " B"), (1e6, 1e6, " M"), (1e4, 1e3, " k")):
        if abs(v) >= threshold:
            return f"{'-' if v < 0 else ''}{currency}{abs(v) / unit:,.2f}{suffix}"
    return fmt_money(v, currency)


def fmt_qty(value: Number | None) -> str:
    """A quantity with thousands separators: whole shares as integers ("4", "1,200"), fractions as they are."""
    if value is None:
        return "—"
    exact = Decimal(str(value))
    if exact == exact.to_integral_value():
        return f"{int(exact):,}"
    return f"{exact.normalize():,f}"


def fmt_when(value: dt.datetime | None, never: str = "Never") -> str:
    """``Jun 06, 2025 12:17`` (UTC); ``never`` for None."""
    if value is None:
        return never
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%b %d, %Y %H:%M")


def short_id(value: str | None) -> str:
    """First 6 and last 4 characters of a 24-character id: ``683b6d…9643``."""
    if not value:
        return "—"
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def names_preview(names: list[str], shown: int = 2) -> str:
    """``A, B +3 more`` (the portal's portfolio column); ``—`` when empty."""
    if not names:
        return "—"
    head = ", ".join(names[:shown])
    return head if len(names) <= shown else f"{head} +{len(names) - shown} more"


# --- column_config presets ---------------------------------------------------------------------------------------
def money_col(label: str, help: str | None = None) -> st.column_config.NumberColumn:
    """Money, 2 dp with thousands separators: ``$1,234.50``."""
    return st.column_config.NumberColumn(label, help=help, format="dollar")


def count_col(label: str, help: str | None = None) -> st.column_config.NumberColumn:
    """A whole number with thousands separators."""
    # "localized": thousands separators (1,000); no fixed narrow width, so headers are not cut off
    return st.column_config.NumberColumn(label, help=help, format="localized")


def qty_col(label: str = "Quantity", help: str | None = None) -> st.column_config.NumberColumn:
    """Share quantities: whole shares show as "4" (not "4.00"), fractional ones with their decimals."""
    return st.column_config.NumberColumn(label, help=help, format="localized")


def pct_col(label: str, help: str | None = None, dp: int = 2) -> st.column_config.NumberColumn:
    """A weight already multiplied by 100 (see :func:`as_percent`), shown with ``dp`` decimals: ``40.00 %``."""
    return st.column_config.NumberColumn(label, help=help, format=f"%.{dp}f %%")


def as_percent(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy of ``frame`` with fraction columns multiplied by 100, for :func:`pct_col` / :func:`pp_col`.

    Columns the frame lacks are skipped, so one preset list can serve frames with optional columns.
    """
    out = frame.copy()
    for col in columns:
        if col in out:
            out[col] = out[col] * 100
    return out


def target_col(width: int, default: float | None = None, help: str | None = None) -> st.column_config.NumberColumn:
    """An editable target weight: a fraction shown in %, within the model limits (0–95 %, 0.5 % steps)."""
    return st.column_config.NumberColumn(
        "Target",
        min_value=0.0,
        max_value=float(MAX_TARGET),
        step=float(TARGET_STEP),
        format="percent",
        required=True,
        default=default,
        width=width,
        help=help,
    )


def weight_text_col(
    label: str, width: int, default: str | None = None, help: str | None = None
) -> st.column_config.TextColumn:
    """An editable weight typed as a percent (``engine.validation.parse_weight``): the rule is in the column help."""
    rule = WEIGHT_RULE if not help else f"{help} {WEIGHT_RULE}"
    return st.column_config.TextColumn(label, required=True, default=default, width=width, help=rule)


def drift_col(
    label: str, width: int, step: float, default: float | None = None, help: str | None = None
) -> st.column_config.NumberColumn:
    """An editable drift (band half-width): a fraction of market value shown in %, between 0 and 100 %."""
    return st.column_config.NumberColumn(
        label,
        min_value=0.0,
        max_value=1.0,
        step=step,
        format="percent",
        required=True,
        default=default,
        width=width,
        help=help,
    )


def pp_col(label: str, help: str | None = None) -> st.column_config.NumberColumn:
    """A weight difference already multiplied by 100, shown as signed percentage points."""
    return st.column_config.NumberColumn(label, help=help, format="%+.2f pp")


def id_col(label: str = "ID", help: str | None = None) -> st.column_config.TextColumn:
    """A 24-character id (full, monospace-width column)."""
    return st.column_config.TextColumn(label, help=help, width="medium")


def flag_col(label: str, help: str | None = None) -> st.column_config.CheckboxColumn:
    """A yes/no flag."""
    return st.column_config.CheckboxColumn(label, help=help)


def when_col(label: str, help: str | None = None) -> st.column_config.DatetimeColumn:
    """A timestamp in the portal's ``MMM dd, yyyy HH:mm``."""
    return st.column_config.DatetimeColumn(label, help=help, format="MMM DD, YYYY HH:mm")


def column_config(spec: Sequence[Col]) -> dict[str, Any]:
    """The Streamlit ``column_config`` of a table spec (see :mod:`components.columns`)."""
    return {c.name: _column(c) for c in spec}


def _column(c: Col) -> Any:
    cc = st.column_config
    match c.kind:
        case "plain":
            return c.label
        case "text":
            return cc.TextColumn(c.label, help=c.help, width=c.width)
        case "money":
            return money_col(c.label, c.help)
        case "qty":
            return qty_col(c.label, c.help)
        case "count":
            return count_col(c.label, c.help)
        case "int" | "number":
            return cc.NumberColumn(c.label, help=c.help, format=c.fmt or "%d", width=c.width)
        case "pct":
            return pct_col(c.label, c.help, dp=c.dp)
        case "pp":
            return pp_col(c.label, c.help)
        case "flag":
            return cc.CheckboxColumn(c.label, help=c.help, width=c.width)
        case "date":
            return cc.DateColumn(c.label, help=c.help, format="YYYY-MM-DD")
        case "when":
            return when_col(c.label, c.help)
    raise ValueError(f"unknown column kind {c.kind!r} of column {c.name!r}")
