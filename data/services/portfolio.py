"""Portfolio Service client: names by id, the full list, v2 name search (services.md §4). A soft dependency."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from data.http import LockedTTLCache, map_bounded
from data.services.base import ServiceClient, segment, wire_id
from data.services.parse import json_body, list_field, page_total, parse_datetime
from data.services.types import Page, PortfolioInfo
from engine.errors import EngineError, ExternalDataError, InvalidInput

NAME_RE = re.compile(r"^[A-Za-z0-9 _-]{1,200}$")


def parse_portfolio(item: Any) -> PortfolioInfo | None:
    """A portfolio object -> PortfolioInfo (either datetime format), or None when id or name is missing, null or
    not a string. Names never decide orders (the service is soft): ``dateCreated`` and ``version`` are only shown
    and fall back to None / 1 when bad."""
    if not isinstance(item, dict):
        return None
    portfolio_id, name = item.get("portfolioId"), item.get("name")
    if not isinstance(portfolio_id, str) or not portfolio_id or not isinstance(name, str):
        return None
    version = item.get("version")
    return PortfolioInfo(
        portfolio_id=portfolio_id,
        name=name,
        date_created=parse_datetime(item.get("dateCreated")),
        version=version if isinstance(version, int) else 1,
    )


@dataclass
class NameLookup:
    """Portfolio names for a run: ``names`` (None when unknown) and ``warnings`` (names are never fatal)."""

    names: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class PortfolioClient(ServiceClient):
    """Portfolio look-ups, cached like tickers (600 s)."""

    name = "portfolio"
    label = "Portfolio service"
    health_path = "/health"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.cache = LockedTTLCache(s.cache_max_entries, s.ticker_cache_ttl)

    def get(self, portfolio_id: str) -> PortfolioInfo | None:
        """The portfolio, or None (the service answers 404 for unknown and malformed ids alike)."""
        cached = self.cache.get(f"portfolio:{portfolio_id}")
        if cached is not None:
            return cached
        wire = wire_id(portfolio_id)
        response = self._get(f"/api/v1/portfolio/{segment(wire)}")
        if response.status_code == 404:
            return None
        self._ok(response, f"portfolio {portfolio_id}", portfolio_id=portfolio_id)
        info = parse_portfolio(json_body(response, service=self.name, expect=dict, portfolio_id=portfolio_id))
        if info is None or info.portfolio_id != wire:
            # A name for another portfolio (or none) is not this portfolio's name: soft, but never shown as its name.
            raise ExternalDataError(
                f"portfolio service sent a malformed portfolio for {portfolio_id}",
                {"service": self.name, "portfolio_id": portfolio_id},
            )
        info = dataclasses.replace(info, portfolio_id=portfolio_id)  # the caller's spelling of the id
        self.cache.set(f"portfolio:{portfolio_id}", info)
        return info

    def all_portfolios(self) -> list[PortfolioInfo]:
        """Every portfolio (one call, no paging); fills the cache. Malformed items are skipped."""
        response = self._ok(self._get("/api/v1/portfolios"), "the portfolio list")
        out = [p for p in map(parse_portfolio, json_body(response, service=self.name, expect=list)) if p is not None]
        self.cache.set_many((f"portfolio:{p.portfolio_id}", p) for p in out)
        return out

    def search(
        self, name: str | None = None, name_like: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[PortfolioInfo]:
        """v2 search by exact (case-insensitive) ``name`` or ``name_like`` substring, newest first.

        Checked here first: exactly one of the two, pattern ``[A-Za-z0-9 _-]{1,200}``, 1 ≤ limit ≤ 1000, offset ≥ 0.
        """
        if (name is None) == (name_like is None):
            raise InvalidInput("give exactly one of name or name_like", {"field": "name"})
        key, value = ("name", name) if name is not None else ("name_like", name_like)
        value = str(value).strip()
        if not NAME_RE.match(value):
            raise InvalidInput(
                f"{key} {value!r} must be 1-200 letters, digits, spaces, '_' or '-'", {"field": key, "value": value}
            )
        if not (1 <= limit <= 1000) or offset < 0:
            raise InvalidInput("limit must be 1-1000 and offset ≥ 0", {"field": "limit", "value": f"{limit}/{offset}"})
        response = self._get("/api/v2/portfolios", params={key: value, "limit": limit, "offset": offset})
        self._ok(response, "a search", field=key, value=value)
        body = json_body(response, service=self.name, expect=dict)
        page = list_field(body, "portfolios", service=self.name, where="a portfolio search page")
        items = [p for p in map(parse_portfolio, page) if p is not None]
        return Page(tuple(items), page_total(body, len(items)), offset, limit)

    def names_for(
        self, portfolio_ids: Iterable[str], max_concurrency: int = 16, bulk_threshold: int = 10
    ) -> NameLookup:
        """Names of many portfolios, never raising: failures become ``None`` names plus a warning (soft service)."""
        wanted = list(dict.fromkeys(portfolio_ids))
        out = NameLookup(names=dict.fromkeys(wanted))
        cached = self.cache.get_many(f"portfolio:{pid}" for pid in wanted)
        for pid in wanted:
            info = cached.get(f"portfolio:{pid}")
            if info is not None:
                out.names[pid] = info.name
        missing = [pid for pid in wanted if out.names[pid] is None]
        try:
            if len(missing) > bulk_threshold:
                by_id: dict[str, str | None] = {}
                for p in self.all_portfolios():
                    # an id listed twice with two names has no trustworthy name
                    by_id[p.portfolio_id] = p.name if by_id.get(p.portfolio_id, p.name) == p.name else None
                for pid in missing:
                    out.names[pid] = by_id.get(pid)
            else:
                results = map_bounded(self.get, missing, max_concurrency, catch=EngineError)
                malformed = [pid for pid, r in results.items() if isinstance(r, ExternalDataError)]
                for pid, result in results.items():
                    if isinstance(result, PortfolioInfo):
                        out.names[pid] = result.name
                    elif isinstance(result, EngineError) and not isinstance(result, ExternalDataError):
                        raise result
                if malformed:
                    out.warnings.append(f"{len(malformed)} portfolio name(s) unreadable: {', '.join(malformed[:5])}")
                    missing = [pid for pid in missing if pid not in malformed]
        except EngineError as err:
            out.warnings.append(f"portfolio names unavailable: {err.message}")
            return out
        unknown = [pid for pid in missing if out.names[pid] is None]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            out.warnings.append(f"{len(unknown)} portfolio(s) not found in the portfolio service: {shown}")
        return out
