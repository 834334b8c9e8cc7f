"""Saved rebalance records (product-spec 1.8, 2.8; issue #12).

A run is stored as a small header in ``rebalances`` (model, date, count, portfolio ids, ``version``, ``state``,
``blocks``) plus blocks of consecutive portfolios in ``rebalancePortfolios`` (``rebalanceId``, ``index`` = the place
of the block's first portfolio in the run, then the 2.8 fields of each portfolio, positions as columns, every
money/weight/quantity as packed ``Decimal128``; data/record_columns.py). A block stays far below MongoDB's 16 MiB
document limit, so no run the app can compute hits it; runs saved one document per portfolio (before the blocks)
are read as they are.

Commit protocol (atomic visibility without multi-document transactions, which the embedded backend lacks):

1. a pending header is inserted with ``state: "saving"``, a lease (writer host, pid, ``leaseUntil``) and where the
   blocks will be;
2. the blocks are inserted one by one (the lease is renewed between them);
3. one single-document conditional replace writes the whole header with ``state: "committed"``: the run becomes
   visible at once, whole.

Every read (listings, counts, look-ups by portfolio, drill-down) sees committed headers only. Deleting flips the
header to ``state: "deleting"`` with a versioned conditional update (the run vanishes at once), removes the
portfolios, then the header. A save or delete interrupted by a crash leaves a ``saving``/``deleting`` header: it is
never shown, and ``recover`` (run when a repository is built and before every save) removes it and its portfolios
once the writer is known dead (same host, pid gone) or its lease expired. The removal after a delete runs in a
background thread (after a short delay, in small chunks, so the PM's next requests are not held behind it), so
deleting a run of any size returns at once. Against a MongoDB replica set or sharded
cluster the save runs in a multi-document transaction instead and commits in one step.

Records written before issue #12 (one document, portfolios embedded, plus a header in ``rebalanceSummaries``) are
migrated once, idempotently, by ``recover``.

Methods that write or read whole runs pause the cyclic garbage collector: the backend builds hundreds of thousands
of short-lived objects per big run and each automatic collection re-scans everything built so far.

Listings are newest first (``rebalanceDate`` then ``_id``, both descending), paged with limit 1–100 (default 10).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import bson
import pymongo
from bson import ObjectId

from data.documents import (
    PORTFOLIO_KEY,
    WriteOnceDocument,
    from_utc,
    options_from_doc,
    portfolio_key_ids,
    record_from_doc,
    record_header_to_doc,
    run_info_from_doc,
)
from data.record_columns import (
    block_part_id,
    block_slice,
    block_starts,
    portfolio_blocks,
    portfolio_from_part,
    portfolio_part_id,
    portfolio_part_to_doc,
    portfolios_from_blocks,
    record_from_parts,
    unpack_texts,
)
from data.repositories.dberrors import db_call
from data.repositories.inputs import check_version, coerce_ids, encoding_violation
from data.repositories.paging import parse_rebalance_page
from data.repositories.writers import current_writer, writer_gone
from engine.construct import paused_gc
from engine.errors import BusinessRuleViolation, EngineError, InvalidInput, NotFound, VersionConflict, Violation
from engine.models import RebalanceOptions, RebalanceRecord, RecordPortfolio, RecordPosition, RunInfo
from engine.validation import is_valid_id, require_object_id

log = logging.getLogger(__name__)

REBALANCES = "rebalances"
REBALANCE_PORTFOLIOS = "rebalancePortfolios"
LEGACY_SUMMARIES = "rebalanceSummaries"  # headers of the one-document layout; emptied by the migration

COMMITTED, SAVING, DELETING = "committed", "saving", "deleting"
# A header's ``layout``: ``blocks``, several portfolios per document with the header's ``blocks`` listing where each
# starts (data/record_columns.py); ``columns``, one document per portfolio with its positions as columns (runs saved
# before the blocks; read as they are). Headers without it are from before the columns; ``recover`` rewrites their
# portfolio documents once.
BLOCKS, COLUMNS = "blocks", "columns"
VISIBLE = {"state": COMMITTED}
NEWEST_FIRST = [("rebalanceDate", -1), ("_id", -1)]
# A listing's projection: a header without its portfolio ids (thousands of values for a big run; a summary has none).
HEADER_ONLY = {"portfolios": 0, PORTFOLIO_KEY: 0, "blocks": 0}
# MongoDB's BSON document limit, checked per portfolio document (mongoeco does not enforce it): a portfolio that only
# fits the embedded backend would break the day MONGODB_URI points at a real server.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
LEASE = dt.timedelta(minutes=5)  # a save whose writer has not been heard of for this long is abandoned
IN_CHUNK = 200  # run ids per $in on rebalancePortfolios
PURGE_CHUNK = 25  # documents of one portfolio each per delete when a run is removed (see _purge); blocks go one by one
PURGE_PAUSE = 0.01  # seconds between two such deletes: other requests get the database in between
PURGE_DELAY = 2.0  # seconds a background removal waits before it starts


def ensure_rebalance_indexes(db: Any) -> None:
    """Indexes of the headers (newest first, by portfolio, by model, by state) and of the portfolios (by run).

    Idempotent. A portfolio document's ``_id`` is ``"<run id>/<portfolio id>"``: one portfolio is read by ``_id``,
    a whole run by ``rebalanceId``.
    """
    db[REBALANCES].create_indexes(
        [
            pymongo.IndexModel(
                [("state", pymongo.ASCENDING), ("rebalanceDate", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)],
                name="state_newest_first",
            ),
            pymongo.IndexModel([("portfolios.portfolioId", pymongo.ASCENDING)], name="portfolio_id"),
            pymongo.IndexModel([("modelId", pymongo.ASCENDING)], name="model_id"),
        ]
    )
    db[REBALANCE_PORTFOLIOS].create_indexes(
        [
            pymongo.IndexModel([("rebalanceId", pymongo.ASCENDING)], name="rebalance_id"),
        ]
    )


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
    saved_by: str | None = None
    run: RunInfo | None = None  # what the run was (scenario, model version, overrides, parameters)
    options: RebalanceOptions | None = None  # the run's options (trade controls); None: saved before they were kept


@dataclasses.dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` did: legacy records migrated, interrupted saves and deletes cleaned up, runs of one
    sub-document per position rewritten as columns."""

    migrated: int = 0
    abandoned_saves: int = 0
    finished_deletes: int = 0
    to_columns: int = 0


class RebalanceRepository:
    """Save, list, find, drill into and delete saved rebalance records; returns ``engine`` domain objects.

    Building one creates the indexes and runs ``recover`` (unless ``create_indexes=False``).
    ``use_transactions``: ``None`` detects a replica set or sharded cluster; ``True``/``False`` force the choice
    (``True`` applies to a ``mongodb://`` client only).
    """

    def __init__(self, db: Any, *, create_indexes: bool = True, use_transactions: bool | None = None) -> None:
        self._db = db
        self._heads = db[REBALANCES]
        self._parts = db[REBALANCE_PORTFOLIOS]
        self._use_transactions = use_transactions
        self._lock = threading.Lock()
        self._purges: list[threading.Thread] = []
        self._leased: dict[ObjectId, float] = {}  # run id -> monotonic time its save's lease was last written
        if create_indexes:
            db_call(ensure_rebalance_indexes)(db)
            self.recover()

    # --- writes ------------------------------------------------------------------------------------------------------

    @db_call
    @_gc_paused
    def save_rebalance(self, record: RebalanceRecord) -> RebalanceRecord:
        """Insert one run (version 1) and return it as stored, with its new ``rebalance_id``.

        Visible to readers only once complete (see the module docstring). The only writer of records (the app uses
        ``save_run``, which also checks and stamps the model).
        """
        _check_record(record)
        rid = ObjectId()
        where, batches = _layout(rid, record.portfolios)
        header = {"_id": rid, **record_header_to_doc(record), **where}
        _check_sizes([doc for batch in batches for doc in batch])
        self._recover_interrupted()
        if self._transactions():
            self._save_in_transaction(header, batches)
        else:
            self._save_then_commit(header, batches)
        # The record as stored, without decoding the documents again.
        return record.model_copy(
            update={"rebalance_id": str(rid), "rebalance_date": header["rebalanceDate"], "version": 1}
        )

    def _save_then_commit(self, header: dict[str, Any], batches: list[list[Any]]) -> None:
        rid = header["_id"]
        # The pending header holds what recovery needs (state, writer, where the blocks are), not the portfolio list:
        # the embedded backend deep-copies a document on every update of it, and the lease renewals update this one.
        # insert_many even for one document: mongoeco's insert_one re-reads the whole collection to check the _id.
        where = {k: header[k] for k in ("layout", "blocks") if k in header}
        self._heads.insert_many([{"_id": rid, "state": SAVING, "writer": _writer(), **where}])
        self._leased[rid] = time.monotonic()
        try:
            for n, batch in enumerate(batches):  # one block per write: other requests get the database in between
                if n:
                    self._renew_lease(rid)
                self._parts.insert_many(batch)
            # The whole header replaces the pending one in one conditional write: the run becomes visible at once.
            committed = WriteOnceDocument({k: v for k, v in header.items() if k != "_id"} | {"state": COMMITTED})
            done = self._heads.replace_one({"_id": rid, "state": SAVING}, committed)
            self._leased.pop(rid, None)
            if done.matched_count != 1:  # taken for abandoned by another process (lease expired): start again
                raise EngineError(
                    "the save took too long and was cancelled; nothing was saved — try again",
                    {"rebalance_id": str(rid), "rule": "lease_expired"},
                )
        except BaseException:
            self._leased.pop(rid, None)
            try:
                self._purge(rid, {"_id": rid, "state": SAVING})
            except Exception:  # the original error matters; recover() removes the rest once the lease expires
                log.exception("cleaning up the failed save of rebalance %s failed", rid)
            raise

    def _save_in_transaction(self, header: dict[str, Any], batches: list[list[Any]]) -> None:
        def write(session: Any) -> None:
            self._heads.insert_one({**header, "state": COMMITTED}, session=session)
            for batch in batches:
                self._parts.insert_many(batch, session=session)

        with self._db.client.start_session() as session:
            session.with_transaction(write)

    def _transactions(self) -> bool:
        if self._use_transactions is None:
            self._use_transactions = supports_transactions(self._db)
        # Sessions exist on pymongo clients only (the embedded client has no transactions to use).
        return self._use_transactions and isinstance(getattr(self._db, "client", None), pymongo.MongoClient)

    def _renew_lease(self, rid: ObjectId) -> None:
        """Extend a save's lease once a tenth of it has passed (each update of a header copies it whole: a
        1,000-portfolio save renewing after every write spent a fifth of a second on that)."""
        if time.monotonic() - self._leased.get(rid, 0.0) < LEASE.total_seconds() / 10:
            return
        self._heads.update_one({"_id": rid, "state": SAVING}, {"$set": {"writer": _writer()}})
        self._leased[rid] = time.monotonic()

    @db_call
    def delete_rebalance(self, rebalance_id: str, version: int, *, wait: bool = False) -> None:
        """Delete a record if its stored version is still ``version``; stale → ``VersionConflict``.

        The header's conditional flip to ``deleting`` is the atomic gate: the run disappears from every listing and
        look-up at once, and this returns. Its portfolios and then the header are removed by a background thread
        (``wait=True``: before returning; ``wait_for_purges`` joins the threads); if the process dies first,
        ``recover`` finishes the removal at the next start.
        """
        oid = _oid(rebalance_id)
        version = check_version(version)
        gate = self._heads.update_one(
            {"_id": oid, "version": version, **VISIBLE}, {"$set": {"state": DELETING, "writer": _writer()}}
        )
        if gate.matched_count == 1:
            if wait:
                self._purge(oid, {"_id": oid, "state": DELETING})
            else:
                self._purge_in_background(oid)
            return
        head = self._heads.find_one({"_id": oid}, {"version": 1, "state": 1})
        if head is None or head.get("state") != COMMITTED:
            raise _missing(rebalance_id)
        raise _stale(rebalance_id, version, head.get("version"))

    def wait_for_purges(self, timeout: float | None = None) -> bool:
        """Wait until the background removals started by ``delete_rebalance`` are done; False on timeout."""
        with self._lock:
            threads = list(self._purges)
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            self._purges = [t for t in self._purges if t.is_alive()]
            return not self._purges

    def _purge_in_background(self, rid: ObjectId) -> None:
        def run() -> None:
            time.sleep(PURGE_DELAY)  # the PM's next requests (the page after Delete) go first
            try:
                self._purge(rid, {"_id": rid, "state": DELETING})
            except Exception:  # the header stays "deleting": recover() finishes the removal later
                log.exception("removing the portfolios of deleted rebalance %s failed", rid)

        # Not a daemon: a normal exit waits for the removal; a kill leaves it to recover() at the next start.
        thread = threading.Thread(target=run, name=f"purge-{rid}")
        with self._lock:
            self._purges = [t for t in self._purges if t.is_alive()]
            self._purges.append(thread)
        thread.start()

    def _purge(self, rid: ObjectId, header_filter: dict[str, Any]) -> None:
        """Remove a run's portfolios, then its header (only while it still matches ``header_filter``).

        In small chunks with a pause between them: the embedded backend deletes document by document under one lock
        per call, so one ``delete_many`` of a 1,000-portfolio run held every other request of the app (the PM's next
        page) for seconds.
        """
        head = self._heads.find_one({"_id": rid}, {"portfolios": 1, "blocks": 1}) or {}
        # The portfolio documents' ids follow from the header (reading them would decode every document).
        if isinstance(head.get("blocks"), list):
            ids, chunk_size = [block_part_id(rid, k) for k in range(len(head["blocks"]))], 1
        else:
            ids = [portfolio_part_id(rid, p.get("portfolioId")) for p in head.get("portfolios") or ()]
            chunk_size = PURGE_CHUNK
        for chunk in itertools.batched(ids, chunk_size, strict=False):
            with paused_gc():
                if len(chunk) == 1:  # by _id alone: the embedded backend's storage-key path (see _blocks)
                    self._parts.delete_one({"_id": chunk[0]})
                else:
                    self._parts.delete_many({"_id": {"$in": list(chunk)}})
            time.sleep(PURGE_PAUSE)
        if chunk_size > 1:  # anything else (a header without its portfolio list); blocks are exactly those listed
            self._parts.delete_many({"rebalanceId": rid})
        self._heads.delete_one(header_filter)

    # --- recovery and migration --------------------------------------------------------------------------------------

    @db_call
    def recover(self) -> RecoveryReport:
        """Migrate records of the one-document layout and portfolio documents of one sub-document per position, then
        clean up interrupted saves and deletes. Idempotent."""
        migrated = self._migrate_legacy()
        to_columns = self._migrate_rows()
        saves, deletes = self._recover_interrupted()
        self._drop_legacy_summaries()
        return RecoveryReport(migrated, saves, deletes, to_columns)

    def _recover_interrupted(self) -> tuple[int, int]:
        """Remove the portfolios and headers of saves whose writer is gone, and finish interrupted deletes."""
        now = dt.datetime.now(dt.UTC)
        saves = deletes = 0
        for head in self._heads.find({"state": {"$in": [SAVING, DELETING]}}, {"state": 1, "writer": 1}):
            state = head.get("state")
            if not _abandoned(head.get("writer"), now):
                continue  # a save or removal in progress (here or elsewhere)
            self._purge(head["_id"], {"_id": head["_id"], "state": state})
            saves += state == SAVING
            deletes += state == DELETING
        return saves, deletes

    @_gc_paused
    def _migrate_legacy(self) -> int:
        """Split every one-document record (no ``state``) into a header plus one document per portfolio.

        Per record: its portfolio documents are (re)written, then one replace turns the record into a committed
        header. Interrupted at any point, the next run starts that record again; until then it is not listed.
        """
        migrated = 0
        for ref in list(self._heads.find({"state": {"$exists": False}}, {"_id": 1})):
            doc = self._heads.find_one({"_id": ref["_id"], "state": {"$exists": False}})
            if doc is None:
                continue  # migrated meanwhile by another process
            rid = doc["_id"]
            try:
                record = _record(doc)
            except EngineError as exc:  # one unreadable record must not stop the app from starting
                log.error("rebalance %s of the one-document layout cannot be migrated: %s", rid, exc.message)
                continue
            self._parts.delete_many({"rebalanceId": rid})  # leftovers of an interrupted migration
            where, batches = _layout(rid, record.portfolios)
            for batch in batches:
                self._parts.insert_many(batch)
            header = {**record_header_to_doc(record), "version": record.version, "state": COMMITTED, **where}
            header["rebalanceDate"] = doc["rebalanceDate"]  # exactly as stored
            self._heads.replace_one({"_id": rid, "state": {"$exists": False}}, header)
            migrated += 1
        return migrated

    @_gc_paused
    def _migrate_rows(self) -> int:
        """Rewrite the portfolio documents of runs saved with one sub-document per position as columns.

        Each document is replaced by ``_id`` (either form reads back the same portfolio, so an interruption leaves a
        readable run and the next start finishes it); the header's ``layout`` is set last.
        """
        migrated = 0
        for head in list(self._heads.find({**VISIBLE, "layout": {"$exists": False}}, {"_id": 1})):
            rid = head["_id"]
            for doc in self._parts.find({"rebalanceId": rid, "positionColumns": {"$exists": False}}):
                try:
                    portfolio = portfolio_from_part(doc)
                except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                    log.error("portfolio %s of rebalance %s cannot be migrated: %s", doc.get("_id"), rid, exc)
                    continue  # left as it is: reading it reports the damage
                self._parts.replace_one({"_id": doc["_id"]}, portfolio_part_to_doc(rid, doc["index"], portfolio))
            self._heads.update_one({"_id": rid, **VISIBLE}, {"$set": {"layout": COLUMNS}})
            migrated += 1
        return migrated

    def _drop_legacy_summaries(self) -> None:
        """The one-document layout's headers are no longer read: drop them once no legacy record is left."""
        summaries = self._db[LEGACY_SUMMARIES]
        if summaries.find_one({}, {"_id": 1}) is None:
            return
        if self._heads.find_one({"state": {"$exists": False}}, {"_id": 1}) is None:
            summaries.drop()

    # --- reads -------------------------------------------------------------------------------------------------------

    @db_call
    def count_rebalances(self, portfolio_ids: Iterable[str] | None = None) -> int:
        """Number of records (holding any of ``portfolio_ids`` when given)."""
        query = _portfolio_filter(portfolio_ids)
        if _long_in(query):
            return len(self._holding(query["portfolios.portfolioId"]["$in"]))
        return self._heads.count_documents(_visible(query))

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
        return [_summary(d) for d in self._page(_portfolio_filter(portfolio_ids), start, size, HEADER_ONLY)]

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
    def runs_holding(self, portfolio_ids: Iterable[str], day: dt.date | None = None) -> dict[str, dt.datetime]:
        """The committed runs holding any of ``portfolio_ids`` (rebalanced on ``day``, UTC, when given): run id ->
        rebalance date. One query over the headers (by date when given) reading each run's ``portfolioKey``, for any
        number of ids (the prior-activity warning asks with a whole run's portfolios)."""
        ids = coerce_ids(portfolio_ids)
        if not ids:
            return {}
        return {str(rid): from_utc(when) for rid, when in self._holding(ids, day).items()}

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
        return _summary(self._head(rebalance_id))

    @db_call
    def latest_rebalance_date(self, model_id: str) -> dt.datetime | None:
        """The date of the newest saved record of ``model_id`` (None when it has none)."""
        query = {"modelId": ObjectId(require_object_id(model_id, "model id"))}
        heads = list(self._heads.find(_visible(query), {"rebalanceDate": 1}, sort=NEWEST_FIRST, limit=1))
        return from_utc(heads[0]["rebalanceDate"]) if heads else None

    @db_call
    @_gc_paused
    def get_rebalance(self, rebalance_id: str) -> RebalanceRecord:
        """One record; malformed id → ``InvalidInput``, unknown (or not committed) → ``NotFound``."""
        head = self._head(rebalance_id)
        return self._records([head])[0]

    @db_call
    def exists(self, rebalance_id: str) -> bool:
        """Is this committed record still there (a header look-up: cheap for a run of any size)?"""
        try:
            self._head(rebalance_id, projection={"_id": 1})
        except NotFound:
            return False
        return True

    @db_call
    def rebalance_portfolios(self, rebalance_id: str) -> list[RecordPortfolio]:
        """The portfolio sub-documents of one record."""
        return list(self.get_rebalance(rebalance_id).portfolios)

    @db_call
    @_gc_paused
    def rebalance_positions(self, rebalance_id: str, portfolio_id: str) -> list[RecordPosition]:
        """The positions of one portfolio of one record; unknown record or portfolio → ``NotFound``."""
        (pid,) = coerce_ids([portfolio_id], "portfolio id", check_format=True)
        head = self._head(rebalance_id, projection={"_id": 1, "layout": 1, "blocks": 1, PORTFOLIO_KEY: 1})
        missing = NotFound(
            f"portfolio {pid} is not in rebalance {rebalance_id}", {"rebalance_id": rebalance_id, "portfolio_id": pid}
        )
        # By _id: the embedded backend answers a compound-index query by parsing every portfolio of the run.
        if head.get("layout") == BLOCKS:
            ids = portfolio_key_ids(head.get(PORTFOLIO_KEY) or "")
            if pid not in ids:
                raise missing
            block = bisect.bisect_right(head["blocks"], ids.index(pid)) - 1
            doc = self._parts.find_one({"_id": block_part_id(head["_id"], block)})
            one = None if doc is None else _convert(lambda d: block_slice(d, pid), doc, rebalance_id)
            if one is None:
                raise missing
            return list(_convert(portfolios_from_blocks, [one], rebalance_id)[0].positions)
        doc = self._parts.find_one({"_id": portfolio_part_id(head["_id"], pid)})
        if doc is None:
            raise missing
        return list(_convert(portfolio_from_part, doc, rebalance_id).positions)

    def _head(self, rebalance_id: str, projection: dict[str, int] | None = None) -> dict[str, Any]:
        oid = _oid(rebalance_id)
        head = self._heads.find_one({"_id": oid, **VISIBLE}, projection)
        if head is None:
            raise _missing(rebalance_id)
        return head

    def _page(
        self, query: dict[str, Any], start: int, size: int, projection: dict[str, int] | None = None
    ) -> list[dict[str, Any]]:
        if _long_in(query):  # many portfolio ids: match by portfolioKey, page in Python, fetch the page by _id
            dates = self._holding(query["portfolios.portfolioId"]["$in"])
            ids = sorted(dates, key=lambda i: (dates[i], i), reverse=True)[start : start + size]
            found = self._heads.find(_visible({"_id": {"$in": ids}}), projection) if ids else ()
            heads = {d["_id"]: d for d in found}
            return [heads[i] for i in ids if i in heads]
        return list(self._heads.find(_visible(query), projection, sort=NEWEST_FIRST, skip=start, limit=size))

    def _holding(self, portfolio_ids: Iterable[str], day: dt.date | None = None) -> dict[ObjectId, dt.datetime]:
        """Ids and dates of the visible runs holding any of ``portfolio_ids`` (on ``day``, UTC, when given).

        Reads each candidate header's ``portfolioKey`` (one string) rather than filtering with a long ``$in``: the
        embedded backend refuses one over ~1,000 values, and in chunks it converted every matching header's
        portfolio list once per chunk (2.9 s for 1,000 ids against a 5,000-portfolio run). Headers saved before the
        key existed are read through their ``portfolios`` list.
        """
        wanted = set(portfolio_ids)
        query: dict[str, Any] = {}
        if day is not None:
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            query["rebalanceDate"] = {"$gte": start, "$lt": start + dt.timedelta(days=1)}
        dates: dict[ObjectId, dt.datetime] = {}
        older: list[ObjectId] = []
        for d in self._heads.find(_visible(query), {"rebalanceDate": 1, PORTFOLIO_KEY: 1}):
            key = d.get(PORTFOLIO_KEY)
            if not isinstance(key, str):
                older.append(d["_id"])
            elif not wanted.isdisjoint(portfolio_key_ids(key)):
                dates[d["_id"]] = d["rebalanceDate"]
        for chunk in itertools.batched(older, IN_CHUNK, strict=False):
            for d in self._heads.find(_visible({"_id": {"$in": list(chunk)}}), {"rebalanceDate": 1, "portfolios": 1}):
                if any(p.get("portfolioId") in wanted for p in d.get("portfolios") or ()):
                    dates[d["_id"]] = d["rebalanceDate"]
        return dates

    def _records(self, heads: list[dict[str, Any]]) -> list[RebalanceRecord]:
        """Whole records for a page of headers, in the page's order (blocks fetched by _id, portfolio documents of
        the earlier layouts by run id)."""
        parts: dict[ObjectId, list[dict[str, Any]]] = {h["_id"]: [] for h in heads}
        by_run = [h["_id"] for h in heads if not isinstance(h.get("blocks"), list)]
        for h in heads:
            if isinstance(h.get("blocks"), list):
                parts[h["_id"]] = self._blocks(h["_id"], len(h["blocks"]))
        for chunk in itertools.batched(by_run, IN_CHUNK, strict=False):
            query = {"rebalanceId": chunk[0]} if len(chunk) == 1 else {"rebalanceId": {"$in": list(chunk)}}
            for doc in self._parts.find(query):
                parts[doc["rebalanceId"]].append(doc)
        return [_assemble(h, parts[h["_id"]]) for h in heads]

    def _blocks(self, rid: ObjectId, count: int) -> list[dict[str, Any]]:
        """A run's blocks, each by its _id: the embedded backend answers that from the storage key, where a query on
        any other field (or an $in) first has its planner parse every stored document of the collection (looking
        for decimals and arrays in the field) after each write to it. A missing block is left out (_assemble
        reports the run incomplete)."""
        found = (self._parts.find_one({"_id": block_part_id(rid, k)}) for k in range(count))
        return [doc for doc in found if doc is not None]


def _layout(rid: ObjectId, portfolios: Sequence[RecordPortfolio]) -> tuple[dict[str, Any], list[list[Any]]]:
    """Where a run's portfolios go: the header fields that say so, and the documents that hold them in the batches
    written one insert each (one block each)."""
    starts = block_starts(portfolios)
    return {"layout": BLOCKS, "blocks": starts}, [[doc] for doc in portfolio_blocks(rid, portfolios, starts)]


def supports_transactions(db: Any) -> bool:
    """True on a real MongoDB replica set or sharded cluster (multi-document transactions); False elsewhere.

    The embedded backend and a standalone server (including the mongoeco wire server of the tests) answer False.
    """
    client = getattr(db, "client", None)
    if not isinstance(client, pymongo.MongoClient):
        return False
    hello = client.admin.command("hello")
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


def _visible(query: dict[str, Any]) -> dict[str, Any]:
    return {**VISIBLE, **query}


def _writer() -> dict[str, Any]:
    """Who is writing and until when the write counts as alive (see ``_abandoned``)."""
    return {**current_writer(), "leaseUntil": dt.datetime.now(dt.UTC) + LEASE}


def _abandoned(writer: Any, now: dt.datetime) -> bool:
    """A save or removal is abandoned when its lease expired, or its writer ran on this host and is gone."""
    if not isinstance(writer, dict):
        return True
    lease = writer.get("leaseUntil")
    if not isinstance(lease, dt.datetime) or from_utc(lease) < now:
        return True
    return writer_gone(writer.get("host"), writer.get("pid"))


def _assemble(head: dict[str, Any], parts: list[dict[str, Any]]) -> RebalanceRecord:
    """A record from its header and portfolio documents; a count that does not match the header is an error."""
    record = _convert(lambda h: record_from_parts(h, parts), head, head.get("_id"))
    expected = int(head.get("numberOfPortfolios", len(parts)))
    if len(record.portfolios) != expected:
        raise EngineError(
            f"stored rebalance {head['_id']} is incomplete: {len(record.portfolios)} of {expected} portfolios",
            {"rebalance_id": str(head["_id"])},
        )
    return record


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
    if (bad := encoding_violation(record.model_name, "modelName", label="model name")) is not None:
        violations.append(bad)
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
        if p.portfolio_name is not None:
            bad = encoding_violation(p.portfolio_name, "portfolioName", row, "portfolio name of portfolio")
            if bad is not None:
                violations.append(bad)
        securities = [x.security_id for x in p.positions]
        # one count per distinct id, and only when there is a repeat (a count per position was quadratic)
        repeated = () if len(set(securities)) == len(securities) else Counter(securities)
        for sid in sorted(s for s in repeated if repeated[s] > 1):
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


def _text_length(column: Any) -> int:
    return len(column) if isinstance(column, str) else sum(len(t or "") for t in column)


def _size_bound(doc: dict[str, Any]) -> int:
    """An upper bound of a block document's BSON size, without encoding it.

    Every field but the texts has a fixed size (a position is under 300 bytes plus its texts); a text costs at most
    4 bytes a character in UTF-8.
    """
    columns = doc["positionColumns"]
    texts = sum(_text_length(doc[k]) for k in ("portfolioIds", "portfolioNames"))
    texts += sum(_text_length(columns[k]) for k in ("securityId", "transactionType", "tradeDate"))
    breaches = doc.get("bandBreaches") or ()
    return 4096 + 300 * len(bytes(columns["hasTradeQuantity"])) + 128 * len(breaches) + 4 * texts


def _check_sizes(parts: list[dict[str, Any]]) -> None:
    """Each block document must fit MongoDB's document limit (a block is cut well below it, so only a portfolio
    with a pathological name, alone in its block, can break it)."""
    for doc in parts:
        if _size_bound(doc) <= MAX_DOCUMENT_BYTES:
            continue  # encoding a document only to measure it would cost as much as writing it
        size = len(bson.encode(doc))
        if size > MAX_DOCUMENT_BYTES:
            row = doc["index"]
            ids = unpack_texts(doc["portfolioIds"], len(bytes(doc["positionCounts"])) // 4)
            which = f"portfolio {row + 1} ({ids[0]})" if len(ids) == 1 else f"portfolios {row + 1}–{row + len(ids)}"
            raise InvalidInput(
                f"{which} is too large to save: {size / 2**20:.1f} MiB, above MongoDB's "
                f"{MAX_DOCUMENT_BYTES / 2**20:.0f} MiB document limit",
                {"rule": "max_document_size", "size": size, "limit": MAX_DOCUMENT_BYTES, "row": row},
            )


def _long_in(query: dict[str, Any]) -> bool:
    """A portfolio filter too long for one query on the embedded backend ("Expression tree is too large")."""
    values = query.get("portfolios.portfolioId", {}).get("$in", ())
    return len(values) > IN_CHUNK


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
            saved_by=d.get("savedBy") if isinstance(d.get("savedBy"), str) else None,
            run=run_info_from_doc(d.get("run")),
            options=options_from_doc(d.get("options")),
        )

    return _convert(build, doc, doc.get("_id"))
