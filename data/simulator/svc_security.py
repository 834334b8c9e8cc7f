"""Simulated Security service (services.md §6): 500 on malformed ids, bulk list, v2 ticker search."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Query, Request
from starlette.responses import Response

from data.simulator.core import Simulator
from data.simulator.responses import fastapi_detail, json_response, pagination

HEX24 = re.compile(r"^[0-9a-fA-F]{24}$")
TICKER_RE = re.compile(r"^[A-Za-z0-9.-]{1,50}$")


def security_out(sim: Simulator, security_id: str, sec: dict[str, Any], type_version: bool = False) -> dict[str, Any]:
    kind = sim.state.security_types.get(sec["securityTypeId"], {})
    security_type = {
        "securityTypeId": sec["securityTypeId"],
        "abbreviation": kind.get("abbreviation"),
        "description": kind.get("description"),
    }
    if type_version:
        security_type["version"] = kind.get("version", 1)
    return {
        "ticker": sec["ticker"],
        "description": sec["description"],
        "securityTypeId": sec["securityTypeId"],
        "version": sec["version"],
        "securityId": security_id,
        "securityType": security_type,
    }


def security_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="security (simulated)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/v1/security/{security_id}", name="security")
    async def get_security(security_id: str) -> Response:
        if not HEX24.match(security_id):  # bson.ObjectId() raises, and the service answers a bare 500
            return json_response({"error": "Internal server error"}, 500)
        sec = sim.state.securities.get(security_id)
        if sec is None:
            return fastapi_detail(404, "Security not found")
        return json_response(security_out(sim, security_id, sec))

    @app.get("/api/v1/securities", name="securities")
    async def all_securities() -> Response:
        with sim.state.lock:
            items = [security_out(sim, sid, sec) for sid, sec in sim.state.securities.items()]
        return json_response(items)

    @app.get("/api/v2/securities", name="security_search")
    async def search(
        ticker: str | None = None,
        ticker_like: str | None = None,
        limit: int = Query(50, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> Response:
        if ticker is not None and ticker_like is not None:
            return fastapi_detail(
                400,
                "1 validation error for SecuritySearchParams\n  Value error, Only one of 'ticker' or 'ticker_like' "
                "parameters can be provided",
            )
        value = ticker if ticker is not None else ticker_like
        if value is not None and not TICKER_RE.match(value):
            return fastapi_detail(
                400, "1 validation error for SecuritySearchParams\n  Value error, Invalid ticker format"
            )
        with sim.state.lock:
            items = list(sim.state.securities.items())
        # As the real service (MongoDB $regex, case-insensitive): the value is a regular expression, so '.' matches
        # any character ("BRK.B" also finds "BRKXB"); TICKER_RE above leaves '.' as the only metacharacter.
        if ticker is not None:
            pattern = re.compile(ticker, re.IGNORECASE)
            items = [(sid, s) for sid, s in items if pattern.fullmatch(s["ticker"])]
        elif ticker_like is not None:
            pattern = re.compile(ticker_like, re.IGNORECASE)
            items = [(sid, s) for sid, s in items if pattern.search(s["ticker"])]
        items.sort(key=lambda kv: kv[1]["ticker"])
        page = [security_out(sim, sid, s, type_version=True) for sid, s in items[offset : offset + limit]]
        return json_response({"securities": page, "pagination": pagination(len(items), offset, limit)})

    @app.post("/api/v1/securities", name="security_post")
    async def create(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("ticker"), str) or not body.get("description"):
            return json_response({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required"}]}, 422)
        if body.get("securityTypeId") not in sim.state.security_types:
            return fastapi_detail(400, "Invalid securityTypeId")
        sid = sim.state.ids.new()
        # Tickers are not unique: a duplicate ticker simply creates another security.
        sec = {
            "ticker": body["ticker"],
            "description": body["description"],
            "securityTypeId": body["securityTypeId"],
            "version": body.get("version") or 1,
        }
        with sim.state.lock:
            sim.state.securities[sid] = sec
        return json_response(security_out(sim, sid, sec), 201)

    @app.get("/api/v1/securityTypes", name="security_types")
    async def security_types() -> Response:
        return json_response([dict(t) for t in sim.state.security_types.values()])

    @app.get("/health/liveness", name="health")
    async def liveness() -> Response:
        return json_response({"status": "alive"})

    @app.get("/health/readiness", name="health")
    async def readiness() -> Response:
        return json_response({"status": "ready"})

    @app.get("/health/startup", name="health")
    async def startup() -> Response:
        return json_response({"status": "started"})

    return app
