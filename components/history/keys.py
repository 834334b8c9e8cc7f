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
PORTFOLIO_FIND = "history_portfolio_find"  # the open run's portfolio table: filter text, order, page
PORTFOLIO_SORT = "history_portfolio_sort"
PORTFOLIO_PAGE = "history_portfolio_page"
OPTIONS_OPEN = "history_options_open"  # the "Run options" expander (its content is rendered only when open)
PENDING_DELETE = "history_pending_delete"  # (rebalance_id, version, label) awaiting confirmation
NOTICE = "history_notice"  # (level, text) shown once after a delete attempt
