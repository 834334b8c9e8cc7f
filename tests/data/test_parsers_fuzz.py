"""Property tests of every service parser (issue #9 item 5, service half).

Unit level: arbitrary JSON (nested, null, huge and tiny numbers, strings, lists) fed to each parse function never
raises anything but ``ExternalDataError``; a damaged clean body - a field removed, or replaced by a value of another
JSON kind - gives a typed error or exactly the clean result; a well-formed number is read exactly. End to end: a
damaged accounting summary or price list, through the in-process simulator, the snapshot and the engine, fails only
the portfolios whose data it is (or the run, for the shared price list) or leaves every order unchanged.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.demo import load_demo
from data.services import build_services
from data.services.accounting import parse_summary
from data.services.order import _match_items, parse_order_page
from data.services.parse import DECIMAL_TEXT, decimal_value, json_body
from data.services.portfolio import parse_portfolio
from data.services.pricing import parse_price_list, parse_quote
from data.services.security import parse_security_list, read_security
from data.simulator import SimulatorConfig, sim_app
from data.simulator.responses import exact_json
from data.snapshot import build_market_snapshot
from engine.errors import EngineError, ExternalDataError
from engine.rebalance import rebalance_portfolios
from tests.support.simulator import fast_settings, inprocess_transport

DEMO = load_demo()
MODEL = DEMO.model("Edge Case Lab")
PID = DEMO.portfolios_by_name["Edge - Short Position"].portfolio_id
AAPL = DEMO.securities_by_ticker["AAPL"]

# --- strategies -----------------------------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers().map(lambda n: n * 10**400),  # beyond any float
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(lambda m, e: Decimal(f"{m}E{e}"), st.integers(-(10**6), 10**6), st.integers(-(10**9), 10**9)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30), st.sampled_from(["NaN", "1e999", "١٢"]))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def kind(value: Any) -> str:
    """The JSON kind of a value as the contracts read it: a number and a decimal string are the same kind."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, Decimal)) or (isinstance(value, str) and DECIMAL_TEXT.fullmatch(value)):
        return "number"
    return type(value).__name__


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position (dict key or list index) in a JSON value."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def damaged(body: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> tuple[Any, bool]:
    """A deep copy of ``body`` with ``path`` removed or replaced; also whether the damage must be caught
    (a removal, or a value of another kind: a same-kind value may be a legitimate other value)."""
    copy = json.loads(exact_json(body), parse_float=Decimal)
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    old = parent[path[-1]]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    # a text field (a ticker, a name) may legitimately hold any other text, "0" included: only a decimal-as-text
    # field must refuse text that is no number
    text_for_text = isinstance(old, str) and isinstance(replacement, str) and not DECIMAL_TEXT.fullmatch(old)
    return copy, delete or (kind(old) != kind(replacement) and not text_for_text)


def mutations(body: Any) -> st.SearchStrategy[tuple[Any, bool]]:
    all_paths = list(paths(body))
    return st.builds(damaged, st.just(body), st.sampled_from(all_paths), json_values, st.booleans())


def typed_or_same(parse: Callable[[Any], Any], clean: Any, mutated: tuple[Any, bool]) -> None:
    body, strict = mutated
    try:
        result = parse(body)
    except ExternalDataError:
        return
    if strict:
        assert result == clean, f"a damaged body became a different answer: {body!r}"


# --- clean bodies, read once from the simulator ---------------------------------------------------------------------
def _clean_bodies() -> dict[str, Any]:
    app = sim_app(SimulatorConfig(price_mode="fixed", seed=7))
    transport = inprocess_transport(app)
    try:
        with httpx.Client(transport=transport) as c:

            def get(service: str, path: str) -> Any:
                return json.loads(c.get(f"http://{service}.sim{path}").content, parse_float=Decimal)

            return {
                "summary": get("accounting", f"/api/v1/portfolios/{PID}/summary"),
                "price": get("pricing", f"/api/v1/price/{AAPL.ticker}"),
                "prices": get("pricing", "/api/v1/prices")[:6],
                "security": get("security", f"/api/v1/security/{AAPL.security_id}"),
                "securities": get("security", "/api/v1/securities")[:6],
                "portfolio": get("portfolio", f"/api/v1/portfolio/{PID}"),
            }
    finally:
        transport.shutdown()


CLEAN = _clean_bodies()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- arbitrary JSON never crashes a parser --------------------------------------------------------------------------
@FUZZ
@given(json_values)
def test_arbitrary_json_gives_a_result_or_a_typed_error(body):
    for parse in (
        lambda b: parse_summary(PID, b),
        parse_quote,
        read_security,
        lambda b: decimal_value(b, service="s", where="w", field="f"),
    ):
        with contextlib.suppress(ExternalDataError):
            parse(body)
    if isinstance(body, list):
        parse_price_list(body)  # lists never raise: unusable items become problems or are left out
        parse_security_list(body)
        results = _match_items(list(range(3)), body)
        assert all(r.outcome in ("success", "failed", "unknown") for r in results.values())
    assert parse_portfolio(body) is None or parse_portfolio(body).portfolio_id
    for field in ("content", "pagination"):
        with contextlib.suppress(ExternalDataError):
            page = parse_order_page({field: body, "content": body} if field == "pagination" else {field: body}, 0, 50)
            assert all(r["order_id"] is None or type(r["order_id"]) is int for r in page.items)
            assert page.total >= 0


@FUZZ
@given(st.binary(max_size=200) | st.sampled_from([b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000, b"\xff\xfe"]))
def test_arbitrary_bytes_are_json_or_a_typed_error(content):
    response = httpx.Response(200, content=content, request=httpx.Request("GET", "http://pricing.sim/api/v1/prices"))
    try:
        json_body(response, service="pricing", expect=(dict, list))
    except ExternalDataError as err:
        assert err.details["service"] == "pricing"


# --- a damaged clean body: typed error or the clean answer ----------------------------------------------------------
@FUZZ
@given(mutations(CLEAN["summary"]))
def test_a_damaged_summary_is_an_error_or_the_clean_portfolio(mutated):
    typed_or_same(lambda b: parse_summary(PID, b), parse_summary(PID, CLEAN["summary"]), mutated)


@FUZZ
@given(mutations(CLEAN["price"]))
def test_a_damaged_price_is_an_error_or_the_clean_quote(mutated):
    clean = parse_quote(CLEAN["price"])
    typed_or_same(
        lambda b: parse_quote(b).close if parse_quote(b).ticker == clean.ticker else None, clean.close, mutated
    )


@FUZZ
@given(mutations(CLEAN["prices"]))
def test_a_damaged_price_list_never_prices_a_ticker_differently(mutated):
    clean, _ = parse_price_list(CLEAN["prices"])
    body, strict = mutated
    quotes, _ = parse_price_list(body) if isinstance(body, list) else ({}, {})
    if strict:  # every ticker still priced has its clean close (a damaged item is a problem or absent)
        assert all(t in clean and q.close == clean[t].close for t, q in quotes.items())


@FUZZ
@given(mutations(CLEAN["security"]))
def test_a_damaged_security_is_an_error_or_the_clean_ticker(mutated):
    clean = read_security(CLEAN["security"])
    typed_or_same(lambda b: (read_security(b).security_id, read_security(b).ticker), (clean.security_id, clean.ticker),
                  mutated)  # fmt: skip


@FUZZ
@given(mutations(CLEAN["securities"]))
def test_a_damaged_security_list_never_maps_an_id_to_another_ticker(mutated):
    clean, _ = parse_security_list(CLEAN["securities"])
    body, strict = mutated
    found, _ = parse_security_list(body) if isinstance(body, list) else ({}, {})
    if strict:
        assert all(sid in clean and info.ticker == clean[sid].ticker for sid, info in found.items())


@FUZZ
@given(mutations(CLEAN["portfolio"]))
def test_a_damaged_portfolio_is_none_or_named(mutated):
    info = parse_portfolio(mutated[0])
    assert info is None or isinstance(info.name, str)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(["requestIndex", "status", "orderId", "message"]), json_values)))
def test_an_order_result_is_success_only_with_success_and_an_integer_id(items):
    for index, result in _match_items([10, 11], items).items():
        if result.outcome == "success":
            local = index - 10
            assert any(
                i.get("requestIndex") == local and i.get("status") == "SUCCESS" and type(i.get("orderId")) is int
                for i in items
                if type(i.get("requestIndex")) is int
            )


# --- well-formed numbers are read exactly ---------------------------------------------------------------------------
@FUZZ
@given(numbers)
def test_a_number_or_its_decimal_string_is_read_exactly(number):
    for value in (number, format(Decimal(number), "f") if abs(Decimal(number).adjusted()) < 50 else str(number)):
        assert decimal_value(value, service="s", where="w", field="f") == Decimal(number)


# --- end to end through the in-process simulator --------------------------------------------------------------------
class Damaging(httpx.BaseTransport):
    """Passes requests to the simulator and replaces the body of the one response at ``path`` with ``body``."""

    def __init__(self, inner: httpx.BaseTransport, path: str, body: Any) -> None:
        self.inner, self.path, self.body = inner, path, body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != self.path:
            return response
        response.read()
        return httpx.Response(response.status_code, content=exact_json(self.body).encode(), request=request)


def run_answers(transport: httpx.BaseTransport) -> dict[str, Any]:
    with build_services(fast_settings(bulk_threshold=0), transport=transport) as svc:
        try:
            snap = build_market_snapshot(svc, MODEL)
        except EngineError as err:
            return {"run": err.code}
    out: dict[str, Any] = {pid: "failed" for pid in snap.failures}
    for r in rebalance_portfolios(MODEL, snap.prices, snap.portfolios, workers=1, with_positions=False):
        out[r.portfolio_id] = "failed" if r.status == "error" else (r.status, r.transactions)
    return out


@pytest.fixture(scope="module")
def e2e():
    app = sim_app(SimulatorConfig(price_mode="fixed", seed=7))
    transport = inprocess_transport(app)
    yield transport, run_answers(transport)
    transport.shutdown()


E2E = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@E2E
@given(mutations(CLEAN["summary"]).filter(lambda m: m[1]))
def test_end_to_end_a_damaged_summary_fails_only_its_portfolio_or_changes_nothing(e2e, mutated):
    transport, clean = e2e
    got = run_answers(Damaging(transport, f"/api/v1/portfolios/{PID}/summary", mutated[0]))
    assert "run" not in got
    assert {p: a for p, a in got.items() if p != PID} == {p: a for p, a in clean.items() if p != PID}
    assert got[PID] in ("failed", clean[PID])


@E2E
@given(st.data())
def test_end_to_end_a_damaged_price_list_fails_typed_or_changes_nothing(e2e, data):
    transport, clean = e2e
    full = None
    with httpx.Client(transport=transport) as c:
        full = json.loads(c.get("http://pricing.sim/api/v1/prices").content, parse_float=Decimal)
    mutated = data.draw(mutations(full[:40]).filter(lambda m: m[1]))
    body = mutated[0] + full[40:] if isinstance(mutated[0], list) else mutated[0]
    got = run_answers(Damaging(transport, "/api/v1/prices", body))
    if "run" in got:
        return  # a typed run-level error (e.g. a model security without a usable price)
    for pid, answer in got.items():
        assert answer in ("failed", clean[pid])
