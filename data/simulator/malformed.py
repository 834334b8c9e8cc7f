"""``malformed`` faults: how a response body is damaged (services.md §8.4).

Whole-body variants: ``truncated`` (the first half), ``not_json`` (an HTML gateway page). Field variants act on
``fault.field`` wherever it occurs (top level, nested objects and list items; only in objects whose values include
one of ``fault.items`` when that is given):

| variant | what the field becomes |
|---|---|
| ``numbers`` | string decimals as JSON numbers (every accounting decimal when no field is named) |
| ``number_for_string`` | a string as a JSON number (its value when numeric, else ``1``) |
| ``string_for_number`` | a JSON number as a string (``93.64`` -> ``"93.64"``) |
| ``bad_value`` | the string ``"not-a-number"`` |
| ``wrong_type`` | a value of another JSON type (a scalar wrapped in a list; a list or object -> ``true``) |
| ``missing_field`` | removed |
| ``null_field`` | ``null`` |
| ``empty_string`` | ``""`` |
| ``other_id`` | another well-formed value: a string reversed (a 24-hex id stays 24-hex), a number + 1 |
| ``off_by_one`` | a count + 1; a list without its last item |
| ``duplicate_item`` | a list with its first item repeated at the end |
| ``negative`` | a number (or numeric string) negated and minus one: never a plausible price or count |
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from data.simulator.config import Fault
from data.simulator.responses import exact_json

DECIMAL_KEYS = {"cashBalance", "quantityLong", "quantityShort", "netQuantity"}
NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def mangle(body: bytes, fault: Fault) -> bytes:
    """Apply a ``malformed`` fault to a response body (numbers are kept exact: parsed and written as decimals)."""
    if fault.variant == "truncated":
        return body[: max(1, len(body) // 2)]
    if fault.variant == "not_json":
        return NOT_JSON
    try:
        data = json.loads(body, parse_float=Decimal)
    except ValueError:
        return body

    def selected(obj: dict[str, Any]) -> bool:
        return fault.items is None or any(isinstance(v, str) and v in fault.items for v in obj.values())

    def walk(obj: Any) -> Any:
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        out = {k: walk(v) for k, v in obj.items()}
        if not selected(out):
            return out
        if fault.variant == "numbers":
            for k in [fault.field] if fault.field else [k for k in out if k in DECIMAL_KEYS]:
                if isinstance(out.get(k), str):
                    out[k] = _as_number(out[k])
            return out
        key = fault.field
        if key is None or key not in out:
            return out
        if fault.variant == "missing_field":
            del out[key]
        else:
            out[key] = damage(out[key], fault.variant)
        return out

    return exact_json(walk(data)).encode()


def damage(value: Any, variant: str) -> Any:
    """The value a field variant puts in place of ``value`` (see the module table)."""
    if variant == "bad_value":
        return "not-a-number"
    if variant == "null_field":
        return None
    if variant == "empty_string":
        return ""
    if variant == "number_for_string":
        return _as_number(value) if isinstance(value, str) and _is_number(value) else (value if _is_num(value) else 1)
    if variant == "string_for_number":
        return format(value, "f") if isinstance(value, Decimal) else str(value) if _is_num(value) else value
    if variant == "wrong_type":
        return True if isinstance(value, (list, dict)) else [value]
    if variant == "other_id":
        if isinstance(value, str):
            flipped = value[::-1]
            return flipped if flipped != value else value + "X"
        return value + 1 if _is_num(value) else value
    if variant == "off_by_one":
        if isinstance(value, list):
            return value[:-1]
        return value + 1 if _is_num(value) else value
    if variant == "duplicate_item":
        return [*value, value[0]] if isinstance(value, list) and value else value
    if variant == "negative":
        if _is_num(value):
            return -value - 1
        if isinstance(value, str) and _is_number(value):
            return format(-Decimal(value) - 1, "f")
        return value
    return value


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _as_number(text: str) -> Any:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return text
    return int(d) if d == d.to_integral_value() else d
