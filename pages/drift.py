"""Drift: current holdings against model targets at current prices (no optimisation), per model and firm-wide."""

import streamlit as st

from components import feedback, navigation, state
from components.drift import charts as drift_charts
from components.drift import frames
from components.drift import keys as drift_keys
from components.drift import view as drift_view
from components.feedback import escape_md
from components.models import view as models_view
from components.tables import fmt_money, fmt_pct

navigation.ensure_app_shell()  # a first-request deep link ran this script alone: rerun through app.py

st.title("Drift")
st.caption(
    "Current holdings against the model's targets at current prices — nothing is optimised or saved. "
    "Drift = actual weight − target, in percentage points (pp) of the portfolio's market value."
)

with feedback.guard("load the investment models"):
    models = models_view.all_models()
if not models:
    st.info("No investment models yet. Create one on the **Investment models** page.", icon=":material/info:")
    st.stop()
by_id = {m.model_id: m for m in models}

m1, m2 = st.columns([3, 1], vertical_alignment="bottom")
mode = m1.segmented_control(
    "View",
    ["model", "triage"],
    format_func={"model": "One model", "triage": "Firm-wide triage"}.get,
    default="model",
    required=True,
    key="drift_mode",
)
tolerance = (
    m2.number_input(
        "Cash tolerance (pp)",
        min_value=0.0,
        max_value=50.0,
        value=frames.DEFAULT_CASH_TOLERANCE * 100,
        step=0.5,
        format="%.1f",
        key=drift_keys.DRIFT_CASH_TOL,
        help="Cash counts as high / low when its weight is this far above / below the model's implied cash "
        "(100 % − Σ targets).",
    )
    / 100
)

if mode == "triage":
    drift_view.render_triage(models, tolerance)
    st.stop()

c1, c2, c3 = st.columns([3, 1, 3], vertical_alignment="bottom")
ids = list(by_id)
preferred = state.selected_model_id()
model_id = c1.selectbox(
    "Model",
    ids,
    index=ids.index(preferred) if preferred in by_id else 0,
    format_func=lambda i: f"{by_id[i].name} · {len(by_id[i].portfolios):,} portfolios",
    key=drift_keys.DRIFT_MODEL_PICK,
)
refresh = c2.button("Refresh", key="drift_refresh", icon=":material/refresh:", help="Fetch holdings and prices again")
model = by_id[model_id]
state.select_model(model_id)
if not model.portfolios:
    st.info(f"Model '{escape_md(model.name)}' has no linked portfolios: link some on the Investment models page.")
    st.stop()

view = drift_view.load_view(model, refresh=refresh)
if view is None:
    st.stop()
c3.caption(drift_view.snapshot_caption(view))
drift_view.render_tiles(view, tolerance)
drift_view.render_failures(view)

f1, f2, f3 = st.columns([2, 1, 1], vertical_alignment="bottom")
search = f1.text_input("Filter portfolios by name", key=drift_keys.DRIFT_SEARCH, placeholder="Part of a portfolio name")
only_out = f2.toggle("Only out of band", key=drift_keys.DRIFT_ONLY_OUT)
top = f3.number_input(
    "Portfolios in the heatmap", min_value=5, max_value=200, value=30, step=5, key=drift_keys.DRIFT_TOP_N
)
ranked = frames.rank_portfolios(view.portfolios, search, only_out)
if ranked.empty:
    st.info("No portfolio matches the filters.", icon=":material/filter_alt_off:")
    st.stop()

st.subheader(f"Heatmap — the {min(top, len(ranked))} portfolios with the most drift ($)", anchor=False)
drift_view.heatmap(view, ranked, int(top))

st.subheader(f"Portfolios ({len(ranked):,}), worst first", anchor=False)
picked = drift_view.portfolio_table(ranked)
flagged = ranked.loc[ranked["needs_rebalance"], "portfolio_id"].tolist()
w1, w2 = st.columns(2)
with w1:
    drift_view.whatif_button(model, picked, "the selected portfolios", "drift_whatif_selected")
with w2:
    drift_view.whatif_button(model, flagged, "the portfolios needing a rebalance", "drift_whatif_flagged")
with st.expander("Distribution of total drift across these portfolios", icon=":material/bar_chart:"):
    st.plotly_chart(drift_charts.distribution_figure(ranked), key="drift_distribution", width="stretch")

st.subheader("Drill-down", anchor=False)
names = dict(zip(ranked["portfolio_id"], ranked["name"], strict=True))
dollars = dict(zip(ranked["portfolio_id"], ranked["drift_dollars"], strict=True))
pid = st.selectbox(
    "Portfolio",
    list(names),
    format_func=lambda p: f"{names[p]} · drift {fmt_money(dollars[p])}",
    key=drift_keys.DRIFT_PORTFOLIO_PICK,
)
rows = frames.drill_rows(view.rows, pid)
record = ranked[ranked["portfolio_id"] == pid].iloc[0]
st.caption(
    f"Market value {fmt_money(record['market_value'])} · cash {fmt_money(record['cash'])} "
    f"({fmt_pct(record['cash_weight'], 2)}) · {int(record['out_of_band'])} security(ies) out of band"
)
st.plotly_chart(
    drift_charts.drill_figure(
        rows,
        title=f"{names[pid]} — actual vs target, band shaded",
        cash_weight=record["cash_weight"],
        cash_target=view.implied_cash,
    ),
    key="drift_drill_chart",
    width="stretch",
)
drift_view.drill_table(rows)
