"""Session-state keys of the Drift page (widget keys included), in one place: the feature owns them.

Keys carry the page as a prefix, so no two features can collide; a test seeds them by these names.
"""

from __future__ import annotations

from typing import Any

DRIFT_VIEWS = "drift_views"  # {model_id: DriftView} snapshot + analysis, reused across reruns
DRIFT_TRIAGE = "drift_triage"  # TriageResult of the last "Scan all models"
DRIFT_MODEL_PICK = "drift_model_pick"  # selectbox widget key: model of the per-model view
DRIFT_PORTFOLIO_PICK = "drift_portfolio_pick"  # selectbox widget key: drill-down portfolio
DRIFT_ONLY_OUT = "drift_only_out"  # toggle widget key: only out-of-band portfolios
DRIFT_SEARCH = "drift_search"  # text_input widget key: portfolio name filter
DRIFT_TABLE = "drift_table"  # dataframe key: row selection of the per-model portfolio list
DRIFT_QUEUE = "drift_queue"  # dataframe key: row selection of the triage queue
DRIFT_TOP_N = "drift_top_n"  # number of portfolios in the heatmap
DRIFT_CASH_TOL = "drift_cash_tol"  # cash tolerance (fraction) of the triage

DEFAULTS: dict[str, Any] = {DRIFT_VIEWS: {}, DRIFT_TRIAGE: None}  # created once per session
