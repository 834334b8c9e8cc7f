"""Simulated Order service (services.md §7): array-only POST with per-item results, 200/207/400/413, paged GET."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from data.simulator.config import Fault
from data.simulator.core import Simulator
from data.simulator.responses import exact_json_response, json_response, spring_error
from data.simulator.state import BLOTTERS, ORDER_TYPES, STATUSES

MAX_BATCH = 1000
SCALE = Decimal("0.00000001")
REQUIRED = ("blotterId", "statusId", "portfolioId", "orderTypeId", "securityId", "quantity")


def _list_body(status: str, message: str, received: int, ok: int, failed: int, orders: list) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "totalReceived": received,
        "successful": ok,
        "failed": failed,
        "orders": orders,
    }


def order_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="order (simulated)", docs_url=None, redoc_url=None, openapi_url=None)
    types = {i: {"id": i, "abbreviation": a, "description": d, "version": 1} for i, a, d in ORDER_TYPES}
    statuses = {i: {"id": i, "abbreviation": a, "description": d, "version": 1} for i, a, d in STATUSES}
    blotters = {i: {"id": i, "abbreviation": None, "name": n, "version": 1} for i, n in BLOTTERS}

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return spring_error(400, request.url.path)

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        return spring_error(404, request.url.path)

    def item_problem(item: Any) -> str | None:
        if not isinstance(item, dict):
            return "Order must be an object"
        for key in REQUIRED:
            if item.get(key) is None:
                return f"{key} is required"
        try:
            quantity = Decimal(str(item["quantity"]))
        except (InvalidOperation, ValueError):
            return "Quantity must be a number"
        if not quantity.is_finite() or quantity <= 0:
            return "Quantity must be positive"
        limit = item.get("limitPrice")
        if limit is not None:
            try:
                if Decimal(str(limit)) <= 0:
                    return "Limit price must be positive"
            except (InvalidOperation, ValueError):
                return "Limit price must be a number"
        if item["blotterId"] not in blotters:
            return f"Blotter with ID {item['blotterId']} not found"
        if item["statusId"] not in statuses:
            return f"Status with ID {item['statusId']} not found"
        if item["orderTypeId"] not in types:
            return f"Order type with ID {item['orderTypeId']} not found"
        for key in ("portfolioId", "securityId"):
            if not isinstance(item[key], str) or len(item[key]) > 24:
                return f"Failed to create order: value too long for type character(24) ({key})"
        return None

    def order_view(order: dict[str, Any]) -> dict[str, Any]:
        portfolio = sim.state.portfolios.get(order["portfolioId"])
        security = sim.state.securities.get(order["securityId"])
        return {
            "id": order["id"],
            "blotter": blotters[order["blotterId"]],
            "status": statuses[order["statusId"]],
            "portfolio": {"portfolioId": order["portfolioId"], "name": portfolio["name"] if portfolio else None},
            "orderType": types[order["orderTypeId"]],
            "security": {"securityId": order["securityId"], "ticker": security["ticker"] if security else None},
            "quantity": order["quantity"],
            "limitPrice": order["limitPrice"],
            "tradeOrderId": order["tradeOrderId"],
            "orderTimestamp": order["orderTimestamp"],
            "version": order["version"],
        }

    @app.post("/api/v1/orders", name="orders_post")
    async def create_orders(request: Request) -> Response:
        try:
            items = json.loads(await request.body())
        except ValueError:
            return spring_error(400, request.url.path)  # malformed JSON: Spring's default 400
        if not isinstance(items, list):  # a bare object is not accepted
            return spring_error(400, request.url.path)
        if not items:
            return json_response(_list_body("FAILURE", "No orders to process", 0, 0, 0, []), 400)
        if len(items) > MAX_BATCH:
            message = f"Batch size {len(items)} exceeds maximum allowed size of {MAX_BATCH}"
            return json_response(_list_body("FAILURE", message, 0, 0, 0, []), 413)
        forced: list[Fault] = request.scope.get("state", {}).get("sim_item_failures", [])
        results = []
        for index, item in enumerate(items):
            problem = item_problem(item)
            for fault in forced:
                if fault.indexes is None or index in fault.indexes:
                    problem = problem or fault.message
            if problem:
                results.append({"status": "FAILURE", "message": problem, "requestIndex": index})
                continue
            with sim.state.lock:
                order_id = sim.state.next_order_id()
                order = {
                    "id": order_id,
                    "blotterId": item["blotterId"],
                    "statusId": item["statusId"],
                    "portfolioId": item["portfolioId"],
                    "orderTypeId": item["orderTypeId"],
                    "securityId": item["securityId"],
                    "quantity": Decimal(str(item["quantity"])).quantize(SCALE),
                    "limitPrice": None
                    if item.get("limitPrice") is None
                    else Decimal(str(item["limitPrice"])).quantize(SCALE),
                    "tradeOrderId": item.get("tradeOrderId"),
                    "orderTimestamp": item.get("orderTimestamp"),
                    "version": item.get("version") or 1,
                }
                sim.state.orders[order_id] = order
            results.append(
                {
                    "status": "SUCCESS",
                    "message": "Order created successfully",
                    "orderId": order_id,
                    "requestIndex": index,
                    "order": order_view(order),
                }
            )
        ok = sum(1 for r in results if r["status"] == "SUCCESS")
        failed = len(results) - ok
        if failed == 0:
            body = _list_body("SUCCESS", f"All {ok} orders processed successfully", len(items), ok, 0, results)
            return exact_json_response(body, 200)
        status, message = (
            ("FAILURE", f"All {failed} orders failed")
            if ok == 0
            else ("PARTIAL", f"Processed {len(items)} orders: {ok} successful, {failed} failed")
        )
        return exact_json_response(_list_body(status, message, len(items), ok, failed, results), 207)

    @app.get("/api/v1/orders", name="orders")
    async def list_orders(limit: int = 50, offset: int = 0) -> Response:
        if not 1 <= limit <= 1000:
            return json_response(
                {"error": "Invalid limit parameter", "message": f"Limit must be between 1 and 1000, got: {limit}"}, 400
            )
        if offset < 0:
            return json_response(
                {"error": "Invalid offset parameter", "message": f"Offset must be >= 0, got: {offset}"}, 400
            )
        with sim.state.lock:
            orders = [sim.state.orders[k] for k in sorted(sim.state.orders)]
        page = [order_view(o) for o in orders[offset : offset + limit]]
        total = len(orders)
        body = {
            "content": page,
            "pagination": {
                "totalElements": total,
                "totalPages": -(-total // limit),
                "currentPage": offset // limit,
                "pageSize": limit,
                "hasNext": offset + limit < total,
                "hasPrevious": offset > 0,
            },
        }
        return exact_json_response(body)

    @app.get("/api/v1/order/{order_id}", name="order")
    async def get_order(order_id: int) -> Response:
        order = sim.state.orders.get(order_id)
        if order is None:
            return Response(status_code=404)  # Spring's notFound().build(): empty body
        return exact_json_response(order_view(order))

    @app.get("/api/v1/orderTypes", name="order_types")
    async def order_types() -> Response:
        return json_response(list(types.values()))

    @app.get("/api/v1/statuses", name="statuses")
    async def all_statuses() -> Response:
        return json_response(list(statuses.values()))

    @app.get("/api/v1/blotters", name="blotters")
    async def all_blotters() -> Response:
        return json_response(list(blotters.values()))

    @app.get("/actuator/health", name="health")
    @app.get("/actuator/health/liveness", name="health")
    @app.get("/actuator/health/readiness", name="health")
    async def health() -> Response:
        return json_response({"status": "UP"})

    return app
