"""Figure builders of the drift views: pure DataFrame -> go.Figure, checked on their data, not their looks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.drift import charts as drift_charts


def _rows() -> pd.DataFrame:
    # two portfolios, three securities; P2 is under on AAA (relative -1.5) and over on BBB (relative +3, clipped)
    data = [
        ("P1", "AAA", 0.40, 0.40, 0.35, 0.45, 0.0, True, 0),
        ("P1", "BBB", 0.21, 0.20, 0.15, 0.25, 0.2, True, 0),
        ("P1", "CCC", 0.00, 0.00, 0.00, 0.00, 0.0, True, 0),
        ("P2", "AAA", 0.325, 0.40, 0.35, 0.45, -1.5, False, -1),
        ("P2", "BBB", 0.35, 0.20, 0.15, 0.25, 3.0, False, 1),
        ("P2", "DDD", 0.05, 0.00, 0.00, 0.00, 2.0, False, 1),
    ]
    df = pd.DataFrame(
        data,
        columns=[
            "portfolio_id",
            "ticker",
            "weight",
            "target",
            "band_low",
            "band_high",
            "relative",
            "in_band",
            "position",
        ],
    )
    df["drift"] = df["weight"] - df["target"]
    return df


def test_heatmap_orders_portfolios_and_securities_and_clips_relative_drift():
    fig = drift_charts.heatmap_figure(_rows(), order=["P2", "P1"], labels={"P1": "Alpha", "P2": "Beta"})
    (trace,) = fig.data
    assert list(trace.y) == ["Beta", "Alpha"]
    # by descending target, ties by ticker; the non-model holding DDD comes last
    assert list(trace.x) == ["AAA", "BBB", "CCC", "DDD"]
    z = np.asarray(trace.z, dtype=float)
    assert z[0][0] == -1.5 and z[0][1] == drift_charts.CLIP  # +3 clipped to the scale's end
    assert np.isnan(z[0][2]) and z[0][3] == 2.0  # P2 does not hold CCC (not in its rows)
    assert z[1][0] == 0.0 and z[1][1] == pytest.approx(0.2)
    assert (trace.zmin, trace.zmax) == (-drift_charts.CLIP, drift_charts.CLIP)
    assert "out of band" in trace.customdata[0][0] and "out of band" not in trace.customdata[1][0]
    assert "drift -7.50 pp" in trace.customdata[0][0]


def test_heatmap_labels_every_ticker():
    """Issue 14 item 8: no thinned-out axis at 30+ securities."""
    fig = drift_charts.heatmap_figure(_rows(), order=["P2", "P1"])
    assert list(fig.layout.xaxis.tickvals) == ["AAA", "BBB", "CCC", "DDD"] and fig.layout.xaxis.tickmode == "array"


def test_heatmap_colour_scale_steps_at_the_band_edge():
    stops = dict((round(p, 4), c) for p, c in drift_charts.HEATMAP_SCALE)
    # relative ±1 sits at 0.25 / 0.75 of [-2, 2]: a pale colour just inside, a saturated one just outside
    assert stops[0.25] != stops[0.2499] and stops[0.75] != stops[0.7501]


def test_heatmap_of_nothing_is_an_annotated_empty_figure():
    fig = drift_charts.heatmap_figure(_rows(), order=[])
    assert not fig.data and fig.layout.annotations[0].text == "No portfolios to show"


def test_drill_figure_draws_band_actual_and_target_in_percent():
    rows = _rows()[lambda d: d["portfolio_id"] == "P2"]
    fig = drift_charts.drill_figure(rows, title="Beta")
    band, actual, target = fig.data
    assert list(band.x) == ["AAA", "BBB", "DDD"]
    assert list(band.base) == pytest.approx([35.0, 15.0, 0.0])
    assert list(band.y) == pytest.approx([10.0, 10.0, 0.0])
    assert list(actual.y) == pytest.approx([32.5, 35.0, 5.0])
    assert list(actual.marker.color) == [drift_charts.UNDER, drift_charts.OVER, drift_charts.OVER]
    assert list(target.y) == pytest.approx([40.0, 20.0, 0.0])
    assert fig.layout.barmode == "overlay" and fig.layout.title.text == "Beta"
    assert fig.layout.yaxis.ticksuffix == " %"


def test_drill_figure_colours_in_band_bars_with_the_primary_colour():
    fig = drift_charts.drill_figure(_rows()[lambda d: d["portfolio_id"] == "P1"])
    assert set(fig.data[1].marker.color) == {drift_charts.IN_BAND}
    assert fig.data[3].name == "Not held (0 %)" and list(fig.data[3].x) == ["CCC"]  # in band at 0 %: still drawn


def test_drill_figure_draws_positions_held_at_zero_shares_and_cash():
    """Issue 14 item 7: an underweight held at 0 shares gets a visible marker; cash is its own column."""
    rows = _rows()[lambda d: d["portfolio_id"] == "P2"].copy()
    rows.loc[rows["ticker"] == "AAA", "weight"] = 0.0  # target 40 %, not held: the worst underweight
    fig = drift_charts.drill_figure(rows, title="Beta", cash_weight=0.6, cash_target=0.4)
    _band, actual, target, empty = fig.data
    assert list(actual.x) == ["AAA", "BBB", "DDD", "Cash"]
    assert list(actual.y) == pytest.approx([0.0, 35.0, 5.0, 60.0])
    assert list(target.y) == pytest.approx([40.0, 20.0, 0.0, 40.0])
    assert empty.name == "Not held (0 %)" and list(empty.x) == ["AAA"] and list(empty.y) == [0.0]
    assert list(empty.marker.line.color) == [drift_charts.UNDER]
    assert list(fig.layout.xaxis.categoryarray) == ["AAA", "BBB", "DDD", "Cash"]


def test_distribution_splits_in_band_and_needs_rebalance():
    pf = pd.DataFrame({"drift_weight": [0.01, 0.02, 0.2, None], "needs_rebalance": [False, False, True, True]})
    fig = drift_charts.distribution_figure(pf)
    names = {t.name: list(t.x) for t in fig.data}
    assert names["All positions in band"] == pytest.approx([1.0, 2.0])
    assert names["Needs rebalance"] == pytest.approx([20.0])  # the unanalysed portfolio (None) is left out


def test_triage_figure_shows_the_drift_distribution_per_model_most_drifted_last():
    """Issue 14 item 10: a distribution of drift per model, not a share out of band that is always ~100 %."""
    frame = pd.DataFrame(
        {
            "model": ["A", "A", "B", "B", "B"],
            "drift_weight": [0.01, 0.03, 0.20, 0.25, None],
            "needs_rebalance": [False, True, True, True, True],
        }
    )
    fig = drift_charts.triage_figure(frame)
    a, b = fig.data
    assert (a.name, b.name) == ("A", "B")  # ordered by median drift, the most drifted last (on top)
    assert list(a.x) == pytest.approx([1.0, 3.0]) and list(b.x) == pytest.approx([20.0, 25.0])
    assert drift_charts.triage_figure(frame.iloc[0:0]).layout.annotations[0].text == "No models scanned"


def test_user_text_in_labels_is_escaped_for_plotly():
    rows = _rows()
    fig = drift_charts.heatmap_figure(rows, order=["P1"], labels={"P1": '<a href="javascript:x">Alpha</a> & Co'})
    assert list(fig.data[0].y) == ['&lt;a href="javascript:x"&gt;Alpha&lt;/a&gt; &amp; Co']
    drill = drift_charts.drill_figure(rows[lambda d: d["portfolio_id"] == "P1"], title="<b>x</b>")
    assert drill.layout.title.text == "&lt;b&gt;x&lt;/b&gt;"
