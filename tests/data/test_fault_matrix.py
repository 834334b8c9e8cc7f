"""The standing fault matrix (issue #9 item 2): every response the market snapshot reads x every malformed variant the
simulator offers x every field (less the plausible wrong values no parser can detect, ``UNDETECTABLE``) -> the
portfolio (or, for shared data, the whole run) fails with a typed error, or its answer - the engine's status and
orders - is exactly the clean run's. Never a changed order.

The model is "Edge Case Lab" (9 portfolios: a short, a fractional holding, a non-model holding, a zero-quantity row,
negative cash, a small account, an unpriced holding, cash only, no balances). Each response is read through the bulk
endpoints (``bulk_threshold=0``) and through the per-item ones (``bulk_threshold=1000``). A representative subset
runs unmarked; the full matrix (about nine hundred cases) is marked ``slow`` and runs in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from data.demo import load_demo
from data.services import build_services
from data.simulator import InProcessTransport, SimulatorApp, SimulatorConfig, sim_app
from data.simulator.config import FIELD_VARIANTS
from data.snapshot import build_market_snapshot
from engine.errors import EngineError
from engine.rebalance import rebalance_portfolios
from tests.support.simulator import fast_settings, inprocess_transport

DEMO = load_demo()
MODEL = DEMO.model("Edge Case Lab")
ALL = frozenset(MODEL.portfolios)
TARGET_PORTFOLIO = DEMO.portfolios_by_name["Edge - Fractional Shares"].portfolio_id
MODEL_SECURITY = DEMO.securities_by_ticker["AAPL"]  # in the model: every portfolio needs its price
HELD_SECURITY = DEMO.securities_by_ticker["KO"]  # held by one portfolio, outside the model
HOLDERS_OF_KO = frozenset({DEMO.portfolios_by_name["Edge - Non-Model Holding"].portfolio_id})

BULK, PER_ITEM = 0, 1000  # bulk_threshold: the bulk list endpoints, or one call per item

# Fields of each response, as services.md documents them (nested ones included).
SUMMARY_FIELDS = ("portfolioId", "cashBalance", "securityCount", "lastUpdated", "securities", "securityId",
                  "quantityLong", "quantityShort", "netQuantity")  # fmt: skip
SECURITY_FIELDS = ("securityId", "ticker", "description", "securityTypeId", "version", "securityType")
PRICE_FIELDS = ("id", "ticker", "date", "open", "close", "high", "low", "volume")
PORTFOLIO_FIELDS = ("portfolioId", "name", "dateCreated", "version")
WHOLE_BODY = ("truncated", "not_json")
# A well-formed but wrong value cannot be told from a true one by any parser: another cash balance, another price.
# Value-changing variants are applied everywhere else, where the contract makes the reply contradict itself
# (portfolioId, securityId and ticker must be the ones asked for, securityCount the number of rows, netQuantity
# = quantityLong - quantityShort, close > 0) or where the field does not decide orders (then nothing changes).
UNDETECTABLE = {
    ("accounting", "cashBalance"): {"other_id", "negative"},
    ("pricing", "close"): {"other_id", "off_by_one"},
}


@dataclass(frozen=True)
class Case:
    """One matrix cell: a fault on one response, and which portfolios it may fail (``run``: the run may fail)."""

    service: str
    endpoint: str
    mode: int
    variant: str
    field: str | None
    target: str
    may_fail: frozenset[str]
    run: bool

    @property
    def id(self) -> str:
        return f"{self.service}.{self.endpoint}-{self.target}-{self.variant}-{self.field or 'body'}"

    def fault(self) -> dict[str, object]:
        fault: dict[str, object] = {"kind": "malformed", "service": self.service, "endpoint": self.endpoint}
        fault.update(variant=self.variant, field=self.field)
        if self.service == "accounting":
            fault["keys"] = [TARGET_PORTFOLIO]
        elif self.target in ("model", "holding"):
            security = MODEL_SECURITY if self.target == "model" else HELD_SECURITY
            key = security.ticker if self.service == "pricing" else security.security_id
            fault["items"] = [key]  # the item of a bulk list (or of a per-item answer) that names it
            if self.endpoint in ("price", "security"):
                fault["keys"] = [key]  # whole-body variants ignore items: the request path picks the answer
        return fault


def _cells(service: str, endpoint: str, mode: int, fields: tuple[str, ...], target: str) -> Iterator[Case]:
    may_fail, run = {
        "portfolio": (frozenset({TARGET_PORTFOLIO}), False),
        "model": (ALL, True),
        "holding": (HOLDERS_OF_KO, False),
        "names": (frozenset(), False),  # the portfolio service is soft: names never fail a portfolio
    }[target]
    # A whole-body fault on a bulk list hits every item, so it may fail the run.
    for variant in WHOLE_BODY:
        body_run = run or endpoint in ("securities", "prices")
        body_may_fail = ALL if body_run else may_fail
        yield Case(service, endpoint, mode, variant, None, target, body_may_fail, body_run)
    for variant in FIELD_VARIANTS:
        for field in fields:
            if variant not in UNDETECTABLE.get((service, field), ()):
                yield Case(service, endpoint, mode, variant, field, target, may_fail, run)


def full_matrix() -> list[Case]:
    cases = list(_cells("accounting", "summary", BULK, SUMMARY_FIELDS, "portfolio"))
    for target in ("model", "holding"):
        cases += _cells("security", "securities", BULK, SECURITY_FIELDS, target)
        cases += _cells("security", "security", PER_ITEM, SECURITY_FIELDS, target)
        cases += _cells("pricing", "prices", BULK, PRICE_FIELDS, target)
        cases += _cells("pricing", "price", PER_ITEM, PRICE_FIELDS, target)
    cases += _cells("portfolio", "portfolios", BULK, PORTFOLIO_FIELDS, "names")
    cases += _cells("portfolio", "portfolio", PER_ITEM, PORTFOLIO_FIELDS, "names")
    return cases


FULL = full_matrix()
REPRESENTATIVE = {
    "accounting.summary-portfolio-missing_field-securities",  # the case
    "accounting.summary-portfolio-null_field-securities",
    "accounting.summary-portfolio-off_by_one-securityCount",
    "accounting.summary-portfolio-other_id-portfolioId",
    "accounting.summary-portfolio-wrong_type-netQuantity",
    "accounting.summary-portfolio-truncated-body",
    "accounting.summary-portfolio-numbers-cashBalance",
    "security.securities-model-other_id-ticker",
    "security.securities-holding-null_field-ticker",
    "security.security-model-other_id-securityId",
    "security.securities-model-not_json-body",
    "pricing.prices-model-null_field-close",
    "pricing.prices-holding-wrong_type-close",
    "pricing.price-model-negative-close",
    "pricing.price-holding-string_for_number-close",
    "pricing.prices-holding-other_id-ticker",
    "portfolio.portfolios-names-other_id-portfolioId",
    "portfolio.portfolio-names-null_field-name",
}
FAST = [c for c in FULL if c.id in REPRESENTATIVE]
assert len(FAST) == len(REPRESENTATIVE)


Answer = dict[str, tuple[object, ...]]


def answer(app: SimulatorApp, transport: InProcessTransport, mode: int) -> Answer:
    """Per portfolio: ("failed", code) or (status, orders); a typed run-level error -> {"run": ("failed", code)}."""
    with build_services(fast_settings(bulk_threshold=mode), transport=transport) as svc:  # fresh caches
        try:
            snap = build_market_snapshot(svc, MODEL)
        except EngineError as err:
            return {"run": ("failed", err.code)}
    out: Answer = {pid: ("failed", info.code) for pid, info in snap.failures.items()}
    for r in rebalance_portfolios(MODEL, snap.prices, snap.portfolios, workers=1, with_positions=False):
        orders = tuple((t.transaction_type, t.security_id, t.quantity) for t in r.transactions)
        out[r.portfolio_id] = ("failed", r.error_code) if r.status == "error" else (r.status, orders)
    return out


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorApp, InProcessTransport]]:
    app = sim_app(SimulatorConfig(price_mode="fixed", seed=7))
    transport = inprocess_transport(app)
    yield app, transport
    transport.shutdown()


@pytest.fixture(scope="module")
def clean(sim: tuple[SimulatorApp, InProcessTransport]) -> dict[int, Answer]:
    app, transport = sim
    app.set_faults([])
    answers = {mode: answer(app, transport, mode) for mode in (BULK, PER_ITEM)}
    assert answers[BULK] == answers[PER_ITEM]
    assert sum(1 for a in answers[BULK].values() if a[0] == "optimal" and a[1]) >= 5  # real orders to protect
    return answers


def check(case: Case, sim: tuple[SimulatorApp, InProcessTransport], clean: dict[int, Answer]) -> None:
    app, transport = sim
    app.set_faults([case.fault()])
    try:
        got = answer(app, transport, case.mode)
    finally:
        app.set_faults([])
    expected = clean[case.mode]
    if "run" in got:
        assert case.run, f"{case.id}: the run failed ({got['run']}) although only portfolios may fail"
        return
    assert set(got) == set(expected) == ALL
    for pid in sorted(ALL):
        if got[pid] == expected[pid]:
            continue
        assert got[pid][0] == "failed", f"{case.id}: portfolio {pid} changed {expected[pid]} -> {got[pid]}"
        assert pid in case.may_fail, f"{case.id}: portfolio {pid} failed although the fault was not its data"


@pytest.mark.parametrize("case", FAST, ids=lambda c: c.id)
def test_fault_matrix_representative(case: Case, sim, clean) -> None:
    check(case, sim, clean)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in FULL if c.id not in REPRESENTATIVE], ids=lambda c: c.id)
def test_fault_matrix_full(case: Case, sim, clean) -> None:
    check(case, sim, clean)
