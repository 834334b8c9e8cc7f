"""Order submission that is never sent twice: the submission log around the order client (services.md §7.4).

:func:`submit_logged` claims the orders in the log (so no other tab, session or restart sends them), records the
intent of each batch before its POST and every per-order outcome after it, and stops after a batch whose outcome is
unknown. :func:`reconcile` settles orders whose outcome is unknown (a timeout or 5xx after sending, or an attempt
that died mid-batch) against the order service's own list, before anything is sent again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal

from data.repositories.submissions import DEFAULT_LEASE, Outcome, PlannedOrder, SubmissionEntry, SubmissionLog
from data.services.order import OrderClient
from data.services.types import OrderRequest
from engine.errors import EngineError

LIST_PAGE = 1000
NOT_SENT = "not sent"  # message prefix of a "failed" order that never reached the Order Service (client and log)


def never_sent(state: str, message: str) -> bool:
    """A "failed" outcome whose order was never posted (held back, refused locally, service unreachable): the
    Order Service did not refuse it, it never saw it."""
    return state == "failed" and message.startswith(NOT_SENT)


@dataclasses.dataclass(frozen=True)
class SubmissionReport:
    """What one press of Submit did: the outcome of every order it sent, and the orders it left alone."""

    attempt_id: str
    outcomes: dict[str, Outcome]
    skipped: tuple[str, ...]  # already sent, unknown, or being sent by another attempt

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.state == state)

    def count_not_sent(self) -> int:
        """Orders of this press that were never posted (``failed`` in the log, so they can be sent again)."""
        return sum(1 for o in self.outcomes.values() if never_sent(o.state, o.message))


@dataclasses.dataclass(frozen=True)
class ReconcileReport:
    """How :func:`reconcile` settled each open order: found in the order list (success) or not (failed)."""

    found: dict[str, int]  # key -> order id
    not_found: tuple[str, ...]
    still_open: tuple[str, ...]  # queued/sending within the lease: another attempt may still be posting them
    scanned: int  # orders read from the order service


def submit_logged(
    client: OrderClient,
    log: SubmissionLog,
    orders: Sequence[PlannedOrder],
    *,
    user: str | None = None,
    limit_prices: Mapping[str, Decimal] | None = None,
    batch_size: int | None = None,
) -> SubmissionReport:
    """Send the orders of ``orders`` that have no success, unknown or in-flight entry in the log (see module doc)."""
    attempt = uuid.uuid4().hex
    claimed = log.claim(orders, attempt, user=user)
    claimed_keys = {o.key for o in claimed}
    skipped = tuple(o.key for o in orders if o.key not in claimed_keys)
    size = max(1, min(batch_size or client.settings.order_batch_size, client.settings.order_batch_size))
    outcomes: dict[str, Outcome] = {}
    halted: str | None = None
    for start in range(0, len(claimed), size):
        batch = claimed[start : start + size]
        if halted:
            released = {o.key: Outcome("failed", f"{NOT_SENT}: {halted}") for o in batch}
            log.record(released, attempt)
            outcomes.update(released)
            continue
        stamp = _now_ms()
        log.mark_sending([o.key for o in batch], attempt, stamp)
        requests = [
            OrderRequest(
                portfolio_id=o.portfolio_id,
                security_id=o.security_id,
                side=o.side,  # type: ignore[arg-type]
                quantity=o.quantity,
                limit_price=(limit_prices or {}).get(o.key),
            )
            for o in batch
        ]
        try:
            results = client.submit(requests, order_timestamp=stamp)
        except EngineError as err:  # raised before anything was posted (reference data, breaker)
            batch_outcomes = {o.key: Outcome("failed", f"{NOT_SENT}: {err.message}") for o in batch}
            halted = err.message
        else:
            by_index = {r.request_index: r for r in results}
            batch_outcomes = {}
            for i, order in enumerate(batch):
                res = by_index.get(i)
                if res is None:
                    batch_outcomes[order.key] = Outcome("unknown", "no result for this order; reconcile first")
                else:
                    batch_outcomes[order.key] = Outcome(res.outcome, res.message, res.order_id)
            if any(o.state == "unknown" for o in batch_outcomes.values()):
                halted = "an earlier batch's outcome is unknown; reconcile with the order list first"
        log.record(batch_outcomes, attempt)
        outcomes.update(batch_outcomes)
    return SubmissionReport(attempt, outcomes, skipped)


def reconcile(
    client: OrderClient,
    log: SubmissionLog,
    run_key: str,
    *,
    lease: dt.timedelta = DEFAULT_LEASE,
    now: dt.datetime | None = None,
) -> ReconcileReport:
    """Settle every ``unknown`` (and abandoned queued/sending) order of a run against the order service's list.

    An order sent with a recorded timestamp is found by portfolio, security, side, quantity and ``orderTimestamp``;
    found → ``success`` with its order id, not found → ``failed`` (it may be sent again). An abandoned ``queued``
    order was never posted → ``failed``. Orders still within their attempt's lease are left open.
    """
    now = now or dt.datetime.now(dt.UTC)
    entries = log.entries(run_key)
    open_entries = [e for e in entries.values() if e.state == "unknown" or e.abandoned(now, lease)]
    still_open = tuple(
        k for k, e in entries.items() if e.state in ("queued", "sending") and not e.abandoned(now, lease)
    )
    found: dict[str, int] = {}
    not_found: list[str] = []
    if not open_entries:
        return ReconcileReport(found, (), still_open, 0)
    listed, scanned = _order_list(client) if any(e.state != "queued" for e in open_entries) else ([], 0)
    taken = {e.order_id for e in entries.values() if e.state == "success" and e.order_id is not None}
    for entry in sorted(open_entries, key=lambda e: e.key):
        match = None if entry.state == "queued" else _find(entry, listed, taken)
        if match is not None:
            taken.add(match)
            if log.settle(entry.key, entry.state, Outcome("success", "found in the order list", match)):
                found[entry.key] = match
        else:
            why = "never posted" if entry.state == "queued" else "not in the order list: never created"
            if log.settle(entry.key, entry.state, Outcome("failed", f"{why}; can be sent again")):
                not_found.append(entry.key)
    return ReconcileReport(found, tuple(not_found), still_open, scanned)


def _order_list(client: OrderClient) -> tuple[list[dict[str, object]], int]:
    rows: list[dict[str, object]] = []
    offset = 0
    while True:
        page = client.list_orders(limit=LIST_PAGE, offset=offset)
        rows.extend(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return rows, offset


def _find(entry: SubmissionEntry, listed: Sequence[Mapping[str, object]], taken: set[int]) -> int | None:
    if entry.order_timestamp is None:
        return None
    for row in listed:
        order_id = row.get("order_id")
        if (
            isinstance(order_id, int)
            and order_id not in taken
            and row.get("portfolio_id") == entry.portfolio_id
            and row.get("security_id") == entry.security_id
            and row.get("order_type") == entry.side
            and row.get("quantity") == entry.quantity
            and row.get("order_timestamp") == entry.order_timestamp
        ):
            return order_id
    return None


def _now_ms() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


__all__ = ["ReconcileReport", "SubmissionReport", "reconcile", "submit_logged"]
