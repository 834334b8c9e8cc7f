"""Type checks of repository arguments before any query is built.

Only plain strings and numbers ever reach a query: a dict such as ``{"$gt": ""}`` passed as a name or id is
rejected here, so user input can never become a query operator. Model rules themselves live in
``engine.validation``; these helpers only make sure the values have the right shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from engine.errors import InvalidInput, Violation
from engine.limits import check_range
from engine.models import Position, TradeControls
from engine.validation import is_valid_id

# BSON stores integers as int64 at most: a larger version could never match a stored one, and the drivers raise an
# untyped overflow error for it.
INT64_MAX = 2**63 - 1


def check_version(version: Any, what: str = "version") -> int:
    """A version number: an int from 1 to 2**63 - 1 (BSON's int64)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"{what} must be a positive integer, got {version!r}",
            {"field": what, "value": str(version), "rule": "positive_integer"},
        )
    if version > INT64_MAX:
        raise InvalidInput(
            f"{what} {version} is beyond the largest storable integer ({INT64_MAX})",
            {"field": what, "value": str(version), "rule": "int64"},
        )
    return version


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as BSON text (UTF-8), or ``None`` when it can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"character {exc.start + 1} ({value[exc.start]!r}) is not valid Unicode text (a lone surrogate)"
    return None


def encoding_violation(value: str, field: str, row: int | None = None, label: str | None = None) -> Violation | None:
    """A ``text_encoding`` violation naming ``field`` (and ``row``) when ``value`` is not storable text."""
    problem = text_problem(value)
    if problem is None:
        return None
    where = f"{label or field}: " if row is None else f"{label or field} {row + 1}: "
    return Violation("text_encoding", f"{where}{problem}", row, field, value.encode("utf-8", "backslashreplace"))


def check_name(name: Any) -> str:
    """A model name must be storable text (the blank rule is ``engine.validation``'s); returns it trimmed."""
    if not isinstance(name, str):
        raise InvalidInput(
            f"model name must be text, got {type(name).__name__} {name!r}",
            violations=[Violation("name_type", "model name must be text", None, "name", name)],
        )
    bad = encoding_violation(name, "name", label="model name")
    if bad is not None:
        raise InvalidInput(bad.message, violations=[bad])
    return name.strip()


def check_text(value: Any, field: str) -> str:
    """A free-text filter value (``None`` → empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {value!r}", {"field": field, "value": str(value)})
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field}: {problem}", {"field": field, "rule": "text_encoding"})
    return value


def check_key(value: Any, field: str, limit: int = 500) -> str:
    """A required identifier or label: non-blank storable text of at most ``limit`` characters (never an operator)."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"{field} must be non-empty text of at most {limit} characters", {"field": field})
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(f"{field}: {problem}", {"field": field, "rule": "text_encoding"})
    return value


def now_ms() -> dt.datetime:
    """Now in UTC to the millisecond: what a BSON date keeps, so a stored time compares equal to the one written."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def aware_utc(value: object) -> dt.datetime | None:
    """A stored datetime as an aware UTC one (naive values are UTC); anything else is None."""
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


MAX_USER_CHARS = 320  # an e-mail address at most (RFC 5321)


def check_user(value: Any, field: str) -> str | None:
    """``None`` or the id of the user who did it (``savedBy``, ``updatedBy``): text, 1–320 characters, UTF-8."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_USER_CHARS:
        raise InvalidInput(
            f"{field} must be a user id of 1 to {MAX_USER_CHARS} characters", {"field": field, "value": str(value)[:60]}
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no backend can store it
        raise InvalidInput(f"{field} is not valid Unicode text", {"field": field}) from None
    return value


def check_datetime(value: Any, field: str) -> dt.datetime | None:
    """``None`` or a ``datetime`` (naive values are taken as UTC when stored)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    raise InvalidInput(f"{field} must be a date and time, got {value!r}", {"field": field, "value": str(value)})


def coerce_ids(ids: Any, field: str = "portfolios", *, check_format: bool = False) -> tuple[str, ...]:
    """A list of ids as a tuple of strings, duplicates dropped (first wins), every bad id reported at once.

    The 24-character format is checked only with ``check_format`` (model saves leave it to ``engine.validation``).
    """
    if ids is None:
        return ()
    if isinstance(ids, str | bytes | Mapping) or not isinstance(ids, Iterable):
        raise InvalidInput(f"{field} must be a list of ids, got {ids!r}", {"field": field, "value": str(ids)})
    out: dict[str, None] = {}
    violations: list[Violation] = []
    for i, value in enumerate(ids):
        if not isinstance(value, str):
            violations.append(Violation("id_type", f"{field} item {i + 1}: {value!r} is not text", i, field, value))
        elif (bad := encoding_violation(value, field, i, f"{field} item")) is not None:
            violations.append(bad)
        elif check_format and not is_valid_id(value):
            violations.append(
                Violation(
                    "id_format", f"{field} item {i + 1}: id {value!r} must be 24 letters or digits", i, field, value
                )
            )
        else:
            out.setdefault(value, None)
    if violations:
        raise InvalidInput("; ".join(v.message for v in violations), violations=violations)
    return tuple(out)


def coerce_position(item: Any, row: int = 0) -> Position:
    """One position from a ``Position`` or a mapping (camelCase or snake_case keys)."""
    return coerce_positions([item], first_row=row)[0]


def coerce_positions(items: Any, first_row: int = 0) -> tuple[Position, ...]:
    """Positions from ``Position`` objects or mappings; every malformed row/field reported at once."""
    if items is None:
        return ()
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidInput(f"positions must be a list, got {items!r}", {"field": "positions", "value": str(items)})
    out: list[Position] = []
    violations: list[Violation] = []
    for i, item in enumerate(items, start=first_row):
        if isinstance(item, Position):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            violations.append(Violation("position_type", f"row {i + 1}: {item!r} is not a position", i, None, item))
            continue
        try:
            out.append(Position.model_validate(dict(item)))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(x) for x in err["loc"]) or None
                value = err.get("input")
                violations.append(
                    Violation("position_format", f"row {i + 1}: {field} {value!r}: {err['msg']}", i, field, value)
                )
    if violations:
        raise InvalidInput("; ".join(v.message for v in violations), violations=violations)
    return tuple(out)


def check_controls(controls: Any) -> TradeControls:
    """A model's default trade controls: a ``TradeControls``, minimum trade ≥ 0 in the money range, security ids of
    24 letters or digits (duplicates dropped); every problem is an ``InvalidInput`` naming the field."""
    if not isinstance(controls, TradeControls):
        raise InvalidInput(
            f"controls must be TradeControls, got {type(controls).__name__}", {"field": "controls", "rule": "type"}
        )
    if controls.min_trade_value < 0:
        raise InvalidInput(
            f"minTradeValue must not be negative, got {controls.min_trade_value}",
            {"field": "minTradeValue", "value": str(controls.min_trade_value), "rule": "non_negative"},
        )
    check_range(controls.min_trade_value, "minTradeValue", "money")
    lists = {f: coerce_ids(getattr(controls, f), f, check_format=True) for f in ("no_buy", "no_sell", "no_trade")}
    return controls.model_copy(update=lists)
