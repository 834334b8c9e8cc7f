"""Saved rebalance records in the ``rebalances`` collection (product-spec 1.8, 2.8).

One document per saved run with its portfolios embedded and every money/weight/quantity as ``Decimal128``.
Listings are newest first (``rebalanceDate`` then ``_id``, both descending), paged with limit 1–100 (default 10).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from data.documents import from_utc, record_from_doc, record_portfolio_from_doc, record_to_doc
from data.mongo import ensure_rebalance_indexes
from data.repositories.dberrors import db_call
from data.repositories.inputs import check_version, coerce_ids
from data.repositories.paging import parse_rebalance_page
from engine.errors import BusinessRuleViolation, EngineError, InvalidInput, NotFound, VersionConflict, Violation
from engine.models import RebalanceRecord, RecordPortfolio, RecordPosition
from engine.validation import is_valid_id, require_object_id

NEWEST_FIRST = [("rebalanceDate", -1), ("_id", -1)]


@dataclasses.dataclass(frozen=True)
class RebalanceSummary:
    """One line of the history list: a record without its portfolios (cheap to list)."""

    rebalance_id: str
    model_id: str
    model_name: str
    rebalance_date: dt.datetime
    number_of_portfolios: int
    version: int


class RebalanceRepository:
    """Save, list, find, drill into and delete saved rebalance records; returns ``engine`` domain objects."""

    def __init__(self, db: Any, *, create_indexes: bool = True) -> None:
        self._col = db.rebalances
        if create_indexes:
            db_call(ensure_rebalance_indexes)(db)

    @db_call
    def save_rebalance(self, record: RebalanceRecord) -> RebalanceRecord:
        """Insert one record (version 1) and return it as stored, with its new ``rebalance_id``.

        The only writer of records (use ``save_run`` from the app: it also checks and stamps the model).
        """
        _check_record(record)
        doc = record_to_doc(record)
        self._col.insert_one(doc)
        return _record(doc)

    @db_call
    def count_rebalances(self, portfolio_ids: Iterable[str] | None = None) -> int:
        """Number of records (holding any of ``portfolio_ids`` when given)."""
        return self._col.count_documents(_portfolio_filter(portfolio_ids))

    @db_call
    def list_rebalances(self, offset: int | None = None, limit: int | None = None) -> list[RebalanceRecord]:
        """Records newest first; offset default 0, limit default 10 (1–100)."""
        start, size = parse_rebalance_page(offset, limit)
        return [_record(d) for d in self._col.find({}, sort=NEWEST_FIRST, skip=start, limit=size)]

    @db_call
    def list_rebalance_summaries(
        self, offset: int | None = None, limit: int | None = None, portfolio_ids: Iterable[str] | None = None
    ) -> list[RebalanceSummary]:
        """Like ``list_rebalances`` (or ``find_rebalances_by_portfolios`` with ids) without loading portfolios."""
        start, size = parse_rebalance_page(offset, limit)
        cursor = self._col.find(
            _portfolio_filter(portfolio_ids), {"portfolios": 0}, sort=NEWEST_FIRST, skip=start, limit=size
        )
        return [_summary(d) for d in cursor]

    @db_call
    def find_rebalances_by_portfolios(
        self, portfolio_ids: Iterable[str], offset: int | None = None, limit: int | None = None
    ) -> list[RebalanceRecord]:
        """Records holding any of the (non-empty) ``portfolio_ids``, newest first, paged like ``list_rebalances``."""
        query = _portfolio_filter(portfolio_ids, required=True)
        start, size = parse_rebalance_page(offset, limit)
        return [_record(d) for d in self._col.find(query, sort=NEWEST_FIRST, skip=start, limit=size)]

    @db_call
    def get_rebalance(self, rebalance_id: str) -> RebalanceRecord:
        """One record; malformed id → ``InvalidInput``, unknown → ``NotFound``."""
        doc = self._col.find_one({"_id": _oid(rebalance_id)})
        if doc is None:
            raise _missing(rebalance_id)
        return _record(doc)

    @db_call
    def rebalance_portfolios(self, rebalance_id: str) -> list[RecordPortfolio]:
        """The portfolio sub-documents of one record."""
        return list(self.get_rebalance(rebalance_id).portfolios)

    @db_call
    def rebalance_positions(self, rebalance_id: str, portfolio_id: str) -> list[RecordPosition]:
        """The positions of one portfolio of one record; unknown record or portfolio → ``NotFound``."""
        oid = _oid(rebalance_id)
        (pid,) = coerce_ids([portfolio_id], "portfolio id", check_format=True)
        # $elemMatch projection: only the one portfolio crosses the wire, not the whole run.
        doc = self._col.find_one({"_id": oid}, {"portfolios": {"$elemMatch": {"portfolioId": pid}}})
        if doc is None:
            raise _missing(rebalance_id)
        found = [p for p in doc.get("portfolios") or () if p.get("portfolioId") == pid]
        if not found:
            raise NotFound(
                f"portfolio {pid} is not in rebalance {rebalance_id}",
                {"rebalance_id": rebalance_id, "portfolio_id": pid},
            )
        return list(_convert(record_portfolio_from_doc, found[0], rebalance_id).positions)

    @db_call
    def delete_rebalance(self, rebalance_id: str, version: int) -> None:
        """Delete a record if its stored version is still ``version``; stale → ``VersionConflict``."""
        oid = _oid(rebalance_id)
        version = check_version(version)
        if self._col.delete_one({"_id": oid, "version": version}).deleted_count:
            return
        current = self._col.find_one({"_id": oid}, {"version": 1})
        if current is None:
            raise _missing(rebalance_id)
        raise VersionConflict(
            f"rebalance {rebalance_id} was modified by another process (version {version} is stale, "
            f"the stored version is {current.get('version')})",
            {"rebalance_id": rebalance_id, "expected_version": version, "current_version": current.get("version")},
        )


def _check_record(record: Any) -> None:
    """Shape rules of a record before it is written (2.8): every violation reported at once."""
    if not isinstance(record, RebalanceRecord):
        raise InvalidInput(f"expected a RebalanceRecord, got {type(record).__name__}")
    if record.rebalance_id is not None:
        raise BusinessRuleViolation(
            f"this run is already saved as rebalance {record.rebalance_id}",
            {"rebalance_id": record.rebalance_id, "rule": "already_saved"},
        )
    require_object_id(record.model_id, "model id")
    violations: list[Violation] = []
    if not record.model_name.strip():
        violations.append(Violation("name_required", "model name is required", None, "modelName", record.model_name))
    if not record.portfolios:
        violations.append(Violation("no_portfolios", "the run has no successful portfolio to save", None, "portfolios"))
    seen: set[str] = set()
    for row, p in enumerate(record.portfolios):
        if not is_valid_id(p.portfolio_id):
            violations.append(
                Violation(
                    "id_format",
                    f"portfolio {row + 1}: id {p.portfolio_id!r} is malformed",
                    row,
                    "portfolioId",
                    p.portfolio_id,
                )
            )
        if p.portfolio_id in seen:
            violations.append(
                Violation(
                    "duplicate_portfolio",
                    f"portfolio {p.portfolio_id} appears twice",
                    row,
                    "portfolioId",
                    p.portfolio_id,
                )
            )
        seen.add(p.portfolio_id)
        securities = [x.security_id for x in p.positions]
        for sid in sorted({s for s in securities if securities.count(s) > 1}):
            violations.append(
                Violation(
                    "duplicate_security",
                    f"portfolio {p.portfolio_id}: security {sid} appears more than once",
                    row,
                    "securityId",
                    sid,
                )
            )
    if violations:
        raise InvalidInput(
            "the rebalance record cannot be saved: " + "; ".join(v.message for v in violations), violations=violations
        )


def _portfolio_filter(portfolio_ids: Iterable[str] | None, *, required: bool = False) -> dict[str, Any]:
    if portfolio_ids is None and not required:
        return {}
    ids = coerce_ids(portfolio_ids)
    if not ids:
        if required:
            raise InvalidInput("give at least one portfolio id", {"field": "portfolios"})
        return {}
    return {"portfolios.portfolioId": {"$in": list(ids)}}


def _oid(rebalance_id: Any) -> ObjectId:
    return ObjectId(require_object_id(rebalance_id, "rebalance id"))


def _missing(rebalance_id: str) -> NotFound:
    return NotFound(f"rebalance {rebalance_id} not found", {"rebalance_id": rebalance_id})


def _convert(fn: Any, doc: dict[str, Any], rebalance_id: Any) -> Any:
    try:
        return fn(doc)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # pydantic errors are ValueErrors
        raise EngineError(
            f"stored rebalance {rebalance_id} is malformed: {exc}", {"rebalance_id": str(rebalance_id)}
        ) from exc


def _record(doc: dict[str, Any]) -> RebalanceRecord:
    return _convert(record_from_doc, doc, doc.get("_id"))


def _summary(doc: dict[str, Any]) -> RebalanceSummary:
    def build(d: dict[str, Any]) -> RebalanceSummary:
        return RebalanceSummary(
            rebalance_id=str(d["_id"]),
            model_id=str(d["modelId"]),
            model_name=d["modelName"],
            rebalance_date=from_utc(d["rebalanceDate"]),
            number_of_portfolios=int(d.get("numberOfPortfolios", 0)),
            version=int(d.get("version", 1)),
        )

    return _convert(build, doc, doc.get("_id"))
