"""GlobeCo simulator fixtures and helpers for every test layer (data, AppTest, browser).

In-process: ``simulator`` (a fresh ``sim_app``: demo data, fixed prices, seed 7), ``sim_transport`` (a sync httpx
transport into it) and ``services`` (the real clients over that transport, with millisecond backoff so retry tests
stay fast). Served: ``served_simulator(...)`` runs ``python -m data.simulator`` on free ports and yields the Settings
environment (``ACCOUNTING_URL`` ... ``ORDER_URL``) plus methods to set faults and read the call log over HTTP;
``simulator_urls`` is that as a session fixture for browser tests.

Import what you use in the test module (``from tests.support.simulator import services, simulator  # noqa: F401``).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from data.services import GlobeCoServices, build_services
from data.settings import SERVICE_NAMES, Settings
from data.simulator import Fault, InProcessTransport, SimulatorApp, SimulatorConfig, sim_app

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = {name: f"{name.upper()}_URL" for name in SERVICE_NAMES}

__all__ = [
    "ENV_NAMES",
    "Fault",
    "ServedSimulator",
    "SimulatorConfig",
    "fast_settings",
    "inprocess_transport",
    "served_simulator",
    "services",
    "sim_app",
    "sim_transport",
    "simulator",
    "simulator_urls",
]


def inprocess_transport(app: SimulatorApp) -> InProcessTransport:
    """A synchronous httpx transport into ``app`` (call ``.shutdown()`` when done)."""
    return InProcessTransport(app)


def fast_settings(**overrides: Any) -> Settings:
    """Settings for tests: no service URLs, 1 ms backoff, 2 s timeout, fixed simulator prices; ``overrides`` win."""
    base: dict[str, Any] = {f"{name}_url": None for name in SERVICE_NAMES}
    base.update(
        http_backoff=0.001,
        http_backoff_max=0.01,
        http_timeout=2.0,
        order_retry_after_max=0.01,
        breaker_reset_timeout=30.0,
        simulator_price_mode="fixed",
    )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def simulator() -> SimulatorApp:
    """A fresh in-process simulator: demo dataset, fixed prices, seed 7."""
    return sim_app(SimulatorConfig(price_mode="fixed", seed=7))


@pytest.fixture
def sim_transport(simulator: SimulatorApp) -> Iterator[InProcessTransport]:
    """An httpx transport into ``simulator``."""
    transport = inprocess_transport(simulator)
    yield transport
    transport.shutdown()


@pytest.fixture
def services(sim_transport: InProcessTransport) -> Iterator[GlobeCoServices]:
    """The five real clients over ``sim_transport`` with ``fast_settings()``."""
    svc = build_services(fast_settings(), transport=sim_transport)
    yield svc
    svc.close()


class ServedSimulator(dict):
    """The environment of a served simulator (``{"ACCOUNTING_URL": ..., ...}``) plus admin helpers over HTTP."""

    def __init__(self, urls: Mapping[str, str], process: subprocess.Popen) -> None:
        super().__init__({ENV_NAMES[name]: url for name, url in urls.items()})
        self.urls = dict(urls)
        self.process = process
        self._admin = httpx.Client(base_url=self.urls["accounting"], timeout=10)

    def set_faults(self, faults: list[dict[str, Any] | Fault], seed: int | None = None) -> None:
        """Replace the faults of the running simulator (``PUT /__sim/faults``)."""
        body: dict[str, Any] = {"faults": [f.model_dump() if isinstance(f, Fault) else f for f in faults]}
        if seed is not None:
            body["seed"] = seed
        self._admin.put("/__sim/faults", json=body).raise_for_status()

    def clear_faults(self) -> None:
        self._admin.delete("/__sim/faults").raise_for_status()

    def calls(self, service: str | None = None, endpoint: str | None = None) -> list[dict[str, Any]]:
        """The call log (``GET /__sim/calls``), optionally for one service/endpoint."""
        params = {k: v for k, v in (("service", service), ("endpoint", endpoint)) if v}
        return self._admin.get("/__sim/calls", params={**params, "full": "true"}).json()["calls"]

    def clear_calls(self) -> None:
        self._admin.delete("/__sim/calls").raise_for_status()

    def configure(self, **config: Any) -> None:
        """Change ``price_mode``, ``seed`` or ``accounting_empty_status`` at runtime."""
        self._admin.put("/__sim/config", json=config).raise_for_status()

    def reset(self) -> None:
        """Fresh data, configured faults, empty call log."""
        self._admin.post("/__sim/reset").raise_for_status()

    def close(self) -> None:
        self._admin.close()


def _read_lines(stream: Any, count: int, timeout: float) -> list[str]:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(lines) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            line = stream.readline()
            if not line:
                break
            lines.append(line.decode().strip())
    finally:
        selector.close()
    return lines


@contextlib.contextmanager
def served_simulator(
    price_mode: str = "fixed",
    seed: int = 0,
    faults: list[dict[str, Any]] | None = None,
    ports: str | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[ServedSimulator]:
    """Run ``python -m data.simulator`` in a subprocess on free loopback ports; stop it on exit."""
    import json

    cmd = [sys.executable, "-m", "data.simulator", "--price-mode", price_mode, "--seed", str(seed)]
    if faults:
        cmd += ["--faults", json.dumps(faults)]
    if ports:
        cmd += ["--ports", ports]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # bufsize=0: an unbuffered pipe, so select() sees every line (a buffered readline would swallow the rest)
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, env=env, bufsize=0)
    served: ServedSimulator | None = None
    try:
        lines = _read_lines(process.stdout, len(SERVICE_NAMES), timeout)
        urls = dict(line.split(" ", 1) for line in lines if " " in line)
        if set(urls) != set(SERVICE_NAMES):
            raise RuntimeError(f"python -m data.simulator printed {lines!r} (exit code {process.poll()})")
        served = ServedSimulator(urls, process)
        yield served
    finally:
        if served is not None:
            served.close()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
        if log_path:
            log.close()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def simulator_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSimulator]:
    """One served simulator for the session (fixed prices): its Settings environment variables."""
    log = tmp_path_factory.mktemp("simulator") / "simulator.log"
    with served_simulator(price_mode="fixed", log_path=log) as served:
        yield served
