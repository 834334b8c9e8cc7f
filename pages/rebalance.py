"""What-if rebalance: pick a model and portfolios, set parameters, run; keep, compare and review scenarios.

Scenarios live in a workspace (its id in the URL, ``?ws=``) that survives a reload; no rebalance record is written
until saved from the Orders page (product-spec 3.16).
"""

import datetime as dt
from zoneinfo import ZoneInfo

import streamlit as st

from components import auth, feedback, navigation, resources, state
from components.rebalance import controls as rebalance_controls
from components.rebalance import hints as rebalance_hints
from components.rebalance import keys as rebalance_keys
from components.rebalance import reproduce as rebalance_reproduce
from components.rebalance import results as rebalance_results
from components.rebalance import view as rebalance_view
from components.rebalance import workspace
from components.rebalance.run import RunRequest
from components.rebalance.store import ScenarioParams, next_name

navigation.ensure_app_shell()  # a first-request deep link ran this script alone: rerun through app.py

st.title("What-if rebalance")
st.caption(
    "Try rebalances without committing anything: each run becomes a scenario of this workspace. "
    "Compare them, review the orders, and only then save or submit."
)
with feedback.guard("open the what-if workspace"):
    workspace.open_in_page()
    workspace.render_bar()
rebalance_view.show_cancelled()

with feedback.guard("load the investment models"):
    models = [m for m in resources.model_repo().list_models() if m.model_id]
if not models:
    st.info("No investment models yet — create one on the Models page first.", icon=":material/info:")
    st.page_link("pages/models.py", label="Go to Investment models", icon=":material/table:")
    st.stop()
names = resources.portfolio_names()
rebalance_reproduce.apply(models)  # History's "Load these settings into What-if", before the panel's widgets

with st.container(border=True):
    left, right = st.columns([3, 2])
    with left:
        rebalance_view.apply_prefill()
        model = rebalance_view.pick_model(models, state.selected_model_id())
        state.select_model(model.model_id)
        portfolio_ids, all_of_model = rebalance_view.pick_scope(model, names)
    with right:
        scenario_name = st.text_input(
            "Scenario name", value=next_name(), key=f"rebalance_name_{next_name()}", max_chars=60
        )
    rebalance_reproduce.render_note(model)
    settings = resources.settings()
    options = rebalance_view.render_parameters(
        settings.optimization_timeout, dt.datetime.now(ZoneInfo(settings.business_tz)).date()
    ).with_controls(rebalance_controls.render_controls(model))
    run_model = rebalance_view.render_overrides(model, rebalance_reproduce.overrides_for(model))
    note = st.empty()  # filled after a run, so it shows the snapshot that run froze
    blocked = auth.why_not(auth.Action.RUN_WHAT_IF)
    if blocked is None and not portfolio_ids:
        blocked = "The model has no portfolios." if all_of_model else "Pick at least one portfolio."
    elif blocked is None and run_model is None:
        blocked = "Fix the overrides first."
    run = st.button(
        "Run what-if",
        key=rebalance_keys.RUN,
        type="primary",
        icon=":material/play_arrow:",
        disabled=blocked is not None,
        help=blocked,
    )
    if blocked:
        st.caption(blocked)

if run and run_model is not None:
    rebalance_reproduce.ran()
    params = ScenarioParams(
        model_id=model.model_id,
        portfolio_ids=portfolio_ids,
        all_portfolios=all_of_model,
        options=options,
        overridden=rebalance_view.overridden(model, run_model),
    )
    request = RunRequest(scenario_name or next_name(), model, run_model, params, names)
    with feedback.guard("connect to the GlobeCo services"):
        services = resources.services()
    rebalance_view.execute(request, services, settings.rebalance_max_workers)
with note.container():
    rebalance_view.snapshot_note(model, portfolio_ids)
rebalance_view.show_last_run()

st.subheader("Scenarios", anchor=False)
scenario = rebalance_results.render_manager()
rebalance_results.render_compare()
if scenario is not None:
    st.divider()
    st.subheader(f"Results · {feedback.escape_md(scenario.name)}", anchor=False)
    rebalance_hints.render(scenario)
    rebalance_results.render_results(scenario)
    st.page_link(
        "pages/orders.py",
        label="Review the proposed orders, export CSV, save or submit",
        icon=":material/receipt_long:",
    )
