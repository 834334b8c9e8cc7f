"""Contract probe (services.md §8.5): call each endpoint the app uses and validate the response shapes.

The pydantic models below describe exactly what our clients read, pinned to the service sources cited in
services.md: security ``kasbench/globeco-security-service@535ea12``, portfolio ``…-portfolio-service@dd4b44a``,
pricing ``…-pricing-service@c36b62a``, accounting ``…-portfolio-accounting-service@8cee8b3``, order
``…-order-service@278a3a9``. Everything is read-only except one ``POST /api/v1/orders`` with an empty array, which
the order service rejects before processing (400, nothing created).

Run against real services by URL, or the simulator::

    python -m data.probe --security-url http://host:8000 --pricing-url http://host:8083 ...
    python -m data.probe --from-env          # ACCOUNTING_URL, PORTFOLIO_URL, ... (unset ones are skipped)
    python -m data.probe --embedded          # the in-process simulator (what CI runs)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from data.settings import SERVICE_NAMES, Settings

DecimalString = Annotated[str, StringConstraints(pattern=r"^-?\d+(\.\d+)?$")]
Hex24 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
Id24 = Annotated[str, StringConstraints(min_length=24, max_length=24)]
DateString = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]


def _rfc3339(value: str) -> str:
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$", value):
        raise ValueError(f"not an RFC 3339 timestamp with a zone: {value!r}")
    return value


def _naive_iso(value: str) -> str:
    dt.datetime.fromisoformat(value)  # naive UTC with ms precision on reads; the POST echo has a Z
    return value


Rfc3339 = Annotated[str, AfterValidator(_rfc3339)]
IsoDatetime = Annotated[str, AfterValidator(_naive_iso)]


class Shape(BaseModel):
    """Strict types (a string decimal must be a string, a number a number); extra fields allowed."""

    model_config = ConfigDict(extra="allow", strict=True)


# --- accounting ------------------------------------------------------------------------------------------------
class SummarySecurity(Shape):
    securityId: Id24
    quantityLong: DecimalString
    quantityShort: DecimalString
    netQuantity: DecimalString
    lastUpdated: Rfc3339


class PortfolioSummary(Shape):
    portfolioId: str
    cashBalance: DecimalString
    securityCount: int
    lastUpdated: Rfc3339
    securities: list[SummarySecurity] | None


class AccountingErrorBody(Shape):
    code: str
    message: str


class AccountingError(Shape):
    error: AccountingErrorBody


# --- portfolio -------------------------------------------------------------------------------------------------
class PortfolioRead(Shape):
    portfolioId: Hex24
    name: str
    dateCreated: IsoDatetime | None
    version: int


class V2Pagination(Shape):
    totalElements: int
    totalPages: int
    currentPage: int
    pageSize: int
    hasNext: bool
    hasPrevious: bool


class PortfolioPage(Shape):
    portfolios: list[PortfolioRead]
    pagination: V2Pagination


class Detail(Shape):
    detail: Any


# --- pricing ---------------------------------------------------------------------------------------------------
class PriceDto(Shape):
    id: int
    ticker: str
    date: DateString
    open: float | int
    close: float | int
    high: float | int
    low: float | int
    volume: int


# --- security --------------------------------------------------------------------------------------------------
class SecurityTypeRef(Shape):
    securityTypeId: Hex24
    abbreviation: str
    description: str


class SecurityOut(Shape):
    ticker: str
    description: str
    securityTypeId: Hex24
    version: int
    securityId: Hex24
    securityType: SecurityTypeRef


class SecurityPage(Shape):
    securities: list[SecurityOut]
    pagination: V2Pagination


# --- order -----------------------------------------------------------------------------------------------------
class ReferenceRow(Shape):
    id: int
    abbreviation: str | None
    version: int


class OrderItem(Shape):
    status: Literal["SUCCESS", "FAILURE"]
    message: str
    requestIndex: int
    orderId: int | None = None


class OrderListResponse(Shape):
    status: Literal["SUCCESS", "PARTIAL", "FAILURE"]
    message: str
    totalReceived: int
    successful: int
    failed: int
    orders: list[OrderItem]


class OrdersPage(Shape):
    content: list[dict[str, Any]]
    pagination: V2Pagination


@dataclass
class ProbeResult:
    """One check: ``status`` is ``ok``, ``fail`` or ``skip``."""

    service: str
    check: str
    status: Literal["ok", "fail", "skip"]
    detail: str = ""


class _Probe:
    def __init__(self, clients: Mapping[str, httpx.Client]) -> None:
        self.clients = clients
        self.results: list[ProbeResult] = []
        self.found: dict[str, Any] = {}

    def check(self, service: str, name: str, fn: Callable[[httpx.Client], str]) -> None:
        client = self.clients.get(service)
        if client is None:
            self.results.append(ProbeResult(service, name, "skip", "no URL"))
            return
        try:
            detail = fn(client)
        except _Skip as skip:
            self.results.append(ProbeResult(service, name, "skip", str(skip)))
        except (AssertionError, ValidationError, ValueError, httpx.HTTPError) as err:
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.results.append(ProbeResult(service, name, "fail", f"{type(err).__name__}: {text}"[:300]))
        else:
            self.results.append(ProbeResult(service, name, "ok", detail))


class _Skip(Exception):
    pass


def _json(response: httpx.Response, status: int | tuple[int, ...]) -> Any:
    wanted = (status,) if isinstance(status, int) else status
    assert response.status_code in wanted, f"HTTP {response.status_code}, expected {wanted}: {response.text[:120]}"
    return response.json()


def _security_checks(p: _Probe) -> None:
    def all_securities(c: httpx.Client) -> str:
        items = [SecurityOut.model_validate(x) for x in _json(c.get("/api/v1/securities"), 200)]
        assert items, "empty security list"
        p.found["securities"] = items
        return f"{len(items)} securities"

    def by_id(c: httpx.Client) -> str:
        sec = _first(p, "securities")
        got = SecurityOut.model_validate(_json(c.get(f"/api/v1/security/{sec.securityId}"), 200))
        assert got.securityId == sec.securityId and got.ticker == sec.ticker, "different security answered"
        return sec.ticker

    def unknown(c: httpx.Client) -> str:
        Detail.model_validate(_json(c.get("/api/v1/security/" + "0" * 24), 404))
        return "404 {detail}"

    def malformed(c: httpx.Client) -> str:
        r = c.get("/api/v1/security/notanid")
        assert r.status_code == 500, f"HTTP {r.status_code} (services.md says 500)"
        return "500 as documented (clients validate ids first)"

    def search(c: httpx.Client) -> str:
        sec = _first(p, "securities")
        r = c.get("/api/v2/securities", params={"ticker": sec.ticker})
        if r.status_code == 404:
            raise _Skip("v2 search not deployed (404)")
        page = SecurityPage.model_validate(_json(r, 200))
        assert any(s.securityId == sec.securityId for s in page.securities), "search misses the security"
        return f"{page.pagination.totalElements} match(es) for {sec.ticker}"

    p.check("security", "GET /api/v1/securities", all_securities)
    p.check("security", "GET /api/v1/security/{id}", by_id)
    p.check("security", "GET /api/v1/security/{unknown} -> 404", unknown)
    p.check("security", "GET /api/v1/security/notanid -> 500", malformed)
    p.check("security", "GET /api/v2/securities?ticker=", search)


def _pricing_checks(p: _Probe) -> None:
    def all_prices(c: httpx.Client) -> str:
        items = [PriceDto.model_validate(x) for x in _json(c.get("/api/v1/prices"), 200)]
        assert items, "empty price list"
        assert all(x.close > 0 for x in items), "a close is not positive"
        p.found["prices"] = items
        return f"{len(items)} prices"

    def one(c: httpx.Client) -> str:
        ticker = _first(p, "prices").ticker
        dto = PriceDto.model_validate(_json(c.get(f"/api/v1/price/{ticker}"), 200))
        assert dto.ticker == ticker and dto.close > 0, "wrong ticker or non-positive close"
        assert dto.open == dto.high == dto.low == dto.close, "open/high/low differ from close"
        return f"{ticker} close {dto.close}"

    def case_sensitive(c: httpx.Client) -> str:
        ticker = next((x.ticker for x in p.found.get("prices", []) if x.ticker.lower() != x.ticker), None)
        if ticker is None:
            raise _Skip("no upper-case ticker to test")
        r = c.get(f"/api/v1/price/{ticker.lower()}")
        assert r.status_code == 404, f"HTTP {r.status_code} for {ticker.lower()} (tickers are case-sensitive)"
        return f"{ticker.lower()} -> 404"

    p.check("pricing", "GET /api/v1/prices", all_prices)
    p.check("pricing", "GET /api/v1/price/{ticker}", one)
    p.check("pricing", "GET /api/v1/price/{lower-case} -> 404", case_sensitive)


def _portfolio_checks(p: _Probe) -> None:
    def all_portfolios(c: httpx.Client) -> str:
        items = [PortfolioRead.model_validate(x) for x in _json(c.get("/api/v1/portfolios"), 200)]
        p.found["portfolios"] = items
        return f"{len(items)} portfolios"

    def by_id(c: httpx.Client) -> str:
        port = _first(p, "portfolios")
        got = PortfolioRead.model_validate(_json(c.get(f"/api/v1/portfolio/{port.portfolioId}"), 200))
        assert got.portfolioId == port.portfolioId, "different portfolio answered"
        return port.name

    def malformed(c: httpx.Client) -> str:
        Detail.model_validate(_json(c.get("/api/v1/portfolio/notanid"), 404))
        return "404 {detail}"

    def search(c: httpx.Client) -> str:
        port = next((x for x in p.found.get("portfolios", []) if re.match(r"^[A-Za-z0-9 _-]{1,200}$", x.name)), None)
        if port is None:
            raise _Skip("no portfolio with a searchable name")
        page = PortfolioPage.model_validate(_json(c.get("/api/v2/portfolios", params={"name": port.name}), 200))
        assert any(x.portfolioId == port.portfolioId for x in page.portfolios), "search misses the portfolio"
        return f"{page.pagination.totalElements} match(es)"

    p.check("portfolio", "GET /api/v1/portfolios", all_portfolios)
    p.check("portfolio", "GET /api/v1/portfolio/{id}", by_id)
    p.check("portfolio", "GET /api/v1/portfolio/notanid -> 404", malformed)
    p.check("portfolio", "GET /api/v2/portfolios?name=", search)


def _accounting_checks(p: _Probe) -> None:
    def summaries(c: httpx.Client) -> str:
        ids = [x.portfolioId for x in p.found.get("portfolios", [])[:3]] or ["0" * 24]
        seen = []
        for pid in ids:
            r = c.get(f"/api/v1/portfolios/{pid}/summary")
            if r.status_code == 200:
                summary = PortfolioSummary.model_validate(r.json())
                assert summary.portfolioId == pid, "summary of another portfolio"
                seen.append("200")
            else:
                AccountingError.model_validate(_json(r, (404, 500)))
                seen.append(str(r.status_code))
        return "statuses " + ",".join(seen)

    p.check("accounting", "GET /api/v1/portfolios/{id}/summary", summaries)


def _order_checks(p: _Probe) -> None:
    def reference(path: str, wanted: str, key: str) -> Callable[[httpx.Client], str]:
        def run(c: httpx.Client) -> str:
            rows = _json(c.get(path), 200)
            for row in rows:
                ReferenceRow.model_validate(row)
            labels = {row.get(key) for row in rows}
            assert wanted <= labels, f"missing {sorted(wanted - labels)}"
            return f"{len(rows)} rows"

        return run

    def orders(c: httpx.Client) -> str:
        page = OrdersPage.model_validate(_json(c.get("/api/v1/orders", params={"limit": 1}), 200))
        return f"{page.pagination.totalElements} orders"

    def empty_post(c: httpx.Client) -> str:
        body = OrderListResponse.model_validate(_json(c.post("/api/v1/orders", json=[]), 400))
        assert body.totalReceived == 0 and body.status == "FAILURE", "empty batch not rejected before processing"
        return body.message

    p.check("order", "GET /api/v1/orderTypes", reference("/api/v1/orderTypes", {"BUY", "SELL"}, "abbreviation"))
    p.check("order", "GET /api/v1/statuses", reference("/api/v1/statuses", {"NEW"}, "abbreviation"))
    p.check("order", "GET /api/v1/blotters", reference("/api/v1/blotters", {"Default"}, "name"))
    p.check("order", "GET /api/v1/orders", orders)
    p.check("order", "POST /api/v1/orders [] -> 400", empty_post)


HEALTH = {
    "accounting": "/health",
    "portfolio": "/health",
    "pricing": "/actuator/health/readiness",
    "security": "/health/readiness",
    "order": "/actuator/health",
}


def _first(p: _Probe, key: str) -> Any:
    items = p.found.get(key)
    if not items:
        raise _Skip(f"no {key} found by the list check")
    return items[0]


def run_probe(
    urls: Mapping[str, str | None], transport: httpx.BaseTransport | None = None, timeout: float = 10.0
) -> list[ProbeResult]:
    """Probe every service with a URL in ``urls`` (others are skipped); ``transport`` e.g. the in-process simulator."""
    clients = {
        name: httpx.Client(base_url=url, transport=transport, timeout=timeout)
        for name, url in urls.items()
        if url and name in SERVICE_NAMES
    }
    probe = _Probe(clients)
    try:
        for name in SERVICE_NAMES:
            path = HEALTH[name]
            probe.check(name, f"GET {path}", lambda c, path=path: f"HTTP {_json_status(c.get(path))}")
        _security_checks(probe)
        _pricing_checks(probe)
        _portfolio_checks(probe)
        _accounting_checks(probe)
        _order_checks(probe)
    finally:
        for client in clients.values():
            client.close()
    return probe.results


def _json_status(response: httpx.Response) -> int:
    assert response.status_code == 200, f"HTTP {response.status_code}"
    return response.status_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.probe", description="Validate the GlobeCo service contracts.")
    for name in SERVICE_NAMES:
        parser.add_argument(f"--{name}-url", help=f"base URL of the {name} service")
    parser.add_argument("--from-env", action="store_true", help="take unset URLs from the settings (environment)")
    parser.add_argument("--embedded", action="store_true", help="probe the in-process simulator (demo data)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    args = parser.parse_args(argv)
    urls: dict[str, str | None] = {name: getattr(args, f"{name}_url") for name in SERVICE_NAMES}
    transport = None
    if args.from_env:
        settings = Settings()
        urls = {name: urls[name] or settings.service_url(name) for name in SERVICE_NAMES}
    if args.embedded:
        from data.simulator import INPROCESS_URLS, InProcessTransport, SimulatorConfig, sim_app

        transport = InProcessTransport(sim_app(SimulatorConfig(price_mode="seeded")))
        urls = dict(INPROCESS_URLS)
    try:
        results = run_probe(urls, transport)
    finally:
        if transport is not None:
            transport.shutdown()
    for r in results:
        print(json.dumps(asdict(r)) if args.json else f"{r.status:4} {r.service:10} {r.check}  {r.detail}")
    failed = sum(r.status == "fail" for r in results)
    if not args.json:
        print(
            f"{len(results)} checks: {sum(r.status == 'ok' for r in results)} ok, {failed} failed, "
            f"{sum(r.status == 'skip' for r in results)} skipped"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
