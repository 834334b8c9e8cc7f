"""Orders & export: the proposed orders of a what-if scenario, CSV downloads, Save rebalance, Submit orders."""

import streamlit as st

from components import feedback, navigation
from components.orders import view as orders_view
from components.rebalance import relaxed, workspace

navigation.ensure_app_shell()  # a first-request deep link ran this script alone: rerun through app.py

st.title("Orders & export")
st.caption(
    "Only BUY and SELL orders with a non-zero quantity are proposed. Review them, download them, and only "
    "then save the run as a rebalance record or submit the orders."
)

with feedback.guard("open the what-if workspace"):
    workspace.open_in_page()  # a reload finds the workspace in the URL (?ws=) and brings its scenarios back
scenario = orders_view.pick_scenario()
if scenario is None:
    st.info("No what-if scenario in this workspace yet: run one first.", icon=":material/info:")
    st.page_link("pages/rebalance.py", label="Go to What-if rebalance", icon=":material/balance:")
    st.stop()

orders_view.check_saved(scenario)
rows = orders_view.rows_of(scenario)
outcomes = orders_view.outcomes_of(scenario, rows)
s = scenario.summary
st.caption(
    f"{feedback.escape_md(scenario.model.name)} v{scenario.model.version} · {scenario.params.scope_label()} · "
    f"{s.optimal + s.relaxed:,} portfolio(s) rebalanced, {s.infeasible + s.failed:,} not rebalanced (no orders)."
)
orders_view.render_not_rebalanced(scenario)
orders_view.render_totals(scenario, rows)
relaxed.render(scenario, "below")
if not rows:
    st.info(
        "This scenario proposes no orders: every rebalanced portfolio is already at its optimum.",
        icon=":material/check_circle:",
    )
orders_view.render_blotter(scenario, rows, outcomes)

st.divider()
left, right = st.columns(2)
with left:
    st.subheader("Save rebalance", anchor=False)
    st.caption("Persists this scenario exactly as reviewed and stamps the model's last rebalance date.")
    orders_view.render_save(scenario, rows)
with right:
    st.subheader("Submit orders", anchor=False)
    st.caption("Optional: posts the orders to the Order Service after a confirmation. Independent of saving.")
    orders_view.render_submit(scenario, rows, outcomes)
