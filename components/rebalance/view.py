"""What-if page, part 1: pick model and scope, set parameters (cash floor, overrides, time limit), run in st.status.

Overrides are edited in a grid of the model's positions (securities by ticker and description), validated like a
model save and used for this run only: the stored model is never changed. See :mod:`components.rebalance.run` for
the run itself and how "Cancel" works.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pandas as pd
import streamlit as st

from components import feedback, pickers, resources, state
from components.models.draft import weight_cell, weight_problem, weight_text
from components.rebalance import store, workspace
from components.rebalance.keys import (
    CANCEL,
    CANCELLED,
    LAST_RUN,
    MIN_CASH,
    MIN_CASH_PCT,
    MODEL_PICK,
    OVERRIDE,
    PORTFOLIOS,
    REFRESH,
    SCOPE,
    TIME_LIMIT,
)
from components.rebalance.run import RunRequest, run_scenario, warm_solver_pool
from components.tables import fmt_money, weight_text_col
from data.services import GlobeCoServices
from engine.errors import InvalidInput
from engine.models import InvestmentModel, Position, RebalanceOptions
from engine.scenarios import model_with_overrides, positions_differ

SCOPE_ALL = "All portfolios of the model"
SCOPE_SOME = "Selected portfolios"
OVERRIDE_WIDTHS = {"security": 300, "target": 90, "low_drift": 90, "high_drift": 90}
TIME_LIMITS = (1.0, 600.0)  # the solver time limit a run may ask for, in seconds


def editor_key(model: InvestmentModel) -> str:
    return f"rebalance_overrides_{model.model_id}_v{model.version}"


def apply_prefill() -> None:
    """Open on the model and portfolios another page asked for (``state.prefill_whatif``), before the widgets."""
    prefill = state.take_whatif_prefill()
    if prefill is None:
        return
    model_id, portfolio_ids = prefill
    st.session_state[MODEL_PICK] = model_id
    st.session_state[SCOPE] = SCOPE_SOME
    st.session_state[f"{PORTFOLIOS}_{model_id}"] = list(portfolio_ids)


def pick_model(models: Sequence[InvestmentModel], preselected: str | None) -> InvestmentModel:
    """Model selectbox, preselecting the model chosen on another page."""
    by_id = {m.model_id: m for m in models}
    ids = list(by_id)
    index = ids.index(preselected) if preselected in by_id else 0
    if st.session_state.get(MODEL_PICK) not in by_id:
        st.session_state.pop(MODEL_PICK, None)
    pid = st.selectbox(
        "Investment model",
        ids,
        index=index,
        key=MODEL_PICK,
        format_func=lambda i: f"{by_id[i].name} · {len(by_id[i].portfolios):,} portfolios · v{by_id[i].version}",
    )
    return by_id[pid]


def pick_scope(model: InvestmentModel, names: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """All portfolios of the model, or a selection of them (one portfolio is a selection of one)."""
    scope = st.radio("Portfolios", [SCOPE_ALL, SCOPE_SOME], key=SCOPE, horizontal=True)
    if scope == SCOPE_ALL:
        return tuple(model.portfolios), True
    key = f"{PORTFOLIOS}_{model.model_id}"
    pickers.search_box(
        "Find portfolios",
        pickers.portfolio_candidates(names, model.portfolios),
        key,
        pickers.add_to_selection(key),
        placeholder="Part of a portfolio name, then Enter",
        help="Names starting with the text first, then names containing it; fuzzy matches are marked. Enter adds "
        "the only (or the exact) match.",
    )
    picked = st.multiselect(
        "Portfolios to rebalance",
        list(model.portfolios),
        key=key,
        format_func=lambda p: names.get(p) or p,
        placeholder="Search above, or pick from the list",
        filter_mode=None,
    )
    return tuple(picked), False


def overrides_frame(model: InvestmentModel, labels: Mapping[str, str]) -> pd.DataFrame:
    rows = [
        {
            "security": labels.get(p.security_id, f"{p.security_id} — unknown security"),
            "target": weight_text(p.target),
            "low_drift": weight_text(p.low_drift),
            "high_drift": weight_text(p.high_drift),
        }
        for p in model.positions
    ]
    return pd.DataFrame(rows, columns=list(OVERRIDE_WIDTHS)).astype("object")


def positions_from_frame(frame: pd.DataFrame, label_to_id: Mapping[str, str]) -> tuple[list[Position], list[str]]:
    """Grid rows → positions; problems a position cannot even be built from (empty cells) are listed by row."""
    out: list[Position] = []
    problems: list[str] = []
    for i, rec in enumerate(frame.to_dict("records")):
        label = rec.get("security")
        sid = label_to_id.get(label) if isinstance(label, str) else None
        if sid is None and isinstance(label, str) and " — unknown security" in label:
            sid = label.split(" — ")[0]
        weights = {c: weight_cell(rec.get(c), c) for c in ("target", "low_drift", "high_drift")}
        missing = [c for c, v in weights.items() if v is None]
        if sid is None:
            problems.append(f"row {i + 1}: pick a security")
            continue
        if missing:
            problems.append(f"row {i + 1}: {', '.join(missing)} must be filled in")
            continue
        refused = [(c, v) for c, v in weights.items() if isinstance(v, str)]
        for c, v in refused:
            problems.append(f"row {i + 1}: {weight_problem(v, c)}")
        if refused:
            continue
        out.append(
            Position(
                security_id=sid,
                target=weights["target"],
                low_drift=weights["low_drift"],
                high_drift=weights["high_drift"],
            )
        )
    return out, problems


def render_overrides(model: InvestmentModel, start: Sequence[Position] | None = None) -> InvestmentModel | None:
    """The per-run overrides grid; returns the model to run (None while the grid breaks a rule).

    ``start``: the targets and bands the grid starts from instead of the model's (a saved run's, loaded from History).
    """
    if not st.toggle(
        "Override targets and bands for this run",
        key=OVERRIDE,
        help="Edits apply to this what-if only; the stored model is never changed.",
    ):
        return model
    with feedback.guard("load the securities"):
        securities = resources.securities()
    labels = dict(zip(securities["security_id"], securities["label"], strict=True))
    label_to_id = {v: k for k, v in labels.items()}
    cc = st.column_config
    base = model if start is None else model.model_copy(update={"positions": tuple(start)})
    # the grid keeps its edits relative to the rows it started from: other starting rows, another key
    key = editor_key(model) if start is None else f"{editor_key(model)}_from_{hash(base.positions):x}"
    edited = st.data_editor(
        overrides_frame(base, labels),
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="content",
        column_config={
            "security": cc.SelectboxColumn(
                "Security", options=sorted(labels.values()), required=True, width=OVERRIDE_WIDTHS["security"]
            ),
            "target": weight_text_col("Target", OVERRIDE_WIDTHS["target"], help="0–95 % in 0.5 % steps."),
            "low_drift": weight_text_col("Low drift", OVERRIDE_WIDTHS["low_drift"]),
            "high_drift": weight_text_col("High drift", OVERRIDE_WIDTHS["high_drift"]),
        },
    )
    positions, problems = positions_from_frame(edited, label_to_id)
    try:
        run_model = model_with_overrides(model, positions)
    except InvalidInput as err:
        problems += [v.message for v in err.violations]
        run_model = None
    if problems:
        st.error(
            f"**The overrides break {len(problems)} rule(s) — fix them to run:**\n"
            + "\n".join(f"- {p}" for p in problems),
            icon=":material/rule:",
        )
        return None
    total = sum((p.target for p in run_model.positions), Decimal(0))
    changed = positions_differ(model.positions, run_model.positions)
    st.caption(
        f"Σ targets {float(total) * 100:.1f} % · implied cash {float(1 - total) * 100:.1f} % · "
        + ("differs from the stored model (this run only)" if changed else "same as the stored model")
    )
    return run_model


def overridden(model: InvestmentModel, run_model: InvestmentModel) -> bool:
    """Whether the run's targets and bands differ from the stored model's (as numbers, in any order)."""
    return positions_differ(model.positions, run_model.positions)


def render_parameters(default_limit: float = 30.0, trade_date: dt.date | None = None) -> RebalanceOptions:
    """The run's options: cash floor (amount and % of MV, the greater applies per portfolio), solver time limit."""
    c1, c2, c3 = st.columns(3)
    amount = c1.number_input(
        "Minimum cash ($)",
        min_value=0.0,
        value=0.0,
        step=1000.0,
        format="%.2f",
        key=MIN_CASH,
        help="Cash each portfolio keeps after the trades, at least this amount.",
    )
    pct = c2.number_input(
        "Minimum cash (% of MV)",
        min_value=0.0,
        max_value=100.0,
        value=0.0,
        step=0.5,
        format="%.2f",
        key=MIN_CASH_PCT,
        help="At least this share of each portfolio's market value; the greater of the two applies.",
    )
    limit = c3.number_input(
        "Solver time limit (s)",
        min_value=TIME_LIMITS[0],
        max_value=TIME_LIMITS[1],
        value=float(default_limit),
        step=5.0,
        key=TIME_LIMIT,
        help="Per portfolio; a portfolio that needs longer is reported as failed.",
    )
    return RebalanceOptions(
        min_cash=Decimal(str(round(amount, 2))),
        min_cash_fraction=Decimal(str(round(pct, 4))) / 100,
        time_limit=float(limit),
        trade_date=trade_date,
    )


def request_cancel() -> None:
    """Cancel button callback: the click itself stops the running script; the flag explains it on the rerun."""
    st.session_state[CANCELLED] = True


def show_last_run() -> None:
    """The finished run's status line, once, on the rerun that follows it."""
    label = st.session_state.pop(LAST_RUN, None)
    if label:
        st.status(label, state="complete", expanded=False)


def show_cancelled() -> None:
    if st.session_state.pop(CANCELLED, False):
        st.warning(
            "Run cancelled — nothing was kept. The frozen market snapshot, if taken, is reused next time.",
            icon=":material/cancel:",
        )


def execute(request: RunRequest, services: GlobeCoServices, workers: int | None = None) -> store.Scenario | None:
    """Run in st.status with a progress bar and a Cancel button; add the scenario to the session on success."""
    with st.status(f"Running “{feedback.escape_md(request.name)}”…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting…")
        cancel = st.empty()
        cancel.button("Cancel", key=CANCEL, on_click=request_cancel, icon=":material/cancel:")
        try:
            scenario = run_scenario(services, request, lambda f, t: bar.progress(f, text=t), workers)
        except Exception as err:  # typed errors get their message (naming the service); nothing is kept
            msg = feedback.describe(err, f"run “{request.name}”")
            cancel.empty()
            status.update(label=msg.headline, state="error", expanded=True)
            feedback.show(err, f"run “{request.name}”")
            return None
        cancel.empty()
        try:
            dropped = workspace.keep(scenario)  # persisted first: a full workspace keeps nothing
        except Exception as err:  # the size limit (InvalidInput) or the database: said, nothing is kept
            status.update(label=feedback.describe(err, "keep the scenario").headline, state="error", expanded=True)
            feedback.show(err, f"keep “{request.name}” in the workspace")
            return None
        for name in dropped:
            st.toast(
                f"“{feedback.escape_md(name)}” was dropped: "
                f"the session keeps the {store.MAX_SCENARIOS} newest scenarios",
                icon=":material/delete_sweep:",
            )
        s = scenario.summary
        took = scenario.timings["snapshot"] + scenario.timings["solve"]
        label = (
            f"Done: {s.optimal + s.relaxed:,} of {s.portfolios:,} portfolios rebalanced, {s.orders:,} orders, "
            f"{s.infeasible + s.failed:,} not rebalanced"
            + (f", {s.relaxed:,} nearest feasible (bands breached)" if s.relaxed else "")
            + f" · {took:.1f} s"
        )
        status.update(label=label, state="complete", expanded=False)
    warm_solver_pool(workers)  # the next scenario of this snapshot need not wait for the solver processes
    # rerun so every widget (scenario name, snapshot note, pickers) reflects the new scenario
    st.session_state[LAST_RUN] = label
    st.rerun()
    return scenario


def snapshot_note(model: InvestmentModel, portfolio_ids: tuple[str, ...]) -> None:
    """Say whether the next run reuses frozen prices, with a way to take fresh market data."""
    snap = store.frozen_snapshot(model.model_id, portfolio_ids)
    if snap is None:
        st.caption(
            "The first run takes a market snapshot (holdings and one price per security); "
            "later runs of this scope reuse it, so scenarios compare like with like."
        )
        return
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    when = f"{snap.taken_at:%H:%M:%S} UTC"
    c1.caption(
        f"Prices and holdings frozen at {when} for this scope "
        f"({len(snap.prices):,} prices, cash {fmt_money(sum(p.cash for p in snap.portfolios))})."
    )
    c2.button(
        "Take fresh snapshot",
        key=REFRESH,
        on_click=store.drop_snapshots,
        args=(model.model_id,),
        icon=":material/refresh:",
    )


__all__ = [
    "execute",
    "overridden",
    "pick_model",
    "pick_scope",
    "render_overrides",
    "render_parameters",
    "show_cancelled",
    "show_last_run",
    "snapshot_note",
]
