"""Property-based fuzzing of the CLI parser (issue 9 item 5, CLI half).

Arbitrary JSON shapes, numbers (huge exponents, hundreds of digits) and bytes in one portfolio of a batch:
the CLI never raises, answers with exit 0 or a one-line ``error: line 1: ...`` with exit 2, never changes
the answer of the other portfolio, and never gives the fuzzed portfolio an order that differs from the
answer it gets alone in a batch of its own.
"""

from __future__ import annotations

import copy
import io
import json
import re
from contextlib import redirect_stderr
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.cli import run_solve
from tests.unit.engine.support import sid

A, B, X = sid(0xA), sid(0xB), sid(0xF0)
BASE: dict[str, Any] = {
    "model": {
        "positions": [
            {"securityId": A, "target": "0.45", "lowDrift": "0.45", "highDrift": "0.5"},
            {"securityId": B, "target": "0.45", "lowDrift": "0.45", "highDrift": "0.5"},
        ]
    },
    "prices": {A: "600", B: "600", X: "10"},
    "options": {"minCash": "0"},
    "portfolios": [
        {"portfolioId": "GOOD", "cash": "1895", "holdings": [{"securityId": X, "quantity": "10.5"}]},
        {"portfolioId": "FUZZ", "cash": "1000", "holdings": [{"securityId": A, "quantity": "1"}]},
    ],
}
FUZZ_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Raw(str):
    """A JSON number written verbatim (``1e999999999999999999`` has no Python float)."""


NUMBER_TEXT = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,140})?([eE][-+]?[0-9]{1,20})?", fullmatch=True)
NUMBERS = st.one_of(
    NUMBER_TEXT.map(Raw),
    NUMBER_TEXT,  # the same as a decimal string
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers().map(lambda i: Raw(str(i))),
    st.sampled_from(["NaN", "Infinity", "-0", "1e400", " 5 ", "0x10", "1_000", "", "1e", "١٢٣"]),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
# where in the FUZZ portfolio a value is put (a key path; "+" adds an unknown key)
FUZZ_PATHS = [
    ("cash",),
    ("portfolioId",),
    ("holdings",),
    ("holdings", 0),
    ("holdings", 0, "quantity"),
    ("holdings", 0, "securityId"),
    ("name",),
    ("+",),
]


def dumps(data: Any) -> str:
    """JSON with ``Raw`` values written as bare numbers."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(data))
    return re.sub(r'"\\u0000RAW(\d+)\\u0000"', lambda m: raws[int(m.group(1))], text)


def solve(line: bytes) -> tuple[int, list[str], str]:
    sink, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code = run_solve(io.BytesIO(line), sink, time_limit=10, workers=1)
    return code, sink.getvalue().splitlines(), err.getvalue()


def set_path(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node["unexpected" if path[-1] == "+" else path[-1]] = value


def assert_clean_exit(code: int, out: list[str], err: str) -> list[dict[str, Any]] | None:
    """Exit 0 with JSON results, or exit 2 with one short ``error: line 1:`` line and nothing on stdout."""
    assert "Traceback" not in err
    event(f"exit {code}")
    if code == 2:
        assert out == [] and err.startswith("error: line 1: ") and err.count("\n") == 1 and len(err) < 600, err
        return None
    assert code == 0 and err == "", err
    (line,) = out
    results = json.loads(line)["results"]
    for r in results:
        assert r["status"] in {"optimal", "infeasible", "error"}
        if r["status"] != "optimal":
            assert r["transactions"] == [] and len(r["diagnosis"]) < 400, r["diagnosis"][:400]
    return results


CLEAN = solve(dumps(BASE).encode() + b"\n")[1]


@FUZZ_SETTINGS
@given(path=st.sampled_from(FUZZ_PATHS), value=JSON_VALUES)
def test_a_fuzzed_portfolio_never_crashes_nor_changes_another_answer(path: tuple[str | int, ...], value: Any) -> None:
    data = copy.deepcopy(BASE)
    set_path(data["portfolios"][1], path, value)
    results = assert_clean_exit(*solve(dumps(data).encode() + b"\n"))
    if results is None:
        return
    good, fuzzed = results
    event(f"fuzzed portfolio {fuzzed['status']}")
    assert good == json.loads(CLEAN[0])["results"][0]
    if fuzzed["status"] == "optimal":  # its answer alone in a batch is the same answer
        alone = {**data, "portfolios": [data["portfolios"][1]]}
        (same,) = assert_clean_exit(*solve(dumps(alone).encode() + b"\n")) or [None]
        assert fuzzed == same


@FUZZ_SETTINGS
@given(
    path=st.sampled_from(
        [
            ("model", "positions", 0, "target"),
            ("model", "positions", 1, "lowDrift"),
            ("model", "positions", 1, "highDrift"),
            ("model", "positions", 0),
            ("model", "positions"),
            ("prices", A),
            ("prices", X),
            ("prices",),
            ("options", "minCash"),
            ("options",),
            ("model", "name"),
        ]
    ),
    value=JSON_VALUES,
)
def test_fuzzed_shared_data_fails_the_batch_cleanly_or_is_answered(path: tuple[str | int, ...], value: Any) -> None:
    data = copy.deepcopy(BASE)
    set_path(data, path, value)
    results = assert_clean_exit(*solve(dumps(data).encode() + b"\n"))
    if results is not None:
        assert [r["portfolioId"] for r in results] == ["GOOD", "FUZZ"]


@FUZZ_SETTINGS
@given(line=JSON_VALUES)
def test_any_json_line_is_answered_or_a_clean_error(line: Any) -> None:
    assert_clean_exit(*solve(dumps(line).encode() + b"\n"))


@FUZZ_SETTINGS
@given(noise=st.binary(max_size=40), at=st.integers(min_value=0, max_value=400))
def test_any_bytes_in_a_line_are_answered_or_a_clean_error(noise: bytes, at: int) -> None:
    clean = dumps(BASE).encode()
    cut = min(at, len(clean))
    line = (clean[:cut] + noise + clean[cut:]).replace(b"\n", b" ").replace(b"\r", b" ")
    assert_clean_exit(*solve(line + b"\n"))
