"""Saved rebalances: paged list (newest first, filter by portfolio), drill-down, CSV export, versioned delete.

Records are read through ``RebalanceRepository``; the list uses summaries (no portfolios loaded), a record is loaded
when opened and kept in the process per (id, version) (``components.history.records``; the Orders page hands over
the run it saves), so opening and reruns stay cheap for 1,000-portfolio runs. The order CSVs are built only when
their download button is clicked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from components import audit, auth, feedback, pickers, resources
from components.history import records
from components.history.frames import (
    PORTFOLIO_SORTS,
    PORTFOLIO_TABLE,
    POSITION_TABLE,
    list_frame,
    list_table,
    options_cli,
    options_labels,
    portfolio_page,
    portfolios_frame,
    positions_frame,
    run_parameters,
)
from components.history.keys import (
    FILTER,
    NOTICE,
    OPEN,
    OPTIONS_OPEN,
    PAGE,
    PAGE_SIZE,
    PENDING_DELETE,
    PORTFOLIO_FIND,
    PORTFOLIO_PAGE,
    PORTFOLIO_PICK,
    PORTFOLIO_SORT,
)
from components.orders import downloads
from components.rebalance import relaxed as relaxed_warning
from components.rebalance import reproduce
from components.rebalance.frames import breaches_frame
from components.tables import as_percent, column_config, fmt_money, fmt_money_short
from data.repositories import delete_run
from engine.errors import NotFound, VersionConflict
from engine.models import RebalanceRecord
from engine.orders import aggregate_orders, aggregated_to_csv, orders_to_csv, record_order_rows

PAGE_SIZES = (10, 25, 50, 100)
PORTFOLIO_ROWS = 20  # portfolios of the open run per page (render_portfolios)


def business_tz():
    try:
        return ZoneInfo(resources.settings().business_tz)
    except Exception:  # an unknown zone name falls back to UTC rather than hiding the history
        return dt.UTC


def render_list(names: Mapping[str, str]) -> list:
    """Filter, page and show the records; return the summaries of the shown page."""
    repo = resources.rebalance_repo()
    c1, c2 = st.columns([4, 1])
    with c1:
        pickers.search_box(
            "Find portfolios",
            pickers.portfolio_candidates(names, names),
            FILTER,
            pickers.add_to_selection(FILTER),
            placeholder="Part of a portfolio name, then Enter",
            help="Names starting with the text first, then names containing it; fuzzy matches are marked. Enter "
            "adds the only (or the exact) match.",
        )
    # The options are what the search above picked: every portfolio name as an option (thousands) made Chromium
    # build a long list on each open of the page, and typing in this box searches nothing (filter_mode=None).
    chosen = c1.multiselect(
        "Filter by portfolio",
        list(st.session_state.get(FILTER) or []),
        key=FILTER,
        format_func=lambda p: names.get(p, p),
        placeholder="All portfolios (search above)",
        filter_mode=None,
    )
    size = c2.selectbox("Rows per page", PAGE_SIZES, key=PAGE_SIZE)
    ids = list(chosen) or None
    total = repo.count_rebalances(ids)
    pages = max(1, -(-total // size))
    page = min(int(st.session_state.get(PAGE, 1) or 1), pages)
    shown = repo.list_rebalance_summaries(offset=(page - 1) * size, limit=size, portfolio_ids=ids) if total else []
    if not shown:
        st.info(
            "No saved rebalance matches the filter."
            if ids
            else "No saved rebalances yet: run a what-if and choose **Save rebalance** on the Orders page.",
            icon=":material/info:",
        )
        return []
    tz = business_tz()
    st.dataframe(
        list_frame(shown, tz, resources.submission_log().created_counts(s.rebalance_id for s in shown)),
        hide_index=True,
        width="stretch",
        column_config=column_config(list_table(tz)),
    )
    p1, p2 = st.columns([1, 5], vertical_alignment="bottom")
    if pages > 1:
        p1.number_input(
            "Page",
            min_value=1,
            max_value=pages,
            value=page,
            key="history_page_input",
            on_change=lambda: st.session_state.__setitem__(PAGE, st.session_state["history_page_input"]),
        )
    p2.caption(f"Page {page} of {pages} · {total:,} saved rebalance(s), newest first")
    return shown


def order_count(record: RebalanceRecord) -> int:
    """The record's orders (positions with a side and a non-zero quantity), without building the order rows."""
    return sum(1 for p in record.portfolios for x in p.positions if x.transaction_type is not None and x.trade_quantity)


PORTFOLIO_CONFIG = column_config(PORTFOLIO_TABLE)
PORTFOLIO_ORDER = [c.name for c in PORTFOLIO_TABLE]
PORTFOLIO_PLAIN_ORDER = [c for c in PORTFOLIO_ORDER if c not in ("nearest_feasible", "band_breach")]
POSITION_CONFIG = column_config(POSITION_TABLE)


def _md(text: str) -> str:
    """User text inside markdown: no emphasis, links or LaTeX."""
    for ch in ("\\", "*", "_", "`", "[", "]", "$", "<", ">", "#", "~", "|"):
        text = text.replace(ch, "\\" + ch)
    return text


@feedback.callback("delete the saved rebalance")
def _ask_delete(record: RebalanceRecord, label: str) -> None:
    st.session_state[PENDING_DELETE] = (record.rebalance_id, record.version, label)


@st.dialog("Delete saved rebalance", on_dismiss=lambda: st.session_state.pop(PENDING_DELETE, None))
def confirm_delete() -> None:
    rebalance_id, version, label = st.session_state[PENDING_DELETE]
    st.markdown(
        f"Delete **{_md(label)}** (version {version})? The orders already submitted are not affected. "
        "This cannot be undone."
    )
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="history_cancel_delete", width="stretch"):
        st.session_state.pop(PENDING_DELETE, None)
        st.rerun()
    if c1.button("Delete", key="history_confirm_delete", type="primary", width="stretch"):
        try:
            user = auth.require(auth.Action.DELETE_RUN).user_id  # server-side, whatever the browser sent
            with audit.timed("run_deleted", user, rebalance_id=rebalance_id, version=version):
                delete_run(resources.model_repo(), resources.rebalance_repo(), rebalance_id, version)
        except VersionConflict as err:
            st.session_state[NOTICE] = (
                "warning",
                f"Not deleted: the record changed since you opened it. {err.message}",
            )
        except NotFound:
            st.session_state[NOTICE] = ("info", "It was already deleted.")
        except Exception as err:  # typed errors get their message
            st.session_state[NOTICE] = ("error", feedback.describe(err, "delete the rebalance").markdown())
        else:
            st.session_state[NOTICE] = (
                "success",
                f"Deleted {_md(label)}: it is gone from every list now; its portfolios are removed in the background.",
            )
            st.session_state.pop(OPEN, None)
        st.session_state.pop(PENDING_DELETE, None)
        records.forget(rebalance_id)
        st.rerun()


def render_notice() -> None:
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        level, text = notice
        getattr(st, level)(text)


def render_record(summaries: list, names: Mapping[str, str], tickers: Mapping[str, str]) -> None:
    """Open one record of the page: details, portfolios, one portfolio's positions, CSV, delete."""
    tz = business_tz()
    by_id = {s.rebalance_id: s for s in summaries}
    if st.session_state.get(OPEN) not in by_id:
        st.session_state.pop(OPEN, None)
    rid = st.selectbox(
        "Open a saved rebalance",
        list(by_id),
        key=OPEN,
        format_func=lambda i: (
            f"{by_id[i].rebalance_date.astimezone(tz):%b %d, %Y %H:%M} · "
            f"{by_id[i].model_name} · {by_id[i].number_of_portfolios:,} portfolios · {i}"
        ),
    )
    if rid is None:
        return
    summary = by_id[rid]
    with feedback.guard("load the saved rebalance"), st.spinner("Opening the saved rebalance…", show_time=True):
        record = records.load(rid, summary.version)
    label = f"rebalance {rid} of “{record.model_name}”"
    frame = portfolios_frame(record, names)
    st.markdown(
        f"**{_md(record.model_name)}** · rebalanced {record.rebalance_date.astimezone(tz):%b %d, %Y %H:%M} ({tz})"
    )
    st.caption(
        f"Rebalance ID {rid} · model ID {record.model_id} · computed {record.rebalance_date:%Y-%m-%d %H:%M:%S} UTC"
        f" · saved by {_md(record.saved_by or 'unknown (before sign-in)')}"
    )
    render_run_info(record, tickers)
    render_options(record, tickers)
    render_relaxed(record, names, tickers)
    render_load_settings(record)
    traded = float(frame["traded_value"].sum()) if len(frame) else 0.0
    m = st.columns(4)
    m[0].metric("Portfolios", f"{record.number_of_portfolios:,}")
    m[1].metric("Orders", f"{records.derived(record, 'orders', order_count):,}")
    m[2].metric("Traded value", fmt_money_short(traded), help=fmt_money(traded))
    m[3].metric("Record version", f"v{record.version}", help="Needed to delete the record (optimistic concurrency)")
    render_portfolios(record, frame, tickers)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{record.model_name}_{record.rebalance_date:%Y%m%d-%H%M}_{rid}")
    c1, c2, _, c3 = st.columns([2, 2, 2, 1])
    # Built on click (30,000 orders take about a second): opening the record stays fast.
    downloads.orders_button(
        lambda: orders_to_csv(record_order_rows(record, tickers, names)), stem, "history_dl_orders", c1
    )
    downloads.blocks_button(
        lambda: aggregated_to_csv(aggregate_orders(record_order_rows(record, tickers, names))),
        stem,
        "history_dl_blocks",
        c2,
    )
    denied = auth.why_not(auth.Action.DELETE_RUN)
    c3.button(
        "Delete…",
        key="history_delete",
        icon=":material/delete:",
        on_click=_ask_delete,
        args=(record, label),
        width="stretch",
        disabled=denied is not None,
        help=denied,
    )


def _first_portfolio_page() -> None:
    st.session_state[PORTFOLIO_PAGE] = 1


@st.fragment  # paging, finding and picking rerun this part only, not the list and the run above it
def render_portfolios(record: RebalanceRecord, frame: pd.DataFrame, tickers: Mapping[str, str]) -> None:
    """The run's portfolios a page at a time (find by name or id, order, page), and the positions of one of them.

    One page of ``PORTFOLIO_ROWS`` (issue #12 §5, History in ≤ 1 s): a 1,000-portfolio run's whole table and a
    1,000-option picker were 150 KB of the 194 KB the page sent, parsed and drawn by Chromium on every first open;
    the filter and the order still cover every portfolio, the CSVs every order.
    """
    rid = record.rebalance_id
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    contains = c1.text_input(
        "Find a portfolio",
        key=PORTFOLIO_FIND,
        placeholder="Part of a portfolio name or id",
        on_change=_first_portfolio_page,
    )
    order = c2.selectbox(
        "Order portfolios by", list(PORTFOLIO_SORTS), key=PORTFOLIO_SORT, on_change=_first_portfolio_page
    )
    asked = int(st.session_state.get(PORTFOLIO_PAGE) or 1)
    shown, matching = portfolio_page(frame, contains, order, asked, PORTFOLIO_ROWS)  # the last page when beyond it
    pages = max(1, -(-matching // PORTFOLIO_ROWS))
    if asked > pages:  # fewer pages now (another run, a filter): the box shows the page listed
        st.session_state[PORTFOLIO_PAGE] = pages
    page = c3.number_input("Page", min_value=1, max_value=pages, key=PORTFOLIO_PAGE, disabled=pages == 1)
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config=PORTFOLIO_CONFIG,
        # the "Nearest feasible" flag and its breach only when some portfolio is one (relaxed answers are rare)
        column_order=PORTFOLIO_ORDER if frame["nearest_feasible"].any() else PORTFOLIO_PLAIN_ORDER,
        height=36 + 35 * max(len(shown), 1),  # the whole page, no scrolling inside it
    )
    first = (int(page) - 1) * PORTFOLIO_ROWS
    text = _md(contains.strip())
    found = f" matching “{text}” ({len(frame):,} in the run)" if text else ""
    st.caption(
        f"Portfolios {first + 1:,}–{first + len(shown):,} of {matching:,}{found}; the order CSVs below hold every "
        "portfolio's orders."
        if len(shown)
        else f"No portfolio of the run matches “{text}”."
        if text
        else "This run holds no portfolio."
    )
    pname = dict(zip(shown["portfolio_id"], shown["portfolio"], strict=True))
    pick_key = f"{PORTFOLIO_PICK}_{rid}"
    if st.session_state.get(pick_key) not in pname:  # picked on another page: nothing picked on this one
        st.session_state.pop(pick_key, None)
    # Nothing picked at first: the page opens with one table less to draw.
    pid = st.selectbox(
        "Positions of portfolio",
        list(pname),
        index=None,
        key=pick_key,
        format_func=lambda p: pname.get(p, p),
        placeholder="Pick a portfolio of this page to see its positions",
    )
    if pid is not None:
        positions = next(p.positions for p in record.portfolios if p.portfolio_id == pid)
        st.dataframe(
            as_percent(positions_frame(list(positions), tickers), "target", "actual", "relative_after"),
            hide_index=True,
            width="stretch",
            column_config=POSITION_CONFIG,
        )


def render_run_info(record: RebalanceRecord, tickers: Mapping[str, str]) -> None:
    """What the run was: scenario, the model version it used, run-only overrides, and the parameters its options
    (below) do not list already."""
    run = record.run
    if run is None:
        st.caption("Saved before runs recorded their scenario and parameters.")
        return
    used = "—" if run.model_version is None else f"v{run.model_version}"
    st.markdown(f"Scenario **{_md(run.scenario_name or '—')}** · computed on model version **{used}**")
    if run.overrides:
        st.warning(
            "Run-only overrides of targets and bands: the stored model did not produce these orders (the record "
            "keeps the overridden targets).",
            icon=":material/tune:",
        )
    shown = options_labels(record.options, tickers) if record.options is not None else {}
    if rows := run_parameters(run, shown):
        st.dataframe(pd.DataFrame(rows, columns=["Parameter", "Value"]), hide_index=True, width="content")


def render_relaxed(record: RebalanceRecord, names: Mapping[str, str], tickers: Mapping[str, str]) -> None:
    """Flag the saved portfolios that were answered "nearest feasible", with their breached bands (as on Orders)."""
    relaxed = [p for p in record.portfolios if p.band_breaches]
    if relaxed:
        relaxed_warning.warn(len(relaxed), breaches_frame(relaxed, tickers, names), "in the table below")


def render_options(record: RebalanceRecord, tickers: Mapping[str, str]) -> None:
    """The options the run used (cash floor, trade controls ...), and how to reproduce it."""
    if record.options is None:
        st.caption("Run options: not recorded (saved before trade controls were kept with a run).")
        return
    labels = options_labels(record.options, tickers)
    # Escaped: the label is markdown, and two "$" amounts would render as LaTeX. The content is rendered only while
    # open (the code block alone loaded Chromium's syntax highlighter on every open of the page).
    box = st.expander(
        "Run options: " + _md(" · ".join(f"{k}: {v}" for k, v in list(labels.items())[:4])),
        key=OPTIONS_OPEN,
        on_change="rerun",
    )
    if not box.open:
        return
    with box:
        st.dataframe(
            [{"option": k, "value": v} for k, v in labels.items()],
            hide_index=True,
            width="content",
        )
        st.caption(
            "To reproduce the run, enter these options in the what-if (same model version and market snapshot), or "
            "pass them to `python -m engine solve` as its `options` object:"
        )
        st.code(json.dumps(options_cli(record.options)), language="json", wrap_lines=True)


def render_load_settings(record: RebalanceRecord) -> None:
    """ "Load these settings into What-if": the What-if panel opens with this run's settings, and nothing runs."""
    if st.button(
        "Load these settings into What-if",
        key="history_load_settings",
        icon=":material/tune:",
        on_click=reproduce.request,
        args=(record,),
        help="This run's portfolios, minimum cash, time limit, trade controls and run-only targets and bands, "
        "pre-filled in the What-if panel. Nothing runs until you press Run what-if.",
    ):
        st.switch_page("pages/rebalance.py")


def render_pending_delete() -> None:
    """The delete dialog, whenever one is pending (independent of what the list shows now)."""
    if st.session_state.get(PENDING_DELETE):
        confirm_delete()


__all__ = ["render_list", "render_notice", "render_pending_delete", "render_record"]
