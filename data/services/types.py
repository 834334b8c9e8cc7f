"""Plain result types of the GlobeCo service clients (immutable, snake_case)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

OrderSide = Literal["BUY", "SELL"]
OrderOutcome = Literal["success", "failed", "unknown"]


@dataclass(frozen=True)
class SecurityInfo:
    """One security of the Security Service."""

    security_id: str
    ticker: str
    description: str
    security_type: str | None = None  # abbreviation, e.g. "CS"


@dataclass(frozen=True)
class PortfolioInfo:
    """One portfolio of the Portfolio Service (``date_created`` is always timezone-aware UTC)."""

    portfolio_id: str
    name: str
    date_created: dt.datetime | None = None
    version: int = 1


@dataclass(frozen=True)
class PriceQuote:
    """One sampled price of the Pricing Service: ``close`` is the price we use; ``date`` is its historical date."""

    ticker: str
    close: Decimal
    date: dt.date | None = None


@dataclass(frozen=True)
class Page[T]:
    """One page of a v2 search: ``items`` plus the total number of matches."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True)
class OrderRequest:
    """One order to submit: a BUY or SELL of ``quantity`` (> 0, unrounded if fractional) at market or a limit."""

    portfolio_id: str
    security_id: str
    side: OrderSide
    quantity: Decimal
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class OrderResult:
    """The outcome of one submitted order, matched by ``request_index`` (position in the submitted list).

    ``outcome``: ``success`` (created, ``order_id`` set), ``failed`` (surely not created, ``message`` says why) or
    ``unknown`` (timeout/5xx after sending: check ``GET /api/v1/orders`` before resubmitting, services.md §7.4).
    """

    request_index: int
    outcome: OrderOutcome
    message: str
    order_id: int | None = None

    @property
    def success(self) -> bool:
        return self.outcome == "success"


@dataclass(frozen=True)
class ReferenceItem:
    """An order type, status or blotter of the Order Service (``abbreviation`` of a blotter is its name)."""

    id: int
    abbreviation: str
    description: str


@dataclass(frozen=True)
class ServiceHealth:
    """Result of one health probe: ``ok`` plus a short human ``detail`` and the circuit-breaker state."""

    name: str
    ok: bool
    detail: str
    target: str
    latency_ms: float | None = None
    breaker: str = "closed"
