"""Hostile input to ``python -m engine solve`` (issue 9 items 3-4, issue 13 item 7).

A malformed line is ``error: line N: ...`` on stderr with exit 2, from a file or stdin alike, stdout
stays pure JSON and no traceback is ever printed; an out-of-range number fails only its portfolio.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import engine.cli
import engine.fastsolve
from engine.cli import run_solve
from tests.unit.engine.conftest import ROOT
from tests.unit.engine.test_cli import A, X, batch, lines


def run_bytes(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """``python -m engine`` with raw bytes on stdin (the text fixture cannot send invalid UTF-8)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], input=stdin, capture_output=True, cwd=ROOT, env=env, timeout=120
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[bytes], message: str, answered: int = 0) -> None:
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert message in stderr, stderr
    out = proc.stdout.decode("utf-8").splitlines()
    assert len(out) == answered and all(json.loads(line)["results"] for line in out)


def test_deeply_nested_line_is_a_clean_error_after_the_lines_before() -> None:
    proc = run_bytes("solve", "--workers", "1", stdin=lines(batch()).encode() + b"[" * 200_000 + b"\n")
    assert_clean_failure(proc, "error: line 2: not valid JSON: nested too deeply", answered=1)


def test_deeply_nested_value_inside_a_batch_is_a_clean_error() -> None:
    nested = json.dumps(batch()).replace('"options": {"minCash": "0"}', '"options": ' + "[" * 100_000 + "]" * 100_000)
    proc = run_bytes("solve", stdin=nested.encode() + b"\n")
    assert_clean_failure(proc, "error: line 1: not valid JSON: nested too deeply")


NOT_UTF8 = json.dumps(batch()).replace('"P1"', '"P\u00e9"').encode("latin-1") + b"\n"  # é as the byte 0xe9


def test_non_utf8_input_file_is_a_clean_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines(batch()).encode() + NOT_UTF8)
    proc = run_bytes("solve", "--workers", "1", "--input", str(src))
    assert_clean_failure(proc, "error: line 2: not valid UTF-8 (byte 0xe9 at byte", answered=1)


def test_non_utf8_stdin_is_the_same_clean_error_not_surrogates_in_ids() -> None:
    proc = run_bytes("solve", "--workers", "1", stdin=lines(batch()).encode() + NOT_UTF8)
    assert_clean_failure(proc, "error: line 2: not valid UTF-8 (byte 0xe9 at byte", answered=1)
    assert b"\\udce9" not in proc.stdout


def test_lone_surrogate_escape_in_an_id_is_malformed() -> None:
    text = json.dumps(batch()).replace('"P1"', '"P\\ud800"')
    proc = run_bytes("solve", stdin=text.encode() + b"\n")
    assert_clean_failure(proc, "error: line 1: portfolios[0].portfolioId: is not valid Unicode text")


def test_huge_values_in_messages_are_shortened() -> None:
    data = batch()
    data["portfolios"][0]["cash"] = "9" * 100_000 + "x"
    data["prices"]["y" * 10_000] = "z"
    proc = run_bytes("solve", stdin=(json.dumps(data) + "\n").encode())
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "portfolios[0].cash" not in stderr  # prices come first
    assert "characters)" in stderr and len(stderr) < 400, stderr[:400]
    data["prices"].pop("y" * 10_000)
    proc = run_bytes("solve", stdin=(json.dumps(data) + "\n").encode())
    stderr = proc.stderr.decode()
    assert "portfolios[0].cash" in stderr and "(100001 characters)" in stderr and len(stderr) < 400


def test_number_with_a_huge_exponent_in_a_wrong_place_is_named_shortly() -> None:
    text = json.dumps(batch()).replace('"target": "0.45"', '"target": true', 1)
    text = text.replace('"holdings": []', '"holdings": 1e999999999999999999')
    proc = run_bytes("solve", stdin=text.encode() + b"\n")
    assert_clean_failure(proc, "model.positions[0].target: must be a decimal")
    text = json.dumps(batch()).replace('"holdings": []', '"holdings": 1e999999999999999999')
    proc = run_bytes("solve", stdin=text.encode() + b"\n")
    assert_clean_failure(
        proc, "portfolios[0].holdings: must be a JSON array, got the number 1.000000e+999999999999999999"
    )


# (what, replacement text for the cash of P1 or the quantity of P2's holding, words of the diagnosis)
OUT_OF_RANGE = [
    ("cash above int64 mills", ("cash", '"1e16"'), "cash of portfolio P1"),
    ("cash as a JSON number with a huge exponent", ("cash", "1e999999999999999999"), "e+999999999999999999"),
    ("cash with 29 significant digits", ("cash", '"1234567890.1234567890123456789"'), "decimal places"),
    ("quantity with a huge exponent", ("quantity", "1e999999999"), "quantity of security"),
    ("quantity with 130 decimals", ("quantity", '"1.' + "1" * 130 + '"'), "(it has 130)"),
]


@pytest.mark.parametrize(("what", "where", "words"), OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_out_of_range_number_fails_only_its_portfolio_through_the_cli(
    what: str, where: tuple[str, str], words: str
) -> None:
    clean = _solve(lines(batch()))
    field, raw = where
    text = json.dumps(batch())
    text = text.replace('"cash": "1000"', f'"cash": {raw}') if field == "cash" else text.replace('"10.5"', raw)
    code, out, err = _solve_raw(text + "\n")
    assert code == 0 and "Traceback" not in err, err
    (result,) = out
    bad = 0 if field == "cash" else 1
    failed = result["results"][bad]
    assert failed["status"] == "error" and words in failed["diagnosis"] and len(failed["diagnosis"]) < 240
    assert failed["transactions"] == [] and (failed["cashBefore"] is None) == (field == "cash")
    assert result["results"][1 - bad] == clean[0]["results"][1 - bad]


def test_price_with_130_decimals_fails_the_portfolios_that_hold_it() -> None:
    clean = _solve(lines(batch()))
    code, (result,), _ = _solve_raw(lines(batch(prices={A: "600", sid_b(): "600", X: "1." + "1" * 130})))
    assert code == 0
    p1, p2 = result["results"]
    assert p1 == clean[0]["results"][0]
    assert p2["status"] == "error" and f"price of security {X}" in p2["diagnosis"]


def test_min_cash_out_of_range_is_an_error_for_the_batch_only() -> None:
    code, (first, second), _ = _solve_raw(lines(batch(options={"minCash": "1e400"}), batch()))
    assert code == 0
    assert [r["status"] for r in first["results"]] == ["error", "error"]
    assert all(
        "minimum cash (1.000000e+400) is outside the supported range" in r["diagnosis"] for r in first["results"]
    )
    assert [r["status"] for r in second["results"]] == ["optimal", "optimal"]


def test_an_internal_error_marks_its_batch_without_a_traceback(monkeypatch, capsys) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(engine.cli, "rebalance_portfolios", broken)
    monkeypatch.setattr(engine.fastsolve, "solve_closed_form", broken)  # the fast path fails too
    sink = io.StringIO()
    assert run_solve(io.StringIO(lines(batch())), sink, workers=1) == 0
    results = json.loads(sink.getvalue())["results"]
    assert [r["status"] for r in results] == ["error", "error"]
    assert results[0]["diagnosis"] == "internal error: ZeroDivisionError: boom"
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: line 1: internal error: ZeroDivisionError: boom" in err
    assert "note: line 1: fast path failed (ZeroDivisionError: boom); answered by the reference path" in err


def test_time_limit_is_not_reported_as_infeasible(run_cli) -> None:
    proc = run_cli("solve", "--time-limit", "0.000001", "--workers", "1", stdin=lines(batch()))
    assert proc.returncode == 0, proc.stderr
    p1 = json.loads(proc.stdout)["results"][0]  # P1's cash row binds: the MILP route
    assert p1["status"] == "error"
    assert "no feasible solution" not in p1["diagnosis"]
    assert "portfolio P1 was not solved within the time limit of 1e-06 s (solver status: " in p1["diagnosis"]


def sid_b() -> str:
    return batch()["model"]["positions"][1]["securityId"]


def _solve_raw(text: str) -> tuple[int, list[dict[str, Any]], str]:
    sink, err = io.StringIO(), io.StringIO()
    saved = sys.stderr
    sys.stderr = err
    try:
        code = run_solve(io.BytesIO(text.encode("utf-8")), sink, time_limit=10, workers=1)
    finally:
        sys.stderr = saved
    return code, [json.loads(line) for line in sink.getvalue().splitlines()], err.getvalue()


def _solve(text: str) -> list[dict[str, Any]]:
    code, out, err = _solve_raw(text)
    assert code == 0, err
    return out


@pytest.mark.parametrize("seconds", ["inf", "1e400", "1e12", "nan", "0", "-1"])
def test_time_limit_outside_its_range_is_a_usage_error(run_cli, seconds: str) -> None:
    proc = run_cli("solve", "--time-limit", seconds, stdin=lines(batch()))
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert "--time-limit" in proc.stderr and "at most 86400" in proc.stderr


@pytest.mark.parametrize("workers", ["0", "257", "1000000000", "x"])
def test_workers_outside_1_to_256_is_a_usage_error(run_cli, workers: str) -> None:
    proc = run_cli("solve", "--workers", workers, stdin=lines(batch()))
    assert proc.returncode == 2 and proc.stdout == "" and "--workers" in proc.stderr and "Traceback" not in proc.stderr


def test_a_closed_stdin_is_a_clean_error() -> None:
    """Input is read from stdin's descriptor in blocks (issue 15): a closed one is a message, not a traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "solve"],
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(0),  # the child's descriptor 0, after its redirection
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert_clean_failure(proc, "error: cannot read --input -: Bad file descriptor")
