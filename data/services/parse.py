"""Parsing of service payloads: string or number decimals, RFC 3339 timestamps, JSON bodies (services.md §2).

Every helper raises ``ExternalDataError`` naming the service, the field and the offending value, so a bad payload
never leaks a raw ``ValueError``/``JSONDecodeError`` out of ``data/``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

import httpx

from engine.errors import ExternalDataError

# A decimal as text: ASCII digits, optional sign, fraction and exponent. ``Decimal()`` alone would also take
# Unicode digits, padding, underscores, "NaN" and "Infinity": a damaged value must not become a number.
DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
SHOWN = 60  # characters of a bad value quoted in an error message
MAX_MAGNITUDE = 100  # |adjusted exponent| a service number used in arithmetic may have: beyond any real quantity
# exact arithmetic on service numbers (within MAX_MAGNITUDE): never rounds, never overflows
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])


def shown(value: object) -> str:
    """``repr(value)`` cut to a readable length for messages and details."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _missing(obj: object, key: str, *, service: str, where: str, details: dict[str, Any]) -> ExternalDataError:
    what = "is null" if isinstance(obj, dict) and key in obj else "is missing"
    return ExternalDataError(
        f"{service}: {where}: required field {key!r} {what}", {"service": service, "field": key, **details}
    )


def decimal_value(value: object, *, service: str, where: str, field: str, **details: Any) -> Decimal:
    """A service number as an exact Decimal: a JSON number (an ``int`` or, with ``parse_float=Decimal``, a Decimal)
    or a decimal string (accounting sends strings, pricing numbers: the same value either way). Anything else -
    null, bool, list, object, a non-numeric or padded string, NaN, infinities - is ``ExternalDataError``."""
    if isinstance(value, str):
        ok = DECIMAL_TEXT.fullmatch(value) is not None
    else:
        ok = isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)
    if ok:
        try:
            number = Decimal(value if isinstance(value, str) else str(value))
        except InvalidOperation:  # an exponent beyond what Decimal can hold at all
            raise _out_of_range(value, service, where, field, details) from None
    if not ok or not number.is_finite():
        raise ExternalDataError(
            f"{service}: {where}: field {field!r} is not a number: {shown(value)}",
            {"service": service, "field": field, "value": shown(value), **details},
        )
    return number


def _out_of_range(value: object, service: str, where: str, field: str, details: dict[str, Any]) -> ExternalDataError:
    return ExternalDataError(
        f"{service}: {where}: field {field!r} is out of range (magnitude beyond 1E±{MAX_MAGNITUDE}): {shown(value)}",
        {"service": service, "field": field, "value": shown(value), **details},
    )


def bounded(number: Decimal, *, service: str, where: str, field: str, **details: Any) -> Decimal:
    """``number`` when its magnitude is within 1E±MAX_MAGNITUDE (or zero), so exact arithmetic on it stays small;
    else ``ExternalDataError`` naming the field (the engine's own range checks are far narrower still)."""
    if number and abs(number.adjusted()) > MAX_MAGNITUDE:
        raise _out_of_range(number, service, where, field, details)
    return number


def decimal_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> Decimal:
    """``obj[key]`` as an exact Decimal (``decimal_value``); missing or null -> ``ExternalDataError`` naming it."""
    if not isinstance(obj, dict) or obj.get(key) is None:
        raise _missing(obj, key, service=service, where=where, details=details)
    return decimal_value(obj[key], service=service, where=where, field=key, **details)


def str_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> str:
    """``obj[key]`` as a non-empty string; missing, null, empty or another type -> ``ExternalDataError``."""
    if not isinstance(obj, dict) or obj.get(key) is None:
        raise _missing(obj, key, service=service, where=where, details=details)
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ExternalDataError(
            f"{service}: {where}: field {key!r} is not a non-empty string: {shown(value)}",
            {"service": service, "field": key, "value": shown(value), **details},
        )
    return value


def count_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> int:
    """``obj[key]`` as a JSON integer ≥ 0 (not a bool, not a string); else ``ExternalDataError``."""
    if not isinstance(obj, dict) or obj.get(key) is None:
        raise _missing(obj, key, service=service, where=where, details=details)
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ExternalDataError(
            f"{service}: {where}: field {key!r} is not a count: {shown(value)}",
            {"service": service, "field": key, "value": shown(value), **details},
        )
    return value


def list_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> list[Any]:
    """``obj[key]`` as a JSON list; missing, null or another type -> ``ExternalDataError`` (never an empty page)."""
    if not isinstance(obj, dict) or obj.get(key) is None:
        raise _missing(obj, key, service=service, where=where, details=details)
    value = obj[key]
    if not isinstance(value, list):
        raise ExternalDataError(
            f"{service}: {where}: field {key!r} is not a list: {shown(value)}",
            {"service": service, "field": key, "value": shown(value), **details},
        )
    return value


def keyed_items[T](
    items: Iterable[Any],
    parse: Callable[[Any], T],
    key_of: Callable[[T], str],
    detail_key: str,
    conflict: Callable[[T, T], str | None],
) -> tuple[dict[str, T], dict[str, str]]:
    """A bulk list -> ``(usable items by key, problems by key)``.

    An item ``parse`` rejects is a problem for its key when the error names one (``details[detail_key]``); an item
    without a key cannot be attributed and is simply absent. A key listed twice is usable only when every copy
    parses and ``conflict(first, other)`` finds nothing (it returns the problem's message otherwise).
    """
    found: dict[str, T] = {}
    problems: dict[str, str] = {}
    for item in items:
        try:
            parsed = parse(item)
        except ExternalDataError as err:
            key = err.details.get(detail_key)
            if isinstance(key, str) and key:
                problems.setdefault(key, err.message)
            continue
        key = key_of(parsed)
        seen = found.setdefault(key, parsed)
        clash = conflict(seen, parsed)
        if clash is not None:
            problems.setdefault(key, clash)
    for key in problems:
        found.pop(key, None)
    return found, problems


def page_total(body: Any, shown_items: int) -> int:
    """``pagination.totalElements`` of a v2 page or the order list; only paging uses it, so a missing or bad
    total falls back to the items on the page."""
    pagination = body.get("pagination") if isinstance(body, dict) else None
    total = pagination.get("totalElements") if isinstance(pagination, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else shown_items


def sub_object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object shown in listings (``portfolio``, ``security`` of an order), or {} when absent or not one."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def parse_datetime(value: Any) -> dt.datetime | None:
    """RFC 3339 / ISO 8601 -> aware UTC datetime; naive values are UTC (portfolio reads); None/blank/bad -> None.

    ``fromisoformat`` accepts ``Z`` and any number of fractional digits, truncating beyond microseconds, which
    covers accounting's nanoseconds and the portfolio service's millisecond naive reads.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_date(value: Any) -> dt.date | None:
    """``YYYY-MM-DD`` -> date; anything else -> None."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def json_body(response: httpx.Response, *, service: str, expect: type | tuple[type, ...], **details: Any) -> Any:
    """The decoded JSON body, checked to be of type ``expect`` (dict or list); else ``ExternalDataError``."""
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep -> RecursionError
        raise ExternalDataError(
            f"{service}: malformed JSON from {response.request.method} {response.request.url.path}",
            {"service": service, "status": response.status_code, "path": response.request.url.path, **details},
        ) from None
    if not isinstance(body, expect):
        raise ExternalDataError(
            f"{service}: unexpected body from {response.request.url.path} ({type(body).__name__})",
            {"service": service, "status": response.status_code, "path": response.request.url.path, **details},
        )
    return body
