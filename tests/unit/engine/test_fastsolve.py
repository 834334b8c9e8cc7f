"""The columnar fast path of ``engine solve`` answers byte for byte as the reference path (issue 15 item 1)."""

from __future__ import annotations

import inspect
import io
import json
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.cli import _reference_results, _shared, answer_line, reference_line, run_solve
from engine.exactmath import plain
from engine.fastsolve import Slow, _fixed, _fixed_texts, _whole_trade_texts, default_trade_controls, solve_line
from engine.models import InvestmentModel, PortfolioHoldings, RebalanceOptions
from tests.unit.engine import test_rebalance
from tests.unit.engine.support import pid, sid

D = Decimal
DAY = "2026-12-07"


def fast(line: str, workers: int = 1) -> str:
    """The fast path only (raises ``Slow`` when it hands the line to the reference path)."""
    return solve_line(line, 30.0, workers, _shared, lambda s, p: _reference_results(s, p, workers))


def line_of(
    model: InvestmentModel,
    prices: dict[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    options: RebalanceOptions | None,
) -> str | None:
    """The CLI line of an engine call (None when its options have no CLI spelling)."""
    opts: dict[str, Any] = {}
    if options is not None:
        if not default_trade_controls(options):
            return None
        opts = {"minCash": plain(options.min_cash), "minCashPct": plain(options.min_cash_fraction)}
        opts |= {"tieBreak": options.tie_break, "timeLimit": options.time_limit}
        if options.seed is not None:
            opts["seed"] = options.seed
        if options.trade_date is not None:
            opts["tradeDate"] = options.trade_date.isoformat()
    data = {
        "model": {
            "positions": [
                {
                    "securityId": p.security_id,
                    "target": plain(p.target),
                    "lowDrift": plain(p.low_drift),
                    "highDrift": plain(p.high_drift),
                }
                for p in model.positions
            ]
        },
        "prices": {s: plain(v) for s, v in prices.items()},
        "options": opts,
        "portfolios": [
            {
                "portfolioId": p.portfolio_id,
                "cash": plain(p.cash),
                "holdings": [{"securityId": h.security_id, "quantity": plain(h.quantity)} for h in p.holdings],
            }
            for p in portfolios
        ],
    }
    return json.dumps(data)


def _golden_tests() -> list[Callable[[], None]]:
    return [
        f
        for name, f in inspect.getmembers(test_rebalance, inspect.isfunction)
        if name.startswith("test_") and not inspect.signature(f).parameters and not hasattr(f, "pytestmark")
    ]


@pytest.mark.parametrize("case", _golden_tests(), ids=lambda f: f.__name__)
def test_golden_cases_answer_alike_through_the_fast_path(case: Callable[[], None], monkeypatch) -> None:
    seen: list[str] = []
    original = test_rebalance.rebalance_portfolios

    def checked(model, prices, portfolios, options=None, *args: Any, **kwargs: Any):
        line = line_of(model, dict(prices), portfolios, options)
        if line is not None and portfolios:
            assert answer_line(line, 30.0, 1) == reference_line(line, 30.0, 1)
            seen.append(line)
        return original(model, prices, portfolios, options, *args, **kwargs)

    def checked_one(model, prices, portfolio, options=None):
        return checked(model, prices, [portfolio], options, workers=1)[0]

    monkeypatch.setattr(test_rebalance, "rebalance_portfolios", checked)
    monkeypatch.setattr(test_rebalance, "rebalance_portfolio", checked_one)
    case()


def _text(rng: random.Random, value: Decimal, places: int) -> str:
    """A plain decimal text, sometimes with trailing zeros (printed back as typed)."""
    text = plain(value)
    if rng.random() < 0.2:
        text += ("" if "." in text else ".") + "0" * rng.randint(1, 2)
    return text if "." not in text or len(text.split(".")[1]) <= places + 2 else plain(value)


def random_line(seed: int, awkward: bool = True) -> str:
    """A batch with fractional, extra, zero, unpriced, duplicated, huge, negative and empty portfolios."""
    rng = random.Random(seed)
    n_sec = rng.randint(2, 8)
    secs = [sid(0x100 + i) for i in range(n_sec)]
    pp = rng.choice([0, 2, 4])
    prices = {s: _text(rng, D(rng.randint(1, 500_000)).scaleb(-pp), 8) for s in secs}
    chosen = rng.sample(secs, rng.randint(1, min(5, n_sec)))
    weights = [rng.randint(1, 30) for _ in chosen]
    scale = sum(weights) / rng.uniform(0.6, 0.94)
    positions = []
    for s, w in zip(chosen, weights, strict=True):
        t = D(int(w / scale * 200)) * D("0.005") or D("0.005")  # the model rules: multiples of 0.5 %
        lo = min(t, D(rng.choice([0, 5, 10, 20, 50])).scaleb(-3))
        hi = D(rng.choice([0, 10, 30])).scaleb(-3)
        positions.append({"securityId": s, "target": _text(rng, t, 3), "lowDrift": plain(lo), "highDrift": plain(hi)})
    ports = []
    for i in range(rng.randint(1, 30)):
        cash = _text(rng, D(rng.randint(-50_000, 5_000_000)).scaleb(-rng.choice([0, 2, 3, 5])), 5)
        holdings = []
        for s in rng.sample(secs, rng.randint(0, n_sec)):
            q = D(rng.randint(-20, 3000))
            if rng.random() < 0.15:
                q = D(rng.randint(1, 300_000)).scaleb(-3)
            if rng.random() < 0.05:
                q = D(0)
            holdings.append({"securityId": s, "quantity": _text(rng, q, 3)})
        kind = rng.random() if awkward else 1.0
        if kind < 0.04:
            holdings.append({"securityId": sid(0xDEAD), "quantity": "3"})  # no price
        elif kind < 0.08 and holdings:
            holdings.append(holdings[0])  # duplicated
        elif kind < 0.11:
            holdings = [{"securityId": secs[0], "quantity": "10000000000000"}]  # out of range
        elif kind < 0.13:
            cash, holdings = "0", []  # MV = 0
        elif kind < 0.16:
            cash = "-1000000"  # MV < 0
        elif kind < 0.18:
            cash = "1234567.123456789"  # 9 places: out of range
        elif kind < 0.20:
            holdings.append({"securityId": sid(0xE0), "quantity": "0"})  # zero row of an unpriced security
        port: dict[str, Any] = {"portfolioId": pid(i) if rng.random() < 0.9 else f"P é {i}", "holdings": holdings}
        if rng.random() < 0.95:
            port["cash"] = cash
        ports.append(port)
    options: dict[str, Any] = {"tradeDate": DAY}
    if rng.random() < 0.4:
        options["minCash"] = str(rng.choice([0, 1000, 25_000]))
    if rng.random() < 0.3:
        options["minCashPct"] = rng.choice(["0.02", "0.05", "0.1"])
    return json.dumps({"model": {"positions": positions}, "prices": prices, "options": options, "portfolios": ports})


@pytest.mark.parametrize("seed", range(60))
def test_random_batches_answer_byte_for_byte_as_the_reference(seed: int) -> None:
    line = random_line(seed)
    assert fast(line) == reference_line(line, 30.0, 1)


@pytest.mark.parametrize(
    ("quantity", "cash"),
    [
        ("999999999999", "0.00000001"),  # 1e12 shares on the 8-place quantity scale: beyond int64
        ("1000000000000", "5"),  # the largest supported quantity
        ("1000000000000.00000001", "5"),  # just above it: INVALID_INPUT
        ("12.5", "999999999999999.99999999"),  # the largest supported cash
        ("12.5", "1000000000000000"),  # just above it
        ("0.00000001", "100"),
        ("0.000000001", "100"),  # 9 places: INVALID_INPUT
    ],
)
def test_range_edges_answer_as_the_reference(quantity: str, cash: str) -> None:
    a, b = sid(0xA), sid(0xB)
    data = {
        "model": {"positions": [{"securityId": a, "target": "0.5", "lowDrift": "0.1", "highDrift": "0.1"}]},
        "prices": {a: "0.001", b: "3.25"},
        "options": {"tradeDate": DAY},
        "portfolios": [
            {"portfolioId": "big", "cash": cash, "holdings": [{"securityId": a, "quantity": quantity}]},
            {"portfolioId": "small", "cash": "1000.5", "holdings": [{"securityId": b, "quantity": "7.12500001"}]},
        ],
    }
    line = json.dumps(data)
    # (over 18 digits, as in the two 8-place edges, the whole line takes the reference path)
    assert answer_line(line, 30.0, 1) == reference_line(line, 30.0, 1)


def test_a_plain_batch_takes_the_fast_path_and_odd_lines_the_reference() -> None:
    line = random_line(3, awkward=False)
    assert fast(line) == reference_line(line, 30.0, 1)
    data = json.loads(line)
    data["portfolios"][0]["cash"] = 1000  # a JSON number: the reference reads it exactly
    with pytest.raises(Slow):
        fast(json.dumps(data))
    data["portfolios"][0]["cash"] = " 1e3"
    with pytest.raises(Slow):
        fast(json.dumps(data))
    assert answer_line(json.dumps(data), 30.0, 1) == reference_line(json.dumps(data), 30.0, 1)
    data["options"]["tieBreak"] = "random"
    data["portfolios"][0]["cash"] = "1000"
    with pytest.raises(Slow):
        fast(json.dumps(data))


def _imported(run_cli: Callable[..., Any], stdin: str) -> set[str]:
    """Top-level packages a ``python -X importtime -m engine solve`` run imported."""
    return {name.split(".")[0] for name in _imported_modules(run_cli, stdin)}


def _imported_modules(run_cli: Callable[..., Any], stdin: str) -> set[str]:
    """Every module a ``python -X importtime -m engine solve`` run imported."""
    proc = run_cli_importtime(run_cli, stdin)
    names = set()
    for row in proc.stderr.splitlines():
        if row.startswith("import time:") and "|" in row:
            names.add(row.rsplit("|", 1)[1].strip())
    return names


def run_cli_importtime(run_cli: Callable[..., Any], stdin: str) -> Any:
    proc = run_cli("solve", "--workers", "1", stdin=stdin, python_args=("-X", "importtime"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_a_batch_without_binding_cash_floors_imports_no_solver_library(run_cli: Callable[..., Any]) -> None:
    line = random_line(3, awkward=False)
    data = json.loads(line)
    data["options"] = {"tradeDate": DAY}  # no cash floor: every row closed-form
    quiet = _imported(run_cli, json.dumps(data) + "\n")
    assert not quiet & {"cvxpy", "highspy", "scipy", "pyarrow"}, quiet & {"cvxpy", "highspy", "scipy", "pyarrow"}


def test_start_up_leaves_the_milp_stack_until_a_floor_binds(run_cli: Callable[..., Any]) -> None:
    """Issue 15: engine.milp and engine.controls (and the process pool) load only when a portfolio needs them."""
    heavy = {"engine.milp", "engine.controls", "concurrent.futures.process"}
    a, b = sid(0x100), sid(0x101)
    data: dict[str, Any] = {
        "model": {
            "positions": [{"securityId": s, "target": "0.45", "lowDrift": "0.05", "highDrift": "0.05"} for s in (a, b)]
        },
        "prices": {a: "12.5", b: "40"},
        "options": {"tradeDate": DAY},  # no cash floor: every row closed-form
        "portfolios": [
            {"portfolioId": f"P{i}", "cash": str(1000 * i), "holdings": [{"securityId": a, "quantity": str(i)}]}
            for i in range(1, 20)
        ],
    }
    quiet = _imported_modules(run_cli, json.dumps(data) + "\n")
    assert not quiet & heavy, quiet & heavy
    assert not _imported_modules(run_cli, "\n") & heavy  # an empty batch
    # the binding cash row of test_cli: 1000 of cash, two securities at 600 -> a MILP
    data["model"] = {
        "positions": [{"securityId": s, "target": "0.45", "lowDrift": "0.45", "highDrift": "0.5"} for s in (a, b)]
    }
    data["prices"] = {a: "600", b: "600"}
    data["portfolios"] = [{"portfolioId": "P1", "cash": "1000", "holdings": []}]
    assert {"engine.milp"} <= _imported_modules(run_cli, json.dumps(data) + "\n")


def test_run_solve_output_and_errors_match_the_reference_path() -> None:
    good = [random_line(s) for s in range(5)]
    bad = [*good[:2], '{"model": {"positions": []}, "prices": {}, "portfolios": [{"portfolioId": ""}]}']
    for lines in (good, bad):
        text = "\n".join(lines) + "\n"
        outs = []
        for use_fast in (True, False):
            sink = io.StringIO()
            code = run_solve(io.StringIO(text), sink, 30.0, 1, fast=use_fast)
            outs.append((code, sink.getvalue()))
        assert outs[0] == outs[1]
    assert outs[0][0] == 2


INT64 = st.integers(-(2**63) + 1, 2**63 - 1)
# small values repeat (the look-up's common case), large ones reach the int64 ends
CELLS = st.one_of(st.integers(-3, 3), st.integers(-10_000, 10_000), INT64)


@given(arrays(np.int64, st.tuples(st.integers(0, 6), st.integers(0, 6)), elements=CELLS), st.integers(0, 12))
def test_fixed_texts_are_the_decimal_texts_of_each_value(values: np.ndarray, scale: int) -> None:
    """The column-wise formatting prints what ``format(Decimal, "f")`` prints for value / 10**scale."""
    texts = _fixed_texts(values, scale)
    assert texts.shape == values.shape
    for v, t in zip(values.ravel().tolist(), texts.ravel().tolist(), strict=True):
        assert t == _fixed(v, scale) == format(Decimal(v).scaleb(-scale), "f")


@given(arrays(np.int64, st.tuples(st.integers(0, 6), st.integers(1, 6)), elements=st.one_of(st.integers(-3, 3), INT64)))
def test_whole_trades_are_the_per_row_trades(delta: np.ndarray) -> None:
    """Each row's trades as the per-cell formatting wrote them, comma-separated: BUY of d > 0, SELL of -d, none
    for 0 (templates with an escaped ``%%`` too)."""
    n = delta.shape[1]
    buy = [f'{{"BUY%%":{i},"q":%s}}' for i in range(n)]
    sell = [f'{{"SELL":{i},"q":%s}}' for i in range(n)]
    expected = [
        ",".join((buy[i] % d) if d > 0 else (sell[i] % -d) for i, d in enumerate(row) if d) for row in delta.tolist()
    ]
    assert _whole_trade_texts(delta, buy, sell) == expected
