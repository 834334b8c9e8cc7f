"""What-if page, part 2: the session's scenarios (pick, rename, delete, compare side by side) and the results of one.

Large runs render as tables and top-N charts (never one expander per portfolio); a single portfolio's positions
and before/after weights with bands are shown on demand.
"""

from __future__ import annotations

import streamlit as st

from components import feedback, resources
from components.columns import names
from components.feedback import escape_md
from components.rebalance import relaxed as relaxed_view
from components.rebalance import store, workspace
from components.rebalance.charts import (
    cash_figure,
    drift_reduction_figure,
    scenario_compare_figure,
    tickets_drift_figure,
    weights_figure,
)
from components.rebalance.frames import (
    CONTROLS_OFF,
    FAILED_TABLE,
    PORTFOLIO_TABLE,
    POSITION_TABLE,
    compare_chart_frame,
    compare_with_base,
    controls_labels,
    portfolio_frame,
    positions_frame,
)
from components.rebalance.keys import COMPARE, COMPARE_BASE, COMPARE_SEEN, DELETE, PICK, PORTFOLIO_PICK, RETRY
from components.rebalance.run import retry_timed_out
from components.tables import (
    as_percent,
    column_config,
    fmt_money,
    fmt_money_short,
    fmt_pct,
)
from engine.orders import readable_diagnosis
from engine.scenarios import REBALANCED


def _label(s: store.Scenario) -> str:
    saved = " · saved" if s.saved_rebalance_id else ""
    return f"{s.name} · {s.model.name} · {s.params.scope_short()} · min cash {s.params.min_cash_short()}{saved}"


@feedback.callback("open the scenario")
def _pick_changed() -> None:
    store.set_current(st.session_state.get(PICK))


@feedback.callback("rename the scenario")
def _rename(scenario_id: str, key: str) -> None:
    try:
        done = workspace.rename(scenario_id, st.session_state.get(key, ""))
    except ValueError as err:
        st.session_state[f"{key}_error"] = str(err)
        return
    if done:
        st.toast("Scenario renamed", icon=":material/edit:")


@feedback.callback("delete the scenario")
def _delete(scenario_id: str) -> None:
    if workspace.delete(scenario_id):
        st.toast("Scenario deleted", icon=":material/delete:")


def render_manager() -> store.Scenario | None:
    """Pick the scenario to review; rename or delete it. Returns the current scenario (None without any)."""
    items = store.all_scenarios()
    current = store.current()
    if current is None:
        st.info(
            "No scenario yet: set the parameters above and run a what-if. Nothing is saved until you choose "
            "**Save rebalance** on the Orders page.",
            icon=":material/lightbulb:",
        )
        return None
    by_id = {s.id: s for s in items}
    st.session_state[PICK] = current.id  # the store is the truth (a new run becomes current)
    c1, c2, c3 = st.columns([5, 3, 1], vertical_alignment="bottom")
    c1.selectbox("Scenario", list(by_id), key=PICK, format_func=lambda i: _label(by_id[i]), on_change=_pick_changed)
    key = f"rebalance_rename_{current.id}"
    c2.text_input(
        "Name", value=current.name, key=key, max_chars=store.MAX_NAME, on_change=_rename, args=(current.id, key)
    )
    c3.button("Delete", key=DELETE, on_click=_delete, args=(current.id,), icon=":material/delete:", width="stretch")
    if err := st.session_state.pop(f"{key}_error", None):
        st.error(err, icon=":material/error:")
    return store.current()


def _join_new_scenarios(ids: list[str]) -> None:
    """A scenario run since the last render joins the comparison (the widget's selection is kept otherwise)."""
    seen = st.session_state.get(COMPARE_SEEN)
    new = [i for i in ids if seen is not None and i not in seen]
    if seen is None:
        st.session_state.setdefault(COMPARE, ids[-2:])
    elif new:
        kept = [i for i in st.session_state.get(COMPARE, []) if i in ids]
        st.session_state[COMPARE] = kept + [i for i in new if i not in kept]
    st.session_state[COMPARE_SEEN] = list(ids)


def render_compare() -> None:
    """Side-by-side comparison of two or more scenarios against a chosen base: parameters, counts, drift, turnover,
    cash, and a difference column per scenario (scenario − base)."""
    items = store.all_scenarios()
    if len(items) < 2:
        if items:
            st.caption("Run a second scenario (e.g. with another minimum cash) to compare them side by side.")
        return
    by_id = {s.id: s for s in items}
    _join_new_scenarios(list(by_id))
    st.session_state[COMPARE] = [i for i in st.session_state.get(COMPARE, []) if i in by_id]
    c1, c2 = st.columns([3, 1])
    chosen = c1.multiselect("Compare scenarios", list(by_id), key=COMPARE, format_func=lambda i: by_id[i].name)
    picked = [by_id[i] for i in chosen if i in by_id]
    if len(picked) < 2:
        st.caption("Pick at least two scenarios.")
        return
    names = [s.name for s in picked]
    if st.session_state.get(COMPARE_BASE) not in names:
        st.session_state[COMPARE_BASE] = names[0]
    base = c2.selectbox("Base scenario", names, key=COMPARE_BASE, help="Differences are scenario − base")
    summaries = {s.name: s.summary for s in picked}
    table = compare_with_base(summaries, {s.name: s.parameter_labels() for s in picked}, base).reset_index()
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=36 + 35 * len(table),
        column_config={
            "metric": st.column_config.TextColumn("", width="medium"),
            **{c: st.column_config.TextColumn(c, width="medium") for c in table.columns if c != "metric"},
        },
    )
    chart = compare_chart_frame(summaries)
    left, right = st.columns(2)
    left.plotly_chart(tickets_drift_figure(chart), key="rebalance_tickets_chart", width="stretch")
    right.plotly_chart(scenario_compare_figure(chart), key="rebalance_compare_chart", width="stretch")
    models = {(s.model.model_id, s.snapshot_time) for s in picked}
    if len(models) > 1:
        st.caption("Note: these scenarios use different models or market snapshots, so prices may differ.")


def _retry(scenario: store.Scenario) -> None:
    """ "Retry with a longer limit" for portfolios that hit the solver time limit (product-spec 3.2)."""
    timed_out = sum(r.error_code == "SOLVER_FAILED" for r in scenario.results)
    if not timed_out or scenario.saved_rebalance_id:
        return
    used = scenario.timings.get("retry_limit") or scenario.params.options.time_limit
    longer = min(600.0, used * 4)
    if not st.button(
        f"Retry {timed_out:,} timed-out portfolio(s) with a {longer:g} s limit",
        key=RETRY,
        icon=":material/replay:",
        help="Same frozen prices; the results replace the failed ones.",
    ):
        return
    with st.status(f"Retrying {timed_out:,} portfolio(s)…", expanded=True) as status:
        bar = st.progress(0.0, text="Solving…")
        retry_timed_out(
            scenario, longer, lambda f, t: bar.progress(f, text=t), resources.settings().rebalance_max_workers
        )
        status.update(label="Retry finished", state="complete", expanded=False)
    workspace.update(scenario, retryLimit=longer)  # a reload re-solves the same portfolios with the same limit
    st.rerun()


def _not_rebalanced(scenario: store.Scenario) -> None:
    relaxed_view.render(scenario, "on the Orders page")
    bad = [m for m in scenario.metrics if m.status not in REBALANCED]
    if not bad:
        return
    infeasible = sum(m.status == "infeasible" for m in bad)
    st.warning(
        f"**{len(bad):,} portfolio(s) not rebalanced** — {infeasible:,} infeasible, "
        f"{len(bad) - infeasible:,} failed. They keep their holdings and get no orders.",
        icon=":material/report:",
    )
    _retry(scenario)
    frame = portfolio_frame(bad, scenario.tickers)[["portfolio", "status", "diagnosis", "portfolio_id"]]
    if len(frame) <= 10:  # few: full diagnoses as text (a table cell would cut them off)
        st.markdown(
            "\n".join(
                f"- **{escape_md(r.portfolio)}** ({r.status}): {escape_md(r.diagnosis)}" for r in frame.itertuples()
            )
        )
        return
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=min(36 + 35 * len(frame), 320),
        column_config=column_config(FAILED_TABLE),
    )


def _controls_caption(scenario: store.Scenario) -> str:
    """The trade controls the run used, in the comparison's words (only those that are on)."""
    labels = controls_labels(scenario.params.options, scenario.tickers)
    on = [f"{k}: {v}" for k, v in labels.items() if CONTROLS_OFF.get(k) != v]
    return "trade controls: " + "; ".join(on) if on else "no trade controls"


def render_summary(scenario: store.Scenario) -> None:
    s = scenario.summary
    t = scenario.timings
    snap = scenario.snapshot_time
    st.caption(
        f"{escape_md(scenario.model.name)} v{scenario.model.version} · {scenario.params.scope_label()} · minimum cash "
        f"{escape_md(scenario.params.min_cash_label())} · {escape_md(_controls_caption(scenario))} · time limit "
        f"{scenario.params.options.time_limit:g} s · "
        f"{'overridden targets/bands' if scenario.params.overridden else 'model targets/bands'} · snapshot "
        f"{f'{snap:%Y-%m-%d %H:%M:%S} UTC' if snap else '—'}"
        f"{' (reused, frozen)' if t.get('reused_snapshot') else ''} · ran in "
        f"{t.get('snapshot', 0) + t.get('solve', 0):.1f} s"
        + (f" · timed-out portfolios retried with a {t['retry_limit']:g} s limit" if t.get("retry_limit") else "")
    )
    m = st.columns(4)
    m[0].metric(
        "Rebalanced",
        f"{s.optimal + s.relaxed:,}",
        help=f"of {s.portfolios:,} portfolios in scope; {s.relaxed:,} of them nearest feasible (bands breached)",
    )
    m[1].metric("Not rebalanced", f"{s.infeasible + s.failed:,}", help="Infeasible (with diagnosis) or failed")
    m[2].metric("Orders", f"{s.orders:,}")
    m[3].metric(
        "Still out of band",
        f"{s.still_out_of_band:,}",
        delta=f"from {s.out_of_band_before:,}",
        delta_color="off",
        delta_arrow="off",
        help="Portfolios with at least one security outside its band",
    )
    m = st.columns(4)
    m[0].metric("Market value", fmt_money_short(s.market_value), help=f"{fmt_money(s.market_value)} in total")
    m[1].metric(
        "Turnover",
        fmt_money_short(s.turnover),
        help=f"{fmt_money(s.turnover)} traded, {fmt_pct(s.turnover_weight, 2)} of market value",
    )
    m[2].metric(
        "Cash after",
        fmt_money_short(s.cash_after),
        delta=f"from {fmt_money_short(s.cash_before)}",
        delta_color="off",
        delta_arrow="off",
        help=f"{fmt_money(s.cash_after)} after the trades, {fmt_money(s.cash_before)} before (all portfolios)",
    )
    m[3].metric(
        "Drift after",
        fmt_pct(s.drift_after_weight, 2),
        delta=None if s.drift_before_weight is None else f"from {fmt_pct(s.drift_before_weight, 2)}",
        delta_color="off",
        delta_arrow="off",
        help="Total drift Σ|MV·t − u·p| over total market value (Σ|weight − target|), after vs before the trades",
    )


PORTFOLIO_CONFIG = column_config(PORTFOLIO_TABLE)
PORTFOLIO_ORDER = names(PORTFOLIO_TABLE)
PORTFOLIO_PCT = ["cash_change_pct", "drift_before", "drift_after"]
POSITION_CONFIG = column_config(POSITION_TABLE)
POSITION_ORDER = names(POSITION_TABLE)


def _badge(drift_pp: float) -> str:
    """The portal's badges on |actual − target| in pp: LOW ≤ 0.5, MEDIUM ≤ 2, HIGH > 2; ⚠ above 1 pp."""
    a = abs(drift_pp)
    level = "LOW" if a <= 0.5 else "MEDIUM" if a <= 2 else "HIGH"
    return f"{level}{' ⚠' if a > 1 else ''}"


def render_portfolio_detail(scenario: store.Scenario) -> None:
    by_id = {r.portfolio_id: r for r in scenario.results}
    names = portfolio_frame(scenario.metrics).set_index("portfolio_id")["portfolio"].to_dict()
    pid = st.selectbox("Portfolio", list(by_id), key=PORTFOLIO_PICK, format_func=lambda p: names.get(p, p))
    if pid is None:
        return
    res = by_id[pid]
    if res.status == "relaxed":
        breached = ", ".join(
            f"{scenario.tickers.get(b.security_id, b.security_id)} {b.side} by {fmt_money(b.amount)}"
            for b in res.band_breaches
        )
        st.warning(
            f"Nearest feasible answer: bands breached — {escape_md(breached) or 'none listed'}",
            icon=":material/warning:",
        )
    if res.status not in REBALANCED:
        why = readable_diagnosis(res.diagnosis, scenario.tickers) if res.diagnosis else "no reason given"
        st.warning(
            f"**{escape_md(names.get(pid, pid))}** was not rebalanced ({res.status}): {escape_md(why)}",
            icon=":material/report:",
        )
        return
    change = (res.cash_after or 0) - (res.cash_before or 0)
    frame = positions_frame(res, scenario.tickers)
    frame["badge"] = frame["drift_pp"].map(_badge)
    m = st.columns(5)
    m[0].metric("Market value", fmt_money(res.market_value))
    m[1].metric("Cash before", fmt_money(res.cash_before))
    m[2].metric(
        "Cash after",
        fmt_money(res.cash_after),
        delta=f"{fmt_money(change)} ({fmt_pct(change / res.market_value if res.market_value else None, 2)})",
        delta_color="off",
    )
    m[3].metric("Positions", f"{len(frame):,}", help="Holdings ∪ model securities")
    m[4].metric(
        "High drift",
        f"{int((frame['badge'].str.startswith('HIGH')).sum())}",
        help="Positions whose |actual − target| after the trades exceeds 2 pp",
    )
    st.plotly_chart(weights_figure(frame), key="rebalance_weights_chart", width="stretch")
    st.dataframe(
        as_percent(frame, "target", "weight_before", "weight_after", "actual_drift", "relative_after"),
        hide_index=True,
        width="stretch",
        column_order=POSITION_ORDER,
        column_config=POSITION_CONFIG,
    )
    st.caption(
        "Drift badges use |weight after − target| in percentage points: LOW ≤ 0.5, MEDIUM ≤ 2, HIGH > 2; "
        "⚠ marks more than 1 pp. Every drift on screen is weight − target (positive = overweight), before or after."
    )


def render_results(scenario: store.Scenario) -> None:
    """Summary metrics, the portfolios not rebalanced, then tabs: portfolios, charts, one portfolio's detail."""
    render_summary(scenario)
    _not_rebalanced(scenario)
    frame = portfolio_frame(scenario.metrics, scenario.tickers)
    t1, t2, t3 = st.tabs(["Portfolios", "Charts", "Portfolio detail"])
    with t1:
        st.dataframe(
            as_percent(frame, *PORTFOLIO_PCT),
            hide_index=True,
            width="stretch",
            column_config=PORTFOLIO_CONFIG,
            column_order=PORTFOLIO_ORDER,
            height=min(36 + 35 * len(frame), 460),
        )
    with t2:
        st.plotly_chart(drift_reduction_figure(frame), key="rebalance_drift_chart", width="stretch")
        st.plotly_chart(cash_figure(frame), key="rebalance_cash_chart", width="stretch")
    with t3:
        render_portfolio_detail(scenario)


__all__ = ["render_compare", "render_manager", "render_results"]
