"""Security Service client: id -> ticker (cached 600 s), the full list, v2 ticker search (services.md §6)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from data.http import LockedTTLCache, map_bounded
from data.services.base import ServiceClient, segment, wire_id
from data.services.parse import json_body, keyed_items, list_field, page_total, shown, str_field
from data.services.types import Page, SecurityInfo
from engine.errors import ExternalDataError, InvalidInput
from engine.validation import is_object_id

TICKER_RE = re.compile(r"^[A-Za-z0-9.-]{1,50}$")


def read_security(item: Any, service: str = "security") -> SecurityInfo:
    """A SecurityOut object -> SecurityInfo; ``ExternalDataError`` naming the field when ``securityId`` or
    ``ticker`` (the key to the price, so it decides orders) is missing, null, not a string, or the ticker is blank,
    padded or longer than 50. ``description`` and ``securityType`` are only shown: missing or bad, they are empty."""
    if not isinstance(item, dict):
        raise ExternalDataError(f"{service}: a security is not a JSON object: {shown(item)}", {"service": service})
    security_id = str_field(item, "securityId", service=service, where="a security")
    ticker = str_field(item, "ticker", service=service, where=f"security {security_id}", security_id=security_id)
    if ticker != ticker.strip() or len(ticker) > 50:
        raise ExternalDataError(
            f"{service}: security {security_id}: field 'ticker' is not a ticker: {shown(ticker)}",
            {"service": service, "security_id": security_id, "field": "ticker", "value": shown(ticker)},
        )
    description = item.get("description")
    kind = item.get("securityType")
    abbreviation = kind.get("abbreviation") if isinstance(kind, dict) else None
    return SecurityInfo(
        security_id=security_id,
        ticker=ticker,
        description=description if isinstance(description, str) else "",
        security_type=abbreviation if isinstance(abbreviation, str) else None,
    )


def parse_security_list(items: list[Any], service: str = "security") -> tuple[dict[str, SecurityInfo], dict[str, str]]:
    """The bulk list -> ``(securities by id, problems by id)``: an unusable item that still names its id, or an id
    listed twice with different tickers, is a problem for that id (never silently "unknown" or the first copy)."""

    def conflict(seen: SecurityInfo, info: SecurityInfo) -> str | None:
        if seen.ticker == info.ticker:
            return None
        return (
            f"{service}: security {info.security_id} is listed twice with different tickers "
            f"({shown(seen.ticker)}, {shown(info.ticker)})"
        )

    return keyed_items(
        items, lambda item: read_security(item, service), lambda i: i.security_id, "security_id", conflict
    )


@dataclass
class SecurityLookup:
    """Result of resolving many ids: ``found`` by id, ``unknown`` ids (404 or not hex), ``problems`` (id -> why its
    answer was unusable) and run-level ``warnings``."""

    found: dict[str, SecurityInfo] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    problems: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class SecurityClient(ServiceClient):
    """Security look-ups; only 24-hex ids are ever sent (the service answers 500 to anything else)."""

    name = "security"
    label = "Security service"
    health_path = "/health/readiness"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.cache = LockedTTLCache(s.cache_max_entries, s.ticker_cache_ttl)

    def get(self, security_id: str) -> SecurityInfo | None:
        """The security, or None when unknown (404) or not a 24-hex id (never sent: the service would answer 500)."""
        if not is_object_id(security_id):
            return None
        cached = self.cache.get(f"security:{security_id}")
        if cached is not None:
            return cached
        wire = wire_id(security_id)
        response = self._get(f"/api/v1/security/{segment(wire)}")
        if response.status_code == 404:
            return None
        self._ok(response, f"security {security_id}", security_id=security_id)
        info = read_security(json_body(response, service=self.name, expect=dict, security_id=security_id), self.name)
        if info.security_id != wire:
            raise ExternalDataError(
                f"security: asked for security {security_id}, the answer is for {shown(info.security_id)}",
                {"service": self.name, "security_id": security_id, "field": "securityId"},
            )
        info = dataclasses.replace(info, security_id=security_id)  # the caller's spelling of the id
        self.cache.set(f"security:{security_id}", info)
        return info

    def all_securities(self) -> list[SecurityInfo]:
        """Every usable security (one bulk call); fills the ticker cache. Malformed items are left out."""
        return list(self.security_list()[0].values())

    def security_list(self) -> tuple[dict[str, SecurityInfo], dict[str, str]]:
        """The bulk list as ``(securities by id, problems by id)`` (``parse_security_list``); fills the cache."""
        response = self._ok(self._get("/api/v1/securities"), "the security list")
        found, problems = parse_security_list(json_body(response, service=self.name, expect=list), self.name)
        self.cache.set_many((f"security:{sid}", info) for sid, info in found.items())
        return found, problems

    def search(
        self, ticker: str | None = None, ticker_like: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[SecurityInfo]:
        """v2 search: ``ticker`` exact or ``ticker_like`` substring, both case-insensitive, sorted by ticker.

        Arguments are checked here (exactly one of the two, pattern ``[A-Za-z0-9.-]{1,50}``, 1 ≤ limit ≤ 1000,
        offset ≥ 0) so user text never reaches the service as anything but a validated query value. Deployments
        without the v2 endpoint (404) are served from the full list instead.
        """
        if (ticker is None) == (ticker_like is None):
            raise InvalidInput("give exactly one of ticker or ticker_like", {"field": "ticker"})
        key, value = ("ticker", ticker) if ticker is not None else ("ticker_like", ticker_like)
        value = str(value).strip()
        if not TICKER_RE.match(value):
            raise InvalidInput(
                f"{key} {value!r} must be 1-50 letters, digits, '.' or '-'", {"field": key, "value": value}
            )
        if not (1 <= limit <= 1000) or offset < 0:
            raise InvalidInput("limit must be 1-1000 and offset ≥ 0", {"field": "limit", "value": f"{limit}/{offset}"})
        if "." in value:
            # the service reads the value as a regular expression ('.' = any character): its pages and totals would
            # hold over-matches, so a dotted ticker is searched exactly in the full list instead
            return self._search_locally(key, value, limit, offset)
        response = self._get("/api/v2/securities", params={key: value, "limit": limit, "offset": offset})
        if response.status_code == 404:
            return self._search_locally(key, value, limit, offset)
        self._ok(response, "a search", field=key, value=value)
        body = json_body(response, service=self.name, expect=dict)
        page = list_field(body, "securities", service=self.name, where="a security search page")
        found, _ = parse_security_list(page, self.name)  # an unusable item is left out of a picker's page
        self.cache.set_many((f"security:{sid}", info) for sid, info in found.items())
        exact = tuple(s for s in found.values() if _matches(s.ticker, key, value))  # post-filter: never an over-match
        return Page(exact, page_total(body, len(found)), offset, limit)

    def _search_locally(self, key: str, value: str, limit: int, offset: int) -> Page[SecurityInfo]:
        matches = sorted((s for s in self.all_securities() if _matches(s.ticker, key, value)), key=lambda s: s.ticker)
        return Page(tuple(matches[offset : offset + limit]), len(matches), offset, limit)

    def resolve(
        self, security_ids: Iterable[str], max_concurrency: int = 16, bulk_threshold: int = 10
    ) -> SecurityLookup:
        """Resolve many ids with the fewest calls: cache first; then one bulk list when more than ``bulk_threshold``
        are missing, else per-id calls with bounded concurrency. Non-hex ids are unknown without a call.
        """
        out = SecurityLookup()
        wanted = list(dict.fromkeys(security_ids))
        for sid in wanted:
            if not is_object_id(sid):
                out.unknown.add(sid)
        candidates = [sid for sid in wanted if sid not in out.unknown]
        cached = self.cache.get_many(f"security:{sid}" for sid in candidates)
        for sid in candidates:
            info = cached.get(f"security:{sid}")
            if info is not None:
                out.found[sid] = info
        missing = [sid for sid in candidates if sid not in out.found]
        if len(missing) > bulk_threshold:
            try:
                by_id, problems = self.security_list()
            except ExternalDataError as err:  # a broken bulk body: fall back to per-id calls
                out.warnings.append(f"security list unusable ({err.message}); resolved ids one by one")
            else:
                for sid in missing:
                    wire = wire_id(sid)
                    if wire in by_id:
                        out.found[sid] = dataclasses.replace(by_id[wire], security_id=sid)
                    elif wire in problems:
                        out.problems[sid] = problems[wire]
                    else:
                        out.unknown.add(sid)
                return out
        results = map_bounded(self.get, missing, max_concurrency, catch=ExternalDataError)
        for sid, result in results.items():
            if isinstance(result, SecurityInfo):
                out.found[sid] = result
            elif isinstance(result, ExternalDataError):
                out.problems[sid] = result.message
            else:
                out.unknown.add(sid)
        return out


def _matches(ticker: str, key: str, value: str) -> bool:
    """Literal, case-insensitive: ``ticker`` equal to ``value`` (key "ticker") or containing it ("ticker_like")."""
    needle, have = value.casefold(), ticker.casefold()
    return have == needle if key == "ticker" else needle in have
