"""Simulated Portfolio service (services.md §4): singular/plural paths, naive-UTC reads, 404 for malformed ids."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from fastapi import FastAPI, Query, Request
from starlette.responses import PlainTextResponse, Response

from data.simulator.core import Simulator
from data.simulator.responses import fastapi_detail, json_response, pagination

NAME_RE = re.compile(r"^[A-Za-z0-9 _-]{1,200}$")


def read_view(portfolio_id: str, p: dict[str, Any]) -> dict[str, Any]:
    """How reads render a portfolio: ``dateCreated`` naive UTC, millisecond precision, no zone."""
    created: dt.datetime | None = p["dateCreated"]
    return {
        "portfolioId": portfolio_id,
        "name": p["name"],
        "dateCreated": None if created is None else created.isoformat(),
        "version": p["version"],
    }


def portfolio_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="portfolio (simulated)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/v1/portfolio/{portfolio_id}", name="portfolio")
    async def get_portfolio(portfolio_id: str) -> Response:
        # Unknown and malformed ids alike: the service turns every get-by-id exception into 404.
        p = sim.state.portfolios.get(portfolio_id)
        if p is None:
            return fastapi_detail(404, "Portfolio not found")
        return json_response(read_view(portfolio_id, p))

    @app.get("/api/v1/portfolios", name="portfolios")
    async def all_portfolios() -> Response:
        with sim.state.lock:
            items = [read_view(pid, p) for pid, p in sim.state.portfolios.items()]
        return json_response(items)

    @app.get("/api/v2/portfolios", name="portfolio_search")
    async def search(
        name: str | None = None,
        name_like: str | None = None,
        limit: int = Query(50, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> Response:
        if name is not None and name_like is not None:
            return fastapi_detail(400, "Only one search parameter allowed: name or name_like")
        value = name if name is not None else name_like
        if value is not None and not NAME_RE.match(value):
            return fastapi_detail(400, "Invalid search parameter: name must be 1-200 letters, digits, spaces, _ or -")
        with sim.state.lock:
            items = list(sim.state.portfolios.items())
        if name is not None:
            items = [(pid, p) for pid, p in items if p["name"].casefold() == name.casefold()]
        elif name_like is not None:
            items = [(pid, p) for pid, p in items if name_like.casefold() in p["name"].casefold()]
        items.sort(key=lambda kv: kv[1]["dateCreated"] or dt.datetime.min, reverse=True)
        page = [read_view(pid, p) for pid, p in items[offset : offset + limit]]
        return json_response({"portfolios": page, "pagination": pagination(len(items), offset, limit)})

    @app.post("/api/v1/portfolios", name="portfolio_post", status_code=201)
    async def create(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return json_response(
                {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]}, 422
            )
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return json_response(
                {"detail": [{"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": body}]},
                422,
            )
        created = body.get("dateCreated")
        moment = dt.datetime.fromisoformat(created) if isinstance(created, str) else dt.datetime.now(dt.UTC)
        moment = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        version = body.get("version") if isinstance(body.get("version"), int) else 1
        pid = sim.state.ids.new()
        stored = moment.replace(tzinfo=None, microsecond=moment.microsecond // 1000 * 1000)  # BSON dates: ms
        with sim.state.lock:
            sim.state.portfolios[pid] = {"name": name, "dateCreated": stored, "version": version}
        # The POST echo keeps microseconds and a Z; later reads are naive with milliseconds.
        echo = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
        return json_response({"portfolioId": pid, "name": name, "dateCreated": echo, "version": version}, 201)

    @app.get("/health", name="health")
    async def health() -> Response:
        return PlainTextResponse("OK")

    @app.get("/health/live", name="health")
    @app.get("/health/ready", name="health")
    @app.get("/health/startup", name="health")
    async def health_probe() -> Response:
        return json_response({"status": "ok", "checks": {"database": "ok"}})

    return app
