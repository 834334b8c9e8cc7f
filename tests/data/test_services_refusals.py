"""A reply the contract does not promise (HTTP 4xx other than a documented 404) is never read as data: every read
of every client raises ``ExternalDataError`` naming the service, the status and what was asked, with no retry.

The refusing server is our simulator with an ``error`` fault of status 403 on every endpoint, under the real clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from data.services import GlobeCoServices
from data.simulator.app import SimulatorApp
from data.simulator.config import Fault
from engine.errors import ExternalDataError
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401

PID, SID = "a" * 24, "b" * 24


@pytest.fixture
def refusing(services: GlobeCoServices, simulator: SimulatorApp) -> tuple[GlobeCoServices, SimulatorApp]:  # noqa: F811
    simulator.set_faults([Fault(kind="error", status=403)])
    return services, simulator


READS: list[tuple[str, Callable[[GlobeCoServices], Any], str, dict[str, Any]]] = [
    ("accounting", lambda s: s.accounting.summary(PID), f"portfolio {PID}", {"portfolio_id": PID}),
    ("portfolio", lambda s: s.portfolio.get(PID), f"portfolio {PID}", {"portfolio_id": PID}),
    ("portfolio", lambda s: s.portfolio.all_portfolios(), "the portfolio list", {}),
    ("portfolio", lambda s: s.portfolio.search(name_like="Miller"), "a search", {"field": "name_like"}),
    ("security", lambda s: s.security.get(SID), f"security {SID}", {"security_id": SID}),
    ("security", lambda s: s.security.security_list(), "the security list", {}),
    ("security", lambda s: s.security.search(ticker="MS"), "a search", {"field": "ticker"}),
    ("pricing", lambda s: s.pricing.quote("AAPL"), "AAPL", {"ticker": "AAPL"}),
    ("pricing", lambda s: s.pricing.all_quotes(), "the price list", {}),
    ("order", lambda s: s.order.list_orders(), "the order list", {}),
    ("order", lambda s: s.order.statuses(), "/api/v1/statuses", {}),
]


@pytest.mark.parametrize(("service", "read", "what", "details"), READS)
def test_a_refused_read_names_the_service_the_status_and_what(refusing, service, read, what, details):
    svc, sim = refusing
    client = getattr(svc, service)
    with pytest.raises(ExternalDataError) as err:
        read(svc)
    assert err.value.message == f"{client.label} answered HTTP 403 for {what}"
    assert {"service": service, "status": 403, **details}.items() <= err.value.details.items()
    assert sim.calls.count(service) == 1  # a 4xx is an answer: never retried
