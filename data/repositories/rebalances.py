"""Saved rebalance records (product-spec 1.8, 2.8).

One document per saved run in ``rebalances``, portfolios embedded, every money/weight/quantity as ``Decimal128``.
Each record also gets a small header in ``rebalanceSummaries`` (same ``_id``, no positions): listings, counts and
finding by portfolio query the headers and then fetch whole records by ``_id`` only. On the embedded backend every
non-``_id`` query decodes every document it scans, and a 1,000-portfolio run is ~13 MiB, so listing the records
themselves would cost seconds per stored run (see ``bench/bench_storage.py``).

Methods that write or read whole records run with the cyclic garbage collector paused: the backend builds hundreds
of thousands of short-lived objects per big record (mongoeco copies, validates and encodes every value) and each
automatic collection re-scans everything built so far, which made saving and reading a run 2–3× slower.

Listings are newest first (``rebalanceDate`` then ``_id``, both descending), paged with limit 1–100 (default 10).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from typing import Any

import bson
from bson import ObjectId

from data.documents import from_utc, record_from_doc, record_portfolio_from_doc, record_to_doc, run_info_from_doc
from data.mongo import REBALANCE_SUMMARIES, REBALANCES, ensure_rebalance_indexes
from data.repositories.dberrors import db_call
from data.repositories.inputs import check_version, coerce_ids
from data.repositories.paging import parse_rebalance_page
from engine.construct import paused_gc
from engine.errors import BusinessRuleViolation, EngineError, InvalidInput, NotFound, VersionConflict, Violation
from engine.models import RebalanceRecord, RecordPortfolio, RecordPosition, RunInfo
from engine.validation import is_valid_id, require_object_id

NEWEST_FIRST = [("rebalanceDate", -1), ("_id", -1)]
# MongoDB's BSON document limit. mongoeco does not enforce it, so we do: a record that only fits the embedded backend
# would break the day MONGODB_URI points at a real server. About 1,000 portfolios × 38 positions reach it.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _gc_paused[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with the cyclic garbage collector paused (see the module docstring for why)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused_gc():
            return fn(*args, **kwargs)

    return wrapper


@dataclasses.dataclass(frozen=True)
class RebalanceSummary:
    """One line of the history list: a record without its portfolios (cheap to list)."""

    rebalance_id: str
    model_id: str
    model_name: str
    rebalance_date: dt.datetime
    number_of_portfolios: int
    version: int
    run: RunInfo | None = None  # what the run was (scenario, model version, overrides, parameters)


class RebalanceRepository:
    """Save, list, find, drill into and delete saved rebalance records; returns ``engine`` domain objects."""

    def __init__(self, db: Any, *, create_indexes: bool = True) -> None:
        self._col = db[REBALANCES]
        self._heads = db[REBALANCE_SUMMARIES]
        if create_indexes:
            db_call(ensure_rebalance_indexes)(db)

    @db_call
    @_gc_paused
    def save_rebalance(self, record: RebalanceRecord) -> RebalanceRecord:
        """Insert one record (version 1) and return it as stored, with its new ``rebalance_id``.

        The only writer of records (the app uses ``save_run``, which also checks and stamps the model).
        """
        _check_record(record)
        doc = {"_id": ObjectId(), **record_to_doc(record)}
        _check_size(doc)
        # insert_many([doc]) is the same write as insert_one, but mongoeco 4.11's insert_one re-reads and decodes the
        # whole collection to check the _id (cost grows with every saved run); its batch path looks the key up.
        self._col.insert_many([doc])
        try:
            self._heads.insert_many([_summary_doc(doc)])
        except BaseException:
            self._col.delete_one({"_id": doc["_id"]})  # no record without its header: it would never be listed
            raise
        # The record as stored, without decoding the document again (seconds for a 1,000-portfolio run).
        return record.model_copy(
            update={"rebalance_id": str(doc["_id"]), "rebalance_date": doc["rebalanceDate"], "version": 1}
        )

    @db_call
    def count_rebalances(self, portfolio_ids: Iterable[str] | None = None) -> int:
        """Number of records (holding any of ``portfolio_ids`` when given)."""
        return self._heads.count_documents(_portfolio_filter(portfolio_ids))

    @db_call
    @_gc_paused
    def list_rebalances(self, offset: int | None = None, limit: int | None = None) -> list[RebalanceRecord]:
        """Whole records, newest first; offset default 0, limit default 10 (1–100).

        Each record carries all its positions; for a history list prefer ``list_rebalance_summaries``.
        """
        start, size = parse_rebalance_page(offset, limit)
        return self._records(self._page({}, start, size))

    @db_call
    def list_rebalance_summaries(
        self, offset: int | None = None, limit: int | None = None, portfolio_ids: Iterable[str] | None = None
    ) -> list[RebalanceSummary]:
        """Like ``list_rebalances`` (or ``find_rebalances_by_portfolios`` with ids) without loading portfolios."""
        start, size = parse_rebalance_page(offset, limit)
        return [_summary(d) for d in self._page(_portfolio_filter(portfolio_ids), start, size)]

    @db_call
    @_gc_paused
    def find_rebalances_by_portfolios(
        self, portfolio_ids: Iterable[str], offset: int | None = None, limit: int | None = None
    ) -> list[RebalanceRecord]:
        """Records holding any of the (non-empty) ``portfolio_ids``, newest first, paged like ``list_rebalances``."""
        query = _portfolio_filter(portfolio_ids, required=True)
        start, size = parse_rebalance_page(offset, limit)
        return self._records(self._page(query, start, size))

    @db_call
    def rebalanced_portfolio_ids(self, portfolio_ids: Iterable[str]) -> set[str]:
        """The ids among ``portfolio_ids`` held by at least one saved record: one pass over the record headers (which
        carry only portfolio ids), instead of one count per portfolio."""
        wanted = set(portfolio_ids)
        seen: set[str] = set()
        for head in self._heads.find({}, {"portfolios": 1}):
            seen.update(p["portfolioId"] for p in head.get("portfolios") or ())
        return seen & wanted

    @db_call
    def get_summary(self, rebalance_id: str) -> RebalanceSummary:
        """One record's header (model, date, size, version) without its portfolios; unknown → ``NotFound``."""
        head = self._heads.find_one({"_id": _oid(rebalance_id)})
        if head is None:
            raise _missing(rebalance_id)
        return _summary(head)

    @db_call
    def latest_rebalance_date(self, model_id: str) -> dt.datetime | None:
        """The date of the newest saved record of ``model_id`` (None when it has none)."""
        query = {"modelId": ObjectId(require_object_id(model_id, "model id"))}
        heads = list(self._heads.find(query, {"rebalanceDate": 1}, sort=NEWEST_FIRST, limit=1))
        return from_utc(heads[0]["rebalanceDate"]) if heads else None

    @db_call
    @_gc_paused
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
    @_gc_paused
    def rebalance_positions(self, rebalance_id: str, portfolio_id: str) -> list[RecordPosition]:
        """The positions of one portfolio of one record; unknown record or portfolio → ``NotFound``."""
        oid = _oid(rebalance_id)
        (pid,) = coerce_ids([portfolio_id], "portfolio id", check_format=True)
        # $elemMatch projection: on a real server only the one portfolio crosses the wire, not the whole run.
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
        """Delete a record if its stored version is still ``version``; stale → ``VersionConflict``.

        The header's conditional delete is the atomic gate; the record goes right after it.
        """
        oid = _oid(rebalance_id)
        version = check_version(version)
        if self._heads.delete_one({"_id": oid, "version": version}).deleted_count:
            self._col.delete_one({"_id": oid})
            return
        head = self._heads.find_one({"_id": oid}, {"version": 1})
        if head is not None:
            raise _stale(rebalance_id, version, head.get("version"))
        # A record without a header (its header insert failed and so did the clean-up): delete it the direct way.
        if self._col.delete_one({"_id": oid, "version": version}).deleted_count:
            return
        current = self._col.find_one({"_id": oid}, {"version": 1})
        if current is None:
            raise _missing(rebalance_id)
        raise _stale(rebalance_id, version, current.get("version"))

    def _page(self, query: dict[str, Any], start: int, size: int) -> list[dict[str, Any]]:
        return list(self._heads.find(query, sort=NEWEST_FIRST, skip=start, limit=size))

    def _records(self, heads: list[dict[str, Any]]) -> list[RebalanceRecord]:
        """Whole records for a page of headers, in the page's order (fetched by ``_id`` only)."""
        ids = [h["_id"] for h in heads]
        if not ids:
            return []
        by_id = {d["_id"]: d for d in self._col.find({"_id": {"$in": ids}})}
        return [_record(by_id[i]) for i in ids if i in by_id]


def _summary_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The header of a record document: everything but the positions."""
    return {
        "_id": doc["_id"],
        "modelId": doc["modelId"],
        "modelName": doc["modelName"],
        "rebalanceDate": doc["rebalanceDate"],
        "numberOfPortfolios": doc["numberOfPortfolios"],
        "portfolios": [{"portfolioId": p["portfolioId"]} for p in doc["portfolios"]],
        "version": doc["version"],
        **({"run": doc["run"]} if "run" in doc else {}),
    }


def _stale(rebalance_id: str, version: int, current: Any) -> VersionConflict:
    return VersionConflict(
        f"rebalance {rebalance_id} was modified by another process (version {version} is stale, "
        f"the stored version is {current})",
        {"rebalance_id": rebalance_id, "expected_version": version, "current_version": current},
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


def _check_size(doc: dict[str, Any]) -> None:
    size = len(bson.encode(doc))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"the run is too large to save as one record: {size / 2**20:.1f} MiB, above MongoDB's "
            f"{MAX_DOCUMENT_BYTES / 2**20:.0f} MiB document limit ({len(doc['portfolios'])} portfolios)",
            {"rule": "max_document_size", "size": size, "limit": MAX_DOCUMENT_BYTES},
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
            run=run_info_from_doc(d.get("run")),
        )

    return _convert(build, doc, doc.get("_id"))
