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

from components import feedback, resources
from components.columns import names
from components.orders import downloads
from components.orders.frames import (
    BLOCK_TABLE,
    BLOTTER_TABLE,
    NOT_TRADED_TABLE,
    SORTS,
    aggregate_frame,
    blotter_frame,
    filter_blotter,
    not_traded_frame,
    submission_plan,
)
from components.orders.keys import (
    LIMIT_PRICE,
    PENDING_SAVE,
    PENDING_SUBMIT,
    PICK,
    PORTFOLIO_FILTER,
    RESEND_UNKNOWN,
    SAVE_ERROR,
    SIDES,
    SORT,
    SUBMIT_REPORT,
    TICKER_FILTER,
    WITH_REASONS,
)
from components.orders.submit import submit_orders
from components.rebalance import store
from components.rebalance.frames import BREACH_TABLE, breaches_frame
from components.tables import as_percent, column_config, fmt_money, fmt_money_short
from data.repositories import save_run
from engine.errors import EngineError, VersionConflict
from engine.orders import (
    OrderRow,
    aggregate_orders,
    aggregated_to_csv,
    not_traded_rows,
    order_rows,
    orders_to_csv,
    side_totals,
)
from engine.record import build_record

log = logging.getLogger(__name__)


BLOTTER_CONFIG = column_config(BLOTTER_TABLE)
BLOTTER_ORDER = names(BLOTTER_TABLE)
BLOTTER_PLAIN_ORDER = [c for c in BLOTTER_ORDER if c != "nearest_feasible"]
BLOCK_CONFIG = column_config(BLOCK_TABLE)
NOT_TRADED_CONFIG = column_config(NOT_TRADED_TABLE)
BREACH_CONFIG = column_config(BREACH_TABLE)
NOT_TRADED_ORDER = names(NOT_TRADED_TABLE)


def rows_of(scenario: store.Scenario) -> list[OrderRow]:
    """The scenario's proposed orders, stamped with its rebalance id once saved (cached on the scenario)."""
    prices = scenario.snapshot.prices
    return _cached(
        scenario,
        ("rows", scenario.saved_rebalance_id),
        lambda: order_rows(scenario.results, scenario.tickers, prices, scenario.saved_rebalance_id),
    )


def _cached(scenario: store.Scenario, key: tuple, build):
    """A derived view of the scenario, rebuilt only when ``key`` changes (reruns of a 30k-order blotter stay fast)."""
    if key not in scenario.cache:
        for old in [k for k in scenario.cache if k[0] == key[0]]:
            del scenario.cache[old]
        scenario.cache[key] = build()
    return scenario.cache[key]


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


def render_totals(rows: list[OrderRow]) -> None:
    totals = side_totals(rows)
    buy, sell = totals["BUY"], totals["SELL"]
    net = sell.estimated_value - buy.estimated_value
    m = st.columns(3)
    m[0].metric("Orders", f"{buy.orders + sell.orders:,}")
    m[1].metric("BUY orders", f"{buy.orders:,}", help=f"{float(buy.quantity):,.2f} shares")
    m[2].metric("SELL orders", f"{sell.orders:,}", help=f"{float(sell.quantity):,.2f} shares")
    m = st.columns(3)
    m[0].metric("BUY value", fmt_money_short(buy.estimated_value), help=fmt_money(buy.estimated_value))
    m[1].metric("SELL value", fmt_money_short(sell.estimated_value), help=fmt_money(sell.estimated_value))
    m[2].metric("Net cash", fmt_money_short(net), help=f"{fmt_money(net)}: SELL value − BUY value (estimated)")


def render_blotter(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    """Per-portfolio orders (filterable, sortable) and the block view, each with its CSV download."""
    stem = file_stem(scenario)
    t1, t2, t3 = st.tabs(["Per portfolio", "Block orders (per security and side)", "Not traded"])
    with t1:
        c1, c2, c3, c4 = st.columns([2, 3, 2, 3])
        sides = c1.multiselect("Side", ["BUY", "SELL"], default=["BUY", "SELL"], key=SIDES)
        text = c2.text_input("Portfolio contains", key=PORTFOLIO_FILTER, placeholder="Name or id")
        ticker = c3.text_input("Ticker contains", key=TICKER_FILTER)
        sort = c4.selectbox("Sort by", list(SORTS), key=SORT)
        outcomes = tuple(sorted((k, o.outcome) for k, o in scenario.submissions.items()))
        frame = _cached(
            scenario,
            ("blotter", scenario.saved_rebalance_id, hash(outcomes)),
            lambda: blotter_frame(rows, scenario.submissions),
        )
        shown = filter_blotter(frame, sides, text, ticker, sort)
        st.dataframe(
            as_percent(shown, "weight_before", "target", "weight_after"),
            hide_index=True,
            width="stretch",
            column_config=BLOTTER_CONFIG,
            # the "Nearest feasible" flag only when some order is one (relaxed answers are rare)
            column_order=BLOTTER_ORDER if frame["nearest_feasible"].any() else BLOTTER_PLAIN_ORDER,
            height=min(36 + 35 * max(len(shown), 1), 520),
        )
        st.caption(f"{len(shown):,} of {len(rows):,} orders shown · click a column header to sort.")
        reasons = st.checkbox(
            "Add a reason column to the orders CSV",
            key=WITH_REASONS,
            help="Why each order exists; other columns unchanged.",
        )
        downloads.orders_button(
            _cached(
                scenario,
                ("csv", scenario.saved_rebalance_id, reasons),
                lambda: orders_to_csv(rows, with_reasons=reasons),
            ),
            stem,
            "dl_orders",
        )
    with t2:
        blocks = _cached(scenario, ("blocks", scenario.saved_rebalance_id), lambda: aggregate_orders(rows))
        st.dataframe(
            aggregate_frame(blocks),
            hide_index=True,
            width="stretch",
            column_config=BLOCK_CONFIG,
            height=min(36 + 35 * max(len(blocks), 1), 520),
        )
        downloads.blocks_button(
            _cached(scenario, ("blocks_csv", scenario.saved_rebalance_id), lambda: aggregated_to_csv(blocks)),
            stem,
            "dl_blocks",
        )
    with t3:
        render_not_traded(scenario)
    st.caption(downloads.columns_caption())


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
    st.dataframe(
        as_percent(frame, "weight", "target", "band_low", "band_high"),
        hide_index=True,
        width="stretch",
        column_config=NOT_TRADED_CONFIG,
        column_order=NOT_TRADED_ORDER,
        height=min(36 + 35 * len(frame), 520),
    )


def render_relaxed(scenario: store.Scenario) -> None:
    """Flag the portfolios answered "nearest feasible" with their breached bands (their orders are marked too)."""
    relaxed = [r for r in scenario.results if r.status == "relaxed"]
    if not relaxed:
        return
    frame = breaches_frame(relaxed, scenario.tickers)
    st.warning(
        f"**{len(relaxed):,} portfolio(s) are nearest feasible, not optimal**: no answer met every band, so their "
        f"orders leave {len(frame):,} band(s) breached by {fmt_money(frame['amount'].sum())} in total. Their "
        "orders are marked “Nearest feasible” below.",
        icon=":material/warning:",
    )
    with st.expander("Breached bands"):
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config=BREACH_CONFIG,
            column_order=names(BREACH_TABLE),
        )


# --- save -----------------------------------------------------------------------------------------------------------
def save_scenario(scenario: store.Scenario) -> str:
    """Persist the scenario's optimal results as one rebalance record and stamp the model; returns its id.

    Raises ``VersionConflict`` when the model changed since the run (the record is then not written).
    """
    record = build_record(scenario.run_model, scenario.optimal_results, scenario.created_at, scenario.params.options)
    saved = save_run(resources.model_repo(), resources.rebalance_repo(), record, scenario.model.version)
    return saved.rebalance_id


def _open(flag: str) -> None:
    st.session_state[flag] = True
    st.session_state.pop(SAVE_ERROR, None)


def _close(flag: str) -> None:
    st.session_state[flag] = False


@st.dialog("Save rebalance", on_dismiss=lambda: _close(PENDING_SAVE))
def confirm_save(scenario: store.Scenario) -> None:
    s = scenario.summary
    st.markdown(
        f"Persist **{scenario.name}** as a rebalance record: **{s.optimal:,}** rebalanced portfolio(s) with "
        f"**{s.orders:,}** orders, exactly as reviewed (prices of the run, nothing is re-solved). "
        f"Portfolios not rebalanced ({s.infeasible + s.failed:,}) are left out."
    )
    st.caption(
        f"The model “{scenario.model.name}” gets its last rebalance date stamped. The save is refused if the "
        f"model changed since the run (the run used version {scenario.model.version})."
    )
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="orders_cancel_save", width="stretch"):
        _close(PENDING_SAVE)
        st.rerun()
    if c1.button("Save rebalance", key="orders_confirm_save", type="primary", width="stretch"):
        try:
            # A 1,000-portfolio run takes seconds on the embedded database: show that it is working.
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
            scenario.saved_rebalance_id = rebalance_id
            scenario.saved_at = dt.datetime.now(dt.UTC)
            feedback.success(f"Rebalance saved ({rebalance_id})")
        _close(PENDING_SAVE)
        st.rerun()


def render_save(scenario: store.Scenario) -> None:
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
    st.button(
        "Save rebalance…",
        key="orders_save",
        type="primary",
        icon=":material/save:",
        disabled=nothing,
        on_click=_open,
        args=(PENDING_SAVE,),
        help="Nothing to save: no portfolio was rebalanced." if nothing else None,
    )
    if st.session_state.get(PENDING_SAVE):
        confirm_save(scenario)


# --- submit ---------------------------------------------------------------------------------------------------------
@st.dialog("Submit orders to the Order Service", on_dismiss=lambda: _close(PENDING_SUBMIT))
def confirm_submit(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    include_unknown = bool(st.session_state.get(RESEND_UNKNOWN))
    plan = submission_plan(rows, scenario.submissions, include_unknown)
    value = sum((r.estimated_value or 0 for r in plan.to_send), 0)
    st.markdown(
        f"Send **{len(plan.to_send):,}** order(s) (estimated value {fmt_money(value)}) as NEW orders on the "
        "Default blotter, in batches of at most 1,000. Each order succeeds or fails on its own."
    )
    if plan.already_submitted:
        st.caption(f"{plan.already_submitted:,} order(s) already created are never sent again.")
    use_limit = st.checkbox(
        "Use the rebalance price as limit price", key=LIMIT_PRICE, help="Off: market orders (no limit price)."
    )
    if plan.unknown_held_back or include_unknown:
        st.checkbox(
            "Also resend orders whose outcome is unknown (check the Order Service first: they may exist)",
            key=RESEND_UNKNOWN,
        )
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="orders_cancel_submit", width="stretch"):
        _close(PENDING_SUBMIT)
        st.rerun()
    if c1.button(
        f"Submit {len(plan.to_send):,} orders",
        key="orders_confirm_submit",
        type="primary",
        width="stretch",
        disabled=not plan.to_send,
    ):
        try:
            order_client = resources.services().order
            outcomes = submit_orders(order_client, plan.to_send, use_limit_price=bool(use_limit))
        except Exception as err:  # the client could not even start: nothing was sent
            st.session_state[SUBMIT_REPORT] = ("error", feedback.describe(err, "submit the orders").markdown())
        else:
            scenario.submissions.update(outcomes)
            ok = sum(o.succeeded for o in outcomes.values())
            unknown = sum(o.outcome == "unknown" for o in outcomes.values())
            failed = len(outcomes) - ok - unknown
            level = "success" if ok == len(outcomes) else "warning"
            text = f"Submitted {len(outcomes):,} order(s): {ok:,} created, {failed:,} failed, {unknown:,} unknown."
            st.session_state[SUBMIT_REPORT] = (level, text)
        _close(PENDING_SUBMIT)
        st.rerun()


def render_submit(scenario: store.Scenario, rows: list[OrderRow]) -> None:
    report = st.session_state.get(SUBMIT_REPORT)
    if report:
        level, text = report
        getattr(st, level)(text, icon=":material/send:")
    plan = submission_plan(rows, scenario.submissions)
    if scenario.submissions:
        done = plan.already_submitted
        st.caption(
            f"{done:,} of {len(rows):,} orders created at the Order Service; "
            f"{len(plan.to_send):,} still to send; {plan.unknown_held_back:,} with unknown outcome."
        )
        failed = [(k, o) for k, o in scenario.submissions.items() if not o.succeeded]
        if failed:
            st.dataframe(
                [{"order": k.replace(":", " · "), "outcome": o.outcome, "message": o.message} for k, o in failed],
                hide_index=True,
                width="stretch",
            )
    label = "Submit orders…" if not scenario.submissions else "Submit remaining orders…"
    st.button(
        label,
        key="orders_submit",
        icon=":material/send:",
        disabled=not plan.to_send and not plan.unknown_held_back,
        on_click=_open,
        args=(PENDING_SUBMIT,),
    )
    if st.session_state.get(PENDING_SUBMIT):
        confirm_submit(scenario, rows)


__all__ = [
    "confirm_save",
    "confirm_submit",
    "render_blotter",
    "render_not_traded",
    "render_relaxed",
    "render_save",
    "render_submit",
    "rows_of",
]
