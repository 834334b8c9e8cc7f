"""Parsing of service payloads: string or number decimals, RFC 3339 timestamps, JSON bodies (services.md §2).

Every helper raises ``ExternalDataError`` naming the service, the field and the offending value, so a bad payload
never leaks a raw ``ValueError``/``JSONDecodeError`` out of ``data/``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx

from engine.errors import ExternalDataError
from engine.models import to_decimal


def decimal_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> Decimal:
    """``obj[key]`` as a Decimal via ``Decimal(str(value))`` (accounting sends strings, pricing numbers)."""
    if not isinstance(obj, dict) or key not in obj:
        raise ExternalDataError(
            f"{service}: {where} has no field {key!r}", {"service": service, "field": key, **details}
        )
    value = obj[key]
    try:
        return to_decimal(value, key)
    except ValueError:
        raise ExternalDataError(
            f"{service}: {where} field {key!r} is not a number: {value!r}",
            {"service": service, "field": key, "value": repr(value), **details},
        ) from None


def str_field(obj: Any, key: str, *, service: str, where: str, **details: Any) -> str:
    """``obj[key]`` as a non-empty string."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value:
        raise ExternalDataError(
            f"{service}: {where} field {key!r} is missing or not a string: {value!r}",
            {"service": service, "field": key, "value": repr(value), **details},
        )
    return value


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
    except (ValueError, UnicodeDecodeError):
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
