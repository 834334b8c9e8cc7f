"""The headless CLI contract: ``python -m engine solve`` (JSON Lines in, one JSON line per batch out)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.cli import MalformedInput, parse_batch, read_lines, run_solve
from tests.unit.engine.support import sid

A, B, X = sid(0xA), sid(0xB), sid(0xF0)
RESULT_KEYS = {
    "portfolioId",
    "status",
    "marketValue",
    "cashBefore",
    "cashAfter",
    "portfolioDrift",
    "transactions",
    "drifts",
}
DRIFT_KEYS = {"securityId", "originalQuantity", "adjustedQuantity", "target", "highDrift", "lowDrift", "actual"}


def batch(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": {
            "positions": [
                {"securityId": A, "target": "0.45", "lowDrift": "0.45", "highDrift": "0.5"},
                {"securityId": B, "target": "0.45", "lowDrift": "0.45", "highDrift": "0.5"},
            ]
        },
        "prices": {A: "600", B: "600", X: "10"},
        "options": {"minCash": "0"},
        "portfolios": [
            {"portfolioId": "P1", "cash": "1000", "holdings": []},  # binding cash row: MILP
            {"portfolioId": "P2", "cash": "1895", "holdings": [{"securityId": X, "quantity": "10.5"}]},
        ],
    }
    base.update(overrides)
    return base


def lines(*batches: dict[str, Any]) -> str:
    return "".join(json.dumps(b) + "\n" for b in batches)


def test_solve_writes_only_json_lines_in_the_documented_shape(run_cli) -> None:
    infeasible = batch(
        model={"positions": [{"securityId": A, "target": "0.05", "lowDrift": "0", "highDrift": "0"}]},
        prices={A: "33.33"},
        portfolios=[{"portfolioId": "P3", "cash": "10000"}],
    )
    proc = run_cli("solve", stdin=lines(batch(), infeasible))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == 2
    first, second = (json.loads(line) for line in out)  # every stdout line is JSON: no solver banner
    p1, p2 = first["results"]
    assert set(p1) == RESULT_KEYS and p1["status"] == "optimal"
    assert p1["marketValue"] == "1000.000" and p1["cashBefore"] == "1000" and p1["cashAfter"] == "400.000"
    assert Decimal(p1["portfolioDrift"]) == 600
    assert p1["transactions"] == [
        {"transactionType": "BUY", "securityId": p1["transactions"][0]["securityId"], "quantity": 1}
    ]
    assert all(set(d) == DRIFT_KEYS for d in p1["drifts"]) and len(p1["drifts"]) == 2
    assert all(isinstance(v, str) for d in p1["drifts"] for v in d.values())
    # fractional holding outside the model: sold as an exact decimal string
    assert {"transactionType": "SELL", "securityId": X, "quantity": "10.5"} in p2["transactions"]
    assert [d["securityId"] for d in p2["drifts"]] == [A, B, X]
    (p3,) = second["results"]
    assert p3["status"] == "infeasible" and set(p3) == RESULT_KEYS | {"diagnosis"}
    assert A in p3["diagnosis"] and "33.33" in p3["diagnosis"]


def test_business_rule_errors_stay_in_their_batch(run_cli) -> None:
    broken = batch(model={"positions": [{"securityId": A, "target": "0.97", "lowDrift": "0.1", "highDrift": "0.1"}]})
    proc = run_cli("solve", "--workers", "1", stdin=lines(broken, batch()))
    assert proc.returncode == 0, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert [r["status"] for r in first["results"]] == ["error", "error"]
    assert all("target 0.97 must be between 0 and 0.95" in r["diagnosis"] for r in first["results"])
    assert [r["status"] for r in second["results"]] == ["optimal", "optimal"]


def test_malformed_line_exits_non_zero_naming_line_and_field(run_cli) -> None:
    bad = batch()
    bad["portfolios"][1]["holdings"][0]["quantity"] = "ten"
    proc = run_cli("solve", stdin=lines(batch()) + "\n" + lines(bad, batch()))
    assert proc.returncode == 2
    assert len(proc.stdout.splitlines()) == 1  # the line before was answered, nothing after
    assert "line 3" in proc.stderr and "portfolios[1].holdings[0].quantity" in proc.stderr and "'ten'" in proc.stderr


def test_invalid_json_names_the_line(run_cli) -> None:
    proc = run_cli("solve", stdin='{"model": \n')
    assert proc.returncode == 2 and "line 1: not valid JSON" in proc.stderr and proc.stdout == ""


def test_files_and_flags(run_cli, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(lines(batch()), encoding="utf-8")
    proc = run_cli("solve", "--input", str(src), "--output", str(dst), "--time-limit", "5", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # results went to the file; stdout stays clean
    assert json.loads(dst.read_text(encoding="utf-8"))["results"][0]["status"] == "optimal"
    assert run_cli("solve", "--time-limit", "0").returncode == 2
    assert run_cli("solve", "--input", str(tmp_path / "missing.jsonl")).returncode == 2
    assert run_cli().returncode == 2  # no command


# --- parsing, in process -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda b: b.pop("prices"), "prices", "is required"),
        (lambda b: b.update(extra=1), "extra", "unknown field"),
        (lambda b: b["model"]["positions"][0].update(target=True), "model.positions[0].target", "boolean"),
        (lambda b: b["model"]["positions"][1].pop("lowDrift"), "model.positions[1].lowDrift", "is required"),
        (lambda b: b["prices"].update({A: "1e"}), f"prices[{A!r}]", "not a decimal"),
        (lambda b: b["prices"].update({A: "NaN"}), f"prices[{A!r}]", "not a decimal"),
        (lambda b: b["options"].update(minCash=None), "options.minCash", "null"),
        (lambda b: b["options"].update(minCashPct="2%"), "options.minCashPct", "not a decimal"),
        (lambda b: b["portfolios"][0].update(portfolioId=""), "portfolios[0].portfolioId", "non-empty string"),
        (lambda b: b["portfolios"][0].update(holdings={}), "portfolios[0].holdings", "JSON array"),
        (lambda b: b.update(portfolios="x"), "portfolios", "JSON array"),
    ],
)
def test_parse_errors_name_the_field(mutate, path: str, message: str) -> None:
    data = json.loads(json.dumps(batch()), parse_float=Decimal, parse_int=Decimal)
    mutate(data)
    with pytest.raises(MalformedInput) as info:
        parse_batch(data)
    assert info.value.path == path and message in str(info.value)


def test_numbers_are_read_exactly_and_defaults_apply() -> None:
    data = json.loads(
        '{"model": {"positions": []}, "prices": {"x": 0.1}, "portfolios": [{"portfolioId": "P"}]}',
        parse_float=Decimal,
        parse_int=Decimal,
    )
    parsed = parse_batch(data)
    assert parsed.prices == {"x": Decimal("0.1")}
    assert parsed.options.min_cash == 0 and parsed.portfolios[0].cash == 0 and parsed.portfolios[0].holdings == ()
    assert parsed.options.min_cash_fraction == 0


def test_min_cash_pct_sets_each_portfolios_floor_to_the_greater_of_amount_and_share_of_mv() -> None:
    # P1 MV 1000, P2 MV 1895 + 105 = 2000; floor max(150, 0.1 MV) = 150 and 200
    one = batch(options={"minCash": "150", "minCashPct": "0.1"})
    sink = io.StringIO()
    assert run_solve(io.StringIO(lines(one)), sink, time_limit=10, workers=1) == 0
    results = json.loads(sink.getvalue())["results"]
    assert parse_batch(json.loads(json.dumps(one), parse_float=Decimal)).options.min_cash_fraction == Decimal("0.1")
    assert [r["status"] for r in results] == ["optimal", "optimal"]
    assert Decimal(results[0]["cashAfter"]) >= 150 and Decimal(results[1]["cashAfter"]) >= 200
    alone = io.StringIO()
    run_solve(io.StringIO(lines(batch(options={"minCash": "200"}))), alone, time_limit=10, workers=1)
    assert json.loads(alone.getvalue())["results"][1] == results[1]  # the fraction's floor, as an amount


def test_a_negative_min_cash_pct_is_a_business_error_in_the_results_not_a_malformed_line() -> None:
    sink = io.StringIO()
    assert run_solve(io.StringIO(lines(batch(options={"minCashPct": "-0.1"}))), sink, time_limit=10, workers=1) == 0
    results = json.loads(sink.getvalue())["results"]
    assert {r["status"] for r in results} == {"error"} and "minimum cash fraction" in results[0]["diagnosis"]


def test_run_solve_streams_and_skips_blank_lines() -> None:
    sink = io.StringIO()
    code = run_solve(io.StringIO("\n" + lines(batch()) + "   \n"), sink, time_limit=10, workers=1)
    assert code == 0 and len(sink.getvalue().splitlines()) == 1


def test_a_line_written_in_slices_is_the_same_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long output lines are written in slices (bounded encoding buffers): the bytes do not change."""
    text = lines(batch(), batch(portfolios=[{"portfolioId": "Q", "cash": "5000"}]))
    whole = io.StringIO()
    run_solve(io.StringIO(text), whole, time_limit=10, workers=1)
    monkeypatch.setattr("engine.cli.WRITE_BYTES", 7)
    sliced = io.StringIO()
    run_solve(io.StringIO(text), sliced, time_limit=10, workers=1)
    assert sliced.getvalue() == whole.getvalue() and len(whole.getvalue().splitlines()) == 2
    # a sink with a binary buffer (a file, stdout) gets the bytes there, in groups of any size, after its text
    monkeypatch.setattr("engine.cli.GROUP_BYTES", 5)
    raw = io.BytesIO()
    wrapper = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    wrapper.write("before\n")  # still in the text layer: written first
    run_solve(io.StringIO(text), wrapper, time_limit=10, workers=1)
    wrapper.flush()
    assert raw.getvalue().decode() == "before\n" + whole.getvalue()
    utf16 = io.BytesIO()  # a sink whose bytes are not ASCII's gets text
    wrapper = io.TextIOWrapper(utf16, encoding="utf-16", newline="")
    run_solve(io.StringIO(text), wrapper, time_limit=10, workers=1)
    wrapper.flush()
    assert utf16.getvalue().decode("utf-16") == whole.getvalue()


@pytest.mark.slow
def test_spawn_pool_keeps_stdout_json_only(run_cli) -> None:
    # 64 binding portfolios in one batch: the MILPs go to a spawn pool, whose workers run HiGHS too
    many = batch(portfolios=[{"portfolioId": f"P{i}", "cash": "1000"} for i in range(64)])
    proc = run_cli("solve", "--workers", "2", stdin=lines(many))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    results = json.loads(line)["results"]
    assert [r["status"] for r in results] == ["optimal"] * 64
    assert len({json.dumps(r["transactions"]) for r in results}) == 1  # the same answer in every worker
    assert "Running HiGHS" not in proc.stderr + proc.stdout  # the workers print no HiGHS banner either


class _Trickle(io.RawIOBase):
    """A raw stream returning its data in the given read sizes (as a pipe does), then whatever is asked."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.at, self.sizes = data, 0, list(sizes)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self.sizes.pop(0) if self.sizes else size
        chunk = self.data[self.at : self.at + max(1, min(step, size))]
        self.at += len(chunk)
        return chunk


@given(
    st.lists(st.sampled_from([b"a", b"x" * 9, b"\n", b"\r", b" ", b"yz"]), max_size=20).map(b"".join),
    st.lists(st.integers(1, 12), max_size=8),
    st.integers(1, 16),
)
def test_input_lines_read_in_blocks_are_the_stream_s_lines(data: bytes, sizes: list[int], block: int) -> None:
    """Issue 15: the CLI reads its input in blocks; the lines (each with its line feed, the last maybe without)
    are the ones iterating the stream gives, whatever the sizes its reads return."""
    assert list(read_lines(_Trickle(data, sizes), block)) == list(io.BytesIO(data))
