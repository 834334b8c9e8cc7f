"""Orders page pieces: the proposed-orders blotter and block view, CSV downloads, Save rebalance, Submit orders.

"Save rebalance" persists exactly the reviewed scenario (its optimal results, computed at run time) with the model
version the run used; a model edited since then makes the save fail with VersionConflict, and the user re-runs.
"Submit orders" posts to the Order Service only after a confirmation dialog, in batches of at most 1000, and never
re-sends an order that succeeded. Both dialogs open from session-state flags (streamlit-guide 2.6).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import streamlit as st

from components import audit, auth, feedback, memory, resources, state
from components.columns import names
from components.feedback import escape_md
from components.history import records as history_records
from components.orders import downloads
from components.orders import submit as submission
from components.orders.frames import (
    BLOCK_TABLE,
    BLOTTER_TABLE,
    NOT_REBALANCED_TABLE,
    NOT_TRADED_TABLE,
    SORTS,
    aggregate_frame,
    blotter_frame_columns,
    filter_blotter,
    not_rebalanced_frame,
    not_traded_frame,
    rows_shown,
    submission_plan,
)
from components.orders.keys import (
    CONFIRM_PRIOR,
    LIMIT_PRICE,
    NET_BLOCKS,
    PENDING_SAVE,
    PENDING_SUBMIT,
    PICK,
    PORTFOLIO_FILTER,
    SAVE_ERROR,
    SIDES,
    SORT,
    SUBMIT_REPORT,
    TICKER_FILTER,
    WITH_REASONS,
)
from components.rebalance import store, workspace
from components.rebalance.frames import CONTROLS_OFF
from components.tables import as_percent, column_config, fmt_money, fmt_money_short, fmt_qty
from data.repositories import save_run
from engine.errors import EngineError, VersionConflict
from engine.models import RunInfo
from engine.orders import (
    OrderColumns,
    OrderRow,
    aggregate_orders,
    aggregated_to_csv,
    columns_to_csv,
    not_traded_rows,
    order_columns,
    orders_to_csv,
    side_totals,
)
from engine.rebalance import today_utc
from engine.record import build_record

log = logging.getLogger(__name__)


BLOTTER_CONFIG = column_config(BLOTTER_TABLE)
BLOTTER_ORDER = names(BLOTTER_TABLE)
BLOTTER_PLAIN_ORDER = [c for c in BLOTTER_ORDER if c != "nearest_feasible"]
BLOCK_CONFIG = column_config(BLOCK_TABLE)
NOT_TRADED_CONFIG = column_config(NOT_TRADED_TABLE)
NOT_TRADED_ORDER = names(NOT_TRADED_TABLE)
# Rows a display-only table sends to the browser: 30,000 orders are ~7 MB of Arrow on every rerun of the page (a
# save reruns it twice); the filters, the sort and the CSV downloads still cover every order.
MAX_ROWS_SHOWN = 1_000


def columns_of(scenario: store.Scenario) -> OrderColumns:
    """The scenario's proposed orders as columns (cached on the scenario with its results; a retry's new results
    clear it): built from the order columns the engine kept with the results (``engine.orders.order_columns``).
    They carry no rebalance id: the CSVs add the saved run's id when they are built, so saving the run (or
    deleting it) rebuilds nothing."""
    prices = scenario.snapshot.prices
    return _cached(scenario, ("columns",), lambda: order_columns(scenario.results, scenario.tickers, prices))


def rows_of(scenario: store.Scenario) -> list[OrderRow]:
    """The scenario's proposed orders as rows (cached on the scenario), from :func:`columns_of`."""
    return _cached(scenario, ("rows",), lambda: columns_of(scenario).rows())


def _cached(scenario: store.Scenario, key: tuple, build):
    """A derived view of the scenario, rebuilt only when ``key`` changes (reruns of a 30k-order blotter stay fast)."""
    if key not in scenario.cache:
        for old in [k for k in scenario.cache if k[0] == key[0]]:
            del scenario.cache[old]
        scenario.cache[key] = build()
    return scenario.cache[key]


def blotter_caption(listed: int, matching: int, total: int) -> str:
    """What the blotter lists: all matching orders, or the first of them when more match than it lists."""
    if listed < matching:
        which = f"{matching:,} orders" if matching == total else f"{matching:,} matching orders ({total:,} in all)"
        return (
            f"First {listed:,} of the {which} listed, in the order chosen above: filter to see others; "
            "the CSVs hold every order."
        )
    return f"{matching:,} of {total:,} orders shown · click a column header to sort."


def pick_scenario() -> store.Scenario | None:
    items = store.all_scenarios()
    current = store.current()
    if current is None:
        return None
    by_id = {s.id: s for s in items}
    st.session_state[PICK] = current.id
    st.selectbox(
        "Scenario",
        list(by_id),
        key=PICK,
        on_change=lambda: store.set_current(st.session_state.get(PICK)),
        format_func=lambda i: (
            f"{by_id[i].name} · {by_id[i].model.name} · {by_id[i].params.scope_short()}"
            + (" · saved" if by_id[i].saved_rebalance_id else "")
        ),
    )
    return store.current()


def file_stem(scenario: store.Scenario) -> str:
    """``<model>_<scenario>_<YYYYMMDD-HHMM>``, safe for any file system."""
    raw = f"{scenario.model.name}_{scenario.name}_{scenario.created_at:%Y%m%d-%H%M}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("_")[:120]


def render_totals(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    totals = _cached(scenario, ("totals",), lambda: side_totals(rows))
    buy, sell = totals["BUY"], totals["SELL"]
    net = sell.estimated_value - buy.estimated_value
    m = st.columns(3)
    m[0].metric("Orders", f"{buy.orders + sell.orders:,}")
    m[1].metric("BUY orders", f"{buy.orders:,}", help=f"{fmt_qty(buy.quantity)} shares")
    m[2].metric("SELL orders", f"{sell.orders:,}", help=f"{fmt_qty(sell.quantity)} shares")
    m = st.columns(3)
    m[0].metric("BUY value", fmt_money_short(buy.estimated_value), help=fmt_money(buy.estimated_value))
    m[1].metric("SELL value", fmt_money_short(sell.estimated_value), help=fmt_money(sell.estimated_value))
    m[2].metric("Net cash", fmt_money_short(net), help=f"{fmt_money(net)}: SELL value − BUY value (estimated)")


def outcomes_of(scenario: store.Scenario, rows: list[OrderRow]) -> dict[str, store.SubmissionOutcome]:
    """What the submission log knows of the scenario's orders: looked up again whenever the log's change stamp moved
    (another tab or user may have sent some), else kept on the scenario (every rerun, the Save click's included,
    read the whole log of the run before)."""
    log = resources.submission_log()
    keys = submission.run_keys(scenario, workspace.current_id())
    stamp = log.stamp()  # read before the look-up it guards
    key = ("outcomes", stamp, *keys)
    if key in scenario.cache:
        return scenario.cache[key]
    found = submission.logged_outcomes(log, keys, rows)
    # An order being sent turns "unknown" when its sender's lease runs out, which moves no stamp: looked up each run.
    if not any(o.outcome == "sending" for o in found.values()):
        _cached(scenario, key, lambda: found)
    return found


def check_saved(scenario: store.Scenario) -> None:
    """A saved run deleted since (History, another tab) is no longer the scenario's: its id leaves the CSVs."""
    if scenario.saved_rebalance_id and not resources.rebalance_repo().exists(scenario.saved_rebalance_id):
        workspace.mark_saved(scenario, None)
        st.info("The saved rebalance of this scenario was deleted: it can be saved again.", icon=":material/info:")


def render_blotter(
    scenario: store.Scenario, rows: list[OrderRow], outcomes: dict[str, store.SubmissionOutcome] | None = None
) -> None:
    """Per-portfolio orders (filterable, sortable) and the block view, each with its CSV download."""
    stem = file_stem(scenario)
    t1, t2, t3 = st.tabs(["Per portfolio", "Block orders (per security and side)", "Not traded"])
    with t1:
        c1, c2, c3, c4 = st.columns([2, 3, 2, 3])
        sides = c1.multiselect("Side", ["BUY", "SELL"], default=["BUY", "SELL"], key=SIDES)
        text = c2.text_input("Portfolio contains", key=PORTFOLIO_FILTER, placeholder="Name or id")
        ticker = c3.text_input("Ticker contains", key=TICKER_FILTER)
        sort = c4.selectbox("Sort by", list(SORTS), key=SORT)
        subs = outcomes or {}
        states = tuple(sorted((k, o.outcome) for k, o in subs.items()))
        frame = _cached(
            scenario,
            ("blotter", hash(states)),
            lambda: blotter_frame_columns(columns_of(scenario), subs),
        )
        # Filtered, sorted and capped once per (outcomes, filters): a rerun (a save, a dialog) rebuilds nothing.
        view_key = (hash(states), tuple(sides), text, ticker, sort)
        shown = _cached(scenario, ("shown", *view_key), lambda: filter_blotter(frame, sides, text, ticker, sort))
        table = _cached(
            scenario,
            ("table", *view_key),
            lambda: as_percent(shown.head(MAX_ROWS_SHOWN), "weight_before", "target", "weight_after"),
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config=BLOTTER_CONFIG,
            # the "Nearest feasible" flag only when some order is one (relaxed answers are rare)
            column_order=BLOTTER_ORDER if frame["nearest_feasible"].any() else BLOTTER_PLAIN_ORDER,
            height=min(36 + 35 * max(len(table), 1), 520),
        )
        st.caption(blotter_caption(len(table), len(shown), len(rows)))
        reasons = st.checkbox(
            "Add a reason column to the orders CSV",
            key=WITH_REASONS,
            help="Why each order exists; other columns unchanged.",
        )
        left, right = st.columns(2)
        saved = scenario.saved_rebalance_id
        # Built on click (30,000 orders take about a second), with the saved run's id once saved.
        downloads.orders_button(
            lambda: columns_to_csv(columns_of(scenario), saved, with_reasons=reasons),
            stem,
            "dl_orders",
            left,
            label=f"Download all {len(rows):,} orders (CSV)",
        )
        if len(shown) != len(rows):
            downloads.orders_button(
                lambda: orders_to_csv(rows_shown(rows, shown), saved, with_reasons=reasons),
                f"{stem}_filtered",
                "dl_orders_shown",
                right,
                label=f"Download the {len(shown):,} filtered orders (CSV)",
            )
        st.caption(downloads.columns_caption())
    with t2:
        net = st.toggle(
            "Net BUY and SELL of a security across portfolios",
            key=NET_BLOCKS,
            help="One block per security (BUY − SELL). The per-portfolio orders and their CSV keep both legs.",
        )
        blocks = _cached(scenario, ("blocks", net), lambda: aggregate_orders(rows, net))
        st.dataframe(
            aggregate_frame(blocks),
            hide_index=True,
            width="stretch",
            column_config=BLOCK_CONFIG,
            height=min(36 + 35 * max(len(blocks), 1), 520),
        )
        downloads.blocks_button(
            lambda: aggregated_to_csv(blocks, saved),
            f"{stem}_net" if net else stem,
            "dl_blocks",
        )
        st.caption(downloads.blocks_caption(net))
    with t3:
        render_not_traded(scenario)


@feedback.callback("open the model")
def _fix_model(model_id: str) -> None:
    state.select_model(model_id)


def render_not_rebalanced(scenario: store.Scenario) -> None:
    """The portfolios this run left without orders, and why (tickers, percent), with a way to fix the model."""
    frame = _cached(scenario, ("not_rebalanced",), lambda: not_rebalanced_frame(scenario.results, scenario.tickers))
    if frame.empty:
        return
    with st.expander(f"{len(frame):,} portfolio(s) not rebalanced — why", expanded=True, icon=":material/warning:"):
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config=column_config(NOT_REBALANCED_TABLE),
            height=min(36 + 35 * len(frame), 320),
        )
        if st.button(
            f"Fix the model '{scenario.model.name}'",
            key="orders_fix_model",
            icon=":material/edit:",
            on_click=_fix_model,
            args=(scenario.model.model_id,),
        ):
            st.switch_page("pages/models.py")


def render_not_traded(scenario: store.Scenario) -> None:
    """Positions off target that did not trade, and the trade control that kept each (product-spec 2.12)."""
    frame = _cached(
        scenario, ("not_traded",), lambda: not_traded_frame(not_traded_rows(scenario.results, scenario.tickers))
    )
    if frame.empty:
        st.info("No trade control kept an off-target position from trading in this scenario.", icon=":material/info:")
        return
    counts = frame["control"].value_counts()
    st.caption(
        f"{len(frame):,} position(s) off target did not trade: "
        + ", ".join(f"{n:,} {label}" for label, n in counts.items())
        + "."
    )
    table = _cached(
        scenario,
        ("not_traded_table",),
        lambda: as_percent(frame.head(MAX_ROWS_SHOWN), "weight", "target", "band_low", "band_high"),
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config=NOT_TRADED_CONFIG,
        column_order=NOT_TRADED_ORDER,
        height=min(36 + 35 * len(table), 520),
    )
    if len(table) < len(frame):
        st.caption(f"First {len(table):,} of {len(frame):,} listed.")


# --- save -----------------------------------------------------------------------------------------------------------
def save_scenario(scenario: store.Scenario) -> str:
    """Persist the scenario's optimal results as one rebalance record and stamp the model; returns its id.

    Raises ``VersionConflict`` when the model changed since the run (the record is then not written), ``Forbidden``
    when the user may not save runs (checked here, so a forged click cannot bypass the disabled button).
    """
    user = auth.require(auth.Action.SAVE_RUN).user_id
    fields = {"run_id": scenario.id, "model_id": scenario.model.model_id, "portfolios": len(scenario.optimal_results)}
    with audit.timed("run_saved", user, **fields) as logged:
        record = build_record(
            scenario.run_model,
            scenario.optimal_results,
            scenario.created_at,
            run=run_info(scenario),
            options=scenario.params.options,
        )
        saved = save_run(resources.model_repo(), resources.rebalance_repo(), record, scenario.model.version, user)
        logged.update(rebalance_id=saved.rebalance_id, orders=scenario.summary.orders)
    history_records.remember(saved)  # Saved rebalances opens it without reading it back
    return saved.rebalance_id


RUN_ONLY = ("Snapshot", "Saved")  # parameter labels that describe the session, not the run


def run_info(scenario: store.Scenario) -> RunInfo:
    """What the saved record says the run was: scenario name, model version used, overrides, parameters (trade
    controls only when on)."""
    return RunInfo(
        scenario_name=scenario.name,
        model_version=scenario.model.version,
        overrides=scenario.params.overridden,
        parameters=tuple(
            (k, v) for k, v in scenario.parameter_labels().items() if k not in RUN_ONLY and CONTROLS_OFF.get(k) != v
        ),
    )


def trade_date_of(scenario: store.Scenario, rows: list[OrderRow]) -> dt.date:
    return scenario.params.options.trade_date or (rows[0].trade_date if rows else today_utc())


def prior_confirmed(scenario: store.Scenario, rows: list[OrderRow], what: str) -> bool:
    """Warn when these portfolios were already saved or traded today elsewhere; True once the user confirms."""
    keys = submission.run_keys(scenario, workspace.current_id())
    prior = submission.prior_activity(
        resources.rebalance_repo(), resources.submission_log(), scenario, keys, trade_date_of(scenario, rows)
    )
    if not prior.any:
        return True
    st.warning(f"Careful: {prior.describe()}", icon=":material/warning:")
    count = prior.saved_runs + prior.submitted_portfolios
    return st.checkbox(
        f"I checked these {count:,} earlier record(s) and want to {what} anyway", key=f"{CONFIRM_PRIOR}_{what}"
    )


def _open(flag: str) -> None:
    st.session_state[flag] = True
    st.session_state.pop(SAVE_ERROR, None)


def _close(flag: str) -> None:
    st.session_state[flag] = False


@st.dialog("Save rebalance", on_dismiss=lambda: _close(PENDING_SAVE))
def confirm_save(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    s = scenario.summary
    st.markdown(
        f"Persist **{escape_md(scenario.name)}** as a rebalance record: **{s.optimal:,}** rebalanced portfolio(s) with "
        f"**{s.orders:,}** orders, exactly as reviewed (prices of the run, nothing is re-solved). "
        f"Portfolios not rebalanced ({s.infeasible + s.failed:,}) are left out."
    )
    st.caption(
        f"The model “{escape_md(scenario.model.name)}” gets its last rebalance date stamped. "
        f"The save is refused if the model changed since the run (the run used version {scenario.model.version})."
    )
    if scenario.params.overridden:
        st.warning(
            f"This run used **run-only overrides** of targets and bands: the stored model “{scenario.model.name}” "
            f"v{scenario.model.version} did not produce these orders. The record keeps the overridden targets and "
            "is marked “run-only overrides” in Saved rebalances.",
            icon=":material/tune:",
        )
    confirmed = prior_confirmed(scenario, rows, "save")
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="orders_cancel_save", width="stretch"):
        _close(PENDING_SAVE)
        st.rerun()
    clicked = c1.button(
        "Save rebalance", key="orders_confirm_save", type="primary", width="stretch", disabled=not confirmed
    )
    # The check above ran again on this click: a run saved or orders sent meanwhile (another tab or user) show their
    # warning now, and a click on the button as it was before does not save past it.
    if clicked and confirmed:
        try:
            with st.spinner(f"Saving {s.optimal:,} portfolio{'s' if s.optimal != 1 else ''}…", show_time=True):
                rebalance_id = save_scenario(scenario)
        except VersionConflict:
            st.session_state[SAVE_ERROR] = feedback.Message(
                "error",
                f"Save refused: the model “{scenario.model.name}” changed since the run.",
                [
                    f"The run used version {scenario.model.version}; someone saved a newer version since.",
                    "Nothing was saved. Re-run the what-if on the current model, review it, then save.",
                ],
            )
        except Exception as err:  # typed errors get their message; nothing half-saved is reported as success
            st.session_state[SAVE_ERROR] = feedback.describe(err, f"save “{scenario.name}”")
            if not isinstance(err, EngineError):
                log.exception("saving a rebalance failed", exc_info=err)
        else:
            workspace.mark_saved(scenario, rebalance_id)
            link_submitted(scenario, rows)
            memory.settle()  # the scenario and the kept record: no full collection walks them on the next clicks
            feedback.success(f"Rebalance saved ({rebalance_id})")
        _close(PENDING_SAVE)
        st.rerun()


def link_submitted(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    """Orders sent before the save count for the saved run (History); the save stands if this fails."""
    try:
        submission.link_saved(resources.submission_log(), scenario, workspace.current_id(), rows)
    except EngineError as err:
        log.warning("linking the orders sent before saving %s failed: %s", scenario.saved_rebalance_id, err)


def render_save(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    msg = st.session_state.get(SAVE_ERROR)
    if msg is not None:
        feedback.render(msg)
    if scenario.saved_rebalance_id:
        st.success(
            f"Saved as rebalance **{scenario.saved_rebalance_id}** "
            f"({scenario.saved_at:%Y-%m-%d %H:%M} UTC). The CSV downloads now carry this rebalanceId; "
            "see it on the Saved rebalances page.",
            icon=":material/task_alt:",
        )
        return
    nothing = not scenario.optimal_results
    denied = auth.why_not(auth.Action.SAVE_RUN)
    st.button(
        "Save rebalance…",
        key="orders_save",
        type="primary",
        icon=":material/save:",
        disabled=nothing or denied is not None,
        on_click=_open,
        args=(PENDING_SAVE,),
        help=denied or ("Nothing to save: no portfolio was rebalanced." if nothing else None),
    )
    if st.session_state.get(PENDING_SAVE):
        confirm_save(scenario, rows)


# --- submit ---------------------------------------------------------------------------------------------------------
def _report_text(report: submission.SubmissionReport) -> tuple[str, str]:
    ok, unknown, not_sent = report.count("success"), report.count("unknown"), report.count_not_sent()
    refused = report.count("failed") - not_sent  # failed = the Order Service refused it; not sent = never posted
    text = (
        f"Submitted {len(report.outcomes):,} order(s): {ok:,} created, {refused:,} failed, {not_sent:,} not sent, "
        f"{unknown:,} unknown."
    )
    if refused:
        text += " Failed: the Order Service refused them (see the message of each)."
    if not_sent:
        text += " Not sent: never posted to the Order Service; they can be sent again."
    if report.skipped:
        text += f" {len(report.skipped):,} left alone: already sent or being sent from another tab or session."
    if unknown:
        text += " Sending stopped: press “Reconcile” before anything is sent again."
    return ("success" if ok == len(report.outcomes) and not report.skipped else "warning"), text


@st.dialog("Submit orders to the Order Service", on_dismiss=lambda: _close(PENDING_SUBMIT))
def confirm_submit(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    outcomes = outcomes_of(scenario, rows)
    plan = submission_plan(rows, outcomes)
    value = sum((r.estimated_value or 0 for r in plan.to_send), 0)
    st.markdown(
        f"Send **{len(plan.to_send):,}** order(s) (estimated value {fmt_money(value)}) as NEW orders on the "
        "Default blotter, in batches of at most 1,000. Each order succeeds or fails on its own."
    )
    if plan.already_submitted:
        st.caption(f"{plan.already_submitted:,} order(s) already created are never sent again.")
    if plan.unknown_held_back:
        st.caption(f"{plan.unknown_held_back:,} order(s) with an unknown outcome are held back until reconciled.")
    use_limit = st.checkbox(
        "Use the rebalance price as limit price", key=LIMIT_PRICE, help="Off: market orders (no limit price)."
    )
    confirmed = prior_confirmed(scenario, rows, "submit")
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="orders_cancel_submit", width="stretch"):
        _close(PENDING_SUBMIT)
        st.rerun()
    sent = c1.button(
        f"Submit {len(plan.to_send):,} orders",
        key="orders_confirm_submit",
        type="primary",
        width="stretch",
        disabled=not plan.to_send or not confirmed,
    )
    if sent and confirmed:  # a warning that appeared with this click is not sent past
        key = submission.run_keys(scenario, workspace.current_id())[0]
        try:
            user = auth.require(auth.Action.SUBMIT_ORDERS).user_id  # the server-side check, whatever the browser sent
            with (
                audit.timed("orders_submitted", user, run_id=scenario.id, orders=len(plan.to_send)) as logged,
                st.spinner(f"Sending {len(plan.to_send):,} orders…", show_time=True),
            ):
                report = submission.submit(resources.services().order, resources.submission_log(), plan.to_send,
                                           key, user=user, use_limit_price=bool(use_limit))  # fmt: skip
                logged.update(succeeded=report.count("success"), unknown=report.count("unknown"))
        except Exception as err:  # not allowed, or the log or the client could not even start: nothing was sent
            st.session_state[SUBMIT_REPORT] = (
                scenario.id,
                "error",
                feedback.describe(err, "submit the orders").markdown(),
            )
        else:
            st.session_state[SUBMIT_REPORT] = (scenario.id, *_report_text(report))
        _close(PENDING_SUBMIT)
        st.rerun()


def _reconcile(scenario: store.Scenario) -> None:
    keys = submission.run_keys(scenario, workspace.current_id())
    try:
        report = submission.reconcile_all(resources.services().order, resources.submission_log(), keys)
    except Exception as err:  # the order list could not be read: nothing was settled, the orders stay unknown
        st.session_state[SUBMIT_REPORT] = (scenario.id, "error", feedback.describe(err, "reconcile").markdown())
        return
    text = (f"Reconciled with the Order Service's list ({report.scanned:,} orders read): {len(report.found):,} "
            f"found (created), {len(report.not_found):,} not found (can be sent again).")  # fmt: skip
    if report.still_open:
        text += f" {len(report.still_open):,} still being sent by another tab or session: try again in a minute."
    st.session_state[SUBMIT_REPORT] = (scenario.id, "info", text)


def render_submit(scenario: store.Scenario, rows: list[OrderRow], outcomes: dict[str, store.SubmissionOutcome]) -> None:
    """Submit (only what has no success), the log's outcomes, and "Reconcile" for the unknown ones."""
    report = st.session_state.get(SUBMIT_REPORT)
    if report and report[0] == scenario.id:  # the banner belongs to the scenario that was submitted
        _, level, text = report
        getattr(st, level)(text, icon=":material/send:")
    plan = submission_plan(rows, outcomes)
    unknown = sum(o.outcome == "unknown" for o in outcomes.values())
    sending = sum(o.outcome == "sending" for o in outcomes.values())
    if outcomes:
        st.caption(
            f"{plan.already_submitted:,} of {len(rows):,} orders created at the Order Service; "
            f"{len(plan.to_send):,} still to send; {unknown:,} with unknown outcome"
            + (f"; {sending:,} being sent now" if sending else "")
            + "."
        )
        failed = [(k, o) for k, o in outcomes.items() if not o.succeeded]
        if failed:
            st.dataframe(
                [
                    {
                        "order": k.replace(":", " · "),
                        "outcome": "not sent" if submission.never_sent(o.outcome, o.message) else o.outcome,
                        "message": o.message,
                    }
                    for k, o in failed
                ],
                hide_index=True,
                width="stretch",
            )
    if unknown:
        st.warning(
            f"{unknown:,} order(s) have an unknown outcome (the answer was lost, or the sender stopped): they may "
            "exist. Reconcile with the Order Service's list before sending anything again.",
            icon=":material/help:",
        )
        st.button("Reconcile", key="orders_reconcile", icon=":material/sync:", on_click=_reconcile, args=(scenario,))
    label = "Submit orders…" if not outcomes else "Submit remaining orders…"
    denied = auth.why_not(auth.Action.SUBMIT_ORDERS)
    st.button(
        label,
        key="orders_submit",
        icon=":material/send:",
        disabled=not plan.to_send or bool(unknown) or denied is not None,
        on_click=_open,
        args=(PENDING_SUBMIT,),
        help=denied or ("Reconcile the orders of unknown outcome first." if unknown else None),
    )
    if denied:
        st.caption(f"Submitting is disabled: {escape_md(denied)}.")
    if st.session_state.get(PENDING_SUBMIT):
        confirm_submit(scenario, rows)


__all__ = [
    "check_saved",
    "columns_of",
    "confirm_save",
    "confirm_submit",
    "outcomes_of",
    "render_blotter",
    "render_not_traded",
    "render_save",
    "render_submit",
    "rows_of",
]
