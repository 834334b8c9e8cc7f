"""Plotly figures of the what-if rebalance: pure ``DataFrame -> go.Figure`` builders (no Streamlit).

Weights, drifts and cash are plain floats in the frames (fractions of MV for weights; dollars for cash); the
figures format them as % with 1-2 dp and money with 2 dp. Frames come from :mod:`components.rebalance.frames`.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.theme import PRIMARY

BEFORE_COLOR = "#94a3b8"  # slate: the state before the trade
AFTER_COLOR = PRIMARY  # the app's primary colour: the proposed state
TARGET_COLOR = "#b45309"
BAND_COLOR = "rgba(180, 83, 9, 0.45)"
CASH_COLOR = "#6366f1"
TOP_N = 30


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="closest",
    )
    return fig


def weights_figure(frame: pd.DataFrame, title: str = "Weights before and after, with bands") -> go.Figure:
    """Grouped bars of weight before/after per security, the target as a marker and the band as its error bar.

    ``frame`` columns: ``label`` (ticker or id), ``weight_before``, ``weight_after``, ``target``, ``band_low``,
    ``band_high`` (weights; band edges clipped at 0). Securities are drawn in frame order.
    """
    labels = frame["label"].astype(str).tolist()
    fig = go.Figure()
    fig.add_bar(
        name="Before",
        x=labels,
        y=frame["weight_before"],
        marker_color=BEFORE_COLOR,
        hovertemplate="%{x}<br>before %{y:.2%}<extra></extra>",
    )
    fig.add_bar(
        name="After",
        x=labels,
        y=frame["weight_after"],
        marker_color=AFTER_COLOR,
        hovertemplate="%{x}<br>after %{y:.2%}<extra></extra>",
    )
    fig.add_scatter(
        name="Target and band",
        x=labels,
        y=frame["target"],
        mode="markers",
        marker={"symbol": "diamond", "size": 9, "color": TARGET_COLOR},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": (frame["band_high"] - frame["target"]).clip(lower=0),
            "arrayminus": (frame["target"] - frame["band_low"]).clip(lower=0),
            "color": BAND_COLOR,
            "thickness": 2,
            "width": 8,
        },
        customdata=frame[["band_low", "band_high"]].to_numpy(),
        hovertemplate="%{x}<br>target %{y:.2%}<br>band %{customdata[0]:.2%} – %{customdata[1]:.2%}<extra></extra>",
    )
    fig.update_layout(
        barmode="group", yaxis={"tickformat": ".1%", "title": "weight of market value", "rangemode": "tozero"}
    )
    return _layout(fig, title, 380)


def _top(frame: pd.DataFrame, by: str, n: int) -> tuple[pd.DataFrame, str]:
    """The ``n`` largest rows by ``by`` and a caption suffix saying how many are shown."""
    total = len(frame)
    top = frame.sort_values(by, ascending=False, kind="stable").head(n)
    suffix = "" if total <= n else f" (top {n} of {total:,} by {by.replace('_', ' ')})"
    return top, suffix


def drift_reduction_figure(frame: pd.DataFrame, top_n: int = TOP_N) -> go.Figure:
    """Dumbbell chart: each portfolio's drift before and after (Σ|w − t|, % of MV), largest drift first.

    ``frame`` columns: ``portfolio`` (display name), ``drift_before``, ``drift_after``. Rows without numbers
    (failed portfolios) are dropped. Beyond ``top_n`` portfolios only the most drifted are drawn.
    """
    data = frame.dropna(subset=["drift_before", "drift_after"])
    top, suffix = _top(data, "drift_before", top_n)
    top = top.iloc[::-1]  # largest at the top of a horizontal chart
    names = top["portfolio"].astype(str).tolist()
    xs: list[float | None] = []
    ys: list[str | None] = []
    for name, b, a in zip(names, top["drift_before"], top["drift_after"], strict=True):
        xs += [b, a, None]
        ys += [name, name, None]
    fig = go.Figure()
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "#cbd5e1", "width": 3}, showlegend=False, hoverinfo="skip")
    fig.add_scatter(
        name="Before",
        x=top["drift_before"],
        y=names,
        mode="markers",
        marker={"color": BEFORE_COLOR, "size": 10},
        hovertemplate="%{y}<br>before %{x:.2%}<extra></extra>",
    )
    fig.add_scatter(
        name="After",
        x=top["drift_after"],
        y=names,
        mode="markers",
        marker={"color": AFTER_COLOR, "size": 10},
        hovertemplate="%{y}<br>after %{x:.2%}<extra></extra>",
    )
    top_x = max([*top["drift_before"], *top["drift_after"], 0.001])
    # a little room left of 0 so markers at zero drift are drawn whole
    fig.update_layout(
        xaxis={"tickformat": ".1%", "title": "total drift Σ|weight − target|", "range": [-0.03 * top_x, 1.05 * top_x]}
    )
    fig.update_yaxes(type="category")
    return _layout(fig, "Drift before → after" + suffix, max(260, 60 + 24 * len(top)))


def cash_figure(frame: pd.DataFrame, top_n: int = TOP_N) -> go.Figure:
    """Horizontal grouped bars of cash before and after per portfolio, largest cash change first.

    ``frame`` columns: ``portfolio``, ``cash_before``, ``cash_after`` (dollars). Rows without numbers are dropped.
    """
    data = frame.dropna(subset=["cash_before", "cash_after"]).copy()
    data["cash_change"] = (data["cash_after"] - data["cash_before"]).abs()
    top, suffix = _top(data, "cash_change", top_n)
    top = top.iloc[::-1]
    names = top["portfolio"].astype(str).tolist()
    fig = go.Figure()
    fig.add_bar(
        name="Cash before",
        y=names,
        x=top["cash_before"],
        orientation="h",
        marker_color=BEFORE_COLOR,
        hovertemplate="%{y}<br>before $%{x:,.2f}<extra></extra>",
    )
    fig.add_bar(
        name="Cash after",
        y=names,
        x=top["cash_after"],
        orientation="h",
        marker_color=AFTER_COLOR,
        hovertemplate="%{y}<br>after $%{x:,.2f}<extra></extra>",
    )
    fig.update_layout(barmode="group", xaxis={"tickprefix": "$", "tickformat": ",.0f", "title": "cash"})
    fig.update_yaxes(type="category")
    return _layout(
        fig, "Cash before and after" + suffix.replace("cash change", "|cash change|"), max(260, 60 + 30 * len(top))
    )


def scenario_compare_figure(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars per scenario: drift before, drift after, turnover and cash after, all as % of market value.

    ``frame`` columns: ``scenario``, ``drift_before``, ``drift_after``, ``turnover``, ``cash_after`` (fractions of
    total MV).
    """
    fig = go.Figure()
    series = (
        ("drift_before", "Drift before", BEFORE_COLOR),
        ("drift_after", "Drift after", AFTER_COLOR),
        ("turnover", "Turnover", TARGET_COLOR),
        ("cash_after", "Cash after", CASH_COLOR),
    )
    names = frame["scenario"].astype(str).tolist()
    for column, label, color in series:
        fig.add_bar(
            name=label,
            x=names,
            y=frame[column],
            marker_color=color,
            hovertemplate="%{x}<br>" + label.lower() + " %{y:.2%}<extra></extra>",
        )
    fig.update_layout(barmode="group", yaxis={"tickformat": ".1%", "title": "% of market value", "rangemode": "tozero"})
    fig.update_xaxes(type="category")
    _layout(fig, "Scenarios side by side", 380)
    # the legend goes under the plot: above it, four entries ran into the title
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0},
        margin={"l": 10, "r": 10, "t": 50, "b": 60},
    )
    return fig


def tickets_drift_figure(frame: pd.DataFrame) -> go.Figure:
    """One marker per scenario: orders (tickets) across, residual drift (% of MV) up — the trade-off a PM weighs.

    ``frame`` columns: ``scenario``, ``orders``, ``small_orders`` (under $500), ``drift_after`` (fraction of total
    MV), ``still_out_of_band`` (portfolios). Fewer tickets at the same drift is better: lower left wins.
    """
    data = frame.dropna(subset=["drift_after"])
    fig = go.Figure()
    fig.add_scatter(
        name="Scenario",
        x=data["orders"],
        y=data["drift_after"],
        mode="markers+text",
        text=data["scenario"].astype(str),
        # alternate label sides: scenarios with the same figures sit on one point and stay readable
        textposition=["top center" if i % 2 == 0 else "bottom center" for i in range(len(data))],
        marker={"size": 14, "color": AFTER_COLOR},
        customdata=data[["small_orders", "still_out_of_band"]].to_numpy(),
        hovertemplate="%{text}<br>%{x:,} orders (%{customdata[0]:,} under $500)<br>residual drift %{y:.2%}"
        "<br>%{customdata[1]:,} portfolios still out of band<extra></extra>",
    )
    top_x = max([*data["orders"], 1])
    top_y = max([*data["drift_after"], 0.001])
    fig.update_layout(
        xaxis={"title": "orders (tickets)", "tickformat": ",d", "range": [-0.05 * top_x, 1.15 * top_x]},
        yaxis={"title": "residual drift (% of MV)", "tickformat": ".2%", "range": [-0.2 * top_y, 1.3 * top_y]},
        showlegend=False,
    )
    return _layout(fig, "Tickets vs residual drift", 340)


__all__ = ["cash_figure", "drift_reduction_figure", "scenario_compare_figure", "tickets_drift_figure", "weights_figure"]
