"""Translation of database exceptions into typed errors, so no raw pymongo/mongoeco exception leaves ``data``."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from bson.errors import BSONError
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from engine.errors import EngineError, ServiceUnavailable

SERVICE = "MongoDB"


def _database_exceptions() -> tuple[type[BaseException], ...]:
    # mongoeco's own root class only matters once mongoeco is loaded; don't import it (≈1 s) for a real server.
    errors = sys.modules.get("mongoeco.errors")
    extra = (errors.MongoEcoError,) if errors is not None else ()
    return (PyMongoError, BSONError, sqlite3.Error, *extra)


def translate(exc: BaseException) -> EngineError:
    """The typed error for a database exception: connection trouble → ``ServiceUnavailable``, else a 500."""
    if isinstance(exc, ConnectionFailure):
        return ServiceUnavailable(
            f"the database is unavailable: {exc}".split(", Timeout:")[0],  # pymongo appends a topology dump
            {"service": SERVICE},
        )
    return EngineError(f"unexpected database error: {exc}", {"service": SERVICE, "type": type(exc).__name__})


def db_call[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator for repository methods: database exceptions become typed errors (typed errors pass through)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EngineError:
            raise
        except _database_exceptions() as exc:
            raise translate(exc) from exc

    return wrapper


def duplicate_key_field(exc: DuplicateKeyError) -> str | None:
    """The document field whose unique index rejected a write (``name``, ``portfolios`` …), if reported."""
    details: dict[str, Any] = exc.details or {}
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    if pattern:
        return next(iter(pattern))
    message = str(exc)
    for index, field in (("portfolio_owner_unique", "portfolios"), ("name_unique", "name")):
        if index in message:
            return field
    return None
