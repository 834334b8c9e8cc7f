"""Model validation rules (product-spec 1.3), reporting every violation at once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING

from engine.errors import InvalidInput, Violation
from engine.exactmath import WIDE
from engine.limits import range_error

if TYPE_CHECKING:  # type hints only: `engine solve`'s fast path uses these rules without pydantic (start-up)
    from engine.models import Position

MAX_TARGET = Decimal("0.95")
MAX_TARGET_SUM = Decimal("0.95")
TARGET_STEP = Decimal("0.005")
MAX_POSITIONS = 100
ID_RE = re.compile(r"^[A-Za-z0-9]{24}$")
HEX_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")


def is_valid_id(value: str) -> bool:
    """Security/portfolio id format: 24 alphanumerics (product-spec 1.3 rule 7)."""
    return isinstance(value, str) and bool(ID_RE.match(value))


def is_object_id(value: str) -> bool:
    """Model and rebalance ids must be 24 hex characters."""
    return isinstance(value, str) and bool(HEX_ID_RE.match(value))


def require_object_id(value: str, what: str) -> str:
    """Return ``value`` or raise ``InvalidInput`` naming the malformed id."""
    if not is_object_id(value):
        raise InvalidInput(
            f"{what} {value!r} is not a valid id (24 hexadecimal characters)",
            {"field": what, "value": str(value)},
        )
    return value


def quantize_ui_fraction(value: float | str | Decimal) -> Decimal:
    """A UI float such as 0.015 becomes Decimal('0.015'): quantised to 3 dp before the grid check."""
    return Decimal(str(value)).quantize(Decimal("0.001"))


WEIGHT_RULE = (
    "Type a percent: 3.5 or 3.5 % means 3.5 %; a number below 1 without % is a fraction (0.035 = 3.5 %), "
    "so write half a percent as 0.5 %."
)


_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_weight(raw: object, field: str = "weight", maximum: Decimal = Decimal(1)) -> Decimal:
    """A weight typed by a person (grid, overrides, CSV) as an exact fraction, by one rule (``WEIGHT_RULE``).

    ``3.5``, ``3.5%`` and ``0.035`` all mean 3.5 % (``Decimal('0.035')``): a trailing ``%`` marks a percent, a bare
    number of 1 or more is a percent, a bare number below 1 is a fraction. Nothing is clamped or rounded: a value
    that is not a number, negative, or above ``maximum`` raises ``InvalidInput`` naming field, value and rule.
    """
    text = "" if raw is None else str(raw).strip().replace("\u00a0", " ")
    shown = text if len(text) <= 24 else text[:21] + "..."
    if not text:
        raise InvalidInput(f"{field} is empty: {WEIGHT_RULE}", {"field": field, "value": ""})
    percent = text.endswith("%")
    number = text[:-1].strip() if percent else text
    if "," in number:  # "1,5" is 1.5 in much of Europe and 15 with a thousands separator: never guess
        raise InvalidInput(
            f"{field} {shown!r}: use a point as the decimal separator: {WEIGHT_RULE}", {"field": field, "value": shown}
        )
    try:  # plain ASCII digits only: Decimal() would also take "1_0" and other scripts' digits ("٣")
        value = Decimal(number) if _PLAIN_NUMBER.fullmatch(number) else Decimal("NaN")
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInput(f"{field} {shown!r} is not a number: {WEIGHT_RULE}", {"field": field, "value": shown})
    out_of_range = range_error(value, field, "weight")  # before any arithmetic: 1e999999999 is a clear error
    if out_of_range is not None:
        raise out_of_range
    if percent or abs(value) >= 1:
        with localcontext(WIDE):  # exact: the value is in the weight range
            value = value / 100
    if value < 0 or value > maximum:
        raise InvalidInput(
            f"{field} {shown!r} is {format_percent(value)}: it must be between 0 % and {format_percent(maximum)}",
            {"field": field, "value": shown, "rule": "range"},
        )
    return value.normalize() if value else Decimal(0)


def format_percent(value: Decimal) -> str:
    """A fraction as an exact percent for messages: ``Decimal('0.0333')`` -> ``'3.33 %'`` (at least 1 dp)."""
    pct = (value * 100).normalize()
    text = format(pct, "f")
    if "." not in text:
        text += ".0"
    return f"{text} %"


def nearest_targets(value: Decimal) -> tuple[Decimal, ...]:
    """The valid targets nearest an off-grid one: the 0.5 % steps below and above, within 0–95 %."""
    below = (value // TARGET_STEP) * TARGET_STEP
    out = [below, below + TARGET_STEP]
    return tuple(v for v in out if Decimal(0) <= v <= MAX_TARGET)


def position_violations(row: int, p: Position) -> list[Violation]:
    """Per-row rules: id format, target range and grid, drift ranges."""
    out: list[Violation] = []
    if not is_valid_id(p.security_id):
        out.append(
            Violation(
                "id_format",
                f"row {row + 1}: security id {p.security_id!r} must be 24 letters or digits",
                row,
                "securityId",
                p.security_id,
            )
        )
    if not (Decimal(0) <= p.target <= MAX_TARGET):
        out.append(
            Violation(
                "target_range",
                f"row {row + 1}: target {p.target} must be between 0 and 0.95",
                row,
                "target",
                p.target,
            )
        )
    elif p.target % TARGET_STEP != 0:
        out.append(
            Violation(
                "target_step",
                f"row {row + 1}: target {p.target} must be a multiple of 0.005 (0.5 %); nearest valid: "
                + " or ".join(format_percent(v) for v in nearest_targets(p.target)),
                row,
                "target",
                p.target,
            )
        )
    for name, value in (("highDrift", p.high_drift), ("lowDrift", p.low_drift)):
        if not (Decimal(0) <= value <= Decimal(1)):
            out.append(
                Violation(
                    "drift_range",
                    f"row {row + 1}: {name} {value} must be between 0 and 1",
                    row,
                    name,
                    value,
                )
            )
    return out


def model_violations(
    name: str | None, positions: Sequence[Position], portfolios: Iterable[str] = ()
) -> list[Violation]:
    """Every violated rule of product-spec 1.3 for a model as submitted (before zero cleanup)."""
    out: list[Violation] = []
    if name is None or not str(name).strip():
        out.append(Violation("name_required", "model name is required", None, "name", name))
    seen: dict[str, int] = {}
    for i, p in enumerate(positions):
        out.extend(position_violations(i, p))
        if p.security_id in seen:
            out.append(
                Violation(
                    "duplicate_security",
                    f"row {i + 1}: security {p.security_id} already appears in row {seen[p.security_id] + 1}",
                    i,
                    "securityId",
                    p.security_id,
                )
            )
        else:
            seen[p.security_id] = i
    live = [p for p in positions if p.target != 0]
    if len(live) > MAX_POSITIONS:
        out.append(
            Violation(
                "max_positions",
                f"{len(live)} positions with a target above 0; at most {MAX_POSITIONS} are allowed",
                None,
                "positions",
                len(live),
            )
        )
    total = sum((p.target for p in positions), Decimal(0))
    if total > MAX_TARGET_SUM:
        out.append(
            Violation(
                "target_sum",
                f"targets sum to {total * 100:.1f} %; at most 95 % (at least 5 % stays in cash)",
                None,
                "target",
                total,
            )
        )
    for pid in portfolios:
        if not is_valid_id(pid):
            out.append(
                Violation(
                    "id_format",
                    f"portfolio id {pid!r} must be 24 letters or digits",
                    None,
                    "portfolios",
                    pid,
                )
            )
    return out


def model_warnings(positions: Sequence[Position], portfolios: Iterable[str] = ()) -> list[str]:
    """Non-blocking remarks, in percent: lowDrift above the target (the band starts at 0 %), lowDrift > highDrift
    (3.18), non-hex ids (3.14)."""
    out: list[str] = []
    for i, p in enumerate(positions):
        if p.target != 0 and p.low_drift > p.target:
            # product-spec 3: the lower band is max(0, target - lowDrift); say so in percent rather than refuse
            out.append(
                f"row {i + 1}: low drift {format_percent(p.low_drift)} is above the target "
                f"{format_percent(p.target)}: the band starts at 0 %"
            )
        elif p.low_drift > p.high_drift:
            out.append(
                f"row {i + 1}: low drift {format_percent(p.low_drift)} is above high drift "
                f"{format_percent(p.high_drift)} (allowed, but unusual)"
            )
        if is_valid_id(p.security_id) and not HEX_ID_RE.match(p.security_id):
            out.append(
                f"row {i + 1}: security id {p.security_id} is not hexadecimal; the Security Service cannot know it"
            )
    for pid in portfolios:
        if is_valid_id(pid) and not HEX_ID_RE.match(pid):
            out.append(f"portfolio id {pid} is not hexadecimal")
    return out


def clean_positions(positions: Sequence[Position]) -> tuple[Position, ...]:
    """Zero-target cleanup (rule 3): positions with target 0 are dropped."""
    return tuple(p for p in positions if p.target != 0)


def validate_model(
    name: str | None, positions: Sequence[Position], portfolios: Iterable[str] = ()
) -> tuple[Position, ...]:
    """Check every rule; raise ``InvalidInput`` listing all violations, else return cleaned positions."""
    portfolios = list(portfolios)
    violations = model_violations(name, positions, portfolios)
    if violations:
        raise InvalidInput(
            f"the model breaks {len(violations)} rule(s): " + "; ".join(v.message for v in violations),
            violations=violations,
        )
    return clean_positions(positions)
