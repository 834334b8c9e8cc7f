"""The order-submission log: every order a run sends, its intent before the POST and its outcome after.

Order POSTs are not idempotent (services.md §7.4), and a page's session state dies with a reload, a second tab or a
server restart. This log, in MongoDB collection ``submissions``, is what makes "never send an order twice" hold
across all of them. One document per order of a run, ``_id`` = the stable order key (run, portfolio, security,
side, quantity, trade date), with a ``state``:

- ``queued``: claimed by a submission attempt, not posted yet;
- ``sending``: its batch is being posted (the intent, written before the POST);
- ``success`` (with ``orderId``), ``failed`` (surely not created; may be sent again), ``unknown`` (timeout or 5xx
  after sending: the order may exist).

Claiming is what stops two tabs: a new key is claimed by inserting its document (the unique ``_id`` lets exactly one
attempt win) and a ``failed`` one by a conditional update on its state, so only one attempt can ever post an order.
Every later write of an attempt is conditional on its ``attemptId``. A ``queued`` or ``sending`` entry whose attempt
has been silent for longer than the lease, or whose attempt's process is known to be dead (``writer``: host and pid,
checked on the same host), is shown as "outcome unknown" and settled by :func:`data.submission.reconcile` against the
order service's list before anything is re-sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Literal

import pymongo
from bson import Decimal128
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from data.repositories.dberrors import db_call
from data.repositories.inputs import aware_utc, check_key, now_ms
from data.repositories.writers import current_writer, writer_gone
from engine.errors import InvalidInput

SUBMISSIONS = "submissions"
# One counter document per log, bumped after every write that can change what the log says of a portfolio and day
# (claims, outcomes, reconciliation): a reader caches a look-up under the counter it read first and reuses it while
# the counter is unchanged (the Orders page's "already traded" warning, issue #12 §4-5).
STAMPS = "changeStamps"
STAMP_ID = "submissions"
EntryState = Literal["queued", "sending", "success", "failed", "unknown"]
OPEN_STATES = ("queued", "sending")
# How long an attempt may stay silent before its queued/sending orders count as abandoned (outcome unknown). Longer
# than one batch's POST can take: the per-call timeout with its retries and a capped Retry-After wait.
DEFAULT_LEASE = dt.timedelta(minutes=5)
# Values per $in: mongoeco's SQLite planner turns a long $in into an expression tree deeper than SQLite allows
# ("Expression tree is too large" from about 1,000 values), so every list is queried in chunks.
IN_CHUNK = 200


@dataclasses.dataclass(frozen=True)
class PlannedOrder:
    """One order a run wants to send; ``key`` is stable across reloads, tabs and restarts."""

    run_key: str
    portfolio_id: str
    security_id: str
    side: str
    quantity: Decimal
    trade_date: dt.date | None

    @property
    def key(self) -> str:
        day = self.trade_date.isoformat() if self.trade_date else "-"
        return "|".join((self.run_key, self.portfolio_id, self.security_id, self.side, format(self.quantity, "f"), day))


# What identifies an order across run keys: portfolio, security, side, quantity, trade date.
OrderIdentity = tuple[str, str, str, Decimal, dt.date | None]


@dataclasses.dataclass(frozen=True)
class SubmissionEntry:
    """The log's knowledge of one order."""

    key: str
    run_key: str
    portfolio_id: str
    security_id: str
    side: str
    quantity: Decimal
    trade_date: dt.date | None
    state: EntryState
    message: str
    order_id: int | None
    attempt_id: str
    order_timestamp: dt.datetime | None
    updated_at: dt.datetime
    submitted_by: str | None
    writer_host: str | None = None  # the process of the attempt that claimed it (None: logged before it was kept)
    writer_pid: int | None = None

    def abandoned(self, now: dt.datetime, lease: dt.timedelta = DEFAULT_LEASE) -> bool:
        """Queued or sending, and its attempt silent for longer than the lease or its process gone (killed mid-batch,
        say): the outcome is unknown."""
        if self.state not in OPEN_STATES:
            return False
        return now - self.updated_at > lease or writer_gone(self.writer_host, self.writer_pid)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one posted order."""

    state: Literal["success", "failed", "unknown"]
    message: str
    order_id: int | None = None


class SubmissionLog:
    """Claim, record and read the submission outcomes of runs (see the module docstring)."""

    def __init__(self, db: Database, *, create_indexes: bool = True) -> None:
        self._col = db[SUBMISSIONS]
        self._stamps = db[STAMPS]
        if create_indexes:
            db_call(ensure_submission_indexes)(db)

    @db_call
    def stamp(self) -> int:
        """The log's change counter: unchanged since an earlier read means no order was claimed, settled or given an
        outcome since (read it *before* the look-up it guards)."""
        doc = self._stamps.find_one({"_id": STAMP_ID}, {"seq": 1})
        return int(doc.get("seq", 0)) if doc else 0

    def _bump(self) -> None:
        """After a write: readers holding an older stamp look again."""
        self._stamps.update_one({"_id": STAMP_ID}, {"$inc": {"seq": 1}}, upsert=True)

    @db_call
    def entries(self, run_key: str) -> dict[str, SubmissionEntry]:
        """Every logged order of a run, by key."""
        check_key(run_key, "run_key")
        return {doc["_id"]: _entry(doc) for doc in self._col.find({"runKey": run_key})}

    @db_call
    def entries_for_portfolios(
        self, portfolio_ids: Iterable[str], trade_date: dt.date | None = None
    ) -> list[SubmissionEntry]:
        """Logged orders of any run for these portfolios (optionally one trade date), for "already traded" warnings."""
        ids = [check_key(pid, "portfolio_id") for pid in portfolio_ids]
        found: list[SubmissionEntry] = []
        for chunk in itertools.batched(ids, IN_CHUNK, strict=False):
            query: dict[str, object] = {"portfolioId": {"$in": list(chunk)}}
            if trade_date is not None:
                query["tradeDate"] = trade_date.isoformat()
            found.extend(_entry(doc) for doc in self._col.find(query))
        return found

    @db_call
    def claim(
        self,
        orders: Sequence[PlannedOrder],
        attempt_id: str,
        *,
        user: str | None = None,
        now: dt.datetime | None = None,
    ) -> list[PlannedOrder]:
        """Claim the orders that may be sent now (never logged, or surely failed); return those, in input order.

        Orders already successful, unknown, or queued/sending in any attempt are left alone: they are never sent
        twice. Exactly one of two concurrent attempts wins each order.
        """
        now = now or now_ms()
        for order in orders:
            for field in ("run_key", "portfolio_id", "security_id", "side"):
                check_key(getattr(order, field), field)
        keys = [o.key for o in orders]
        if len(set(keys)) != len(keys):
            raise InvalidInput("an order appears twice in one submission", {"field": "orders"})
        # by run (indexed, a handful of values): a long $in over the keys themselves breaks the embedded backend
        wanted = set(keys)
        run_keys = sorted({o.run_key for o in orders})
        known = {
            doc["_id"]: doc["state"]
            for chunk in itertools.batched(run_keys, IN_CHUNK, strict=False)
            for doc in self._col.find({"runKey": {"$in": list(chunk)}}, {"state": 1})
            if doc["_id"] in wanted
        }
        fresh = [o for o in orders if o.key not in known]
        won: set[str] = set()
        if fresh:
            docs = [_new_doc(o, attempt_id, user, now) for o in fresh]
            try:
                self._col.insert_many(docs, ordered=False)
                won.update(d["_id"] for d in docs)
            except BulkWriteError as exc:
                lost = {e.get("index") for e in exc.details.get("writeErrors", []) if e.get("code") == 11000}
                if len(lost) != len(exc.details.get("writeErrors", [])):
                    raise
                won.update(d["_id"] for i, d in enumerate(docs) if i not in lost)
        for order in orders:
            if known.get(order.key) == "failed":
                result = self._col.update_one(
                    {"_id": order.key, "state": "failed"},
                    {"$set": {"state": "queued", "attemptId": attempt_id, "updatedAt": now, "submittedBy": user,
                              "message": "queued", "orderTimestamp": None, "writer": current_writer()}},
                )  # fmt: skip
                if result.modified_count == 1:
                    won.add(order.key)
        if won:
            self._bump()
        return [o for o in orders if o.key in won]

    @db_call
    def mark_sending(
        self, keys: Sequence[str], attempt_id: str, order_timestamp: dt.datetime, *, now: dt.datetime | None = None
    ) -> None:
        """Record the intent to post these orders (with the timestamp they will carry) before the POST."""
        stamp = now or now_ms()
        for chunk in itertools.batched(keys, IN_CHUNK, strict=False):
            self._col.update_many(
                {"_id": {"$in": list(chunk)}, "attemptId": attempt_id, "state": "queued"},
                {"$set": {"state": "sending", "orderTimestamp": order_timestamp, "updatedAt": stamp,
                          "message": "sending"}},
            )  # fmt: skip

    @db_call
    def record(self, outcomes: Mapping[str, Outcome], attempt_id: str, *, now: dt.datetime | None = None) -> None:
        """Record the outcome of each posted (or released) order of this attempt."""
        if not outcomes:
            return
        now = now or now_ms()
        self._col.bulk_write(
            [
                pymongo.UpdateOne(
                    {"_id": key, "attemptId": attempt_id},
                    {"$set": {"state": o.state, "message": o.message, "orderId": o.order_id, "updatedAt": now}},
                )
                for key, o in outcomes.items()
            ],
            ordered=False,
        )
        self._bump()

    @db_call
    def settle(self, key: str, expected: EntryState, outcome: Outcome, *, now: dt.datetime | None = None) -> bool:
        """Reconciliation: set the outcome of an order still in state ``expected``; False when it moved meanwhile."""
        result = self._col.update_one(
            {"_id": key, "state": expected},
            {"$set": {"state": outcome.state, "message": outcome.message, "orderId": outcome.order_id,
                      "updatedAt": now or now_ms()}},
        )  # fmt: skip
        if result.modified_count == 1:
            self._bump()
        return result.modified_count == 1

    @db_call
    def link_saved_run(self, run_key: str, rebalance_id: str, orders: Iterable[OrderIdentity]) -> int:
        """Mark the orders logged under a scenario's ``run_key`` that belong to the run it was just saved as
        (``savedRunId``), so the run counts the orders sent before its save. Returns how many entries were marked.

        Only entries matching one of ``orders`` (portfolio, security, side, quantity, trade date) are marked: a
        scenario's key may also hold orders of an earlier result it no longer proposes.
        """
        check_key(run_key, "run_key")
        check_key(rebalance_id, "rebalance_id")
        wanted = set(orders)
        keys = [
            doc["_id"]
            for doc in self._col.find(
                {"runKey": run_key}, {"portfolioId": 1, "securityId": 1, "side": 1, "quantity": 1, "tradeDate": 1}
            )
            if _identity(doc) in wanted
        ]
        marked = 0
        for chunk in itertools.batched(keys, IN_CHUNK, strict=False):
            marked += self._col.update_many(
                {"_id": {"$in": list(chunk)}}, {"$set": {"savedRunId": rebalance_id}}
            ).modified_count
        return marked

    @db_call
    def created_counts(self, run_keys: Iterable[str]) -> dict[str, int]:
        """How many orders of each run were created at the order service (for "submitted" in the history list):
        those logged under the run's key plus those sent before its save (see ``link_saved_run``)."""
        counts = {}
        for key in run_keys:
            check_key(key, "run_key")
            counts[key] = self._col.count_documents({"runKey": key, "state": "success"}) + self._col.count_documents(
                {"savedRunId": key, "state": "success"}
            )
        return counts

    @db_call
    def delete_run(self, run_key: str) -> int:
        """Forget a run's log (tests and tidy-up only: a log with successes is the proof they were sent)."""
        deleted = self._col.delete_many({"runKey": run_key}).deleted_count
        self._bump()
        return deleted


def ensure_submission_indexes(db: Database) -> None:
    """Indexes of ``submissions``: by run, and by portfolio and trade date. Idempotent."""
    db[SUBMISSIONS].create_indexes(
        [
            pymongo.IndexModel([("runKey", pymongo.ASCENDING)], name="run_key"),
            pymongo.IndexModel([("savedRunId", pymongo.ASCENDING)], name="saved_run_id"),
            pymongo.IndexModel([("portfolioId", pymongo.ASCENDING), ("tradeDate", pymongo.ASCENDING)],
                               name="portfolio_trade_date"),
        ]
    )  # fmt: skip


def _new_doc(order: PlannedOrder, attempt_id: str, user: str | None, now: dt.datetime) -> dict[str, object]:
    return {
        "_id": order.key,
        "runKey": order.run_key,
        "portfolioId": order.portfolio_id,
        "securityId": order.security_id,
        "side": order.side,
        "quantity": Decimal128(order.quantity),
        "tradeDate": order.trade_date.isoformat() if order.trade_date else None,
        "state": "queued",
        "message": "queued",
        "orderId": None,
        "attemptId": attempt_id,
        "orderTimestamp": None,
        "createdAt": now,
        "updatedAt": now,
        "submittedBy": user,
        "writer": current_writer(),
    }


def _identity(doc: Mapping[str, object]) -> OrderIdentity:
    quantity = doc["quantity"]
    day = doc.get("tradeDate")
    return (
        str(doc["portfolioId"]),
        str(doc["securityId"]),
        str(doc["side"]),
        quantity.to_decimal() if isinstance(quantity, Decimal128) else Decimal(str(quantity)),
        dt.date.fromisoformat(day) if isinstance(day, str) else None,
    )


def _entry(doc: Mapping[str, object]) -> SubmissionEntry:
    writer = doc.get("writer") if isinstance(doc.get("writer"), dict) else {}
    quantity = doc["quantity"]
    day = doc.get("tradeDate")
    return SubmissionEntry(
        key=str(doc["_id"]),
        run_key=str(doc["runKey"]),
        portfolio_id=str(doc["portfolioId"]),
        security_id=str(doc["securityId"]),
        side=str(doc["side"]),
        quantity=quantity.to_decimal() if isinstance(quantity, Decimal128) else Decimal(str(quantity)),
        trade_date=dt.date.fromisoformat(day) if isinstance(day, str) else None,
        state=doc["state"],  # type: ignore[arg-type]
        message=str(doc.get("message") or ""),
        order_id=doc["orderId"] if isinstance(doc.get("orderId"), int) else None,
        attempt_id=str(doc.get("attemptId") or ""),
        order_timestamp=aware_utc(doc.get("orderTimestamp")),
        updated_at=aware_utc(doc.get("updatedAt")) or dt.datetime.min.replace(tzinfo=dt.UTC),
        submitted_by=doc.get("submittedBy") if isinstance(doc.get("submittedBy"), str) else None,  # type: ignore[arg-type]
        writer_host=writer.get("host") if isinstance(writer.get("host"), str) else None,
        writer_pid=writer.get("pid") if isinstance(writer.get("pid"), int) else None,
    )


__all__ = [
    "DEFAULT_LEASE",
    "SUBMISSIONS",
    "EntryState",
    "OrderIdentity",
    "Outcome",
    "PlannedOrder",
    "SubmissionEntry",
    "SubmissionLog",
    "ensure_submission_indexes",
]
