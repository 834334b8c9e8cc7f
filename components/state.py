"""Every ``st.session_state`` key of the app, in one place, with typed getters and setters.

Cross-page keys are initialised once per session by :func:`init_defaults` (called from ``app.py``); page-local
keys carry their page as a prefix (``models_...``, ``drift_...``). Widget keys are listed too, so a test can seed
them (``at.session_state[state.MODEL_EDITOR] = {...}``) without repeating string literals.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

# --- cross-page -------------------------------------------------------------------------------------------------
SELECTED_MODEL_ID = "selected_model_id"  # the model the user works on; Drift and What-if preselect it

# --- Models page ------------------------------------------------------------------------------------------------
MODELS_DRAFT = "models_draft"  # ModelDraft being created or edited (None: list only)
MODELS_CONFLICT = "models_conflict"  # ConflictInfo after a save lost the version race
MODELS_PENDING_DELETE = "models_pending_delete"  # (model_id, name, version) awaiting confirmation
MODELS_SAVE_ERRORS = "models_save_errors"  # list[str] of rule violations reported by the last save
MODELS_IMPORT_REPORT = "models_import_report"  # list[str] of bad CSV rows of the last import
MODEL_EDITOR = "model_editor"  # st.data_editor widget key (edit state: edited_rows / added_rows / deleted_rows)
MODELS_NAME_INPUT = "models_name_input"  # text_input widget key of the model name
MODELS_LINK_INPUT = "models_link_input"  # multiselect widget key: portfolios to link
MODELS_UNLINK_INPUT = "models_unlink_input"  # multiselect widget key: portfolios to unlink
MODELS_FILTER = "models_filter"  # text_input widget key: name filter of the list
MODELS_SORT = "models_sort"  # multiselect widget key: sort tokens of the list
MODELS_PAGE_SIZE = "models_page_size"
MODELS_PAGE = "models_page"
MODELS_OPEN_PICK = "models_open_pick"  # selectbox widget key: the model to act on

# --- Drift page -------------------------------------------------------------------------------------------------
DRIFT_VIEWS = "drift_views"  # {model_id: DriftView} snapshot + analysis, reused across reruns
DRIFT_TRIAGE = "drift_triage"  # TriageResult of the last "Scan all models"
DRIFT_MODEL_PICK = "drift_model_pick"  # selectbox widget key: model of the per-model view
DRIFT_PORTFOLIO_PICK = "drift_portfolio_pick"  # selectbox widget key: drill-down portfolio
DRIFT_ONLY_OUT = "drift_only_out"  # toggle widget key: only out-of-band portfolios
DRIFT_SEARCH = "drift_search"  # text_input widget key: portfolio name filter
DRIFT_TOP_N = "drift_top_n"  # number of portfolios in the heatmap
DRIFT_CASH_TOL = "drift_cash_tol"  # cash tolerance (fraction) of the triage

# --- What-if, Orders and Saved rebalances pages (issue #6) -------------------------------------------------------
REBALANCE_SCENARIOS = "rebalance_scenarios"  # list[Scenario] of this session, oldest first (components.scenarios)
REBALANCE_CURRENT = "rebalance_current"  # id of the scenario shown on the what-if and orders pages
REBALANCE_SNAPSHOTS = "rebalance_snapshots"  # {(model_id, portfolio ids): MarketSnapshot} frozen per scope
REBALANCE_CANCELLED = "rebalance_cancelled"  # set by the Cancel button's callback, read by the rerun it causes
REBALANCE_LAST_RUN = "rebalance_last_run"  # label of the run that just finished, shown once after its rerun
REBALANCE_MODEL_PICK = "rebalance_model_pick"  # selectbox widget key: the model of the next run
REBALANCE_SCOPE = "rebalance_scope"  # radio widget key: all portfolios of the model / a selection
REBALANCE_PICK = "rebalance_pick"  # selectbox widget key: the scenario to review
REBALANCE_COMPARE = "rebalance_compare"  # multiselect widget key: scenarios compared side by side
ORDERS_PENDING_SAVE = "orders_pending_save"  # True while the "Save rebalance" dialog is open
ORDERS_PENDING_SUBMIT = "orders_pending_submit"  # True while the "Submit orders" dialog is open
ORDERS_SAVE_ERROR = "orders_save_error"  # feedback.Message of the last refused save
ORDERS_SUBMIT_REPORT = "orders_submit_report"  # (level, text) summary of the last submission
HISTORY_RECORDS = "history_records"  # {(rebalance_id, version): RebalanceRecord} opened in this session
HISTORY_PENDING_DELETE = "history_pending_delete"  # (rebalance_id, version, label) awaiting confirmation
HISTORY_NOTICE = "history_notice"  # (level, text) shown once after a delete attempt

_DEFAULTS: dict[str, Any] = {
    SELECTED_MODEL_ID: None,
    MODELS_DRAFT: None,
    MODELS_CONFLICT: None,
    MODELS_PENDING_DELETE: None,
    MODELS_SAVE_ERRORS: [],
    MODELS_IMPORT_REPORT: [],
    DRIFT_VIEWS: {},
    DRIFT_TRIAGE: None,
}


def init_defaults() -> None:
    """Create every non-widget key once per session (``setdefault`` never overwrites)."""
    for key, default in _DEFAULTS.items():
        # fresh containers per session: a shared mutable default would leak between users
        st.session_state.setdefault(key, type(default)() if isinstance(default, dict | list) else default)


def get(key: str, default: Any = None) -> Any:
    """Read a key (``default`` when absent)."""
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    """Write a non-widget key."""
    st.session_state[key] = value


def drop(*keys: str) -> None:
    """Forget keys (widget keys included: the widget then starts from its default on the next run)."""
    for key in keys:
        st.session_state.pop(key, None)


def selected_model_id() -> str | None:
    """The model the user is working on (set by the Models page, read by Drift and What-if)."""
    return st.session_state.get(SELECTED_MODEL_ID)


def select_model(model_id: str | None) -> None:
    """Remember ``model_id`` as the model the user works on across pages."""
    st.session_state[SELECTED_MODEL_ID] = model_id
