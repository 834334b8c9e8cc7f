"""GlobeCo service clients (services.md §1-7): one pooled httpx client per service, retries, breaker, caches.

Use ``build_services(settings, transport=None)`` once per process; every error leaving this package is a typed
``engine.errors`` error (``ServiceUnavailable`` naming the service, ``ExternalDataError`` for bad data,
``InvalidInput`` for bad arguments).
"""

from data.services.accounting import AccountingClient
from data.services.facade import GlobeCoServices, build_services
from data.services.order import OrderClient
from data.services.portfolio import PortfolioClient
from data.services.pricing import PricingClient
from data.services.security import SecurityClient
from data.services.types import (
    OrderRequest,
    OrderResult,
    Page,
    PortfolioInfo,
    PriceQuote,
    ReferenceItem,
    SecurityInfo,
    ServiceHealth,
)

__all__ = [
    "AccountingClient",
    "GlobeCoServices",
    "OrderClient",
    "OrderRequest",
    "OrderResult",
    "Page",
    "PortfolioClient",
    "PortfolioInfo",
    "PriceQuote",
    "PricingClient",
    "ReferenceItem",
    "SecurityClient",
    "SecurityInfo",
    "ServiceHealth",
    "build_services",
]
