"""Response builders with each real service's own body shapes (FastAPI, Spring Boot, Go)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response

JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON answer (``json.dumps`` in C: fast enough for a 1,000-portfolio run)."""
    return Response(json.dumps(body, separators=(",", ":")), status, headers=headers, media_type=JSON)


def exact_json(value: Any) -> str:
    """JSON text where Decimals are exact numbers (Spring's BigDecimal with scale 8 prints ``100.00000000``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{exact_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(exact_json(v) for v in value) + "]"
    return json.dumps(value)


def exact_json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(exact_json(body), status, headers=headers, media_type=JSON)


def plain_decimal(d: Decimal) -> str:
    """Go's decimal.String(): no exponent, trailing zeros trimmed (``100.00000000`` -> ``100``)."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def spring_error(status: int, path: str) -> Response:
    """Spring Boot's default error body (pricing and order services)."""
    reasons = {
        400: "Bad Request",
        404: "Not Found",
        413: "Payload Too Large",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    body = {
        "timestamp": iso_now().replace("Z", "+00:00"),
        "status": status,
        "error": reasons.get(status, "Error"),
        "path": path,
    }
    return json_response(body, status)


def accounting_error(status: int, code: str, message: str) -> Response:
    """The Go accounting service's ``{"error": {code, message, timestamp}}`` body."""
    return json_response({"error": {"code": code, "message": message, "timestamp": iso_now()}}, status)


def empty_portfolio_500() -> Response:
    """What accounting really answers for a portfolio without balance rows (services.md §3.1)."""
    return accounting_error(500, "INTERNAL_ERROR", "Failed to retrieve portfolio summary")


def fastapi_detail(status: int, detail: Any) -> Response:
    return json_response({"detail": detail}, status)


def server_error(service: str, status: int, path: str, message: str, retry_after: int | None = None) -> Response:
    """A 5xx in the style of ``service`` (orders' 503 carries ``Retry-After``)."""
    if service in ("pricing", "order"):
        if service == "order" and status == 503:
            body = {
                "code": "SERVICE_OVERLOADED",
                "message": "System temporarily overloaded - please retry in a few minutes",
                "retryAfter": retry_after,
                "timestamp": iso_now(),
            }
            return json_response(body, 503, headers={"Retry-After": str(retry_after or 1)})
        return spring_error(status, path)
    if service == "accounting":
        return accounting_error(status, "SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR", message)
    return json_response({"error": "Internal server error"} if status == 500 else {"detail": message}, status)


def not_found(service: str, path: str) -> Response:
    """The 404 each service sends for an unknown key."""
    if service in ("pricing", "order"):
        return spring_error(404, path)
    if service == "accounting":
        return accounting_error(404, "NOT_FOUND", "Portfolio not found")
    return fastapi_detail(404, "Security not found" if service == "security" else "Portfolio not found")


def pagination(total: int, offset: int, limit: int) -> dict[str, Any]:
    """The v2 ``pagination`` block of the security and portfolio services."""
    return {
        "totalElements": total,
        "totalPages": -(-total // limit) if limit else 0,
        "currentPage": offset // limit if limit else 0,
        "pageSize": limit,
        "hasNext": offset + limit < total,
        "hasPrevious": offset > 0,
    }
