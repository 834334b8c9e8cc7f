"""Drift page pieces: loading a model's snapshot (with progress), the per-model view and the firm-wide triage.

A snapshot (holdings + one price per security) is fetched once per model and kept in session state with its
analysis (:class:`components.drift.frames.DriftView`), so filters and drill-downs rerun without refetching.
"Refresh" fetches again; "Scan all models" does every model with a progress bar.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from components import feedback, resources, state
from components.columns import names
from components.drift import charts as drift_charts
from components.drift import frames, scan
from components.drift import keys as drift_keys
from components.drift.frames import DriftView
from components.feedback import escape_md
from components.tables import (
    as_percent,
    column_config,
    fmt_money,
    fmt_money_short,
    fmt_pct,
    fmt_when,
)
from engine.errors import EngineError, ErrorInfo
from engine.models import InvestmentModel


# --- loading ------------------------------------------------------------------------------------------------------
def _progress_callback(bar: Any, label: str) -> Callable[[int, int], None]:
    """A progress callback (the snapshot calls it on the script thread after each portfolio)."""

    def report(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{label}: {done:,} of {total:,} portfolios")

    return report


def build_view(model: InvestmentModel, progress: Callable[..., None] | None = None) -> DriftView:
    """Fetch the market snapshot of ``model``'s portfolios and analyse their drift (typed errors propagate)."""
    return scan.fetch_view(resources.services(), model, progress)


def load_view(model: InvestmentModel, refresh: bool = False) -> DriftView | None:
    """The model's view from session state, or fetched now with a progress bar (None after a shown error)."""
    views: dict[str, DriftView] = state.get(drift_keys.DRIFT_VIEWS) or {}
    cached = views.get(model.model_id)
    if cached is not None and not refresh and cached.model.version == model.version:
        return cached
    bar = st.progress(0.0, text=f"Fetching holdings and prices of '{escape_md(model.name)}'…")
    try:
        view = build_view(model, _progress_callback(bar, f"Fetching '{escape_md(model.name)}'"))
    except Exception as err:  # typed service errors get their message; nothing half-loaded is kept
        bar.empty()
        feedback.show(err, f"load the drift of model '{model.name}'")
        return None
    bar.empty()
    views[model.model_id] = view
    state.put(drift_keys.DRIFT_VIEWS, views)
    return view


# --- per-model view -----------------------------------------------------------------------------------------------
def render_tiles(view: DriftView, tolerance: float) -> None:
    """Portfolios, needing rebalance, total drift, cash flags."""
    pf = frames.add_cash_flags(view.portfolios, view.implied_cash, tolerance)
    ok = pf[pf["error"].isna()]
    n = len(ok)
    out = int(ok["needs_rebalance"].sum())
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Portfolios analysed", f"{n:,}", help=f"{len(view.model.portfolios):,} linked to the model")
    c2.metric("Need rebalance", f"{out:,}", help="At least one security outside its band")
    c2.caption(f"{fmt_pct(out / n if n else 0, 1)} of analysed")
    total = ok["drift_dollars"].sum()
    c3.metric(
        "Total drift ($)", fmt_money_short(total), help=f"{fmt_money(total)}: Σ over portfolios of Σ|MV·target − value|"
    )
    c4.metric("Median total drift", fmt_pct(ok["drift_weight"].median() if n else 0, 2), help="Σ|actual − target|")
    c5.metric("Cash high / low", f"{int(ok['cash_high'].sum())} / {int(ok['cash_low'].sum())}",
              help=f"Cash weight more than {fmt_pct(tolerance, 1)} above / below the implied "
              f"{fmt_pct(view.implied_cash, 1)} (100 % − Σ targets)")  # fmt: skip


def portfolio_table(ranked: pd.DataFrame) -> list[str]:
    """The sortable list of portfolios of one model, worst first; returns the ids of the selected rows.

    Selecting one row opens its drill-down below (the drill-down picker follows the selection).
    """
    shown = ranked[names(frames.RANKED_TABLE)]
    event = st.dataframe(
        as_percent(shown, "cash_weight", "drift_weight"),
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(shown), 420),
        column_config=column_config(frames.RANKED_TABLE),
        on_select="rerun",
        selection_mode="multi-row",
        key=drift_keys.DRIFT_TABLE,
    )
    picked = [str(shown.iloc[i]["portfolio_id"]) for i in event.selection.rows if i < len(shown)]
    if len(picked) == 1 and st.session_state.get(DRILL_FOLLOWS) != picked[0]:
        st.session_state[drift_keys.DRIFT_PORTFOLIO_PICK] = picked[0]  # before the drill-down picker renders
    st.session_state[DRILL_FOLLOWS] = picked[0] if len(picked) == 1 else None
    return picked


DRILL_FOLLOWS = "drift_drill_follows"  # the row selection the drill-down picker last followed


def _open_whatif(model_id: str, portfolio_ids: Sequence[str]) -> None:
    state.prefill_whatif(model_id, portfolio_ids)


def whatif_button(model: InvestmentModel, portfolio_ids: Sequence[str], what: str, key: str) -> None:
    """ "What-if for these portfolios": opens the What-if page with exactly ``portfolio_ids`` in scope."""
    if st.button(
        f"What-if for {what} ({len(portfolio_ids):,})",
        key=key,
        icon=":material/balance:",
        disabled=not portfolio_ids,
        on_click=_open_whatif,
        args=(model.model_id, list(portfolio_ids)),
    ):
        st.switch_page("pages/rebalance.py")


def drill_table(rows: pd.DataFrame) -> None:
    """Quantity, price, value, weight, target, drift and band status of one portfolio."""
    table = as_percent(rows, "weight", "target").assign(
        drift_pp=rows["drift"] * 100,
        band=(rows["band_low"] * 100).map("{:.2f}".format) + " – " + (rows["band_high"] * 100).map("{:.2f} %".format),
        status=rows["position"].map(frames.status_text),
    )[names(frames.DRILL_TABLE)]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config=column_config(frames.DRILL_TABLE),
    )


def render_failures(view: DriftView) -> None:
    """Portfolios that could not be analysed, with their reason."""
    failed = dict(view.failures)
    for rec in view.portfolios[view.portfolios["error"].notna()].itertuples():
        failed.setdefault(rec.portfolio_id, ErrorInfo("ERROR", rec.error))
    if not failed:
        return
    names = dict(zip(view.portfolios["portfolio_id"], view.portfolios["name"], strict=True))
    try:  # failed portfolios are not in the analysis: take their names from the Portfolio Service (soft)
        listed = resources.portfolios()
        names.update(zip(listed["portfolio_id"], listed["name"], strict=True))
    except Exception:  # names are a nicety here; the ids are shown instead
        pass
    with st.expander(f"{len(failed)} portfolio(s) could not be analysed", icon=":material/warning:"):
        st.dataframe(
            pd.DataFrame(
                [
                    {"Portfolio": names.get(pid, pid), "Portfolio ID": pid, "Reason": e.message}
                    for pid, e in failed.items()
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def snapshot_caption(view: DriftView) -> str:
    """When and how the snapshot was taken."""
    return (
        f"Snapshot {fmt_when(view.taken_at)} UTC · {len(view.portfolios):,} portfolios · "
        f"loaded in {view.seconds:.2f} s" + (f" · {view.requests:,} service requests" if view.requests else "")
    )


def heatmap(view: DriftView, ranked: pd.DataFrame, top: int) -> None:
    """The portfolio × security heatmap of the ``top`` first ranked portfolios."""
    order = ranked["portfolio_id"].head(top).tolist()
    labels = dict(zip(ranked["portfolio_id"], ranked["name"], strict=True))
    fig = drift_charts.heatmap_figure(view.rows, order, labels)
    st.plotly_chart(fig, key="drift_heatmap", width="stretch")
    st.caption(frames.RELATIVE_HELP + " Blue: underweight; orange: overweight.")


# --- firm-wide triage ---------------------------------------------------------------------------------------------
def rebalanced_portfolio_ids(portfolio_ids: Sequence[str], bar: Any = None) -> set[str]:
    """The ids among ``portfolio_ids`` that appear in at least one saved rebalance.

    No saved rebalance at all (the common case of a fresh install) costs one count; otherwise one indexed count
    per portfolio, which never loads the (large) records themselves.
    """
    repo = resources.rebalance_repo()
    if not portfolio_ids or repo.count_rebalances() == 0:
        return set()
    if bar is not None:
        bar.progress(1.0, text="Checking saved rebalances")
    return repo.rebalanced_portfolio_ids(portfolio_ids)


REUSE_SNAPSHOT = dt.timedelta(minutes=5)  # a model's snapshot this young is reused by a scan unless asked fresh


def scan_all(models: Sequence[InvestmentModel], fresh: bool = False) -> dict[str, Any] | None:
    """Snapshot and analyse every model with portfolios (``components.drift.scan``); stored as the triage result.

    A model already analysed in this session at the same version less than ``REUSE_SNAPSHOT`` ago keeps its
    snapshot (``fresh`` fetches every model again); the result says how many were reused. Models are fetched
    concurrently with one immediate retry per failing call: what still fails is listed per model with "Retry".
    """
    bar = st.progress(0.0, text="Scanning models…")
    started = time.perf_counter()
    todo = [m for m in models if m.portfolios]

    def progress(done: int, total: int, model: InvestmentModel) -> None:
        bar.progress(done / total, text=f"{done} of {total} models fetched — last '{escape_md(model.name)}'")

    try:
        outcome = scan.scan_models(
            resources.services(),
            todo,
            state.get(drift_keys.DRIFT_VIEWS) or {},
            max_age=REUSE_SNAPSHOT,
            fresh=fresh,
            on_done=progress,
        )
        state.put(drift_keys.DRIFT_VIEWS, outcome.views)
        rebalanced = rebalanced_portfolio_ids([p for m in todo for p in m.portfolios], bar)
    except EngineError as err:  # the database or the services as a whole: say what failed
        bar.empty()
        feedback.show(err, "scan every model")
        return None
    bar.empty()
    result = {
        "at": dt.datetime.now(dt.UTC),
        "seconds": time.perf_counter() - started,
        "model_ids": [m.model_id for m in models],
        "rebalanced": rebalanced,
        "reused": outcome.reused,
        "errors": {mid: feedback.describe(err, "read this model").markdown() for mid, err in outcome.errors.items()},
    }
    state.put(drift_keys.DRIFT_TRIAGE, result)
    return result


@feedback.callback("retry the model")
def retry_model(model: InvestmentModel) -> None:
    """Callback of a model's "Retry": fetch it again with the normal retry policy (backoff included)."""
    views: dict[str, DriftView] = state.get(drift_keys.DRIFT_VIEWS) or {}
    views[model.model_id] = build_view(model)
    state.put(drift_keys.DRIFT_VIEWS, views)
    triage = state.get(drift_keys.DRIFT_TRIAGE)
    if triage:
        triage.get("errors", {}).pop(model.model_id, None)


def render_scan_failures(
    views: Sequence[DriftView], errors: Mapping[str, str], models: Sequence[InvestmentModel]
) -> None:
    """Explain the "Failed" column per model: which portfolios could not be read and why, with "Retry" per model
    (the scan retries a failing call once at once; "Retry" fetches the model again with the normal backoff)."""
    by_id = {m.model_id: m for m in models}
    failing = [(v.model, frames.failure_reasons(v)) for v in views]
    failing = [(m, reasons) for m, reasons in failing if reasons]
    total = sum(len(r) for _, r in failing) + len(errors)
    if not total:
        return
    names: Mapping[str, str] = {}
    with feedback.guard("load the portfolio names", stop=False):  # failed portfolios have no analysed name
        names = resources.portfolio_names()
    with st.expander(f"Failed: {total:,} could not be read — why, and retry", icon=":material/error:", expanded=True):
        for mid, message in errors.items():
            model = by_id.get(mid)
            if model is None:
                continue
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            c1.markdown(f"**{escape_md(model.name)}**: the whole model could not be read — {message}")
            c2.button("Retry", key=f"drift_retry_{mid}", icon=":material/refresh:", on_click=retry_model, args=(model,))
        for model, reasons in failing:
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            lines = [f"- {escape_md(names.get(who, who))}: {escape_md(reason)}" for who, reason in reasons[:20]]
            more = f"\n\n… and {len(reasons) - 20:,} more" if len(reasons) > 20 else ""
            c1.markdown(f"**{escape_md(model.name)}** · {len(reasons):,} portfolio(s)\n" + "\n".join(lines) + more)
            c2.button("Retry", key=f"drift_retry_{model.model_id}", icon=":material/refresh:", on_click=retry_model,
                      args=(by_id.get(model.model_id, model),))  # fmt: skip


def render_triage(models: Sequence[InvestmentModel], tolerance: float) -> None:
    """The firm-wide triage: per-model counts and the queue of the worst portfolios."""
    c1, c2, c3 = st.columns([1, 1, 3], vertical_alignment="center")
    scan = c1.button("Scan all models", key="drift_scan", type="primary", icon=":material/radar:", width="stretch")
    fresh = c2.button("Rescan, fresh prices", key="drift_scan_fresh", icon=":material/refresh:", width="stretch")
    caption = c3.empty()
    triage = scan_all(models, fresh=fresh) if scan or fresh else state.get(drift_keys.DRIFT_TRIAGE)
    if triage:
        reused = triage.get("reused", 0)
        caption.caption(
            f"Last scan {fmt_when(triage['at'])} UTC · {len(triage['model_ids'])} models in "
            f"{triage['seconds']:.1f} s"
            + (f" ({reused} reused from snapshots under {REUSE_SNAPSHOT.seconds // 60} min old)" if reused else "")
            + ". Prices move: rescan for current figures."
        )
    else:
        caption.caption("Fetches holdings and prices of every linked portfolio — may take a while for large models.")
    if not triage:
        return
    views: dict[str, DriftView] = state.get(drift_keys.DRIFT_VIEWS) or {}
    scanned = [views[m] for m in triage["model_ids"] if m in views]
    summary = frames.model_summary(scanned, models, triage["rebalanced"], tolerance)
    st.plotly_chart(
        drift_charts.triage_figure(frames.triage_portfolios(scanned)), key="drift_triage_chart", width="stretch"
    )
    st.dataframe(
        as_percent(summary.drop(columns=["model_id"]), "share_out"),
        hide_index=True,
        width="stretch",
        column_config=column_config(frames.TRIAGE_TABLE),
        column_order=names(frames.TRIAGE_TABLE),
    )  # fmt: skip
    render_scan_failures(scanned, triage.get("errors", {}), models)
    st.subheader("Worst portfolios", anchor=False)
    by = st.segmented_control(
        "Rank by",
        ["drift_dollars", "drift_weight"],
        format_func={"drift_dollars": "Drift ($)", "drift_weight": "Drift now (Σ|weight − target|)"}.get,
        default="drift_dollars",
        key="drift_rank_by",
    )
    queue = as_percent(frames.worst_queue(scanned, tolerance, by=by or "drift_dollars"), "drift_weight", "cash_weight")
    event = st.dataframe(
        queue[names(frames.QUEUE_TABLE)],
        hide_index=True,
        width="stretch",
        column_config=column_config(frames.QUEUE_TABLE),
        on_select="rerun",
        selection_mode="multi-row",
        key=drift_keys.DRIFT_QUEUE,
    )  # fmt: skip
    render_queue_actions(queue, event.selection.rows, {v.model.name: v.model for v in scanned})


def render_queue_actions(queue: pd.DataFrame, rows: Sequence[int], by_name: Mapping[str, InvestmentModel]) -> None:
    """From the triage queue: the selected rows open a what-if of their model (one model at a time)."""
    picked = queue.iloc[[i for i in rows if i < len(queue)]]
    models = picked["model"].unique().tolist()
    if len(models) > 1:
        st.caption("Select portfolios of one model for a what-if (a run rebalances one model).")
        return
    if not models:
        st.caption("Select rows of the queue to run a what-if for them.")
        return
    whatif_button(
        by_name[models[0]],
        picked["portfolio_id"].tolist(),
        f"the selected of '{escape_md(models[0])}'",
        "drift_queue_whatif",
    )
