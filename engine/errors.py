"""Typed errors of the product (product-spec 2.10).

Every error carries a stable ``code``, a human ``message`` and ``details`` (portfolio id, service,
solver status, violations ...), mirroring the original error body so the CLI can print it as JSON and
the UI can map it to a message. Raw library exceptions never cross a layer boundary: they are wrapped
in one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One broken validation rule: which row (None for the whole model), field, value and rule."""

    rule: str
    message: str
    row: int | None = None
    field: str | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "message": self.message,
            "row": self.row,
            "field": self.field,
            "value": None if self.value is None else str(self.value),
        }


class EngineError(Exception):
    """Base of every typed error; ``code`` mirrors the original HTTP error body."""

    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        details = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in self.details.items()}
        return {"code": self.code, "message": self.message, "details": details}


class InvalidInput(EngineError):
    """Validation failure (400). ``violations`` lists every broken rule at once."""

    code = "INVALID_INPUT"
    http_status = 400

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        violations: list[Violation] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.violations: list[Violation] = list(violations or [])
        if self.violations:
            self.details.setdefault("violations", [v.to_dict() for v in self.violations])


class NotFound(EngineError):
    code = "NOT_FOUND"
    http_status = 404


class Forbidden(EngineError):
    """The signed-in user's role does not allow this action (checked server-side before every write)."""

    code = "FORBIDDEN"
    http_status = 403


class VersionConflict(EngineError):
    code = "VERSION_CONFLICT"
    http_status = 409


class BusinessRuleViolation(EngineError):
    code = "BUSINESS_RULE_VIOLATION"
    http_status = 409


class RebalanceInfeasible(EngineError):
    code = "REBALANCE_INFEASIBLE"
    http_status = 422


class SolverFailed(EngineError):
    code = "SOLVER_FAILED"
    http_status = 422


class NonPositiveMarketValue(EngineError):
    code = "NON_POSITIVE_MARKET_VALUE"
    http_status = 422


class ExternalDataError(EngineError):
    """Bad or missing data from a service for one portfolio (unknown security, missing price ...)."""

    code = "EXTERNAL_DATA_ERROR"
    http_status = 500


class ServiceUnavailable(EngineError):
    """A required service still failing after retries; ``details['service']`` names it."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503


@dataclass
class ErrorInfo:
    """A plain, serialisable copy of a typed error (kept in results and session state)."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, err: EngineError) -> ErrorInfo:
        return cls(**err.to_dict())


class Cancelled(EngineError):
    """The user cancelled a run before this part of it was computed (engine, issue 2)."""

    code = "CANCELLED"
    http_status = 499
