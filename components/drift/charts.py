"""Plotly figure builders for the drift views: pure functions ``DataFrame -> go.Figure`` (no Streamlit).

Inputs are the frames of :mod:`components.drift.frames`: weights, targets and drifts are fractions of market
value; ``relative`` is drift divided by the band width on its side (±1 = band edge, beyond = out of band).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.theme import PRIMARY, rgba

UNDER = "#2563eb"  # below the band (underweight): blue
OVER = "#ea580c"  # above the band (overweight): orange — a blue/orange pair reads for colour-blind users too
IN_BAND = PRIMARY  # the app's primary colour
BAND = rgba(PRIMARY, 0.16)
TARGET = "#111827"
CASH = "Cash"
CASH_COLOUR = "#6b7280"  # cash is neither over- nor underweight: grey
# horizontal legend on the left above the plot: the right-hand corner belongs to plotly's toolbar
LEGEND = {"orientation": "h", "y": 1.0, "x": 0, "xanchor": "left", "yanchor": "bottom"}
CLIP = 2.0  # the heatmap saturates at twice the band width

# relative drift in [-CLIP, CLIP] mapped to [0, 1]: pale inside the band, saturated outside (a visible step at ±1)
HEATMAP_SCALE = [
    [0.0, "#1e3a8a"],
    [0.2499, "#60a5fa"],
    [0.25, "#dbeafe"],
    [0.5, "#ffffff"],
    [0.75, "#ffedd5"],
    [0.7501, "#fb923c"],
    [1.0, "#9a3412"],
]


def plain(text: str) -> str:
    """Text for plotly labels: plotly renders a subset of HTML tags (links included), so user text is escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _layout(fig: go.Figure, height: int, **kw: object) -> go.Figure:
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 64, "b": 10}, **kw)
    return fig


def heatmap_figure(rows: pd.DataFrame, order: list[str], labels: dict[str, str] | None = None) -> go.Figure:
    """Portfolio × security heatmap of drift relative to the band.

    ``rows``: columns portfolio_id, ticker, weight, target, drift, band_low, band_high, relative, in_band.
    ``order``: the portfolio ids to show, top to bottom. ``labels``: portfolio id -> display name.
    Securities run left to right by descending target (non-model holdings last).
    """
    labels = labels or {}
    sub = rows[rows["portfolio_id"].isin(order)]
    if sub.empty or not order:
        return _empty("No portfolios to show")
    securities = (
        sub.groupby("ticker", as_index=False)["target"].max().sort_values(["target", "ticker"], ascending=[False, True])
    )["ticker"].tolist()
    z = sub.pivot_table(index="portfolio_id", columns="ticker", values="relative", aggfunc="first")
    z = z.reindex(index=order, columns=securities)
    text = sub.assign(
        hover=lambda d: (
            "weight "
            + (d["weight"] * 100).map("{:.2f} %".format)
            + " · target "
            + (d["target"] * 100).map("{:.2f} %".format)
            + "<br>drift "
            + (d["drift"] * 100).map("{:+.2f} pp".format)
            + " · band "
            + (d["band_low"] * 100).map("{:.2f}".format)
            + "–"
            + (d["band_high"] * 100).map("{:.2f} %".format)
            + np.where(d["in_band"], "", "<br><b>out of band</b>")
        )
    ).pivot_table(index="portfolio_id", columns="ticker", values="hover", aggfunc="first")
    text = text.reindex(index=order, columns=securities)
    names = [plain(labels.get(p, p)) for p in order]
    fig = go.Figure(
        go.Heatmap(
            z=z.clip(-CLIP, CLIP).to_numpy(dtype=float),
            x=securities,
            y=names,
            customdata=text.fillna("not held, not in model").to_numpy(dtype=object),
            zmin=-CLIP,
            zmax=CLIP,
            colorscale=HEATMAP_SCALE,
            xgap=1,
            ygap=1,
            hovertemplate="<b>%{y}</b> · %{x}<br>%{customdata}<extra></extra>",
            colorbar={
                "title": {"text": "Drift / band"},
                "tickvals": [-2, -1, 0, 1, 2],
                "ticktext": ["≤ −2 (under)", "−1 band edge", "0 on target", "+1 band edge", "≥ +2 (over)"],
            },
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    # every ticker labelled (plotly thins category labels by default): vertical and smaller past 30 securities
    many = len(securities) > 30
    fig.update_xaxes(
        type="category",
        tickmode="array",
        tickvals=list(securities),
        ticktext=[plain(str(t)) for t in securities],
        tickangle=-90 if many else -45,
        tickfont={"size": 9 if many else 11},
    )
    return _layout(fig, height=max(260, 60 + 22 * len(order)), title={"text": "Drift relative to the band"})


def drill_figure(
    rows: pd.DataFrame, title: str = "", cash_weight: float | None = None, cash_target: float | None = None
) -> go.Figure:
    """Actual vs target weight for one portfolio, with the band drawn behind each bar, and cash as its own column.

    ``rows``: columns ticker, weight, target, band_low, band_high, in_band, position (-1 below, 0 in, +1 above).
    Every position is drawn: one held at 0 shares (a bar of height 0) gets a marker at 0 % in its status colour, so
    the worst underweights stay visible. ``cash_weight``/``cash_target`` (cash / MV and 1 − Σ targets) add "Cash".
    """
    if cash_weight is not None and np.isnan(cash_weight):
        cash_weight = None  # a portfolio whose data failed has no cash figure
    if rows.empty and cash_weight is None:
        return _empty("This portfolio holds nothing and its model has no positions")
    d = rows.sort_values(["target", "ticker"], ascending=[False, True])
    colors = [IN_BAND if p == 0 else (UNDER if p < 0 else OVER) for p in d["position"]]
    x = d["ticker"].tolist()
    weights = (d["weight"] * 100).tolist()
    targets = (d["target"] * 100).tolist()
    if cash_weight is not None:
        x.append(CASH)
        weights.append(cash_weight * 100)
        targets.append((cash_target or 0.0) * 100)
        colors.append(CASH_COLOUR)
    fig = go.Figure()
    fig.add_bar(
        x=d["ticker"],
        y=(d["band_high"] - d["band_low"]) * 100,
        base=d["band_low"] * 100,
        name="Band",
        marker={"color": BAND, "line": {"width": 0}},
        width=0.8,
        hoverinfo="skip",
    )
    fig.add_bar(
        x=x,
        y=weights,
        name="Actual weight",
        marker={"color": colors},
        width=0.45,
        customdata=np.stack([targets, np.subtract(weights, targets)], axis=-1),
        hovertemplate="<b>%{x}</b><br>actual %{y:.2f} %<br>target %{customdata[0]:.2f} %"
        "<br>actual − target %{customdata[1]:+.2f} pp<extra></extra>",
    )
    fig.add_scatter(
        x=x,
        y=targets,
        name="Target",
        mode="markers",
        marker={"symbol": "line-ew", "size": 26, "line": {"width": 3, "color": TARGET}},
        hovertemplate="<b>%{x}</b> target %{y:.2f} %<extra></extra>",
    )
    empty = d[d["weight"] == 0]
    if not empty.empty:
        fig.add_scatter(
            x=empty["ticker"],
            y=[0.0] * len(empty),
            name="Not held (0 %)",
            mode="markers",
            marker={
                "symbol": "x-thin",
                "size": 12,
                "line": {"width": 3, "color": [UNDER if p < 0 else IN_BAND for p in empty["position"]]},
            },
            customdata=empty["target"] * 100,
            hovertemplate="<b>%{x}</b> not held<br>target %{customdata:.2f} %<extra></extra>",
        )
    fig.update_layout(barmode="overlay", legend=LEGEND)
    fig.update_yaxes(title={"text": "Weight (% of market value)"}, ticksuffix=" %", rangemode="tozero")
    fig.update_xaxes(type="category", tickangle=-45 if len(x) > 12 else 0, categoryarray=x, categoryorder="array")
    return _layout(fig, height=420, title={"text": plain(title) if title else "Actual vs target weight"})


def distribution_figure(portfolios: pd.DataFrame) -> go.Figure:
    """Histogram of total drift (Σ|w − t|, in %) across portfolios, split in band / needs rebalance.

    ``portfolios``: columns drift_weight, needs_rebalance.
    """
    ok = portfolios.dropna(subset=["drift_weight"])
    if ok.empty:
        return _empty("No portfolio could be analysed")
    fig = go.Figure()
    for flag, name, color in ((False, "All positions in band", IN_BAND), (True, "Needs rebalance", OVER)):
        part = ok[ok["needs_rebalance"] == flag]
        if not part.empty:
            fig.add_histogram(x=part["drift_weight"] * 100, name=name, marker={"color": color}, nbinsx=40)
    fig.update_layout(
        barmode="stack",
        bargap=0.05,
        legend=LEGEND,
    )
    fig.update_xaxes(title={"text": "Total drift Σ|actual − target| (% of market value)"}, ticksuffix=" %")
    fig.update_yaxes(title={"text": "Portfolios"})
    return _layout(fig, height=300, title={"text": "Distribution of total drift"})


def triage_figure(portfolios: pd.DataFrame) -> go.Figure:
    """Per model, the distribution of total drift (Σ|weight − target|, % of MV) across its analysed portfolios.

    ``portfolios``: columns model, drift_weight, needs_rebalance (one row per analysed portfolio). A box per model
    (median, quartiles, whiskers) with every portfolio needing a rebalance drawn as a point: unlike a share out of
    band, which is ~100 % for every demo model, it shows how far each model has drifted.
    """
    d = portfolios.dropna(subset=["drift_weight"]) if not portfolios.empty else portfolios
    if d.empty:
        return _empty("No models scanned")
    order = d.groupby("model")["drift_weight"].median().sort_values().index.tolist()
    fig = go.Figure()
    for model in order:
        part = d[d["model"] == model]
        fig.add_box(
            x=part["drift_weight"] * 100,
            name=plain(model),
            orientation="h",
            marker={"color": OVER if part["needs_rebalance"].mean() > 0.5 else IN_BAND, "size": 4},
            boxpoints="outliers",
            showlegend=False,
            hovertemplate="<b>%{y}</b><br>total drift %{x:.2f} %<extra></extra>",
        )
    fig.update_xaxes(title={"text": "Total drift now, Σ|weight − target| (% of market value)"}, ticksuffix=" %")
    fig.update_yaxes(type="category", automargin=True)
    return _layout(fig, height=max(220, 80 + 40 * len(order)), title={"text": "Drift per model (distribution)"})


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=200)
