"""Pricing Service client: ``close`` by exact, case-sensitive ticker; the bulk list (services.md §5).

The service samples a fresh ``close`` on every call, so a run must take one price per security and reuse it:
``prices_for`` returns that single value per ticker (from the 60 s cache, one bulk call, or one call each).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from data.http import LockedTTLCache, map_bounded
from data.services.base import ServiceClient, segment
from data.services.parse import decimal_field, json_body, keyed_items, parse_date, shown, str_field
from data.services.types import PriceQuote
from engine.errors import ExternalDataError


def parse_quote(item: Any, service: str = "pricing") -> PriceQuote:
    """A PriceDto -> PriceQuote; ``ExternalDataError`` naming the ticker and field when ``ticker`` or ``close`` is
    missing, null, of another type (a decimal string is the same number and accepted) or ``close`` ≤ 0.
    ``date`` only labels the quote: a bad one becomes None."""
    if not isinstance(item, dict):
        raise ExternalDataError(f"{service}: a price item is not a JSON object: {shown(item)}", {"service": service})
    ticker = str_field(item, "ticker", service=service, where="a price item")
    close = decimal_field(item, "close", service=service, where=f"price of {ticker}", ticker=ticker)
    if close <= 0:
        raise ExternalDataError(
            f"{service}: close of {ticker} is not positive: {close}",
            {"service": service, "ticker": ticker, "field": "close", "value": str(close)},
        )
    return PriceQuote(ticker=ticker, close=close, date=parse_date(item.get("date")))


def parse_price_list(items: list[Any], service: str = "pricing") -> tuple[dict[str, PriceQuote], dict[str, str]]:
    """The bulk price list -> ``(quotes by ticker, problems by ticker)``. An unusable item names its ticker when it
    has one (an item without a ticker cannot be attributed: its ticker is simply absent, i.e. "no price"). A ticker
    listed twice is usable only when every copy is valid and carries the same close; otherwise it is a problem."""

    def conflict(seen: PriceQuote, quote: PriceQuote) -> str | None:
        if seen.close == quote.close:
            return None
        return f"{service}: {quote.ticker} is listed twice with different closes ({seen.close}, {quote.close})"

    return keyed_items(items, lambda item: parse_quote(item, service), lambda q: q.ticker, "ticker", conflict)


@dataclass
class PriceLookup:
    """One price per ticker for a run: ``prices``, plus ``problems`` (ticker -> why there is no usable price)."""

    prices: dict[str, Decimal] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class PricingClient(ServiceClient):
    """Price look-ups with a 60 s, 1000-entry cache keyed ``price:{ticker}``."""

    name = "pricing"
    label = "Pricing service"
    health_path = "/actuator/health/readiness"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.cache = LockedTTLCache(s.cache_max_entries, s.price_cache_ttl)

    def quote(self, ticker: str) -> PriceQuote | None:
        """A fresh sample for ``ticker`` (not cached), or None for an unknown ticker (404, exact case)."""
        response = self._get(f"/api/v1/price/{segment(ticker)}")
        if response.status_code == 404:
            return None
        self._ok(response, ticker, ticker=ticker)
        quote = parse_quote(json_body(response, service=self.name, expect=dict, ticker=ticker), self.name)
        if quote.ticker != ticker:
            raise ExternalDataError(
                f"pricing answered {quote.ticker!r} when asked for {ticker!r}", {"service": self.name, "ticker": ticker}
            )
        return quote

    def price(self, ticker: str) -> Decimal:
        """The close of ``ticker`` (cached 60 s); ``ExternalDataError`` when the service has no usable price."""
        cached = self.cache.get(f"price:{ticker}")
        if cached is not None:
            return cached
        quote = self.quote(ticker)
        if quote is None:
            raise ExternalDataError(
                f"pricing has no price for ticker {ticker}", {"service": self.name, "ticker": ticker}
            )
        self.cache.set(f"price:{ticker}", quote.close)
        return quote.close

    def all_quotes(self) -> tuple[dict[str, PriceQuote], dict[str, str]]:
        """Every price in one call: ``(quotes by ticker, problems by ticker)``; fills the cache."""
        response = self._ok(self._get("/api/v1/prices"), "the price list")
        quotes, problems = parse_price_list(json_body(response, service=self.name, expect=list), self.name)
        self.cache.set_many((f"price:{t}", q.close) for t, q in quotes.items())
        return quotes, problems

    def all_prices(self) -> dict[str, Decimal]:
        """Every usable price by ticker (one call)."""
        quotes, _ = self.all_quotes()
        return {t: q.close for t, q in quotes.items()}

    def prices_for(self, tickers: Iterable[str], max_concurrency: int = 16, bulk_threshold: int = 10) -> PriceLookup:
        """One price per ticker: cache first, then one bulk call when more than ``bulk_threshold`` are missing, else
        one call each (bounded concurrency). A broken bulk body falls back to per-ticker calls.
        """
        out = PriceLookup()
        wanted = list(dict.fromkeys(tickers))
        cached = self.cache.get_many(f"price:{t}" for t in wanted)
        for t in wanted:
            if f"price:{t}" in cached:
                out.prices[t] = cached[f"price:{t}"]
        missing = [t for t in wanted if t not in out.prices]
        if len(missing) > bulk_threshold:
            try:
                quotes, problems = self.all_quotes()
            except ExternalDataError as err:
                out.warnings.append(f"price list unusable ({err.message}); priced tickers one by one")
            else:
                for t in missing:
                    if t in quotes:
                        out.prices[t] = quotes[t].close
                    else:
                        out.problems[t] = problems.get(t, f"pricing has no price for ticker {t}")
                return out
        for t, result in map_bounded(self.price, missing, max_concurrency, catch=ExternalDataError).items():
            if isinstance(result, Decimal):
                out.prices[t] = result
            else:
                out.problems[t] = getattr(result, "message", str(result))
        return out
