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

import engine.cli
import engine.fastsolve
from engine.cli import MalformedInput, _reference_results, _shared, answer_line, reference_line, run_solve
from engine.exactmath import plain
from engine.fastsolve import (
    Slow,
    _fixed,
    _fixed_texts,
    _group_sums,
    _whole_trade_texts,
    default_trade_controls,
    json_strings,
    solve_line,
)
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
        assert t.decode() == _fixed(v, scale) == format(Decimal(v).scaleb(-scale), "f")


@given(arrays(np.int64, st.tuples(st.integers(0, 6), st.integers(1, 6)), elements=st.one_of(st.integers(-3, 3), INT64)))
def test_whole_trades_are_the_per_row_trades(delta: np.ndarray) -> None:
    """Each row's trades as the per-cell formatting wrote them, comma-separated: BUY of d > 0, SELL of -d, none
    for 0 (templates with an escaped ``%%`` too)."""
    n = delta.shape[1]
    buy = [f'{{"BUY%%":{i},"q":%d}}'.encode() for i in range(n)]
    sell = [f'{{"SELL":{i},"q":%d}}'.encode() for i in range(n)]
    expected = [
        b",".join((buy[i] % d) if d > 0 else (sell[i] % -d) for i, d in enumerate(row) if d) for row in delta.tolist()
    ]
    assert _whole_trade_texts(delta, buy, sell) == expected


@given(st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=4), max_size=6))
def test_group_sums_are_each_group_s_exact_sum(groups: list[list[int]]) -> None:
    """The per-portfolio sums of consecutive holdings rows (empty portfolios included) are exact int64 sums."""
    values = np.array([v for g in groups for v in g], dtype=np.int64)
    lens = np.array([len(g) for g in groups], dtype=np.int64)
    assert _group_sums(values, lens).tolist() == [sum(g) for g in groups]


def plain_line(portfolios: int, securities: int = 5, seed: int = 11, options: dict[str, Any] | None = None) -> str:
    """A batch the fast path answers in full: whole non-negative quantities, 2-place prices and cash."""
    rng = random.Random(seed)
    secs = [sid(0x200 + i) for i in range(securities)]
    prices = {s: f"{rng.randint(500, 50_000) / 100:.2f}" for s in secs}
    positions = [{"securityId": s, "target": "0.15", "lowDrift": "0.02", "highDrift": "0.03"} for s in secs]
    ports = [
        {
            "portfolioId": pid(k),
            "cash": f"{rng.randint(1_000, 5_000_000) / 100:.2f}",
            "holdings": [{"securityId": s, "quantity": str(rng.randint(0, 400))} for s in secs],
        }
        for k in range(portfolios)
    ]
    data = {"model": {"positions": positions}, "prices": prices, "options": options or {}, "portfolios": ports}
    return json.dumps(data)


def test_a_plain_batch_starts_without_pydantic(run_cli: Callable[..., Any]) -> None:
    """Issue 15: a batch the fast path answers imports neither pydantic (nor engine.models / engine.rebalance),
    nor cvxpy, HiGHS, engine.controls or engine.milp; a batch with minCashPct needs the options model."""
    line = plain_line(20, options={"minCash": "0", "tradeDate": DAY})
    assert fast(line) == reference_line(line, 30.0, 1)
    modules = _imported_modules(run_cli, line + "\n")
    packages = {m.split(".")[0] for m in modules}
    assert not packages & {"pydantic", "pydantic_core", "cvxpy", "highspy", "scipy"}, packages
    heavy = {"engine.models", "engine.rebalance", "engine.construct", "engine.controls", "engine.milp"}
    assert not modules & heavy, modules & heavy
    assert "pydantic" not in {m.split(".")[0] for m in _imported_modules(run_cli, "\n")}  # an empty batch
    with_pct = plain_line(20, options={"minCashPct": "0.02"})
    assert "engine.models" in _imported_modules(run_cli, with_pct + "\n")


def test_holdings_decode_with_the_line_s_ids_else_the_plain_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: holdings' ids are decoded as a Literal of the line's model and price ids (one string object per
    id); a holding of another id (unpriced, or blank) reads the line with the plain decoder. Answers as the
    reference either way."""
    plain_calls: list[int] = []
    decoder = engine.fastsolve._PORTFOLIOS

    class Counted:
        def decode(self, raw: Any) -> Any:
            plain_calls.append(1)
            return decoder.decode(raw)

    monkeypatch.setattr(engine.fastsolve, "_PORTFOLIOS", Counted())
    line = plain_line(4)
    assert fast(line) == reference_line(line, 30.0, 1) and len(plain_calls) == 1  # too few holdings an id to pay
    plain_calls.clear()
    monkeypatch.setattr(engine.fastsolve, "KNOWN_ID_BYTES", 1)
    assert fast(line) == reference_line(line, 30.0, 1) and not plain_calls
    data = json.loads(line)
    data["portfolios"][1]["holdings"].append({"securityId": sid(0xBEEF), "quantity": "5"})  # no price
    assert fast(json.dumps(data)) == reference_line(json.dumps(data), 30.0, 1) and len(plain_calls) == 1
    data["prices"][" "] = "1"  # a blank price key is no known id: a blank holding id is the reference's error
    data["portfolios"][1]["holdings"][-1]["securityId"] = " "
    with pytest.raises(MalformedInput, match=r"portfolios\[1\]\.holdings\[5\]\.securityId: must be a non-empty"):
        answer_line(json.dumps(data), 30.0, 1)
    assert len(plain_calls) == 2


@pytest.mark.parametrize("seed", range(30))
def test_random_batches_decoded_with_their_ids_answer_as_the_reference(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known-ids decoder on every line, however small (unpriced holdings: the plain decoder after it)."""
    monkeypatch.setattr(engine.fastsolve, "KNOWN_ID_BYTES", 0)
    line = random_line(seed + 100)
    assert answer_line(line, 30.0, 1) == reference_line(line, 30.0, 1)


@pytest.mark.parametrize("seed", range(20))
def test_results_made_chunk_by_chunk_answer_as_the_reference(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text made a few portfolios at a time (chunks of 1-3 here) is the same line."""
    monkeypatch.setattr(engine.fastsolve, "CHUNK_ROWS", 1 + seed % 3)
    line = random_line(seed)
    assert fast(line) == reference_line(line, 30.0, 1)


def test_a_chunk_whose_formatting_fails_is_answered_by_the_reference(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = plain_line(7)
    expected = reference_line(line, 30.0, 1)
    calls: list[int] = []
    original = engine.fastsolve._whole_trade_texts

    def second_fails(*args: Any) -> list[bytes]:
        calls.append(1)
        if len(calls) == 2:
            raise IndexError("boom")
        return original(*args)

    monkeypatch.setattr(engine.fastsolve, "CHUNK_ROWS", 3)
    monkeypatch.setattr(engine.fastsolve, "_whole_trade_texts", second_fails)
    sink = io.StringIO()
    assert run_solve(io.BytesIO(line.encode() + b"\n"), sink, 30.0, 1) == 0
    assert sink.getvalue() == expected + "\n" and len(calls) == 3
    err = capsys.readouterr().err
    assert "note: line 1: fast path failed (IndexError: boom); some portfolios answered by the reference path" in err
    assert "Traceback" not in err


def test_a_line_that_fails_on_both_paths_while_written_exits_1_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(engine.fastsolve, "_whole_trade_texts", broken)
    monkeypatch.setattr(engine.cli, "rebalance_portfolios", broken)
    sink = io.StringIO()
    assert run_solve(io.BytesIO(plain_line(3).encode() + b"\n" + plain_line(2).encode() + b"\n"), sink, 30.0, 1) == 1
    err = capsys.readouterr().err
    assert "error: line 1: internal error: " in err and "(its output line is incomplete)" in err
    assert "Traceback" not in err and "\n" not in sink.getvalue()  # the second line is not begun


@pytest.mark.parametrize(
    "raw",
    [b"\x1c\x1d\x1e\x1f\n", b" \t\x0b\x0c\r\n", b"\x00\n", b"{}\n", b"\x85\n", b"  {\x7f}\n", b"[1]\n"],
    ids=repr,
)
def test_odd_bytes_lines_answer_as_on_the_reference_path(raw: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """ASCII lines are read as bytes on the fast path: blank lines (str.isspace) and errors are as on the text path."""
    text = raw + plain_line(2).encode() + b"\n"
    outs = []
    for use_fast in (True, False):
        sink = io.StringIO()
        code = run_solve(io.BytesIO(text), sink, 30.0, 1, fast=use_fast)
        outs.append((code, sink.getvalue(), capsys.readouterr().err))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("name", ['"P"', "null", "3", "[[[1]]]", '{"a": [{}]}'])
def test_a_portfolio_name_of_any_json_answers_as_the_reference(name: str) -> None:
    line = plain_line(2).replace('"portfolioId"', '"name": ' + name + ', "portfolioId"', 1)
    assert answer_line(line, 30.0, 1) == reference_line(line, 30.0, 1)


WEIGHTS = st.sampled_from(["0", "0.005", "0.05", "0.15", "0.3", "0.95", "0.96", "0.003", "-0.005", "1", "999.5"])
DRIFTS = st.sampled_from(["0", "0.01", "0.5", "1", "1.5", "-0.01", "0.0000000000001", "1e-3"])
PRICES = st.sampled_from(["12.5", "0.00000001", "0.000000001", "0", "-3", "1e15", "999999999999999", None])
MONEY = st.sampled_from(["0", "100", "-1", "0.000000001", "1e15", "999999999999999.99999999"])
FRACTIONS = st.sampled_from(["0", "0.02", "-0.01", "1e3", "0.0000000000001", "999"])


@given(
    st.lists(st.tuples(st.integers(0, 3), WEIGHTS, DRIFTS, DRIFTS, PRICES), min_size=0, max_size=4),
    MONEY,
    FRACTIONS,
    st.sampled_from(["", "  ", "m", None]),
)
def test_the_run_check_is_the_reference_model_error(
    rows: list[tuple[int, str, str, str, str | None]], min_cash: str, fraction: str, name: str | None
) -> None:
    """The fast path's pydantic-free run check (range, model rules, cash floor, prices) says "no error" exactly
    when ``engine.rebalance.model_error`` does, on the same parse."""
    from engine.cli import engine_inputs, parse_head
    from engine.fastsolve import run_ok
    from engine.rebalance import model_error

    ids = [sid(0x300 + i) if i < 3 else "bad id" for i in range(4)]
    positions = [{"securityId": ids[i], "target": t, "lowDrift": lo, "highDrift": hi} for i, t, lo, hi, _ in rows]
    prices = {ids[i]: p for i, _, _, _, p in rows if p is not None}
    model: dict[str, Any] = {"positions": positions} | ({"name": name} if name is not None else {})
    options = {"minCash": min_cash, "minCashPct": fraction, "timeLimit": 5}
    head = parse_head({"model": model, "prices": prices, "options": options, "portfolios": []})
    engine_model, engine_options = engine_inputs(head)
    assert run_ok(head) == (model_error(engine_model, head.prices, engine_options) is None)


@given(st.lists(st.one_of(st.text(max_size=8), st.text(alphabet='abc"\\\x7f\x1f é', max_size=4)), max_size=6))
def test_json_strings_are_json_dumps(texts: list[str]) -> None:
    """Portfolio ids are quoted as json.dumps quotes them, on the quick path (printable ASCII) and off it."""
    assert json_strings(texts) == [json.dumps(t) for t in texts]
    safe = [t for t in texts if t.isascii() and t.isprintable() and '"' not in t and "\\" not in t]
    assert json_strings(safe) == [json.dumps(t) for t in safe]
