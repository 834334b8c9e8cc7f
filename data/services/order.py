"""Order Service client: reference data and order submission with per-item results (services.md §7).

Submission is never automatic and never blindly retried: POST is not idempotent, so a batch is re-sent only when it
surely was not processed (connect errors, 503 with ``Retry-After``). A timeout, a dropped connection or a 500 after
sending makes the batch's outcome ``unknown`` and stops further batches: check ``GET /api/v1/orders`` first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx

from data.http import BreakerOpen, LockedTTLCache
from data.services.base import NOT_SENT, CallFailed, ServerError, ServiceClient
from data.services.parse import decimal_value, json_body, list_field, page_total, parse_datetime, shown, sub_object
from data.services.types import OrderRequest, OrderResult, Page, ReferenceItem
from engine.errors import ExternalDataError, InvalidInput
from engine.models import to_decimal

MAX_BATCH = 1000


def encode_json(value: Any) -> str:
    """JSON text with Decimals written as exact JSON numbers (``json`` would need floats)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode_json(v) for v in value) + "]"
    return json.dumps(value)


def order_retry(exc: BaseException) -> bool:
    """Retry a POST only when it surely was not processed: not connected, or 503 with a Retry-After."""
    if isinstance(exc, NOT_SENT):
        return True
    return isinstance(exc, ServerError) and exc.response.status_code == 503 and exc.retry_after is not None


class OrderClient(ServiceClient):
    """Order types, statuses and blotters (cached 600 s), order listing and submission."""

    name = "order"
    label = "Order service"
    health_path = "/actuator/health"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = LockedTTLCache(16, self.settings.ticker_cache_ttl)

    # --- reference data ------------------------------------------------------------------------------------------
    def _reference(self, path: str, label_key: str) -> list[ReferenceItem]:
        cached = self.cache.get(path)
        if cached is not None:
            return cached
        response = self._ok(self._get(path), path, path=path)
        items: list[ReferenceItem] = []
        for raw in json_body(response, service=self.name, expect=list):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), int) or isinstance(raw.get("id"), bool):
                continue
            label = raw.get(label_key) or raw.get("abbreviation") or raw.get("name") or ""
            items.append(ReferenceItem(raw["id"], str(label), str(raw.get("description") or raw.get("name") or "")))
        self.cache.set(path, items)
        return items

    def order_types(self) -> list[ReferenceItem]:
        """Order types (seeded 1 BUY, 2 SELL, 3 SHORT, 4 COVER, 5 EXRC)."""
        return self._reference("/api/v1/orderTypes", "abbreviation")

    def statuses(self) -> list[ReferenceItem]:
        """Order statuses (seeded 1 NEW ... 10 DEL)."""
        return self._reference("/api/v1/statuses", "abbreviation")

    def blotters(self) -> list[ReferenceItem]:
        """Blotters; ``abbreviation`` holds the blotter name (seeded 1 Default ... 5 Crypto)."""
        return self._reference("/api/v1/blotters", "name")

    def _id_of(self, items: list[ReferenceItem], label: str, what: str) -> int:
        ids = {item.id for item in items if item.abbreviation == label}
        if len(ids) > 1:  # two ids for BUY: sending either could place the wrong kind of order
            raise ExternalDataError(
                f"the order service lists {what} {label!r} under several ids {sorted(ids)}",
                {"service": self.name, what: label},
            )
        if not ids:
            raise ExternalDataError(f"the order service has no {what} {label!r}", {"service": self.name, what: label})
        return ids.pop()

    # --- listing -------------------------------------------------------------------------------------------------
    def list_orders(self, limit: int = 50, offset: int = 0) -> Page[dict[str, Any]]:
        """One page of orders (``GET /api/v1/orders``) as plain dicts: id, portfolio/security ids, ticker, type,
        status, quantity (Decimal), limit price, timestamp (aware datetime)."""
        if not (1 <= limit <= 1000) or offset < 0:
            raise InvalidInput("limit must be 1-1000 and offset ≥ 0", {"field": "limit", "value": f"{limit}/{offset}"})
        response = self._ok(self._get("/api/v1/orders", params={"limit": limit, "offset": offset}), "the order list")
        return parse_order_page(json_body(response, service=self.name, expect=dict), offset, limit)

    # --- submission ----------------------------------------------------------------------------------------------
    def submit(
        self,
        orders: Sequence[OrderRequest],
        *,
        blotter: str = "Default",
        status: str = "NEW",
        order_timestamp: dt.datetime | None = None,
    ) -> list[OrderResult]:
        """Submit ``orders`` as JSON arrays of at most ``order_batch_size`` (≤ 1000); one result per order, in order.

        Type, status and blotter ids are resolved by abbreviation/name first (a failure there raises before anything
        is sent). Invalid lines (side not BUY/SELL, quantity ≤ 0, id longer than 24) fail locally without being sent.
        ``order_timestamp`` (default now) is the ``orderTimestamp`` every order carries, to millisecond precision: a
        submission log that recorded it can find the orders in the order list after an unknown outcome.
        """
        if not orders:
            return []
        types = self.order_types()
        type_ids = {side: self._id_of(types, side, "order type") for side in ("BUY", "SELL")}
        status_id = self._id_of(self.statuses(), status, "status")
        blotter_id = self._id_of(self.blotters(), blotter, "blotter")
        when = (order_timestamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        results: dict[int, OrderResult] = {}
        sendable: list[tuple[int, dict[str, Any]]] = []
        for index, order in enumerate(orders):
            problem = _local_problem(order)
            if problem:
                results[index] = OrderResult(index, "failed", f"not sent: {problem}")
                continue
            sendable.append(
                (
                    index,
                    {
                        "blotterId": blotter_id,
                        "statusId": status_id,
                        "portfolioId": order.portfolio_id,
                        "orderTypeId": type_ids[order.side],
                        "securityId": order.security_id,
                        "quantity": order.quantity,
                        "limitPrice": order.limit_price,
                        "tradeOrderId": None,
                        "orderTimestamp": stamp,
                        "version": 1,
                    },
                )
            )
        size = min(self.settings.order_batch_size, MAX_BATCH)
        halted: str | None = None
        for start in range(0, len(sendable), size):
            batch = sendable[start : start + size]
            if halted:
                results.update({i: OrderResult(i, "failed", f"not sent: {halted}") for i, _ in batch})
                continue
            batch_results, halted = self._send_batch(batch)
            results.update(batch_results)
        return [results[i] for i in range(len(orders))]

    def _send_batch(self, batch: list[tuple[int, dict[str, Any]]]) -> tuple[dict[int, OrderResult], str | None]:
        """Per-item results of one POST, and why later batches must not be sent (None: carry on)."""
        indexes = [i for i, _ in batch]
        body = encode_json([payload for _, payload in batch]).encode()
        try:
            response = self._call("POST", "/api/v1/orders", content=body, retry_if=order_retry)
        except CallFailed as failed:
            outcome, message = _failure_outcome(failed)
            halt = (
                "an earlier batch's outcome is unknown; check the order list before resubmitting"
                if outcome == "unknown"
                else "the order service did not accept an earlier batch"
            )
            return {i: OrderResult(i, outcome, message) for i in indexes}, halt
        results = self._read_answer(response, indexes)
        unknown = any(r.outcome == "unknown" for r in results.values())
        return results, ("an earlier batch's outcome is unknown; check the order list" if unknown else None)

    def _read_answer(self, response: httpx.Response, indexes: list[int]) -> dict[int, OrderResult]:
        code = response.status_code
        if code in (200, 207):
            try:
                parsed = json_body(response, service=self.name, expect=dict)
            except ExternalDataError:
                parsed = None
            items = parsed.get("orders") if isinstance(parsed, dict) else None
            if not isinstance(items, list):
                message = f"outcome unknown: HTTP {code} with an unreadable body; check the order list"
                return {i: OrderResult(i, "unknown", message) for i in indexes}
            return _match_items(indexes, items)
        message = _error_message(response)
        if code == 413:
            message = f"batch too large: {message}"
        return {i: OrderResult(i, "failed", f"rejected (HTTP {code}): {message}") for i in indexes}


def parse_order_page(body: dict[str, Any], offset: int, limit: int) -> Page[dict[str, Any]]:
    """An order list page -> plain dicts for display. ``content`` must be a list (else ``ExternalDataError``);
    within a row every field is optional and shown as None when absent or of another type."""
    rows = []
    for raw in list_field(body, "content", service="order", where="the order list"):
        if not isinstance(raw, dict):
            continue
        portfolio, security = sub_object(raw, "portfolio"), sub_object(raw, "security")
        order_id = raw.get("id")
        rows.append(
            {
                "order_id": order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None,
                "portfolio_id": _text(portfolio.get("portfolioId")),
                "portfolio_name": _text(portfolio.get("name")),
                "security_id": _text(security.get("securityId")),
                "ticker": _text(security.get("ticker")),
                "order_type": _text(sub_object(raw, "orderType").get("abbreviation")),
                "status": _text(sub_object(raw, "status").get("abbreviation")),
                "quantity": _maybe_decimal(raw.get("quantity")),
                "limit_price": _maybe_decimal(raw.get("limitPrice")),
                "order_timestamp": parse_datetime(raw.get("orderTimestamp")),
            }
        )
    return Page(tuple(rows), page_total(body, len(rows)), offset, limit)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _local_problem(order: OrderRequest) -> str | None:
    if order.side not in ("BUY", "SELL"):
        return f"side {order.side!r} is not BUY or SELL"
    try:
        quantity = to_decimal(order.quantity, "quantity")
    except ValueError:
        return f"quantity {order.quantity!r} is not a number"
    if quantity <= 0:
        return f"quantity {quantity} must be positive"
    if order.limit_price is not None and order.limit_price <= 0:
        return f"limit price {order.limit_price} must be positive"
    for field_name in ("portfolio_id", "security_id"):
        value = getattr(order, field_name)
        if not isinstance(value, str) or not value or len(value) > 24:
            return f"{field_name} {value!r} must be 1-24 characters"
    return None


def _failure_outcome(failed: CallFailed) -> tuple[str, str]:
    """``(outcome, message)`` for a batch whose POST failed after the allowed retries."""
    cause = failed.cause
    if isinstance(cause, BreakerOpen):
        return "failed", f"not sent: order service circuit breaker open ({cause})"
    if isinstance(cause, NOT_SENT):
        return "failed", f"not sent: cannot connect to the order service ({type(cause).__name__})"
    if isinstance(cause, ServerError) and cause.response.status_code == 503 and cause.retry_after is not None:
        return "failed", f"not processed: order service overloaded (HTTP 503 after {failed.attempts} attempts)"
    if isinstance(cause, ServerError):
        what = f"HTTP {cause.response.status_code}"
    elif isinstance(cause, httpx.TimeoutException):
        what = "timeout"
    else:
        what = type(cause).__name__
    return "unknown", f"outcome unknown ({what} after sending); check the order list before resubmitting"


def _match_items(indexes: list[int], items: list[Any]) -> dict[int, OrderResult]:
    """Per-item results by ``requestIndex`` (batch-local) -> results by global index.

    ``success`` needs ``status`` "SUCCESS" and an integer ``orderId``; ``failed`` needs ``status`` "FAILURE". Any
    other item (status missing, null or unknown, SUCCESS without an id, an index answered twice differently) and an
    order with no item is ``unknown``: never "failed" for an order that may exist, which invites a duplicate.
    """
    out: dict[int, OrderResult] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        local = item.get("requestIndex")
        if not isinstance(local, int) or isinstance(local, bool) or not (0 <= local < len(indexes)):
            continue
        index = indexes[local]
        result = _item_result(index, item)
        if index in out and out[index] != result:
            result = OrderResult(index, "unknown", "contradicting results for this order; check the order list")
        out[index] = result
    for index in indexes:
        out.setdefault(index, OrderResult(index, "unknown", "no result returned for this order; check the order list"))
    return out


def _item_result(index: int, item: dict[str, Any]) -> OrderResult:
    order_id = item.get("orderId")
    raw_message = item.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    status = item.get("status")
    if status == "SUCCESS" and isinstance(order_id, int) and not isinstance(order_id, bool):
        return OrderResult(index, "success", message or "created", order_id)
    if status == "FAILURE":
        return OrderResult(index, "failed", message or "failed")
    return OrderResult(
        index, "unknown", f"unreadable result (status {shown(status)}, orderId {shown(order_id)}); check the order list"
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return response.text[:200] or "no details"
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return str(body)[:200]


def _maybe_decimal(value: Any) -> Decimal | None:
    try:
        return decimal_value(value, service="order", where="the order list", field="quantity")
    except ExternalDataError:
        return None
