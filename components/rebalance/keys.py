"""Session-state keys of the rebalance feature (widget keys included), in one place: the feature owns them.

Keys carry the page as a prefix, so no two features can collide; a test seeds them by these names.
"""

from __future__ import annotations

# view.py
MODEL_PICK = "rebalance_model_pick"  # selectbox widget key: the model of the next run
SCOPE = "rebalance_scope"  # radio widget key: all portfolios of the model / a selection
PORTFOLIOS = "rebalance_portfolios"
MIN_CASH = "rebalance_min_cash"
MIN_CASH_PCT = "rebalance_min_cash_pct"
TIME_LIMIT = "rebalance_time_limit"
OVERRIDE = "rebalance_override"
NAME = "rebalance_name"
RUN = "run"
CANCEL = "rebalance_cancel"
CANCELLED = "rebalance_cancelled"  # set by the Cancel button's callback, read by the rerun it causes
LAST_RUN = "rebalance_last_run"  # label of the run that just finished, shown once after its rerun
REFRESH = "rebalance_refresh_snapshot"
# reproduce.py
LOADED = "rebalance_loaded"  # reproduce.Loaded: a saved run's settings applied to the panel (History → What-if)
# controls.py: the trade controls panel (widget keys carry the model id and version, so a model's defaults pre-fill)
CTRL_POLICY = "rebalance_ctrl_policy"
CTRL_MIN_TRADE = "rebalance_ctrl_min_trade"
CTRL_DIRECTION = "rebalance_ctrl_direction"
CTRL_NO_BUY = "rebalance_ctrl_no_buy"
CTRL_NO_SELL = "rebalance_ctrl_no_sell"
CTRL_NO_TRADE = "rebalance_ctrl_no_trade"
CTRL_INFEASIBLE = "rebalance_ctrl_on_infeasible"
CTRL_SAVE = "rebalance_ctrl_save_defaults"
CTRL_SAVE_ERROR = "rebalance_ctrl_save_error"  # feedback.Message of a refused "Save as model defaults"
# results.py
PICK = "rebalance_pick"  # selectbox widget key: the scenario to review
COMPARE = "rebalance_compare"  # multiselect widget key: scenarios compared side by side
COMPARE_BASE = "rebalance_compare_base"  # selectbox widget key: the base scenario of the difference columns
COMPARE_SEEN = "rebalance_compare_seen"  # ids of the scenarios the comparison has seen (a new one joins it)
DELETE = "rebalance_delete"
PORTFOLIO_PICK = "rebalance_portfolio_pick"
RETRY = "rebalance_retry"
# store.py
SCENARIOS = "rebalance_scenarios"  # list[Scenario] of this session, oldest first (components.rebalance.store)
CURRENT = "rebalance_current"  # id of the scenario shown on the what-if and orders pages
SNAPSHOTS = "rebalance_snapshots"  # {(model_id, portfolio ids): MarketSnapshot} frozen per scope
# workspace.py
WORKSPACE = "rebalance_workspace"  # id of the workspace the session's scenarios belong to (also in the URL, ?ws=)
WORKSPACE_NOTICE = "rebalance_workspace_notice"  # a message about the workspace, shown once
NEW_WORKSPACE = "rebalance_new_workspace"
