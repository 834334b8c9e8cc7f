"""Session-state keys of the orders feature (widget keys included), in one place: the feature owns them.

Keys carry the page as a prefix, so no two features can collide; a test seeds them by these names.
"""

from __future__ import annotations

# view.py
PICK = "orders_pick"
SIDES = "orders_sides"
PORTFOLIO_FILTER = "orders_portfolio_filter"
TICKER_FILTER = "orders_ticker_filter"
SORT = "orders_sort"
NET_BLOCKS = "orders_net_blocks"  # toggle: net BUY and SELL of a security in the block view
WITH_REASONS = "orders_csv_reasons"  # checkbox: the orders CSV gets the optional reason column
PENDING_SAVE = "orders_pending_save"  # True while the "Save rebalance" dialog is open
PENDING_SUBMIT = "orders_pending_submit"  # True while the "Submit orders" dialog is open
SAVE_ERROR = "orders_save_error"  # feedback.Message of the last refused save
SUBMIT_REPORT = "orders_submit_report"  # (scenario id, level, text) summary of the last submission or reconcile
LIMIT_PRICE = "orders_limit_price"
CONFIRM_PRIOR = "orders_confirm_prior"  # + "_save"/"_submit": checkbox confirming portfolios already saved/traded
