"""The simulator as ASGI apps: one per service (faults + call log around it) and a host-routing app for in-process use.

``sim_app(config)`` returns a ``SimulatorApp``: an ASGI app that routes ``http://<service>.sim`` hosts to the five
service apps (the in-process default), and exposes ``.services[name]`` for serving each on its own port. Every
service also answers the admin paths ``/__sim/...`` (faults, call log, config, reset), never faulted or logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import Match

from data.simulator.config import SERVICES, Fault, SimulatorConfig
from data.simulator.core import Simulator
from data.simulator.faults import CallLog
from data.simulator.malformed import mangle
from data.simulator.responses import empty_portfolio_500, json_response, not_found, server_error
from data.simulator.state import SimState
from data.simulator.svc_accounting import accounting_app
from data.simulator.svc_order import order_app
from data.simulator.svc_portfolio import portfolio_app
from data.simulator.svc_pricing import pricing_app
from data.simulator.svc_security import security_app

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

INPROCESS_URLS = {name: f"http://{name}.sim" for name in SERVICES}
FACTORIES = {
    "accounting": accounting_app,
    "portfolio": portfolio_app,
    "pricing": pricing_app,
    "security": security_app,
    "order": order_app,
}


class DropConnection(Exception):
    """Raised when a ``drop`` fault must close the connection without an answer (the in-process transport maps it
    to ``httpx.RemoteProtocolError``; under uvicorn the socket is aborted instead)."""


class ServiceASGI:
    """One service app wrapped with fault injection and the call log."""

    def __init__(self, name: str, app: FastAPI, sim: Simulator, admin: FastAPI) -> None:
        self.name = name
        self.app = app
        self.sim = sim
        self.admin = admin

    def _match(self, scope: Scope) -> tuple[str, str | None]:
        for route in self.app.router.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                params = child.get("path_params") or {}
                key = next(iter(params.values()), None)
                return getattr(route, "name", "unknown"), None if key is None else str(key)
        return "unknown", None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/__sim"):
            await self.admin(scope, receive, send)
            return
        endpoint, key = self._match(scope)
        decision = self.sim.faults.decide(self.name, endpoint, scope["path"], key)
        # Logged on arrival, so a request the client gave up on (timeout, cancelled) is still counted.
        call = self.sim.calls.record(self.name, endpoint, scope["method"], scope["path"], key, None, decision.label)

        async def logged_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
            await send(message)

        if decision.delay:
            await asyncio.sleep(decision.delay)
        action = decision.action
        if action is not None and action.after and action.kind in ("error", "drop", "timeout"):
            # The request is processed (an order POST creates its orders), then the answer is lost: the outcome is
            # held by the simulator, as when a server dies after committing and before answering.
            await self.app(scope, receive, _discard)
        if action is not None and action.kind == "timeout":
            await asyncio.sleep(action.delay or 60.0)  # then answer normally: the client has given up
            if action.after:  # already processed: the client waited (or died waiting) for an answer that never comes
                self._drop(send)
                return
        elif action is not None and action.kind == "drop":
            self._drop(send)
            return
        elif action is not None:
            await self._fault_response(action, scope["path"])(scope, receive, logged_send)
            return
        if decision.item_failures:
            scope.setdefault("state", {})["sim_item_failures"] = decision.item_failures
        if decision.malformed is not None:
            await self._malformed(decision.malformed, scope, receive, logged_send)
        else:
            await self.app(scope, receive, logged_send)

    def _fault_response(self, fault: Fault, path: str) -> Response:
        if fault.kind == "not_found":
            return not_found(self.name, path)
        if fault.kind == "empty_500":
            return empty_portfolio_500()
        return server_error(self.name, fault.status, path, fault.message, fault.retry_after)

    @staticmethod
    def _drop(send: Send) -> None:
        """Close the connection with no answer: abort uvicorn's socket, or tell the in-process transport."""
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None and hasattr(cycle, "disconnected"):
            cycle.disconnected = True  # uvicorn then sends nothing more on this connection
            transport.abort()
            return
        raise DropConnection

    async def _malformed(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        start: MutableMapping[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = mangle(b"".join(chunks), fault)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def admin_app(sim: Simulator) -> FastAPI:
    """``/__sim/...``: faults, call log, config and reset, for tests driving a served simulator."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/__sim/faults")
    async def get_faults() -> Response:
        return json_response({"seed": sim.faults.seed, "faults": [f.model_dump() for f in sim.faults.faults]})

    @app.put("/__sim/faults")
    async def put_faults(request: Request) -> Response:
        body = await request.json()
        try:
            faults = [Fault.model_validate(f) for f in body.get("faults", [])]
        except ValidationError as err:
            return json_response({"detail": err.errors(include_url=False, include_context=False)}, 422)
        sim.set_faults(faults, body.get("seed"))
        return json_response({"faults": len(faults)})

    @app.post("/__sim/faults")
    async def add_faults(request: Request) -> Response:
        body = await request.json()
        try:
            faults = [Fault.model_validate(f) for f in body.get("faults", [])]
        except ValidationError as err:
            return json_response({"detail": err.errors(include_url=False, include_context=False)}, 422)
        sim.faults.add(faults)
        return json_response({"faults": len(sim.faults.faults)})

    @app.delete("/__sim/faults")
    async def clear_faults() -> Response:
        sim.faults.clear()
        return json_response({"faults": 0})

    @app.get("/__sim/calls")
    async def get_calls(service: str | None = None, endpoint: str | None = None, full: bool = False) -> Response:
        calls = sim.calls.calls(service, endpoint)
        return json_response({"count": len(calls), "calls": [c.to_dict() for c in calls] if full else []})

    @app.delete("/__sim/calls")
    async def clear_calls() -> Response:
        sim.calls.clear()
        return json_response({"count": 0})

    @app.get("/__sim/config")
    async def get_config() -> Response:
        return json_response(sim.config.model_dump(exclude={"faults"}))

    @app.put("/__sim/config")
    async def put_config(request: Request) -> Response:
        body = await request.json()
        allowed = {k: v for k, v in body.items() if k in ("price_mode", "seed", "accounting_empty_status")}
        try:
            SimulatorConfig.model_validate({**sim.config.model_dump(), **allowed})
        except ValidationError as err:
            return json_response({"detail": err.errors(include_url=False, include_context=False)}, 422)
        sim.configure(**allowed)
        return json_response(sim.config.model_dump(exclude={"faults"}))

    @app.post("/__sim/reset")
    async def reset() -> Response:
        sim.reset()
        return json_response({"reset": True})

    return app


class SimulatorApp:
    """All five services over one ``Simulator``; an ASGI app routing by host (``accounting.sim`` ...)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.sim = Simulator(config)
        admin = admin_app(self.sim)
        self.services = {name: ServiceASGI(name, FACTORIES[name](self.sim), self.sim, admin) for name in SERVICES}
        self._hosts = {f"{name}.sim": app for name, app in self.services.items()}

    # Conveniences for tests: the call log, the fault injector, the state and the config.
    @property
    def calls(self) -> CallLog:
        return self.sim.calls

    @property
    def state(self) -> SimState:
        return self.sim.state

    @property
    def config(self) -> SimulatorConfig:
        return self.sim.config

    def set_faults(self, faults: list[Fault | dict[str, Any]], seed: int | None = None) -> None:
        """Replace the active faults (dicts are validated as ``Fault``)."""
        self.sim.set_faults([f if isinstance(f, Fault) else Fault.model_validate(f) for f in faults], seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").split(":")[0]
                break
        app = self._hosts.get(host)
        if app is None:
            await json_response({"detail": f"no simulated service at host {host!r}"}, 404)(scope, receive, send)
            return
        await app(scope, receive, send)


def sim_app(config: SimulatorConfig | None = None) -> SimulatorApp:
    """A fresh simulator (its own state, faults and call log) loaded with the configured dataset."""
    return SimulatorApp(config)


async def _discard(message: MutableMapping[str, Any]) -> None:
    """An ASGI ``send`` that throws the answer away (see the ``after`` fault option)."""
