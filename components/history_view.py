"""Saved rebalances: paged list (newest first, filter by portfolio), drill-down, CSV export, versioned delete.

Records are read through ``RebalanceRepository``; the list uses summaries (no portfolios loaded), a record is loaded
when opened and kept in the session per (id, version) so reruns stay cheap for 1,000-portfolio runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from components import feedback, resources, state
from components.tables import as_percent, fmt_money, fmt_money_short, money_col, pct_col, qty_col
from engine.errors import NotFound, VersionConflict
from engine.models import RebalanceRecord, RecordPosition
from engine.orders import aggregate_orders, aggregated_to_csv, orders_to_csv, record_order_rows

FILTER = "history_portfolios"
PAGE_SIZE = "history_page_size"
PAGE = "history_page"
OPEN = "history_open"
PORTFOLIO_PICK = "history_portfolio_pick"
RECORDS = state.HISTORY_RECORDS
PENDING_DELETE = state.HISTORY_PENDING_DELETE
NOTICE = state.HISTORY_NOTICE
PAGE_SIZES = (10, 25, 50, 100)


def business_tz():
    try:
        return ZoneInfo(resources.settings().business_tz)
    except Exception:  # an unknown zone name falls back to UTC rather than hiding the history
        return dt.UTC


def list_frame(summaries: list, tz) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "rebalance_id": s.rebalance_id,
                "model": s.model_name,
                "date": s.rebalance_date.astimezone(tz).replace(tzinfo=None),
                "portfolios": s.number_of_portfolios,
                "version": s.version,
            }
            for s in summaries
        ],
        columns=["rebalance_id", "model", "date", "portfolios", "version"],
    )


def render_list(names: Mapping[str, str]) -> list:
    """Filter, page and show the records; return the summaries of the shown page."""
    repo = resources.rebalance_repo()
    c1, c2 = st.columns([4, 1])
    chosen = c1.multiselect(
        "Filter by portfolio",
        list(names),
        key=FILTER,
        format_func=lambda p: names.get(p, p),
        placeholder="All portfolios (type a name to filter)",
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
        list_frame(shown, tz),
        hide_index=True,
        width="stretch",
        column_config={
            "rebalance_id": st.column_config.TextColumn("Rebalance ID", width="medium"),
            "model": "Model",
            "date": st.column_config.DatetimeColumn(f"Rebalance date ({tz})", format="MMM DD, YYYY HH:mm"),
            "portfolios": st.column_config.NumberColumn("Portfolios", format="%d"),
            "version": st.column_config.NumberColumn("Version", format="v%d"),
        },
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


def load_record(rebalance_id: str, version: int) -> RebalanceRecord:
    cache: dict = st.session_state.setdefault(RECORDS, {})
    key = (rebalance_id, version)
    if key not in cache:
        if len(cache) > 8:  # a few open records at most: they can be large
            cache.clear()
        cache[key] = resources.rebalance_repo().get_rebalance(rebalance_id)
    return cache[key]


def portfolios_frame(record: RebalanceRecord, names: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for p in record.portfolios:
        trades = [x for x in p.positions if x.transaction_type]
        rows.append(
            {
                "portfolio": p.portfolio_name or names.get(p.portfolio_id) or p.portfolio_id,
                "portfolio_id": p.portfolio_id,
                "market_value": float(p.market_value),
                "cash_before": float(p.cash_before_rebalance),
                "cash_after": float(p.cash_after_rebalance),
                "cash_change": float(p.cash_after_rebalance - p.cash_before_rebalance),
                "positions": len(p.positions),
                "orders": len(trades),
                "traded_value": float(sum((x.trade_quantity * x.price for x in trades if x.trade_quantity), 0)),
            }
        )
    return pd.DataFrame(rows)


def positions_frame(positions: list[RecordPosition], tickers: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "ticker": tickers.get(x.security_id, ""),
                "security_id": x.security_id,
                "price": float(x.price),
                "original_quantity": float(x.original_quantity),
                "adjusted_quantity": float(x.adjusted_quantity),
                "original_value": float(x.original_position_market_value),
                "adjusted_value": float(x.adjusted_position_market_value),
                "target": float(x.target),
                "actual": float(x.actual),
                "actual_drift": float(x.actual_drift),
                "trade": ""
                if x.transaction_type is None
                else f"{x.transaction_type} {float(x.trade_quantity or 0):,.2f}",
                "trade_date": x.trade_date,
            }
            for x in positions
        ]
    )


PORTFOLIO_CONFIG = {
    "portfolio": st.column_config.TextColumn("Portfolio", width="medium"),
    "portfolio_id": st.column_config.TextColumn("Portfolio ID", width="medium"),
    "market_value": money_col("Market value"),
    "cash_before": money_col("Cash before"),
    "cash_after": money_col("Cash after"),
    "cash_change": money_col("Cash change"),
    "positions": st.column_config.NumberColumn("Positions", format="%d"),
    "orders": st.column_config.NumberColumn("Orders", format="%d"),
    "traded_value": money_col("Traded value"),
}
POSITION_CONFIG = {
    "ticker": "Ticker",
    "security_id": st.column_config.TextColumn("Security ID", width="medium"),
    "price": money_col("Price"),
    "original_quantity": qty_col("Original qty"),
    "adjusted_quantity": qty_col("Adjusted qty"),
    "original_value": money_col("Original value"),
    "adjusted_value": money_col("Adjusted value"),
    "target": pct_col("Target", dp=1),
    "actual": pct_col("Actual"),
    "actual_drift": pct_col("Actual drift (rel.)", help="1 − actual/target; positive = underweight, 0 without target"),
    "trade": "Trade",
    "trade_date": st.column_config.DateColumn("Trade date", format="YYYY-MM-DD"),
}


def _md(text: str) -> str:
    """User text inside markdown: no emphasis, links or LaTeX."""
    for ch in ("\\", "*", "_", "`", "[", "]", "$", "<", ">", "#", "~", "|"):
        text = text.replace(ch, "\\" + ch)
    return text


def _ask_delete(record: RebalanceRecord, label: str) -> None:
    st.session_state[PENDING_DELETE] = (record.rebalance_id, record.version, label)


@st.dialog("Delete saved rebalance", on_dismiss=lambda: st.session_state.pop(PENDING_DELETE, None))
def confirm_delete() -> None:
    rebalance_id, version, label = st.session_state[PENDING_DELETE]
    st.markdown(
        f"Delete **{label}** (version {version})? The orders already submitted are not affected. This cannot be undone."
    )
    c1, c2 = st.columns(2)
    if c2.button("Cancel", key="history_cancel_delete", width="stretch"):
        st.session_state.pop(PENDING_DELETE, None)
        st.rerun()
    if c1.button("Delete", key="history_confirm_delete", type="primary", width="stretch"):
        try:
            resources.rebalance_repo().delete_rebalance(rebalance_id, version)
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
            st.session_state[NOTICE] = ("success", f"Deleted {label}.")
            st.session_state.pop(OPEN, None)
        st.session_state.pop(PENDING_DELETE, None)
        st.session_state.pop(RECORDS, None)
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
    with feedback.guard("load the saved rebalance"):
        record = load_record(rid, summary.version)
    rows = record_order_rows(record, tickers, names)
    label = f"rebalance {rid} of “{record.model_name}”"
    frame = portfolios_frame(record, names)
    st.markdown(
        f"**{_md(record.model_name)}** · rebalanced {record.rebalance_date.astimezone(tz):%b %d, %Y %H:%M} ({tz})"
    )
    st.caption(
        f"Rebalance ID {rid} · model ID {record.model_id} · computed {record.rebalance_date:%Y-%m-%d %H:%M:%S} UTC"
    )
    traded = float(frame["traded_value"].sum()) if len(frame) else 0.0
    m = st.columns(4)
    m[0].metric("Portfolios", f"{record.number_of_portfolios:,}")
    m[1].metric("Orders", f"{len(rows):,}")
    m[2].metric("Traded value", fmt_money_short(traded), help=fmt_money(traded))
    m[3].metric("Version", f"v{record.version}", help="Needed to delete the record (optimistic concurrency)")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=PORTFOLIO_CONFIG,
        height=min(36 + 35 * max(len(frame), 1), 420),
    )
    pids = [p.portfolio_id for p in record.portfolios]
    pname = dict(zip(frame["portfolio_id"], frame["portfolio"], strict=True)) if len(frame) else {}
    pid = st.selectbox(
        "Positions of portfolio", pids, key=f"{PORTFOLIO_PICK}_{rid}", format_func=lambda p: pname.get(p, p)
    )
    if pid is not None:
        positions = next(p.positions for p in record.portfolios if p.portfolio_id == pid)
        st.dataframe(
            as_percent(positions_frame(list(positions), tickers), "target", "actual", "actual_drift"),
            hide_index=True,
            width="stretch",
            column_config=POSITION_CONFIG,
        )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{record.model_name}_{record.rebalance_date:%Y%m%d-%H%M}_{rid}")
    c1, c2, _, c3 = st.columns([2, 2, 2, 1])
    c1.download_button(
        "Download orders CSV",
        data=orders_to_csv(rows),
        file_name=f"orders_{stem}.csv",
        mime="text/csv",
        on_click="ignore",
        key="history_dl_orders",
        icon=":material/download:",
    )
    c2.download_button(
        "Download block orders CSV",
        data=aggregated_to_csv(aggregate_orders(rows)),
        file_name=f"block_orders_{stem}.csv",
        mime="text/csv",
        on_click="ignore",
        key="history_dl_blocks",
        icon=":material/download:",
    )
    c3.button(
        "Delete…",
        key="history_delete",
        icon=":material/delete:",
        on_click=_ask_delete,
        args=(record, label),
        width="stretch",
    )


def render_pending_delete() -> None:
    """The delete dialog, whenever one is pending (independent of what the list shows now)."""
    if st.session_state.get(PENDING_DELETE):
        confirm_delete()


__all__ = ["render_list", "render_notice", "render_pending_delete", "render_record"]
