"""Session-state keys of the history feature (widget keys included), in one place: the feature owns them.

Keys carry the page as a prefix, so no two features can collide; a test seeds them by these names.
"""

from __future__ import annotations

# view.py
FILTER = "history_portfolios"
PAGE_SIZE = "history_page_size"
PAGE = "history_page"
OPEN = "history_open"
PORTFOLIO_PICK = "history_portfolio_pick"
PENDING_DELETE = "history_pending_delete"  # (rebalance_id, version, label) awaiting confirmation
NOTICE = "history_notice"  # (level, text) shown once after a delete attempt
