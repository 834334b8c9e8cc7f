"""The What-if workspace: the session's scenarios persisted in MongoDB under the id in the page URL (``?ws=…``).

A reload, a reconnect or a server restart finds the id in the URL and loads the same scenarios back (issue #12 §2).
Each scenario stores its inputs (scope, options with the trade date pinned, the model as read, the run-only
overrides, saved run id) and its frozen market snapshot; results are recomputed on load (the engine is
deterministic), once per session and scenario. The first run of a session without a workspace creates one. Renames
and deletes are conditional on the scenario's version: a stale tab gets the conflict message and reloads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from components import auth, feedback, memory, resources, state
from components.rebalance import store
from components.rebalance.keys import NEW_WORKSPACE, SCENARIOS, SNAPSHOTS, WORKSPACE, WORKSPACE_NOTICE
from components.rebalance.run import out_of_band_flags, solve
from data.access import LOCAL_USER
from data.repositories.workspaces import StoredScenario, WorkspaceInfo
from data.snapshot import MarketSnapshot
from data.snapshot_codec import decode_snapshot, encode_snapshot
from engine.errors import EngineError, NotFound, VersionConflict
from engine.models import InvestmentModel, PortfolioResult, RebalanceOptions
from engine.rebalance import today_utc

URL_PARAM = "ws"
Progress = Callable[[float, str], None]


def current_id() -> str | None:
    """The id of the workspace this session works in (None before its first run)."""
    return state.get(WORKSPACE)


def _owner() -> str:
    return auth.user_id() or LOCAL_USER


def ensure(progress: Progress | None = None) -> None:
    """Bind the session to the workspace in the URL: load it when the session holds another one (or none).

    Without ``?ws=`` in the URL the session's own workspace (if any) is written back to it, so a bookmark or an F5
    always finds it. An unknown or expired id is said once and the page starts empty.
    """
    wanted = st.query_params.get(URL_PARAM)
    loaded = current_id()
    if not wanted:
        if loaded:
            st.query_params[URL_PARAM] = loaded
        return
    if wanted == loaded:
        return
    try:
        info = resources.workspace_repo().get(wanted)
    except (NotFound, EngineError) as err:
        state.put(WORKSPACE_NOTICE, f"The workspace in the link could not be opened: {err.message} A new one "
                                    "starts with your next run.")  # fmt: skip
        _reset(None)
        del st.query_params[URL_PARAM]
        return
    load(info, progress)


def _reset(workspace_id: str | None) -> None:
    state.put(WORKSPACE, workspace_id)
    state.put(SCENARIOS, [])
    state.put(SNAPSHOTS, {})
    store.set_current(None)


def load(info: WorkspaceInfo, progress: Progress | None = None) -> None:
    """Replace the session's scenarios with the workspace's, recomputing each one's results from its inputs."""
    repo = resources.workspace_repo()
    stored = repo.scenarios(info.workspace_id)
    _reset(info.workspace_id)
    st.query_params[URL_PARAM] = info.workspace_id
    snapshots: dict[str, MarketSnapshot] = {}
    workers = resources.settings().rebalance_max_workers
    for i, item in enumerate(stored):
        if progress:
            progress(i / max(len(stored), 1), f"Recomputing “{item.name}” ({i + 1} of {len(stored)})…")
        if item.snapshot_id not in snapshots:
            snapshots[item.snapshot_id] = _snapshot(info.workspace_id, item.snapshot_id)
        scenario = rebuild(item, snapshots[item.snapshot_id], workers, info.workspace_id)
        store.all_scenarios().append(scenario)
        store.keep_snapshot(scenario.params.model_id, scenario.params.portfolio_ids, scenario.snapshot)
    store.set_current(stored[-1].scenario_id if stored else None)
    repo.touch(info.workspace_id)
    memory.settle()  # the recomputed scenarios live on: out of the collector's full scans (components/memory.py)


@st.cache_resource(max_entries=16, show_spinner=False)
def _snapshot(workspace_id: str, snapshot_id: str) -> MarketSnapshot:
    """A stored snapshot, decoded once per server process (an F5 in the same process skips the decode)."""
    return decode_snapshot(resources.workspace_repo().snapshot(workspace_id, snapshot_id))


@st.cache_resource(max_entries=8, show_spinner=False)
def _solved(
    workspace_id: str, scenario_id: str, retry: float | None, _run: Callable[[], list[PortfolioResult]]
) -> list[PortfolioResult]:
    """A scenario's recomputed results, kept per server process for the newest few: an F5 or a second tab on the
    same server shows them at once; a restart recomputes (the key holds everything the results depend on: the
    scenario's inputs never change, except the retry limit)."""
    return _run()


def rebuild(
    item: StoredScenario, snapshot: MarketSnapshot, workers: int | None = None, workspace_id: str | None = None
) -> store.Scenario:
    """A stored scenario as the session holds it: its inputs, and results recomputed on its frozen snapshot.

    With ``workspace_id`` the results are shared through a small per-process cache (see ``_solved``)."""
    meta = item.meta
    model = InvestmentModel.model_validate(meta["model"])
    run_model = InvestmentModel.model_validate(meta["runModel"]) if meta.get("runModel") else model
    params = store.ScenarioParams(
        model_id=meta["modelId"],
        portfolio_ids=tuple(meta["portfolioIds"]),
        all_portfolios=bool(meta["allPortfolios"]),
        options=RebalanceOptions.model_validate(meta["options"]),
        overridden=bool(meta.get("overridden")),
    )
    retry = meta.get("retryLimit")

    def run() -> list[PortfolioResult]:
        results = solve(run_model, snapshot, params, lambda *_: None, workers, meta.get("names") or {})
        pending = tuple(r.portfolio_id for r in results if r.error_code == "SOLVER_FAILED")
        if retry and pending:  # the timed-out portfolios were re-solved with a longer limit: do the same
            longer = params.options.model_copy(update={"time_limit": float(retry)})
            again = solve(run_model, snapshot, store.ScenarioParams(params.model_id, pending, False, longer),
                          lambda *_: None, workers)  # fmt: skip
            by_id = {r.portfolio_id: r for r in again}
            results = [by_id.get(r.portfolio_id, r) for r in results]
        return results

    results = list(_solved(workspace_id, item.scenario_id, retry, run) if workspace_id else run())
    saved_at = meta.get("savedAt")
    return store.Scenario(
        name=item.name,
        params=params,
        model=model,
        run_model=run_model,
        snapshot=snapshot,
        results=results,
        tickers={sid: info.ticker for sid, info in snapshot.securities.items()},
        out_of_band_before=out_of_band_flags(run_model, snapshot, results),
        timings={**(meta.get("timings") or {}), **({"retry_limit": float(retry)} if retry else {})},
        id=item.scenario_id,
        created_at=item.created_at,
        saved_rebalance_id=meta.get("savedRebalanceId"),
        saved_at=dt.datetime.fromisoformat(saved_at) if saved_at else None,
        version=item.version,
    )


def _pinned_options(options: RebalanceOptions, results: list[PortfolioResult]) -> RebalanceOptions:
    """The options with the run's trade date fixed: a reload on a later day recomputes the same orders."""
    if options.trade_date is not None:
        return options
    day = next((t.trade_date for r in results for t in r.transactions if t.trade_date), None) or today_utc()
    return options.model_copy(update={"trade_date": day})


def keep(scenario: store.Scenario) -> list[str]:
    """Persist a new scenario in the session's workspace (created on first use), then add it to the session.

    Raises ``InvalidInput`` (with the message to show) when the workspace or the snapshot is over its size limit;
    nothing is added then.
    """
    repo = resources.workspace_repo()
    ws = current_id()
    if ws is None:
        info = repo.create(f"What-if {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", owner=_owner())
        ws = info.workspace_id
        state.put(WORKSPACE, ws)
        st.query_params[URL_PARAM] = ws
    blob = encode_snapshot(scenario.snapshot)
    snapshot_id = hashlib.sha256(blob).hexdigest()[:24]
    repo.put_snapshot(ws, snapshot_id, blob)
    p = scenario.params
    meta: dict[str, Any] = {
        "modelId": p.model_id,
        "portfolioIds": list(p.portfolio_ids),
        "allPortfolios": p.all_portfolios,
        "options": _pinned_options(p.options, scenario.results).model_dump(mode="json"),
        "overridden": p.overridden,
        "model": scenario.model.model_dump(mode="json"),
        "runModel": scenario.run_model.model_dump(mode="json") if p.overridden else None,
        "names": {r.portfolio_id: r.portfolio_name for r in scenario.results if r.portfolio_name},
        "timings": {k: float(v) for k, v in scenario.timings.items()},
        "savedRebalanceId": None,
        "savedAt": None,
    }
    names = {s.name for s in store.all_scenarios()}
    base, n = " ".join(scenario.name.split())[: store.MAX_NAME] or store.next_name(), 2
    name = base
    while name in names:
        name, n = f"{base} ({n})", n + 1
    stored = repo.add_scenario(ws, scenario.id, name, meta, snapshot_id)
    scenario.name, scenario.version = stored.name, stored.version
    return store.add(scenario)


def _reload(message: str) -> None:
    ws = current_id()
    state.put(WORKSPACE_NOTICE, message)
    if ws is None:
        return
    try:
        load(resources.workspace_repo().get(ws))
    except NotFound as err:
        state.put(WORKSPACE_NOTICE, f"{message} {err.message}")
        _reset(None)


def rename(scenario_id: str, name: str) -> bool:
    """Rename in the workspace (version-checked) and in the session; ValueError for a bad name.

    False when another tab changed the workspace: it was reloaded (with a notice) and nothing was renamed."""
    scenario = store.get(scenario_id)
    if scenario is None:
        raise ValueError("that scenario no longer exists")
    clean = store._clean_name(name, scenario_id, None)
    ws = current_id()
    if ws is not None:
        try:
            stored = resources.workspace_repo().rename_scenario(ws, scenario_id, clean, scenario.version)
        except (VersionConflict, NotFound) as err:
            _reload(f"Not renamed: {err.message}.")
            return False
        scenario.version = stored.version
    store.rename(scenario_id, clean)
    return True


def delete(scenario_id: str) -> bool:
    """Delete from the workspace (version-checked) and from the session; False after a conflict reload."""
    scenario = store.get(scenario_id)
    ws = current_id()
    if scenario is not None and ws is not None:
        try:
            resources.workspace_repo().delete_scenario(ws, scenario_id, scenario.version)
        except (VersionConflict, NotFound) as err:
            _reload(f"Not deleted: {err.message}.")
            return False
    store.delete(scenario_id)
    return True


def update(scenario: store.Scenario, **changes: Any) -> None:
    """Record changed inputs of a scenario (saved run id, retry limit) in the workspace."""
    ws = current_id()
    if ws is None:
        return
    try:
        stored = resources.workspace_repo().update_scenario_meta(ws, scenario.id, changes)
    except NotFound:
        return  # deleted in another tab: the session copy still carries the change
    scenario.version = stored.version


def mark_saved(scenario: store.Scenario, rebalance_id: str | None) -> None:
    """The scenario's saved run (None: it was deleted), in the session and the workspace."""
    scenario.saved_rebalance_id = rebalance_id
    scenario.saved_at = dt.datetime.now(dt.UTC) if rebalance_id else None
    update(scenario, savedRebalanceId=rebalance_id,
           savedAt=scenario.saved_at.isoformat() if scenario.saved_at else None)  # fmt: skip


@feedback.callback("start a new workspace")
def new() -> None:
    """Start an empty workspace (created with the next run); the old one stays in "Recent workspaces"."""
    _reset(None)
    if URL_PARAM in st.query_params:
        del st.query_params[URL_PARAM]


@feedback.callback("open the workspace")
def open_workspace(workspace_id: str) -> None:
    """Switch to another workspace (loaded by the next ``ensure``)."""
    _reset(None)
    st.query_params[URL_PARAM] = workspace_id


def recent() -> list[WorkspaceInfo]:
    """The 10 most recently used live workspaces of this user."""
    return resources.workspace_repo().recent(owner=_owner())


def take_notice() -> str | None:
    """A message about the workspace to show once (a conflict reload, an expired link)."""
    return st.session_state.pop(WORKSPACE_NOTICE, None)


def open_in_page() -> None:
    """``ensure`` with a progress bar while a reloaded workspace recomputes its scenarios, then its notice."""
    wanted = st.query_params.get(URL_PARAM)
    if wanted and wanted != current_id():
        holder = st.empty()  # the progress goes once the scenarios are back
        with holder.status("Opening the workspace…", expanded=True):
            bar = st.progress(0.0, text="Reading the scenarios…")
            ensure(lambda f, t: bar.progress(f, text=t))
        holder.empty()
    else:
        ensure()
    if notice := take_notice():
        st.warning(notice, icon=":material/sync_problem:")


def render_bar() -> None:
    """The workspace line: its link, "New workspace" and "Recent workspaces" (last 10, names and dates)."""
    ws = current_id()
    left, mid, right = st.columns([6, 2, 2], vertical_alignment="center")
    if ws:
        left.caption(
            f"Workspace kept for {resources.settings().workspace_ttl_days} days after last use: "
            "bookmark this page's address (it carries the workspace) to come back to these scenarios."
        )
    else:
        left.caption("Your first run starts a workspace: its scenarios survive a reload and can be bookmarked.")
    mid.button("New workspace", key=NEW_WORKSPACE, on_click=new, icon=":material/add:", width="stretch",
               disabled=ws is None)  # fmt: skip
    with right.popover("Recent workspaces", icon=":material/history:", width="stretch"):
        items = recent()
        if not items:
            st.caption("No workspace yet.")
        for info in items:
            label = (f"{info.name} · {info.scenario_count} scenario{'s' if info.scenario_count != 1 else ''} · "
                     f"used {info.updated_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
            st.button(label, key=f"rebalance_ws_{info.workspace_id}", on_click=open_workspace,
                      args=(info.workspace_id,), disabled=info.workspace_id == ws, width="stretch")  # fmt: skip


__all__ = [
    "URL_PARAM",
    "current_id",
    "delete",
    "ensure",
    "keep",
    "load",
    "mark_saved",
    "new",
    "open_in_page",
    "open_workspace",
    "rebuild",
    "recent",
    "rename",
    "render_bar",
    "take_notice",
    "update",
]
