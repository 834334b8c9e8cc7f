"""``GlobeCoServices``: the five clients together, built once per process by ``build_services``."""

from __future__ import annotations

from typing import Any

import httpx

from data.http import map_bounded
from data.services.accounting import AccountingClient
from data.services.base import ServiceClient
from data.services.order import OrderClient
from data.services.portfolio import PortfolioClient
from data.services.pricing import PricingClient
from data.services.security import SecurityClient
from data.services.types import ServiceHealth
from data.settings import SERVICE_NAMES, Settings, get_settings

CLIENT_TYPES: dict[str, type[ServiceClient]] = {
    "accounting": AccountingClient,
    "portfolio": PortfolioClient,
    "pricing": PricingClient,
    "security": SecurityClient,
    "order": OrderClient,
}


class GlobeCoServices:
    """Facade over ``.accounting .portfolio .pricing .security .order``; close it on shutdown."""

    def __init__(
        self,
        settings: Settings,
        clients: dict[str, ServiceClient],
        simulator: Any = None,
        owned_transport: Any = None,
    ) -> None:
        self.settings = settings
        self.accounting: AccountingClient = clients["accounting"]  # type: ignore[assignment]
        self.portfolio: PortfolioClient = clients["portfolio"]  # type: ignore[assignment]
        self.pricing: PricingClient = clients["pricing"]  # type: ignore[assignment]
        self.security: SecurityClient = clients["security"]  # type: ignore[assignment]
        self.order: OrderClient = clients["order"]  # type: ignore[assignment]
        self.simulator = simulator  # the embedded SimulatorApp when any service runs in-process, else None
        self._owned_transport = owned_transport

    @property
    def clients(self) -> dict[str, ServiceClient]:
        return {name: getattr(self, name) for name in SERVICE_NAMES}

    def describe(self) -> dict[str, str]:
        """Where each service lives: ``"embedded simulator"`` or its base URL."""
        return {name: client.target for name, client in self.clients.items()}

    def health(self) -> dict[str, ServiceHealth]:
        """One probe per service, concurrently; never raises."""
        results = map_bounded(lambda name: self.clients[name].health(), SERVICE_NAMES, len(SERVICE_NAMES))
        return {name: results[name] for name in SERVICE_NAMES}  # type: ignore[misc]

    def clear_caches(self) -> None:
        """Forget cached tickers, prices, portfolio names and order reference data."""
        for client in self.clients.values():
            cache = getattr(client, "cache", None)
            if cache is not None:
                cache.clear()

    def close(self) -> None:
        """Close every client (and the embedded simulator's event loop when this object started it)."""
        for client in self.clients.values():
            client.close()
        if self._owned_transport is not None:
            self._owned_transport.shutdown()
            self._owned_transport = None

    def __enter__(self) -> GlobeCoServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_services(settings: Settings | None = None, transport: httpx.BaseTransport | None = None) -> GlobeCoServices:
    """Clients for the five services.

    A service with a URL in ``settings`` is called over the network. A service without one is the embedded
    simulator with the demo dataset (price mode ``settings.simulator_price_mode``), run in-process. A given
    ``transport`` (e.g. a test's in-process simulator) is used for every service; unset URLs then get the
    simulator's in-process host names.
    """
    from data.simulator import INPROCESS_URLS

    settings = settings or get_settings()
    simulator = None
    owned = None
    embedded_transport = transport
    if transport is None and any(settings.service_url(name) is None for name in SERVICE_NAMES):
        from data.simulator import InProcessTransport, SimulatorConfig, sim_app

        simulator = sim_app(SimulatorConfig(price_mode=settings.simulator_price_mode, seed=settings.simulator_seed))
        owned = embedded_transport = InProcessTransport(simulator)
    elif transport is not None:
        simulator = getattr(transport, "app", None)
    headers = {}
    if settings.accounting_api_key is not None:
        headers["X-API-Key"] = settings.accounting_api_key.get_secret_value()
    clients: dict[str, ServiceClient] = {}
    for name in SERVICE_NAMES:
        url = settings.service_url(name)
        embedded = url is None
        clients[name] = CLIENT_TYPES[name](
            url or INPROCESS_URLS[name],
            settings,
            transport=transport if transport is not None else (embedded_transport if embedded else None),
            embedded=embedded,
            headers=headers if name == "accounting" else None,
        )
    return GlobeCoServices(settings, clients, simulator=simulator, owned_transport=owned)
