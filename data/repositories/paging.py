"""Paging and sorting parameters of the listings (product-spec 1.7, 1.8, 3.13).

Parsing only: every bad value becomes ``InvalidInput`` naming the parameter, the value and the rule.
"""

from __future__ import annotations

from typing import Any

from engine.errors import InvalidInput

# sort_by field -> document field
MODEL_SORT_FIELDS = {"model_id": "_id", "name": "name", "last_rebalance_date": "lastRebalanceDate"}
VALID_SORT_TOKENS = ",".join(f"{p}{f}" for f in MODEL_SORT_FIELDS for p in ("", "+", "-"))

REBALANCE_DEFAULT_LIMIT = 10
REBALANCE_MAX_LIMIT = 100


def parse_count(value: Any, name: str) -> int | None:
    """``None`` or a non-negative integer (an int, or a string of digits from a deep link)."""
    if value is None:
        return None
    if isinstance(value, bool):
        parsed = None
    elif isinstance(value, int):
        parsed = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        parsed = int(value.strip())
    else:
        parsed = None
    if parsed is None or parsed < 0:
        raise InvalidInput(
            f"{name} must be a non-negative integer, got {value!r}",
            {"field": name, "value": str(value), "rule": "non_negative_integer"},
        )
    return parsed


def parse_sort(sort_by: str | None) -> list[tuple[str, int]]:
    """Parse ``sort_by`` ("name,-last_rebalance_date") into ``[(document_field, ±1), …]``, left to right.

    Tokens are trimmed and a leading space counts as ``+`` (an unencoded ``+`` in a URL decodes to a space). An
    unknown or empty token, or a field given twice, raises ``InvalidInput`` listing the valid values.
    """
    if sort_by is None:
        return []
    if not isinstance(sort_by, str):
        _bad_sort(sort_by, "sort_by must be a comma-separated string")
    keys: list[tuple[str, int]] = []
    seen: set[str] = set()
    for raw in sort_by.split(","):
        token = raw.strip()
        direction = 1
        if token[:1] in ("+", "-"):
            direction = -1 if token[0] == "-" else 1
            token = token[1:]
        if token not in MODEL_SORT_FIELDS:
            _bad_sort(raw, f"invalid sort_by token {raw.strip()!r}")
        if token in seen:
            _bad_sort(raw, f"sort_by field {token!r} is given more than once")
        seen.add(token)
        keys.append((MODEL_SORT_FIELDS[token], direction))
    return keys


def _bad_sort(value: Any, problem: str) -> None:
    raise InvalidInput(
        f"{problem}; valid values: {VALID_SORT_TOKENS}",
        {"field": "sort_by", "value": str(value), "valid": VALID_SORT_TOKENS},
    )


def with_tiebreaker(keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``keys`` plus ``_id`` ascending as the final key (stable pages), unless ``_id`` is already a key."""
    if any(field == "_id" for field, _ in keys):
        return keys
    return [*keys, ("_id", 1)]


def parse_rebalance_page(offset: Any, limit: Any) -> tuple[int, int]:
    """Record paging (1.8): offset default 0; limit default 10, between 1 and 100."""
    start = parse_count(offset, "offset")
    size = parse_count(limit, "limit")
    size = REBALANCE_DEFAULT_LIMIT if size is None else size
    if not 1 <= size <= REBALANCE_MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {REBALANCE_MAX_LIMIT}, got {limit!r}",
            {"field": "limit", "value": str(limit), "rule": "limit_range"},
        )
    return (start or 0), size
