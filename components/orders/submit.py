"""Submitting proposed orders to the Order Service (services.md §7; product-spec 3.19).

Only on an explicit, confirmed user action. ``data.services`` posts batches of at most 1000 orders and matches every
order's outcome by request index (success, failed, or unknown after a timeout/5xx); here each outcome is recorded
per order key so the page never re-sends an order that succeeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from components.rebalance.store import SubmissionOutcome, order_key
from data.services import OrderClient, OrderRequest
from engine.errors import EngineError
from engine.orders import OrderRow


def order_requests(rows: Sequence[OrderRow], use_limit_price: bool = False) -> list[OrderRequest]:
    """``data.services`` order requests for the rows: market orders, or the rebalance price as the limit."""
    return [
        OrderRequest(
            portfolio_id=r.portfolio_id,
            security_id=r.security_id,
            side=r.transaction_type,
            quantity=r.quantity,
            limit_price=r.price if use_limit_price else None,
        )
        for r in rows
    ]


def submit_orders(
    order_client: OrderClient, rows: Sequence[OrderRow], use_limit_price: bool = False
) -> dict[str, SubmissionOutcome]:
    """Send ``rows``; return the outcome of every row keyed by ``order_key``.

    The client posts batches of at most 1000 and stops sending after a batch whose outcome is unknown. A typed
    error raised before anything was sent (e.g. the order types cannot be resolved) marks every row "not sent".
    """
    now = dt.datetime.now(dt.UTC)
    keys = [order_key(r.portfolio_id, r.security_id, r.transaction_type) for r in rows]
    if not rows:
        return {}
    try:
        results = order_client.submit(order_requests(rows, use_limit_price))
    except EngineError as err:
        return {key: SubmissionOutcome("failed", f"not sent: {err.message}", None, now) for key in keys}
    by_index = {res.request_index: res for res in results}
    outcomes: dict[str, SubmissionOutcome] = {}
    for i, key in enumerate(keys):
        res = by_index.get(i)
        if res is None:
            outcomes[key] = SubmissionOutcome("unknown", "no result for this order in the answer", None, now)
        else:
            outcomes[key] = SubmissionOutcome(res.outcome, res.message, res.order_id, now)
    return outcomes


__all__ = ["order_requests", "submit_orders"]
