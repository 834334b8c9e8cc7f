"""Simulated Portfolio Accounting service (services.md §3): string decimals, nanosecond timestamps, 500 for no rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from data.simulator.core import Simulator
from data.simulator.responses import (
    accounting_error,
    empty_portfolio_500,
    json_response,
    plain_decimal,
)
from data.simulator.state import Balance, now_rfc3339_nano

MAX_ROWS = 1000  # a summary reads at most 1000 balance rows
TYPES = {"BUY", "SELL", "SHORT", "COVER", "DEP", "WD", "IN", "OUT"}


def accounting_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="accounting (simulated)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/v1/portfolios/{portfolio_id}/summary", name="summary")
    async def summary(portfolio_id: str) -> Response:
        with sim.state.lock:
            rows = list(sim.state.balances.get(portfolio_id, {}).values())[:MAX_ROWS]
        if not rows:
            if sim.config.accounting_empty_status == 404:
                return accounting_error(404, "NOT_FOUND", f"Portfolio not found: {portfolio_id}")
            return empty_portfolio_500()
        cash = next((r for r in rows if r.security_id is None), None)
        securities = [
            {
                "securityId": r.security_id,
                "quantityLong": plain_decimal(r.long),
                "quantityShort": plain_decimal(r.short),
                "netQuantity": plain_decimal(r.long - r.short),
                "lastUpdated": r.stamp(),
            }
            for r in rows
            if r.security_id is not None
        ]
        return json_response(
            {
                "portfolioId": portfolio_id,
                "cashBalance": plain_decimal(cash.long) if cash else "0",
                "securityCount": len(securities),
                "lastUpdated": now_rfc3339_nano(),
                "securities": securities,
            }
        )

    @app.post("/api/v1/transactions", name="transactions_post")
    async def post_transactions(request: Request) -> Response:
        try:
            items = json.loads(await request.body())
        except ValueError:
            return accounting_error(400, "INVALID_REQUEST", "Invalid JSON in request body")
        if not isinstance(items, list) or not items:
            return accounting_error(400, "INVALID_REQUEST", "Request body must be a non-empty array of transactions")
        if len(items) > 1000:
            return accounting_error(413, "BATCH_TOO_LARGE", f"Batch of {len(items)} exceeds the maximum of 1000")
        successful, failed = [], []
        for item in items:
            errors = _transaction_errors(item)
            if errors:
                failed.append({"transaction": item, "errors": errors})
                continue
            successful.append(_book(sim, item))
        total = len(items)
        body = {
            "successful": successful,
            "failed": failed,
            "summary": {
                "totalRequested": total,
                "successful": len(successful),
                "failed": len(failed),
                "successRate": round(len(successful) / total * 100, 2),
            },
        }
        return json_response(body, 207 if failed else 201)

    @app.get("/health", name="health")
    @app.get("/health/live", name="health")
    @app.get("/health/ready", name="health")
    @app.get("/health/detailed", name="health")
    async def health() -> Response:
        return json_response({"status": "healthy", "timestamp": now_rfc3339_nano()})

    return app


def _transaction_errors(item: Any) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return [{"field": "transaction", "message": "must be an object", "value": item}]
    errors = []
    kind = item.get("transactionType")
    if kind not in TYPES:
        errors.append({"field": "transactionType", "message": "invalid transaction type", "value": kind})
    pid = item.get("portfolioId")
    if not isinstance(pid, str) or len(pid) != 24:
        errors.append({"field": "portfolioId", "message": "must be 24 characters", "value": pid})
    sid = item.get("securityId")
    if kind in ("DEP", "WD"):
        if sid not in (None, ""):
            errors.append({"field": "securityId", "message": "must be empty for cash transactions", "value": sid})
        if str(item.get("price")) not in ("1", "1.0", "1.00"):
            errors.append({"field": "price", "message": "must be 1 for cash transactions", "value": item.get("price")})
    elif not isinstance(sid, str) or len(sid) != 24:
        errors.append({"field": "securityId", "message": "must be 24 characters", "value": sid})
    source = item.get("sourceId")
    if not isinstance(source, str) or not source or len(source) > 50:
        errors.append({"field": "sourceId", "message": "required, at most 50 characters", "value": source})
    for key in ("quantity", "price"):
        try:
            value = Decimal(str(item.get(key)))
            if not value.is_finite() or value <= 0:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.append({"field": key, "message": "must be a positive number", "value": item.get(key)})
    return errors


def _book(sim: Simulator, item: dict[str, Any]) -> dict[str, Any]:
    """Apply one transaction to the balances (synchronously, like the real service)."""
    kind = item["transactionType"]
    qty, price = Decimal(str(item["quantity"])), Decimal(str(item["price"]))
    pid, sid = item["portfolioId"], item.get("securityId") or None
    long_delta = {"BUY": qty, "SELL": -qty, "IN": qty, "OUT": -qty}.get(kind, Decimal(0))
    short_delta = {"SHORT": qty, "COVER": -qty}.get(kind, Decimal(0))
    cash_delta = {
        "BUY": -qty * price,
        "SELL": qty * price,
        "SHORT": qty * price,
        "COVER": -qty * price,
        "DEP": qty,
        "WD": -qty,
    }.get(kind, Decimal(0))
    state = sim.state
    with state.lock:
        rows = state.balances.setdefault(pid, {})
        stamp = now_rfc3339_nano()
        if sid is not None:
            row = rows.get(sid) or Balance(state.next_balance_id(), sid, Decimal(0), Decimal(0), stamp)
            rows[sid] = Balance(row.id, sid, row.long + long_delta, row.short + short_delta, stamp, row.version + 1)
        if cash_delta:
            cash = rows.get(None) or Balance(state.next_balance_id(), None, Decimal(0), Decimal(0), stamp)
            rows[None] = Balance(cash.id, None, cash.long + cash_delta, Decimal(0), stamp, cash.version + 1)
        tid = state.next_transaction_id()
    return {
        "id": tid,
        "portfolioId": pid,
        "securityId": sid,
        "sourceId": item["sourceId"],
        "status": "PROC",
        "transactionType": kind,
        "quantity": plain_decimal(qty),
        "price": plain_decimal(price),
        "transactionDate": item.get("transactionDate") or dt.date.today().strftime("%Y%m%d"),
        "version": 1,
    }
