"""Every model rule of product-spec 1.3 (engine.validation), reported all at once with row, field and value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.models import Position
from engine.validation import (
    MAX_TARGET,
    clean_positions,
    is_object_id,
    is_valid_id,
    model_violations,
    model_warnings,
    nearest_targets,
    parse_weight,
    quantize_ui_fraction,
    require_object_id,
    validate_model,
)
from tests.unit.engine.support import sid

D = Decimal


def pos(i: int, target: str, low: str = "0.01", high: str = "0.01", security: str | None = None) -> Position:
    return Position(security_id=security or sid(i), target=D(target), low_drift=D(low), high_drift=D(high))


def rules(violations) -> list[tuple[str, int | None, str | None]]:
    return [(v.rule, v.row, v.field) for v in violations]


def test_a_valid_model_has_no_violations() -> None:
    assert model_violations("Growth", [pos(0, "0.5"), pos(1, "0.45")], [sid(99)]) == []


@pytest.mark.parametrize("target", ["-0.005", "0.955", "1"])
def test_rule_1_target_range(target: str) -> None:
    v, *rest = model_violations("m", [pos(0, target)])
    assert (v.rule, v.row, v.field, v.value) == ("target_range", 0, "target", D(target))
    assert [r.rule for r in rest] == ([] if D(target) < 0 else ["target_sum"])
    assert "row 1" in v.message and target in v.message and "0.95" in v.message


@pytest.mark.parametrize(("target", "ok"), [("0.005", True), ("0.010", True), ("0.0125", False), ("0.013", False)])
def test_rule_1_target_is_a_multiple_of_half_a_percent_exactly(target: str, ok: bool) -> None:
    found = rules(model_violations("m", [pos(0, target)]))
    assert found == ([] if ok else [("target_step", 0, "target")])


def test_rule_1_ui_floats_are_quantised_before_the_check() -> None:
    assert quantize_ui_fraction(0.015) == D("0.015")
    assert model_violations("m", [pos(0, str(quantize_ui_fraction(0.015)))]) == []


@pytest.mark.parametrize(("low", "high", "field"), [("-0.01", "0.1", "lowDrift"), ("0.1", "1.01", "highDrift")])
def test_rule_2_drift_range(low: str, high: str, field: str) -> None:
    (v,) = model_violations("m", [pos(0, "0.1", low, high)])
    assert (v.rule, v.field) == ("drift_range", field)


def test_rule_2_low_above_high_is_only_a_warning() -> None:
    positions = [pos(0, "0.1", "0.2", "0.05")]
    assert model_violations("m", positions) == []
    assert model_warnings([pos(0, "0.3", "0.2", "0.05")]) == [
        "row 1: low drift 20.0 % is above high drift 5.0 % (allowed, but unusual)"
    ]


def test_a_low_drift_above_the_target_is_explained_in_percent() -> None:
    """Issue 14 item 5: the band silently starting at 0 % is said so, in percent."""
    positions = [pos(0, "0.02", "0.03", "0.05")]
    assert model_violations("m", positions) == []
    assert model_warnings(positions) == ["row 1: low drift 3.0 % is above the target 2.0 %: the band starts at 0 %"]


def test_rule_3_zero_targets_are_cleaned_up() -> None:
    positions = [pos(0, "0.1"), pos(1, "0"), pos(2, "0.2")]
    assert [p.security_id for p in clean_positions(positions)] == [sid(0), sid(2)]
    assert [p.security_id for p in validate_model("m", positions)] == [sid(0), sid(2)]


def test_rule_4_at_most_100_positions_above_zero() -> None:
    hundred = [pos(i, "0.005") for i in range(100)]
    assert "max_positions" not in [v.rule for v in model_violations("m", [*hundred, pos(100, "0")])]
    found = model_violations("m", [*hundred, pos(100, "0.005")])
    assert ("max_positions", None, "positions") in rules(found)


def test_rule_5_duplicates_are_errors_never_merged() -> None:
    found = model_violations("m", [pos(0, "0.1"), pos(1, "0.1"), pos(0, "0.2")])
    assert rules(found) == [("duplicate_security", 2, "securityId")]
    assert "row 3" in found[0].message and "row 1" in found[0].message


def test_rule_6_targets_sum_to_at_most_95_percent() -> None:
    assert model_violations("m", [pos(0, "0.5"), pos(1, "0.45")]) == []
    (v,) = model_violations("m", [pos(0, "0.5"), pos(1, "0.455")])
    assert v.rule == "target_sum" and "95.5 %" in v.message


def test_rule_7_id_formats() -> None:
    assert is_valid_id("A" * 24) and not is_valid_id("a" * 23) and not is_valid_id("a" * 23 + "-")
    assert is_object_id("0" * 24) and not is_object_id("g" * 24)
    found = model_violations("m", [pos(0, "0.1", security="short")], ["x" * 25])
    assert rules(found) == [("id_format", 0, "securityId"), ("id_format", None, "portfolios")]
    assert any("not hexadecimal" in w for w in model_warnings([pos(0, "0.1", security="Z" * 24)]))
    with pytest.raises(InvalidInput, match="not a valid id"):
        require_object_id("nope", "modelId")


@pytest.mark.parametrize("name", [None, "", "   "])
def test_rule_8_name_is_required(name: str | None) -> None:
    assert rules(model_violations(name, [])) == [("name_required", None, "name")]


def test_every_violation_is_reported_at_once() -> None:
    positions = [pos(0, "0.97", "-1", "2"), pos(0, "0.013")]
    with pytest.raises(InvalidInput) as info:
        validate_model(" ", positions)
    found = {v.rule for v in info.value.violations}
    assert found == {"name_required", "target_range", "drift_range", "duplicate_security", "target_step", "target_sum"}
    assert info.value.to_dict()["details"]["violations"][0]["rule"] == "name_required"


# --- percent entry (issue 14 items 1-2): one rule for every typed weight -------------------------------------------
@pytest.mark.parametrize("typed", ["3.5", "3.5%", "3.5 %", " 3.5 % ", "0.035", 0.035, 3.5, D("3.5")])
def test_percent_entry_reads_every_spelling_of_three_and_a_half_percent(typed) -> None:
    assert parse_weight(typed, "target", MAX_TARGET) == D("0.035")


EXACT = [("1", "0.01"), ("100%", "1"), ("0.5 %", "0.005"), ("0", "0"), ("95", "0.95"), ("0.0333", "0.0333")]


@pytest.mark.parametrize(("typed", "fraction"), [*EXACT, ("33.33%", "0.3333")])
def test_percent_entry_is_exact(typed: str, fraction: str) -> None:
    assert parse_weight(typed, "high drift") == D(fraction)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("120", "target '120' is 120.0 %: it must be between 0 % and 95.0 %"),
        ("95.5%", "target '95.5%' is 95.5 %: it must be between 0 % and 95.0 %"),
        ("-1", "target '-1' is -1.0 %: it must be between 0 % and 95.0 %"),
        ("abc", "target 'abc' is not a number"),
        ("nan", "target 'nan' is not a number"),
        ("", "target is empty"),
    ],
)
def test_percent_entry_refuses_with_the_reason_and_never_clamps(typed: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_weight(typed, "target", MAX_TARGET)
    assert str(err.value).startswith(reason)


def test_off_grid_targets_name_the_nearest_valid_values() -> None:
    assert nearest_targets(D("0.0333")) == (D("0.030"), D("0.035"))
    (v,) = model_violations("m", [pos(0, "0.0333")])
    assert v.rule == "target_step" and "nearest valid: 3.0 % or 3.5 %" in v.message


@given(st.integers(min_value=0, max_value=9500))
def test_percent_text_and_fraction_text_agree_for_every_hundredth_of_a_percent(hundredths: int) -> None:
    fraction = D(hundredths) / 10000
    percent = D(hundredths) / 100
    assert parse_weight(f"{percent}%", "target", MAX_TARGET) == fraction
    if percent >= 1:
        assert parse_weight(str(percent), "target", MAX_TARGET) == fraction
    else:
        assert parse_weight(str(fraction), "target", MAX_TARGET) == fraction
