"""What-if scenarios as the session holds them: each run with its parameters, frozen snapshot and results.

This is the session's working copy of the workspace in the page URL (:mod:`components.rebalance.workspace` persists
and reloads it, issue #12 §2). "Save rebalance" persists exactly ``Scenario.results`` (product-spec 3.16) and records
the saved id on the scenario; order submissions live in the submission log (``data.repositories.submissions``), not
here. The store functions take the mapping to use (``st.session_state`` by default) so they are testable with a
plain dict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from components.rebalance.frames import controls_labels
from components.rebalance.keys import CURRENT, SCENARIOS, SNAPSHOTS
from data.repositories.workspaces import MAX_SCENARIOS as WORKSPACE_MAX_SCENARIOS
from data.snapshot import MarketSnapshot
from engine.models import InvestmentModel, PortfolioResult, RebalanceOptions
from engine.scenarios import REBALANCED, PortfolioMetrics, ScenarioSummary, portfolio_metrics, summarise

MAX_NAME = 60
MAX_SCENARIOS = WORKSPACE_MAX_SCENARIOS  # the workspace refuses more (with a message) before the session drops any


@dataclass(frozen=True)
class ScenarioParams:
    """What the user asked for: the model and scope, the engine's run options, and whether targets were overridden."""

    model_id: str
    portfolio_ids: tuple[str, ...]
    all_portfolios: bool
    options: RebalanceOptions = field(default_factory=RebalanceOptions)
    overridden: bool = False

    def scope_label(self) -> str:
        n = len(self.portfolio_ids)
        noun = "portfolio" if n == 1 else "portfolios"
        return f"all {n:,} {noun} of the model" if self.all_portfolios else f"{n:,} selected {noun}"

    def scope_short(self) -> str:
        n = len(self.portfolio_ids)
        return f"{n:,} portfolio{'s' if n != 1 else ''}" + ("" if self.all_portfolios else " (selection)")

    def min_cash_short(self) -> str:
        parts = []
        if self.options.min_cash > 0:
            parts.append(f"${float(self.options.min_cash):,.0f}")
        if self.options.min_cash_fraction > 0:
            parts.append(f"{float(self.options.min_cash_fraction) * 100:g} %")
        return " | ".join(parts) or "none"

    def min_cash_label(self) -> str:
        parts = []
        if self.options.min_cash > 0:
            parts.append(f"${float(self.options.min_cash):,.2f}")
        if self.options.min_cash_fraction > 0:
            parts.append(f"{float(self.options.min_cash_fraction) * 100:g} % of MV")
        return " or ".join(parts) + (" (greater applies)" if len(parts) == 2 else "") if parts else "none"


@dataclass(frozen=True)
class SubmissionOutcome:
    """What the submission log knows of one proposed order (key ``portfolio:security:side``)."""

    outcome: str  # "success", "failed", "unknown" (may exist: reconcile first) or "sending" (another tab posts it)
    message: str = ""
    order_id: int | None = None
    submitted_at: dt.datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


@dataclass
class Scenario:
    """One what-if run. ``model`` is the stored model as read (its version guards the save); ``run_model`` is what
    the engine solved (with per-run overrides, if any)."""

    name: str
    params: ScenarioParams
    model: InvestmentModel
    run_model: InvestmentModel
    snapshot: MarketSnapshot  # prices frozen for this scenario
    results: list[PortfolioResult]
    tickers: dict[str, str] = field(default_factory=dict)
    out_of_band_before: dict[str, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    saved_rebalance_id: str | None = None
    saved_at: dt.datetime | None = None
    version: int = 1  # the stored scenario's version: renames and deletes are conditional on it
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # derived views (order rows ...) of the results
    _metrics: list[PortfolioMetrics] | None = field(default=None, repr=False)
    _summary: ScenarioSummary | None = field(default=None, repr=False)

    def replace_results(self, results: list[PortfolioResult], out_of_band_before: dict[str, bool]) -> None:
        """New results for some portfolios (a retry); derived views are recomputed. Never after a save."""
        if self.saved_rebalance_id:
            raise ValueError("a saved scenario is final; run a new one instead")
        by_id = {r.portfolio_id: r for r in results}
        self.results = [by_id.get(r.portfolio_id, r) for r in self.results]
        self.out_of_band_before.update(out_of_band_before)
        self._metrics = None
        self._summary = None
        self.cache.clear()

    @property
    def snapshot_time(self) -> dt.datetime:
        return self.snapshot.taken_at

    @property
    def metrics(self) -> list[PortfolioMetrics]:
        """Per-portfolio metrics, computed once (results never change after the run)."""
        if self._metrics is None:
            self._metrics = [portfolio_metrics(r, self.out_of_band_before.get(r.portfolio_id)) for r in self.results]
        return self._metrics

    @property
    def summary(self) -> ScenarioSummary:
        """The scenario's totals, computed once: read several times by every run of the Orders page and the Save
        click (~30 ms each for 1,000 portfolios)."""
        if self._summary is None:
            self._summary = summarise(self.metrics)
        return self._summary

    @property
    def optimal_results(self) -> list[PortfolioResult]:
        """The results with orders: optimal, and relaxed (nearest feasible, flagged with its band breaches)."""
        return [r for r in self.results if r.status in REBALANCED]

    def parameter_labels(self) -> dict[str, str]:
        """Parameters as display text, for the side-by-side comparison."""
        taken = self.snapshot_time
        return {
            "Model": f"{self.model.name} (v{self.model.version})",
            "Scope": self.params.scope_label(),
            "Minimum cash": self.params.min_cash_label(),
            **controls_labels(self.params.options, self.tickers),
            "Time limit": f"{self.params.options.time_limit:g} s",
            "Targets and bands": "per-run overrides" if self.params.overridden else "as in the model",
            "Snapshot": taken.strftime("%H:%M:%S UTC") if taken else "—",
            "Saved": self.saved_rebalance_id or "not saved",
        }


def _store(store: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
    return st.session_state if store is None else store


def all_scenarios(store: MutableMapping[str, Any] | None = None) -> list[Scenario]:
    """Every scenario of the session, oldest first."""
    return _store(store).setdefault(SCENARIOS, [])


def get(scenario_id: str | None, store: MutableMapping[str, Any] | None = None) -> Scenario | None:
    return next((s for s in all_scenarios(store) if s.id == scenario_id), None)


def current(store: MutableMapping[str, Any] | None = None) -> Scenario | None:
    """The scenario the user looks at (the newest when none was picked)."""
    items = all_scenarios(store)
    return get(_store(store).get(CURRENT), store) or (items[-1] if items else None)


def set_current(scenario_id: str | None, store: MutableMapping[str, Any] | None = None) -> None:
    _store(store)[CURRENT] = scenario_id


def next_name(store: MutableMapping[str, Any] | None = None) -> str:
    """``Scenario N`` with the first N not taken."""
    taken = {s.name for s in all_scenarios(store)}
    n = len(taken) + 1
    while f"Scenario {n}" in taken:
        n += 1
    return f"Scenario {n}"


def _clean_name(name: str, scenario_id: str | None, store: MutableMapping[str, Any] | None) -> str:
    clean = " ".join(str(name).split())
    if not clean:
        raise ValueError("a scenario needs a name")
    if len(clean) > MAX_NAME:
        raise ValueError(f"a scenario name has at most {MAX_NAME} characters")
    if any(s.name == clean and s.id != scenario_id for s in all_scenarios(store)):
        raise ValueError(f"a scenario named {clean!r} already exists")
    return clean


def add(scenario: Scenario, store: MutableMapping[str, Any] | None = None) -> list[str]:
    """Keep a new scenario (name made unique with a suffix) and make it current.

    Beyond ``MAX_SCENARIOS`` the oldest unsaved ones are dropped (then the oldest saved ones), with the snapshots
    no remaining scenario uses; returns the names dropped.
    """
    base = " ".join(scenario.name.split())[:MAX_NAME] or next_name(store)
    names = {s.name for s in all_scenarios(store)}
    name, n = base, 2
    while name in names:
        name, n = f"{base} ({n})", n + 1
    scenario.name = name
    items = all_scenarios(store)
    items.append(scenario)
    set_current(scenario.id, store)
    dropped: list[str] = []
    while len(items) > MAX_SCENARIOS:
        victim = next((s for s in items if not s.saved_rebalance_id), items[0])
        items.remove(victim)
        dropped.append(victim.name)
    if dropped:
        used = {id(s.snapshot) for s in items}
        snaps = _store(store).setdefault(SNAPSHOTS, {})
        for key in [k for k, v in snaps.items() if id(v) not in used]:
            del snaps[key]
    return dropped


def rename(scenario_id: str, name: str, store: MutableMapping[str, Any] | None = None) -> None:
    """Rename; raises ValueError for a blank, too long or duplicate name."""
    scenario = get(scenario_id, store)
    if scenario is None:
        raise ValueError("that scenario no longer exists")
    scenario.name = _clean_name(name, scenario_id, store)


def delete(scenario_id: str, store: MutableMapping[str, Any] | None = None) -> None:
    """Forget a scenario (and its current mark)."""
    s = _store(store)
    s[SCENARIOS] = [x for x in all_scenarios(store) if x.id != scenario_id]
    if s.get(CURRENT) == scenario_id:
        s[CURRENT] = None


def snapshot_key(model_id: str, portfolio_ids: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    return model_id, tuple(sorted(portfolio_ids))


def frozen_snapshot(
    model_id: str, portfolio_ids: tuple[str, ...], store: MutableMapping[str, Any] | None = None
) -> MarketSnapshot | None:
    """The snapshot already taken for this model and scope, if any (prices frozen across its scenarios)."""
    return _store(store).setdefault(SNAPSHOTS, {}).get(snapshot_key(model_id, portfolio_ids))


def keep_snapshot(
    model_id: str,
    portfolio_ids: tuple[str, ...],
    snapshot: MarketSnapshot,
    store: MutableMapping[str, Any] | None = None,
) -> None:
    _store(store).setdefault(SNAPSHOTS, {})[snapshot_key(model_id, portfolio_ids)] = snapshot


def drop_snapshots(model_id: str | None = None, store: MutableMapping[str, Any] | None = None) -> None:
    """Forget frozen snapshots (of one model, or all): the next run takes fresh market data."""
    snaps = _store(store).setdefault(SNAPSHOTS, {})
    for key in [k for k in snaps if model_id is None or k[0] == model_id]:
        del snaps[key]


def order_key(portfolio_id: str, security_id: str, side: str) -> str:
    return f"{portfolio_id}:{security_id}:{side}"


__all__ = [
    "Scenario",
    "ScenarioParams",
    "SubmissionOutcome",
    "add",
    "all_scenarios",
    "current",
    "delete",
    "drop_snapshots",
    "frozen_snapshot",
    "get",
    "keep_snapshot",
    "next_name",
    "order_key",
    "rename",
    "set_current",
]
