"""Model CSV import and export under hostile input (issue #13 items 4 and 5): every bad file is a clear error naming
line and field, never an untyped exception; values are read exactly; exported cells never run as formulas."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.models.csv_io import parse_positions_csv, positions_to_csv
from engine.orders import FORMULA_TRIGGERS, neutralise_cell

A, B = "a" * 24, "b" * 24
IDS = {A: "AAPL", B: "MSFT"}
TICKERS = {"AAPL": A, "MSFT": B}


def parse(text: str | bytes):
    return parse_positions_csv(text if isinstance(text, bytes) else text.encode(), IDS, TICKERS)


def test_cr_only_line_endings_are_accepted():
    result = parse(f"securityId,target,lowDrift,highDrift\r{A},0.5,0.05,0.05\r{B},0.25,0.05,0.05\r")
    assert not result.errors and [r["security_id"] for r in result.rows] == [A, B]


def test_a_huge_field_names_the_line():
    result = parse(f"securityId,target\n{A},0.5\n{B},{'9' * 200_000}\n".replace("\n", "\r\n"))
    assert result.rows == [] and any(e.startswith("line 3") for e in result.errors), result.errors


@pytest.mark.parametrize("value", ["1e999999999", "1e999999999%", "-1e-999999999", "NaN", "Infinity", "1_0", "٣"])
def test_bad_numbers_name_line_and_field(value):
    result = parse(f"securityId,target\n{A},{value}\n")
    assert result.rows == [] and len(result.errors) == 1
    assert result.errors[0].startswith("line 2, target"), result.errors


def test_a_short_row_is_an_error_not_a_default_band():
    result = parse(f"securityId,target,lowDrift,highDrift\n{A},0.5,0.01\n")
    assert result.rows == [] and "line 2" in result.errors[0] and "3 values" in result.errors[0]


def test_a_duplicated_header_column_is_an_error():
    result = parse(f"securityId,target,target\n{A},0.5,0.1\n")
    assert result.rows == [] and result.errors == ["line 1: column 'target' appears twice (columns 2 and 3)"]


def test_a_semicolon_file_suggests_the_separator():
    result = parse(f"securityId;target;lowDrift;highDrift\n{A};0,5;0,05;0,05\n")
    assert result.rows == [] and "';'" in result.errors[0] and "comma" in result.errors[0]


def test_low_drift_is_read_exactly_or_refused():
    ok = parse(f"securityId,target,lowDrift,highDrift\n{A},0.5,0.123456789012,0.05\n")
    assert not ok.errors and Decimal(repr(ok.rows[0]["low_drift"])) == Decimal("0.123456789012")
    fine = parse(f"securityId,target,lowDrift,highDrift\n{A},0.5,0.123456789012345678901,0.05\n")
    assert fine.rows == [] and fine.errors[0].startswith("line 2, lowDrift") and "12 decimal places" in fine.errors[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_fuzz_any_bytes_give_rows_or_errors_never_an_exception(data):
    result = parse_positions_csv(data, IDS, TICKERS)
    assert (result.rows == []) or (result.errors == [])


cells = st.text(alphabet=st.sampled_from(list("=+-@\t\r\n ＝＋－＠\ufeff\u200babc1,\"'")), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=5))
def test_fuzz_model_rows_round_trip_through_import(rows):
    """Whatever the cells, the import reads every row or names every problem (the fuzz of the editor's CSV path)."""
    lines = io.StringIO()
    csv.writer(lines).writerows([("securityId", "target", "lowDrift"), *rows])
    result = parse(lines.getvalue())
    assert not (result.rows and result.errors)
    assert all(e.startswith(("line ", "targets sum", "the file")) for e in result.errors), result.errors


# --- export (item 5) ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "＝1", "＋1", "－1", "＠x", " =1", "\n=1", "\ufeff=1", "\u200b=1"],
)
def test_every_exported_text_cell_is_neutralised_like_the_order_csv(text):
    securities = {A: (text, text)}
    out = positions_to_csv([{"security_id": A, "target": 0.5, "low_drift": 0.05, "high_drift": 0.05}], securities)
    row = next(r for r in csv.reader(io.StringIO(out.decode())) if r[0] != "securityId")
    assert row[1] == neutralise_cell(text) == row[2] and row[1].startswith("'")


def test_an_unknown_security_id_cell_is_neutralised_too():
    out = positions_to_csv([{"security_id": "=HYPERLINK(1)", "target": 0.5, "low_drift": 0.05, "high_drift": 0.05}], {})
    assert "'=HYPERLINK(1)" in out.decode()


def test_one_definition_of_the_neutralisation():
    assert {"=", "+", "-", "@", "＝", "＋", "－", "＠"} <= set(FORMULA_TRIGGERS)
    assert neutralise_cell("plain") == "plain" and neutralise_cell("") == ""
