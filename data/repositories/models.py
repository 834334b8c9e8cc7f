"""Investment models in the ``models`` collection (product-spec 1.1–1.7, 3.13–3.17).

Every mutation is a single atomic conditional write on ``{_id, version}`` that increments ``version``; zero matched
documents means ``VersionConflict`` (or ``NotFound`` when the model is gone) — never a silent overwrite. Every write
re-checks all rules of ``engine.validation`` and drops zero-target positions. A unique index on the name and a
partial unique multikey index on ``portfolios`` back the uniqueness rules even against concurrent writers.

Version history (``modelVersions``, one document per version, ``"<model id>:<version>"``) without multi-document
transactions: a write stores the new version's document *first*, then bumps the model. A crash or a lost
compare-and-set in between leaves a document one version ahead of its model, which ``history`` never lists (it lists
versions up to the model's own, the newest as the model holds it) and the next save overwrites. A document a losing
writer left over the winner's is put right from the model when the model moves on (or is deleted). Where the server
has transactions (replica set, sharded cluster) both writes are one transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import DeleteOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from data.documents import controls_to_doc, from_utc, model_fields_to_doc, model_from_doc, to_utc
from data.repositories.dberrors import db_call, duplicate_key_field, translate
from data.repositories.inputs import (
    check_controls,
    check_datetime,
    check_name,
    check_text,
    check_user,
    check_version,
    coerce_ids,
    coerce_position,
    coerce_positions,
)
from data.repositories.paging import parse_count, parse_sort, with_tiebreaker
from data.repositories.rebalances import supports_transactions
from engine.errors import BusinessRuleViolation, EngineError, InvalidInput, NotFound, VersionConflict
from engine.models import InvestmentModel, ModelVersion, Position, TradeControls
from engine.validation import require_object_id, validate_model

IN_CHUNK = 200  # ids per $in query on `portfolios`
MODELS = "models"
MODEL_VERSIONS = "modelVersions"  # one document per stored version of a model: "<model id>:<version>"
# Non-empty portfolio lists only: a unique multikey index keys an empty array as `undefined`, so without the
# filter two models with no portfolios would clash (verified on mongoeco and the documented MongoDB behaviour).
PORTFOLIO_INDEX_FILTER = {"portfolios": {"$type": "string"}}


def ensure_model_indexes(db: Any) -> None:
    """Indexes of ``models``: unique exact name (3.17) and unique owner per portfolio (1.6). Idempotent."""
    db[MODELS].create_indexes(
        [
            pymongo.IndexModel([("name", pymongo.ASCENDING)], name="name_unique", unique=True),
            pymongo.IndexModel(
                [("portfolios", pymongo.ASCENDING)],
                name="portfolio_owner_unique",
                unique=True,
                partialFilterExpression=PORTFOLIO_INDEX_FILTER,
            ),
            pymongo.IndexModel([("lastRebalanceDate", pymongo.ASCENDING)], name="last_rebalance_date"),
        ]
    )
    db[MODEL_VERSIONS].create_indexes(
        [pymongo.IndexModel([("modelId", pymongo.ASCENDING), ("version", pymongo.DESCENDING)], name="model_history")]
    )


class ModelRepository:
    """CRUD, paging and association rules of investment models; returns ``InvestmentModel`` objects.

    ``use_transactions``: ``None`` detects a replica set or sharded cluster; ``True``/``False`` force the choice
    (``True`` applies to a ``mongodb://`` client only).
    """

    def __init__(self, db: Any, *, create_indexes: bool = True, use_transactions: bool | None = None) -> None:
        self._db = db
        self._col = db[MODELS]
        self._versions = db[MODEL_VERSIONS]
        self._use_transactions = use_transactions
        if create_indexes:
            db_call(ensure_model_indexes)(db)

    # --- reads -----------------------------------------------------------------------------------------------------

    @db_call
    def count_models(self, name_contains: str | None = None) -> int:
        """Number of models (whose name contains ``name_contains``, case-insensitively, when given)."""
        return self._col.count_documents(_name_filter(name_contains))

    @db_call
    def list_models(
        self,
        offset: int | str | None = None,
        limit: int | str | None = None,
        sort_by: str | None = None,
        name_contains: str | None = None,
    ) -> list[InvestmentModel]:
        """Models paged and sorted per product-spec 1.7.

        No offset/limit → every model; ``limit=0`` → ``[]``; offset above the count → ``InvalidInput``; ``sort_by``
        like ``"name,-last_rebalance_date"``; ``_id`` ascending is always the final tiebreaker, so pages are stable.
        ``name_contains`` is a literal, case-insensitive substring (never a pattern or operator).
        """
        start = parse_count(offset, "offset")
        size = parse_count(limit, "limit")
        keys = with_tiebreaker(parse_sort(sort_by))
        query = _name_filter(name_contains)
        if start is not None:
            total = self._col.count_documents(query)
            if start > total:
                raise InvalidInput(
                    f"offset exceeds total count {total}",
                    {"field": "offset", "value": str(start), "total": total},
                )
        if size == 0:  # MongoDB reads limit 0 as "no limit"
            return []
        page: dict[str, int] = {"skip": start or 0}
        if size is not None:  # never pass limit=0 for "no limit": mongoeco 4.11 returns nothing for sort + limit 0
            page["limit"] = size
        cursor = self._col.find(query, sort=keys, **page)
        return [_model(doc) for doc in cursor]

    @db_call
    def get_model(self, model_id: str) -> InvestmentModel:
        """The model with this id; malformed id → ``InvalidInput``, unknown → ``NotFound``."""
        doc = self._col.find_one({"_id": _oid(model_id)})
        if doc is None:
            raise NotFound(f"model {model_id} not found", {"model_id": model_id})
        return _model(doc)

    @db_call
    def history(self, model_id: str, limit: int = 50) -> list[ModelVersion]:
        """The versions the model went through, newest first (at most ``limit``); ``[]`` once it is deleted.

        Only versions up to the model's own (a document written ahead of a bump that never happened is none), the
        current one as the model holds it. Versions written before the history existed are not there: the oldest
        entry says where the history starts.
        """
        oid = _oid(model_id)
        current = self._col.find_one({"_id": oid})
        if current is None:
            return []
        query = {"modelId": str(oid), "version": {"$lte": current["version"]}}
        out = []
        for doc in self._versions.find(query, sort=[("version", pymongo.DESCENDING)], limit=limit):
            fields = {**doc, "_id": doc["modelId"]}
            if doc["version"] == current["version"]:  # the model itself, its rebalance stamp as of that save
                fields = {**current, "lastRebalanceDate": doc.get("lastRebalanceDate")}
            out.append(ModelVersion(model=_model(fields), saved_at=from_utc(doc["savedAt"])))
        return out

    @db_call
    def find_model_for_portfolio(self, portfolio_id: str) -> InvestmentModel | None:
        """The one model whose ``portfolios`` holds this id (indexed lookup), or ``None``."""
        (pid,) = coerce_ids([portfolio_id], "portfolio id", check_format=True)
        doc = self._col.find_one({"portfolios": pid})
        return None if doc is None else _model(doc)

    @db_call
    def portfolio_owners(self, portfolio_ids: Iterable[str], exclude_model_id: str | None = None) -> dict[str, str]:
        """``{portfolio_id: model name}`` for the given ids that already belong to a model (other than the excluded)."""
        ids = coerce_ids(portfolio_ids)
        return {pid: name for pid, (_, name) in self._owners(ids, exclude_model_id).items()}

    # --- writes ----------------------------------------------------------------------------------------------------

    @db_call
    def create_model(
        self,
        name: str,
        positions: Iterable[Position] = (),
        portfolios: Iterable[str] = (),
        updated_by: str | None = None,
        controls: TradeControls | None = None,
    ) -> InvestmentModel:
        """Insert a model with version 1 after every rule of 1.3 and 1.6; name clash → ``BusinessRuleViolation``.

        ``updated_by`` (the signed-in user's id) is stored as ``updatedBy``. ``controls``: the model's default trade
        controls (product-spec 2.12); None keeps the defaults (none stored).
        """
        name, cleaned, ids = self._checked(name, positions, portfolios)
        user = check_user(updated_by, "updatedBy")
        extra = {} if controls is None else {"controls": controls_to_doc(check_controls(controls))}
        self._reject_owned(ids, None)
        doc = {"_id": ObjectId(), **model_fields_to_doc(name, cleaned, ids, None), **extra, "version": 1, **_by(user)}

        def write(session: Any) -> None:
            self._write_ahead(None, doc, session)
            self._col.insert_one(doc, **_in(session))

        try:
            self._run(write)
        except DuplicateKeyError as exc:
            self._versions.delete_one({"_id": _version_key(doc)})  # written ahead for a model that never was
            raise self._duplicate(exc, name, ids, None) from exc
        return _model(doc)

    @db_call
    def replace_model(
        self,
        model_id: str,
        name: str,
        positions: Iterable[Position],
        portfolios: Iterable[str],
        last_rebalance_date: dt.datetime | None,
        version: int,
        updated_by: str | None = None,
    ) -> InvestmentModel:
        """Replace the whole model if its stored version is still ``version``; stale → ``VersionConflict``."""
        _oid(model_id)
        version = check_version(version)
        last = check_datetime(last_rebalance_date, "lastRebalanceDate")
        name, cleaned, ids = self._checked(name, positions, portfolios)
        user = check_user(updated_by, "updatedBy")
        self._reject_owned(ids, model_id)
        fields = {**model_fields_to_doc(name, cleaned, ids, last), **_by(user)}
        return self._swap(model_id, version, fields, name=name, portfolios=ids)

    @db_call
    def set_controls(
        self, model_id: str, controls: TradeControls, version: int, updated_by: str | None = None
    ) -> InvestmentModel:
        """Save the model's default trade controls, versioned like positions (stale version → ``VersionConflict``).

        ``updated_by`` (the signed-in user's id) is stored as ``updatedBy``.
        """
        _oid(model_id)
        version = check_version(version)
        user = check_user(updated_by, "updatedBy")
        doc = controls_to_doc(check_controls(controls))
        return self._swap(model_id, version, {"controls": doc, **_by(user)})

    @db_call
    def add_position(self, model_id: str, position: Position, version: int | None = None) -> InvestmentModel:
        """Add a security not yet in the model; Σ target stays ≤ 0.95 (a zero target is dropped by the cleanup)."""
        pos = coerce_position(position)
        model = self._read_for_write(model_id, version)
        if pos.security_id in model.position_map():
            raise BusinessRuleViolation(
                f"security {pos.security_id} is already in model {model.name!r}; update it instead",
                {"model_id": model_id, "security_id": pos.security_id, "rule": "duplicate_position"},
            )
        return self._write_positions(model, (*model.positions, pos))

    @db_call
    def update_position(self, model_id: str, position: Position, version: int | None = None) -> InvestmentModel:
        """Replace target and drifts of a security already in the model; a target of 0 removes it."""
        pos = coerce_position(position)
        model = self._read_for_write(model_id, version)
        if pos.security_id not in model.position_map():
            raise NotFound(
                f"security {pos.security_id} is not in model {model.name!r}",
                {"model_id": model_id, "security_id": pos.security_id},
            )
        positions = tuple(pos if p.security_id == pos.security_id else p for p in model.positions)
        return self._write_positions(model, positions)

    @db_call
    def delete_position(self, model_id: str, position: Position, version: int | None = None) -> InvestmentModel:
        """Delete a position only if target, highDrift and lowDrift all equal the stored values (as numbers)."""
        pos = coerce_position(position)
        model = self._read_for_write(model_id, version)
        stored = model.position_map().get(pos.security_id)
        if stored is None:
            raise NotFound(
                f"security {pos.security_id} is not in model {model.name!r}",
                {"model_id": model_id, "security_id": pos.security_id},
            )
        given = (pos.target, pos.high_drift, pos.low_drift)
        held = (stored.target, stored.high_drift, stored.low_drift)
        if given != held:  # Decimal equality is numeric: 0.02 == 0.020
            raise BusinessRuleViolation(
                f"position {pos.security_id} does not match the stored values (target {stored.target}, "
                f"highDrift {stored.high_drift}, lowDrift {stored.low_drift}); reload the model",
                {"model_id": model_id, "security_id": pos.security_id, "rule": "position_mismatch"},
            )
        return self._write_positions(model, tuple(p for p in model.positions if p.security_id != pos.security_id))

    @db_call
    def add_portfolios(
        self, model_id: str, portfolio_ids: Iterable[str], version: int | None = None
    ) -> InvestmentModel:
        """Append portfolios; ids already in the model are ignored; one owned by another model is rejected by name."""
        ids = coerce_ids(portfolio_ids, check_format=True)
        model = self._read_for_write(model_id, version)
        new = [pid for pid in ids if pid not in model.portfolios]
        self._reject_owned(new, model_id)
        portfolios = (*model.portfolios, *new)
        return self._swap(model_id, model.version, {"portfolios": list(portfolios)}, portfolios=new)

    @db_call
    def remove_portfolios(
        self, model_id: str, portfolio_ids: Iterable[str], version: int | None = None
    ) -> InvestmentModel:
        """Remove portfolios; ids not in the model are ignored."""
        drop = set(coerce_ids(portfolio_ids))
        model = self._read_for_write(model_id, version)
        portfolios = [pid for pid in model.portfolios if pid not in drop]
        return self._swap(model_id, model.version, {"portfolios": portfolios})

    @db_call
    def delete_model(self, model_id: str, version: int) -> None:
        """Delete the model if its stored version is still ``version``; its version documents stay (the last one
        as the model held it, none ahead of it)."""
        oid = _oid(model_id)
        version = check_version(version)

        def write(session: Any) -> None:
            doc = self._col.find_one_and_delete({"_id": oid, "version": version}, **_in(session))
            if doc is None:
                raise self._conflict_or_missing(model_id, version)
            ahead = _version_key({"_id": oid, "version": version + 1})
            self._versions.bulk_write([_settle(doc), DeleteOne({"_id": ahead})], ordered=True, **_in(session))

        self._run(write)

    @db_call
    def stamp_last_rebalance(self, model_id: str, when: dt.datetime, version: int | None = None) -> InvestmentModel:
        """Record a saved rebalance: ``lastRebalanceDate`` moves forward to ``when``; ``version`` is not bumped (3.16).

        With ``version`` the stamp only applies while the model is still at that version (``save_run`` uses it).
        """
        oid = _oid(model_id)
        when = check_datetime(when, "lastRebalanceDate")
        if when is None:
            raise InvalidInput("lastRebalanceDate is required", {"field": "lastRebalanceDate"})
        query: dict[str, Any] = {"_id": oid}
        if version is not None:
            query["version"] = check_version(version)
        # $max: saving an older run after a newer one must not move the date backwards.
        doc = self._col.find_one_and_update(
            query, {"$max": {"lastRebalanceDate": to_utc(when)}}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            raise self._conflict_or_missing(model_id, version)
        return _model(doc)

    def unstamp_last_rebalance(
        self, model_id: str, deleted: dt.datetime, latest: dt.datetime | None
    ) -> InvestmentModel | None:
        """A saved run was deleted: if ``lastRebalanceDate`` is still its date ``deleted``, set it back to ``latest``
        (the newest remaining run, or None); ``version`` is not bumped. Conditional on the date, so a newer stamp
        written meanwhile is kept. Returns the model when it changed, else None."""
        oid = _oid(model_id)
        when = check_datetime(deleted, "lastRebalanceDate")
        doc = self._col.find_one_and_update(
            {"_id": oid, "lastRebalanceDate": to_utc(when)},
            {"$set": {"lastRebalanceDate": None if latest is None else to_utc(latest)}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _model(doc)

    # --- helpers ---------------------------------------------------------------------------------------------------

    def _checked(self, name: Any, positions: Any, portfolios: Any) -> tuple[str, tuple[Position, ...], tuple[str, ...]]:
        """Trimmed name, cleaned positions and de-duplicated portfolio ids, after every rule of 1.3."""
        name = check_name(name)
        items = coerce_positions(positions)
        ids = coerce_ids(portfolios)
        return name, validate_model(name, items, ids), ids

    def _read_for_write(self, model_id: str, version: int | None) -> InvestmentModel:
        """The model to mutate; a caller-supplied ``version`` that is already stale fails here."""
        model = self.get_model(model_id)
        if version is not None and check_version(version) != model.version:
            raise _conflict(model_id, version, model.version)
        return model

    def _write_positions(self, model: InvestmentModel, positions: tuple[Position, ...]) -> InvestmentModel:
        cleaned = validate_model(model.name, positions, model.portfolios)
        fields = model_fields_to_doc(model.name, cleaned, model.portfolios, None)
        return self._swap(model.model_id or "", model.version, {"positions": fields["positions"]})

    def _swap(
        self,
        model_id: str,
        version: int,
        fields: dict[str, Any],
        *,
        name: str | None = None,
        portfolios: Iterable[str] = (),
    ) -> InvestmentModel:
        """The atomic compare-and-set: set the top-level ``fields`` and bump ``version`` only if ``{_id, version}``
        matches; the new version's document is written first (module docstring)."""
        oid = _oid(model_id)

        def write(session: Any) -> dict[str, Any]:
            current = self._col.find_one({"_id": oid, "version": version}, **_in(session))
            if current is not None:
                self._write_ahead(current, {**current, **fields, "version": version + 1}, session)
                current = self._col.find_one_and_update(
                    {"_id": oid, "version": version},
                    {"$set": fields, "$inc": {"version": 1}},
                    return_document=ReturnDocument.AFTER,
                    **_in(session),
                )
            if current is None:  # raised inside: a transaction is rolled back
                raise self._conflict_or_missing(model_id, version)
            return current

        try:
            return _model(self._run(write))
        except DuplicateKeyError as exc:
            raise self._duplicate(exc, name, tuple(portfolios), model_id) from exc

    def _write_ahead(self, current: dict[str, Any] | None, after: dict[str, Any], session: Any) -> None:
        """Before a write that makes ``after`` of the model ``current``: its version document (replacing one a failed
        write left), and ``current``'s as the model holds it (putting right one a losing writer left over it).
        Only writes that bump ``version`` call it (a rebalance stamp is not a version)."""
        now = to_utc(dt.datetime.now(dt.UTC))
        doc = {**{k: v for k, v in after.items() if k != "_id"}, "modelId": str(after["_id"]), "savedAt": now}
        ops: list[Any] = [] if current is None else [_settle(current)]
        ops.append(ReplaceOne({"_id": _version_key(after)}, doc, upsert=True))
        self._versions.bulk_write(ops, ordered=True, **_in(session))

    def _run[R](self, write: Callable[[Any], R]) -> R:
        """``write(session)`` as one transaction where the server has them; else ``write(None)`` (written ahead)."""
        if self._use_transactions is None:
            self._use_transactions = supports_transactions(self._db)
        # Sessions exist on pymongo clients only (the embedded client has no transactions to use).
        if not (self._use_transactions and isinstance(getattr(self._db, "client", None), pymongo.MongoClient)):
            return write(None)
        with self._db.client.start_session() as session:
            return session.with_transaction(write)

    def _conflict_or_missing(self, model_id: str, version: int | None) -> EngineError:
        current = self._col.find_one({"_id": _oid(model_id)}, {"version": 1})
        if current is None:
            return NotFound(f"model {model_id} not found", {"model_id": model_id})
        return _conflict(model_id, version, current.get("version"))

    def _owners(self, ids: Iterable[str], exclude_model_id: str | None) -> dict[str, tuple[str, str]]:
        """``{portfolio_id: (model_id, model name)}`` for ids held by a model other than the excluded one."""
        ids = list(ids)
        wanted = set(ids)
        out: dict[str, tuple[str, str]] = {}
        # Chunked: mongoeco's SQLite planner turns a long $in on an array field into an expression tree deeper than
        # SQLite allows (≈500 ids fail); a 1000-portfolio model is normal here.
        for chunk in itertools.batched(ids, IN_CHUNK, strict=False):
            query: dict[str, Any] = {"portfolios": {"$in": list(chunk)}}
            if exclude_model_id is not None:
                query["_id"] = {"$ne": _oid(exclude_model_id)}
            for doc in self._col.find(query, {"name": 1, "portfolios": 1}):
                for pid in doc.get("portfolios") or ():
                    if pid in wanted:
                        out[pid] = (str(doc["_id"]), doc["name"])
        return out

    def _reject_owned(self, ids: Iterable[str], model_id: str | None) -> None:
        """A portfolio belongs to at most one model (1.6): name the other model(s)."""
        owners = self._owners(ids, model_id)
        if owners:
            text = "; ".join(f"portfolio {pid} already belongs to model {name!r}" for pid, (_, name) in owners.items())
            raise BusinessRuleViolation(
                text,
                {
                    "rule": "one_model_per_portfolio",
                    "owners": {pid: name for pid, (_, name) in owners.items()},
                    "model_ids": {pid: mid for pid, (mid, _) in owners.items()},
                },
            )

    def _duplicate(
        self, exc: DuplicateKeyError, name: str | None, portfolios: tuple[str, ...], model_id: str | None
    ) -> EngineError:
        """A unique index said no (a concurrent writer got there first): explain which rule."""
        field = duplicate_key_field(exc)
        if field == "name":
            return BusinessRuleViolation(
                f"a model named {name!r} already exists", {"field": "name", "value": name, "rule": "unique_name"}
            )
        if field == "portfolios":
            try:
                self._reject_owned(portfolios, model_id)
            except BusinessRuleViolation as err:
                return err
            return BusinessRuleViolation(
                "a portfolio of this model already belongs to another model", {"rule": "one_model_per_portfolio"}
            )
        return translate(exc)


def _by(user: str | None) -> dict[str, str]:
    return {} if user is None else {"updatedBy": user}


def _in(session: Any) -> dict[str, Any]:
    """The ``session`` argument of a call inside a transaction (none outside: the embedded client takes none)."""
    return {} if session is None else {"session": session}


def _version_key(doc: dict[str, Any]) -> str:
    return f"{doc['_id']}:{doc['version']}"


def _settle(doc: dict[str, Any]) -> UpdateOne:
    """Set ``doc``'s version document to the model's fields (its rebalance stamp as of that save stays); never
    creates one (a model saved before the history existed has none)."""
    fields = {k: v for k, v in doc.items() if k not in ("_id", "lastRebalanceDate")}
    return UpdateOne({"_id": _version_key(doc)}, {"$set": fields})


def _oid(model_id: Any) -> ObjectId:
    return ObjectId(require_object_id(model_id, "model id"))


def _conflict(model_id: str, expected: int | None, current: Any) -> VersionConflict:
    return VersionConflict(
        f"model {model_id} was modified by another process (version {expected} is stale, "
        f"the stored version is {current}); reload it and try again",
        {"model_id": model_id, "expected_version": expected, "current_version": current},
    )


def _name_filter(name_contains: Any) -> dict[str, Any]:
    """Literal, case-insensitive substring match: the text is escaped, so it is never a pattern or operator."""
    text = check_text(name_contains, "name filter")
    return {"name": {"$regex": re.escape(text), "$options": "i"}} if text else {}


def _model(doc: dict[str, Any]) -> InvestmentModel:
    try:
        return model_from_doc(doc)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # pydantic errors are ValueErrors
        raise EngineError(
            f"stored model {doc.get('_id')} is malformed: {exc}", {"model_id": str(doc.get("_id"))}
        ) from exc
