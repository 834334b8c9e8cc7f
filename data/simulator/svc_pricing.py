"""Simulated Pricing service (services.md §5): sampled ``close``, exact-case tickers, Spring's 404 body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from data.simulator.core import Simulator
from data.simulator.responses import json_response, spring_error
from data.simulator.state import PriceRow


def price_dto(sim: Simulator, row: PriceRow) -> dict:
    """A PriceDto: ``open = high = low = close`` (one fresh sample), ``volume = int(std)``, the seeded date."""
    close = sim.state.sample_close(row, sim.price_mode)
    return {
        "id": row.id,
        "ticker": row.ticker,
        "date": sim.state.as_of.isoformat(),
        "open": close,
        "close": close,
        "high": close,
        "low": close,
        "volume": int(row.std),
    }


def pricing_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="pricing (simulated)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return spring_error(400, request.url.path)

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        return spring_error(404, request.url.path)

    @app.get("/api/v1/price/{ticker}", name="price")
    async def price(ticker: str, request: Request) -> Response:
        row = sim.state.prices.get(ticker)  # exact, case-sensitive match
        if row is None:
            return spring_error(404, request.url.path)
        return json_response(price_dto(sim, row))

    @app.get("/api/v1/prices", name="prices")
    async def prices() -> Response:
        rows = sorted(sim.state.prices.values(), key=lambda r: r.id)
        return json_response([price_dto(sim, row) for row in rows])

    @app.get("/actuator/health", name="health")
    @app.get("/actuator/health/liveness", name="health")
    @app.get("/actuator/health/readiness", name="health")
    async def health() -> Response:
        return json_response({"status": "UP"})

    return app
