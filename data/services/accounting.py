"""Portfolio Accounting client: one summary per portfolio -> cash and holdings (services.md §3)."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from typing import Any

import httpx

from data.services.base import NOT_SENT, CallFailed, ServiceClient, segment, wire_id
from data.services.parse import EXACT, bounded, count_field, decimal_field, json_body, shown, str_field
from engine.errors import ExternalDataError
from engine.models import Holding, PortfolioHoldings

EMPTY_PORTFOLIO_MESSAGE = "Failed to retrieve portfolio summary"


def is_empty_portfolio_500(response: httpx.Response) -> bool:
    """The exact 500 body accounting sends for a portfolio with no balance rows (services.md §3.1)."""
    if response.status_code != 500:
        return False
    try:
        error = json.loads(response.content).get("error", {})
    except (ValueError, AttributeError, RecursionError):
        return False
    return (
        isinstance(error, dict)
        and error.get("code") == "INTERNAL_ERROR"
        and error.get("message") == EMPTY_PORTFOLIO_MESSAGE
    )


def parse_summary(portfolio_id: str, body: Any, service: str = "accounting") -> PortfolioHoldings:
    """A summary body -> cash and non-zero holdings, or ``ExternalDataError`` for this portfolio naming the field.

    Required and checked (services.md §3.1): ``portfolioId`` equal to the one asked for; ``cashBalance`` a decimal;
    ``securityCount`` an integer equal to the number of ``securities`` rows (zero-quantity rows included);
    ``securities`` a list (null only with ``securityCount`` 0: Go encodes an empty slice as null); per row a
    non-empty ``securityId`` listed once and ``quantityLong``, ``quantityShort``, ``netQuantity`` decimals with
    net = long - short. ``lastUpdated`` (top level and rows) is not used and not checked. A summary failing any of
    these would otherwise become a plausible but wrong portfolio, hence wrong orders.
    """
    where = f"summary of portfolio {portfolio_id}"
    ctx = {"service": service, "where": where, "portfolio_id": portfolio_id}
    if not isinstance(body, dict):
        raise ExternalDataError(
            f"{service}: {where} is not a JSON object", {"service": service, "portfolio_id": portfolio_id}
        )
    answered_for = str_field(body, "portfolioId", **ctx)
    if answered_for != portfolio_id:
        raise ExternalDataError(
            f"{service}: {where}: field 'portfolioId' names another portfolio: {shown(answered_for)}",
            {"service": service, "portfolio_id": portfolio_id, "field": "portfolioId", "value": shown(answered_for)},
        )
    cash = decimal_field(body, "cashBalance", **ctx)
    count = count_field(body, "securityCount", **ctx)
    rows = body.get("securities")
    if rows is None and count == 0:
        rows = []
    if rows is None:
        raise ExternalDataError(
            f"{service}: {where}: required field 'securities' is {'null' if 'securities' in body else 'missing'} "
            f"although securityCount is {count}",
            {"service": service, "portfolio_id": portfolio_id, "field": "securities", "security_count": count},
        )
    if not isinstance(rows, list):
        raise ExternalDataError(
            f"{service}: {where}: field 'securities' is not a list: {shown(rows)}",
            {"service": service, "portfolio_id": portfolio_id, "field": "securities", "value": shown(rows)},
        )
    if len(rows) != count:
        raise ExternalDataError(
            f"{service}: {where}: securityCount {count} contradicts the {len(rows)} rows of 'securities'",
            {"service": service, "portfolio_id": portfolio_id, "field": "securityCount", "value": str(count)},
        )
    quantities: dict[str, Decimal] = {}
    for row in rows:
        security_id = str_field(row, "securityId", **ctx)
        row_ctx = {**ctx, "where": f"{where}, security {security_id}", "security_id": security_id}
        if security_id in quantities:
            raise ExternalDataError(
                f"{service}: {where}: security {security_id} is listed twice in 'securities'",
                {"service": service, "portfolio_id": portfolio_id, "field": "securityId", "security_id": security_id},
            )
        net, long, short = (
            bounded(decimal_field(row, key, **row_ctx), field=key, **row_ctx)
            for key in ("netQuantity", "quantityLong", "quantityShort")
        )
        with localcontext(EXACT):  # exact: a rounded difference could hide a contradiction
            contradicts = net != long - short
        if contradicts:
            raise ExternalDataError(
                f"{service}: {where}, security {security_id}: netQuantity {net} contradicts "
                f"quantityLong {long} - quantityShort {short}",
                {"service": service, "portfolio_id": portfolio_id, "security_id": security_id, "field": "netQuantity"},
            )
        quantities[security_id] = net
    try:
        holdings = tuple(Holding(security_id=s, quantity=q) for s, q in quantities.items() if q != 0)
        return PortfolioHoldings(portfolio_id=portfolio_id, cash=cash, holdings=holdings)
    except ValueError as err:  # a domain-model rule (pydantic ValidationError): still this portfolio's bad data
        raise ExternalDataError(
            f"{service}: {where}: {str(err).splitlines()[0][:120]}", {"service": service, "portfolio_id": portfolio_id}
        ) from None


class AccountingClient(ServiceClient):
    """``GET /api/v1/portfolios/{id}/summary`` with every quirk handled; optional ``POST /api/v1/transactions``."""

    name = "accounting"
    label = "Portfolio Accounting service"
    health_path = "/health"

    def summary(self, portfolio_id: str) -> PortfolioHoldings:
        """Cash and non-zero holdings (``netQuantity``) of one portfolio.

        404 -> empty portfolio. The 500-for-no-balances body, after retries -> ``ExternalDataError`` for this
        portfolio (or an empty portfolio with ``accounting_empty_500_as_empty``). Other persistent failures ->
        ``ServiceUnavailable``. Bad decimals or missing fields -> ``ExternalDataError`` naming the field.
        """
        wire = wire_id(portfolio_id)
        response = self._get(f"/api/v1/portfolios/{segment(wire)}/summary", coherent_500=is_empty_portfolio_500)
        details = {"service": self.name, "portfolio_id": portfolio_id}
        if response.status_code == 404:
            return PortfolioHoldings(portfolio_id=portfolio_id)
        if is_empty_portfolio_500(response):
            if self.settings.accounting_empty_500_as_empty:
                return PortfolioHoldings(portfolio_id=portfolio_id)
            raise ExternalDataError(
                f"accounting returned INTERNAL_ERROR for portfolio {portfolio_id}; the portfolio may have no balances",
                {**details, "status": 500},
            )
        self._ok(response, f"portfolio {portfolio_id}", portfolio_id=portfolio_id)
        body = json_body(response, service=self.name, expect=dict, portfolio_id=portfolio_id)
        holdings = self._holdings(wire, body)
        return holdings if wire == portfolio_id else holdings.model_copy(update={"portfolio_id": portfolio_id})

    def _holdings(self, portfolio_id: str, body: dict[str, Any]) -> PortfolioHoldings:
        return parse_summary(portfolio_id, body, self.name)

    def post_transactions(self, transactions: list[dict[str, Any]]) -> dict[str, Any]:
        """Book transactions (``POST /api/v1/transactions``, at most 1000); returns the service's summary body.

        Not idempotent: retried only when the request surely was not sent. Used by the demo to "execute" orders.
        """
        if not transactions:
            return {"successful": [], "failed": [], "summary": {"totalRequested": 0, "successful": 0, "failed": 0}}
        try:
            response = self._call(
                "POST", "/api/v1/transactions", json=transactions, retry_if=lambda e: isinstance(e, NOT_SENT)
            )
        except CallFailed as failed:
            raise self.unavailable(failed) from None
        if response.status_code not in (200, 201, 207):
            raise ExternalDataError(
                f"accounting rejected the transactions: HTTP {response.status_code}",
                {"service": self.name, "status": response.status_code, "body": response.text[:500]},
            )
        return json_body(response, service=self.name, expect=dict)
