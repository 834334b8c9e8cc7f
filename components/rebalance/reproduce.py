"""What-if page: a saved run's settings loaded into the panel (History → "Load these settings into What-if").

History calls :func:`request` with the record; the What-if page calls :func:`apply` before its widgets render, which
sets them to the run's scope, minimum cash, time limit and trade controls (the widget keys of the model as it is
now) and, when the run had run-only targets and bands, starts the overrides grid from them
(:func:`overrides_for`). Nothing runs: :func:`render_note` says where the settings came from until the PM runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from components import state
from components.feedback import escape_md
from components.rebalance.controls import panel_values
from components.rebalance.keys import (
    LOADED,
    MIN_CASH,
    MIN_CASH_PCT,
    MODEL_PICK,
    OVERRIDE,
    PORTFOLIOS,
    SCOPE,
    TIME_LIMIT,
)
from components.rebalance.view import SCOPE_ALL, SCOPE_SOME, TIME_LIMITS
from engine.models import InvestmentModel, Position, RebalanceOptions, RebalanceRecord


@dataclass(frozen=True)
class RunSettings:
    """What a saved run was asked with, as the What-if panel takes it."""

    model_id: str
    portfolio_ids: tuple[str, ...]
    options: RebalanceOptions | None  # None: saved before runs kept their options
    overrides: tuple[Position, ...] | None  # the run's targets and bands when they were run-only, else None
    model_version: int | None  # the model version the run used (None: not recorded)
    source: str  # markdown: which saved run


@dataclass(frozen=True)
class Loaded:
    """Settings applied to the panel: the grid's starting targets (per model version) and the note, until a run."""

    model_id: str
    model_version: int
    overrides: tuple[Position, ...] | None
    note: str | None


def settings_of(record: RebalanceRecord) -> RunSettings:
    """The saved run's scope (its saved portfolios), options and run-only targets and bands."""
    run = record.run
    overrides = None
    if run is not None and run.overrides and record.portfolios:
        # every portfolio of a run has the run's model positions (zero targets are never model positions)
        overrides = tuple(
            Position(security_id=p.security_id, target=p.target, high_drift=p.high_drift, low_drift=p.low_drift)
            for p in record.portfolios[0].positions
            if p.target != 0
        )
    scenario = f" (scenario “{escape_md(run.scenario_name)}”)" if run and run.scenario_name else ""
    when = record.rebalance_date.astimezone(dt.UTC)
    return RunSettings(
        model_id=record.model_id,
        portfolio_ids=tuple(p.portfolio_id for p in record.portfolios),
        options=record.options,
        overrides=overrides,
        model_version=None if run is None else run.model_version,
        source=f"the saved rebalance of “{escape_md(record.model_name)}” of {when:%b %d, %Y %H:%M} UTC{scenario}",
    )


def request(record: RebalanceRecord) -> None:
    """Button callback (History): open the What-if page with this run's settings in the panel."""
    state.select_model(record.model_id)
    state.put(state.WHATIF_SETTINGS, settings_of(record))


def apply(models: Sequence[InvestmentModel]) -> None:
    """Before the What-if widgets render: set them to the settings History asked for (once)."""
    pending: RunSettings | None = state.get(state.WHATIF_SETTINGS)
    if pending is None:
        return
    state.drop(state.WHATIF_SETTINGS)
    model = next((m for m in models if m.model_id == pending.model_id), None)
    if model is None:
        st.warning(
            f"Could not load the settings of {pending.source}: its model no longer exists.", icon=":material/warning:"
        )
        return
    st.session_state[MODEL_PICK] = model.model_id
    kept = [p for p in pending.portfolio_ids if p in set(model.portfolios)]
    if kept and set(kept) == set(model.portfolios):
        st.session_state[SCOPE] = SCOPE_ALL
    else:
        st.session_state[SCOPE] = SCOPE_SOME
        st.session_state[f"{PORTFOLIOS}_{model.model_id}"] = kept
    dropped = _set_options(model, pending.options)
    st.session_state[OVERRIDE] = pending.overrides is not None
    note = _note(pending, model, len(kept), len(dropped))
    st.session_state[LOADED] = Loaded(model.model_id, model.version, pending.overrides, note)


def _set_options(model: InvestmentModel, options: RebalanceOptions | None) -> list[str]:
    """The run's cash floor, time limit and controls into the panel's widget keys; returns restricted ids unknown
    now (left out: a picker cannot hold them)."""
    if options is None:
        return []
    st.session_state[MIN_CASH] = float(options.min_cash)
    st.session_state[MIN_CASH_PCT] = float(options.min_cash_fraction * 100)
    st.session_state[TIME_LIMIT] = min(max(float(options.time_limit), TIME_LIMITS[0]), TIME_LIMITS[1])
    values, dropped = panel_values(model, options.controls)
    st.session_state.update(values)
    return dropped


def _note(pending: RunSettings, model: InvestmentModel, kept: int, dropped: int) -> str:
    """Where the settings came from, what was loaded, and what could not be."""
    loaded = [f"scope ({kept:,} portfolio(s) the run saved)"]
    if pending.options is not None:
        loaded.append("minimum cash, time limit and trade controls")
    if pending.overrides is not None:
        loaded.append("its run-only targets and bands (overrides grid)")
    text = f"**Loaded from {pending.source}:** " + ", ".join(loaded) + "."
    if pending.options is None:
        text += " Its minimum cash and trade controls were not recorded (saved before runs kept them)."
    if pending.model_version is not None and pending.model_version != model.version:
        text += f" The run used model v{pending.model_version}; it is now v{model.version}" + (
            "." if pending.overrides is not None else ": its targets and bands may differ."
        )
    if gone := len(pending.portfolio_ids) - kept:
        text += f" {gone:,} of its portfolios no longer belong{'s' if gone == 1 else ''} to the model."
    if dropped:
        text += f" {dropped:,} restricted security id(s) are unknown now and were left out."
    return text + " Nothing has run yet (the market data will be today's): check the settings, then **Run what-if**."


def overrides_for(model: InvestmentModel) -> tuple[Position, ...] | None:
    """The targets and bands the overrides grid starts from for this model: a loaded run's run-only ones, or None."""
    loaded: Loaded | None = st.session_state.get(LOADED)
    if loaded is None or loaded.overrides is None:
        return None
    return loaded.overrides if (loaded.model_id, loaded.model_version) == (model.model_id, model.version) else None


def render_note(model: InvestmentModel) -> None:
    """Where the panel's settings came from, while they are the loaded ones' model and nothing has run since."""
    loaded: Loaded | None = st.session_state.get(LOADED)
    if loaded is not None and loaded.note and loaded.model_id == model.model_id:
        st.info(loaded.note, icon=":material/history:")


def ran() -> None:
    """A run started: the note has done its job (the grid keeps starting from the loaded targets)."""
    loaded: Loaded | None = st.session_state.get(LOADED)
    if loaded is not None:
        st.session_state[LOADED] = dataclasses.replace(loaded, note=None)


__all__ = ["RunSettings", "apply", "overrides_for", "ran", "render_note", "request", "settings_of"]
