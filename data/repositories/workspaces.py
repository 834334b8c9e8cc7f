"""What-if workspaces that survive a reload, a reconnect or a server restart (issue #12 §2).

A workspace is a small header in ``workspaces`` (``_id`` an unguessable token carried in the page URL as ``?ws=…``,
name, owner, dates, ``version``) plus one document per scenario in ``workspaceScenarios`` and one per frozen market
snapshot in ``workspaceSnapshots`` (scenarios of one snapshot share it). A scenario stores its inputs (scope,
options, run-only overrides: ``meta``, plain JSON) and the id of its snapshot; the snapshot itself is an opaque
compressed blob (:mod:`data.snapshot_codec`) because it is only ever read whole. Results are recomputed on load:
the engine is deterministic and a 1,000-portfolio solve takes well under a second.

Concurrency: adding a scenario inserts a new document, so two tabs adding scenarios never collide; renaming or
deleting a scenario is conditional on that scenario's ``version`` and renaming a workspace on the header's, so a
stale tab gets ``VersionConflict`` (it reloads and says so) and nothing is ever overwritten.

Lifetime: every document carries ``expiresAt`` (last use + the TTL, 14 days by default); a TTL index removes
expired ones on a real MongoDB, and every read filters on ``expiresAt`` so expiry is exact on every backend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

import pymongo
from bson import Binary
from pymongo.database import Database

from data.repositories.dberrors import db_call
from data.repositories.inputs import aware_utc, check_key, now_ms
from engine.errors import InvalidInput, NotFound, VersionConflict

WORKSPACES = "workspaces"
WORKSPACE_SCENARIOS = "workspaceScenarios"
WORKSPACE_SNAPSHOTS = "workspaceSnapshots"
DEFAULT_TTL = dt.timedelta(days=14)
MAX_SCENARIOS = 20
MAX_SNAPSHOT_BYTES = 15 * 1024 * 1024  # one document each: MongoDB's 16 MiB limit with room for the fields
MAX_META_BYTES = 4 * 1024 * 1024
MAX_NAME = 80
RECENT = 10


@dataclasses.dataclass(frozen=True)
class WorkspaceInfo:
    """A workspace header (what "Recent workspaces" lists)."""

    workspace_id: str
    name: str
    owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    scenario_count: int = 0


@dataclasses.dataclass(frozen=True)
class StoredScenario:
    """One scenario's stored inputs: ``meta`` is the UI's JSON (scope, options, overrides), ``snapshot_id`` its data."""

    scenario_id: str
    name: str
    meta: dict[str, Any]
    snapshot_id: str
    created_at: dt.datetime
    version: int


class WorkspaceRepository:
    """Create, list, load and change workspaces and their scenarios (see the module docstring)."""

    def __init__(self, db: Database, *, ttl: dt.timedelta = DEFAULT_TTL, create_indexes: bool = True) -> None:
        if ttl <= dt.timedelta(0):
            raise InvalidInput("the workspace lifetime must be positive", {"field": "ttl", "value": str(ttl)})
        self._heads = db[WORKSPACES]
        self._scenarios = db[WORKSPACE_SCENARIOS]
        self._snapshots = db[WORKSPACE_SNAPSHOTS]
        self._ttl = ttl
        if create_indexes:
            db_call(ensure_workspace_indexes)(db)

    # --- workspaces ----------------------------------------------------------------------------------------------
    @db_call
    def create(self, name: str, owner: str | None = None) -> WorkspaceInfo:
        """A new, empty workspace with an unguessable id."""
        now = now_ms()
        doc = {
            "_id": secrets.token_urlsafe(18),
            "name": _name(name),
            "owner": owner,
            "createdAt": now,
            "updatedAt": now,
            "expiresAt": now + self._ttl,
            "version": 1,
        }
        self._heads.insert_one(doc)
        return _info(doc, 0)

    @db_call
    def get(self, workspace_id: str) -> WorkspaceInfo:
        """The header of a live workspace; ``NotFound`` when unknown or expired."""
        doc = self._heads.find_one({"_id": _token(workspace_id), "expiresAt": {"$gt": now_ms()}})
        if doc is None:
            raise NotFound("this workspace does not exist or has expired", {"workspaceId": workspace_id[:40]})
        return _info(doc, self._scenarios.count_documents({"workspaceId": doc["_id"]}))

    @db_call
    def touch(self, workspace_id: str) -> None:
        """Mark the workspace used now: its lifetime starts again (header, scenarios and snapshots)."""
        now = now_ms()
        expires = {"$set": {"expiresAt": now + self._ttl}}
        self._heads.update_one(
            {"_id": _token(workspace_id)}, {"$set": {"updatedAt": now, "expiresAt": now + self._ttl}}
        )
        self._scenarios.update_many({"workspaceId": workspace_id}, expires)
        self._snapshots.update_many({"workspaceId": workspace_id}, expires)

    @db_call
    def recent(self, owner: str | None = None, limit: int = RECENT) -> list[WorkspaceInfo]:
        """The most recently used live workspaces (of ``owner`` when given), newest first."""
        query: dict[str, Any] = {"expiresAt": {"$gt": now_ms()}}
        if owner is not None:
            query["owner"] = check_key(owner, "owner")
        docs = list(self._heads.find(query).sort([("updatedAt", -1), ("_id", -1)]).limit(max(1, min(limit, 100))))
        counts = {d["_id"]: self._scenarios.count_documents({"workspaceId": d["_id"]}) for d in docs}
        return [_info(d, counts[d["_id"]]) for d in docs]

    @db_call
    def rename(self, workspace_id: str, name: str, version: int) -> WorkspaceInfo:
        """Rename, conditional on the header's version."""
        now = now_ms()
        result = self._heads.update_one(
            {"_id": _token(workspace_id), "version": _version(version)},
            {"$set": {"name": _name(name), "updatedAt": now, "expiresAt": now + self._ttl}, "$inc": {"version": 1}},
        )
        if result.matched_count == 0:
            self._conflict_or_missing(self._heads, workspace_id, "workspace")
        return self.get(workspace_id)

    @db_call
    def delete(self, workspace_id: str) -> None:
        """Remove a workspace with its scenarios and snapshots."""
        token = _token(workspace_id)
        self._heads.delete_one({"_id": token})
        self._scenarios.delete_many({"workspaceId": token})
        self._snapshots.delete_many({"workspaceId": token})

    # --- snapshots -------------------------------------------------------------------------------------------------
    @db_call
    def put_snapshot(self, workspace_id: str, snapshot_id: str, blob: bytes) -> None:
        """Store a frozen market snapshot once (a second put of the same id is a no-op)."""
        self._live(workspace_id)
        if len(blob) > MAX_SNAPSHOT_BYTES:
            raise InvalidInput(
                f"this market snapshot is {len(blob) / 2**20:.1f} MiB compressed, above the workspace limit of "
                f"{MAX_SNAPSHOT_BYTES / 2**20:.0f} MiB: run fewer portfolios per scenario",
                {"field": "snapshot", "value": len(blob)},
            )
        key = f"{workspace_id}:{check_key(snapshot_id, 'snapshot_id')}"
        self._snapshots.update_one(
            {"_id": key},
            {"$setOnInsert": {"workspaceId": workspace_id, "blob": Binary(blob), "expiresAt": now_ms() + self._ttl}},
            upsert=True,
        )

    @db_call
    def snapshot(self, workspace_id: str, snapshot_id: str) -> bytes:
        """A stored snapshot's blob; ``NotFound`` when it is gone."""
        doc = self._snapshots.find_one({"_id": f"{_token(workspace_id)}:{check_key(snapshot_id, 'snapshot_id')}"})
        if doc is None:
            raise NotFound("the market snapshot of this scenario is no longer stored", {"snapshotId": snapshot_id})
        return bytes(doc["blob"])

    # --- scenarios -------------------------------------------------------------------------------------------------
    @db_call
    def add_scenario(
        self, workspace_id: str, scenario_id: str, name: str, meta: Mapping[str, Any], snapshot_id: str
    ) -> StoredScenario:
        """Add a scenario (never conflicts with another tab's additions); the workspace's size is bounded."""
        self._live(workspace_id)
        count = self._scenarios.count_documents({"workspaceId": workspace_id})
        if count >= MAX_SCENARIOS:
            raise InvalidInput(
                f"this workspace holds {MAX_SCENARIOS} scenarios, its limit: delete one or start a new workspace",
                {"field": "scenarios", "value": count},
            )
        now = now_ms()
        doc = {
            "_id": f"{workspace_id}:{check_key(scenario_id, 'scenario_id')}",
            "workspaceId": workspace_id,
            "scenarioId": scenario_id,
            "name": _name(name),
            "meta": _meta(meta),
            "snapshotId": check_key(snapshot_id, "snapshot_id"),
            "createdAt": now,
            "expiresAt": now + self._ttl,
            "version": 1,
        }
        self._scenarios.insert_one(doc)
        self.touch(workspace_id)
        return _scenario(doc)

    @db_call
    def scenarios(self, workspace_id: str) -> list[StoredScenario]:
        """Every scenario of a live workspace, oldest first."""
        self._live(workspace_id)
        docs = self._scenarios.find({"workspaceId": workspace_id}).sort([("createdAt", 1), ("_id", 1)])
        return [_scenario(d) for d in docs]

    @db_call
    def rename_scenario(self, workspace_id: str, scenario_id: str, name: str, version: int) -> StoredScenario:
        """Rename a scenario, conditional on its version."""
        key = f"{_token(workspace_id)}:{check_key(scenario_id, 'scenario_id')}"
        doc = self._scenarios.find_one_and_update(
            {"_id": key, "version": _version(version)},
            {"$set": {"name": _name(name)}, "$inc": {"version": 1}},
            return_document=pymongo.ReturnDocument.AFTER,
        )
        if doc is None:
            self._conflict_or_missing(self._scenarios, key, "scenario")
        return _scenario(doc)

    @db_call
    def update_scenario_meta(
        self, workspace_id: str, scenario_id: str, changes: Mapping[str, Any], version: int | None = None
    ) -> StoredScenario:
        """Set some fields of a scenario's ``meta`` (saved run id ...); conditional on ``version`` when given."""
        key = f"{_token(workspace_id)}:{check_key(scenario_id, 'scenario_id')}"
        query: dict[str, Any] = {"_id": key}
        if version is not None:
            query["version"] = _version(version)
        if not all(isinstance(k, str) and k.isidentifier() for k in changes):
            raise InvalidInput("scenario fields are plain names (no '.' or '$')", {"field": "meta"})
        sets = {f"meta.{k}": v for k, v in _meta(changes).items()}
        doc = self._scenarios.find_one_and_update(
            query, {"$set": sets, "$inc": {"version": 1}}, return_document=pymongo.ReturnDocument.AFTER
        )
        if doc is None:
            self._conflict_or_missing(self._scenarios, key, "scenario")
        return _scenario(doc)

    @db_call
    def delete_scenario(self, workspace_id: str, scenario_id: str, version: int) -> None:
        """Delete a scenario, conditional on its version; its snapshot goes when no scenario uses it any more."""
        key = f"{_token(workspace_id)}:{check_key(scenario_id, 'scenario_id')}"
        doc = self._scenarios.find_one({"_id": key})
        result = self._scenarios.delete_one({"_id": key, "version": _version(version)})
        if result.deleted_count == 0:
            self._conflict_or_missing(self._scenarios, key, "scenario")
        if doc is not None and not self._scenarios.count_documents(
            {"workspaceId": workspace_id, "snapshotId": doc["snapshotId"]}
        ):
            self._snapshots.delete_one({"_id": f"{workspace_id}:{doc['snapshotId']}"})

    # --- helpers ---------------------------------------------------------------------------------------------------
    def _live(self, workspace_id: str) -> None:
        if self._heads.count_documents({"_id": _token(workspace_id), "expiresAt": {"$gt": now_ms()}}) == 0:
            raise NotFound("this workspace does not exist or has expired", {"workspaceId": workspace_id[:40]})

    @staticmethod
    def _conflict_or_missing(collection: Any, key: str, what: str) -> None:
        if collection.count_documents({"_id": key}) == 0:
            raise NotFound(f"this {what} no longer exists (deleted in another tab?)", {"id": key[:80]})
        raise VersionConflict(f"this {what} was changed in another tab; reloaded", {"id": key[:80]})


def ensure_workspace_indexes(db: Database) -> None:
    """TTL and look-up indexes of the workspace collections. Idempotent."""
    ttl = pymongo.IndexModel([("expiresAt", pymongo.ASCENDING)], name="expires", expireAfterSeconds=0)
    db[WORKSPACES].create_indexes([ttl, pymongo.IndexModel([("updatedAt", pymongo.DESCENDING)], name="recent")])
    db[WORKSPACE_SCENARIOS].create_indexes(
        [ttl, pymongo.IndexModel([("workspaceId", pymongo.ASCENDING), ("createdAt", pymongo.ASCENDING)], name="ws")]
    )
    db[WORKSPACE_SNAPSHOTS].create_indexes([ttl, pymongo.IndexModel([("workspaceId", pymongo.ASCENDING)], name="ws")])


def _stored_time(value: object) -> dt.datetime:
    return aware_utc(value) or dt.datetime.min.replace(tzinfo=dt.UTC)


def _name(value: object) -> str:
    return check_key(value, "name", MAX_NAME).strip()


def _token(value: object) -> str:
    token = check_key(value, "workspace id", 64)
    if not all(c.isalnum() or c in "-_" for c in token):
        raise InvalidInput("a workspace id holds letters, digits, '-' and '_' only", {"field": "workspace id"})
    return token


def _version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput("version must be a positive 64-bit integer", {"field": "version", "value": str(value)[:40]})
    return value


def _meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(meta, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"scenario inputs are not plain JSON: {exc}", {"field": "meta"}) from exc
    if size > MAX_META_BYTES:
        raise InvalidInput("scenario inputs exceed 4 MiB", {"field": "meta", "value": size})
    return dict(meta)


def _info(doc: Mapping[str, Any], count: int) -> WorkspaceInfo:
    return WorkspaceInfo(
        workspace_id=doc["_id"],
        name=doc["name"],
        owner=doc.get("owner"),
        created_at=_stored_time(doc["createdAt"]),
        updated_at=_stored_time(doc["updatedAt"]),
        version=int(doc["version"]),
        scenario_count=count,
    )


def _scenario(doc: Mapping[str, Any]) -> StoredScenario:
    return StoredScenario(
        scenario_id=doc["scenarioId"],
        name=doc["name"],
        meta=dict(doc["meta"]),
        snapshot_id=doc["snapshotId"],
        created_at=_stored_time(doc["createdAt"]),
        version=int(doc["version"]),
    )


__all__ = [
    "DEFAULT_TTL",
    "MAX_SCENARIOS",
    "StoredScenario",
    "WorkspaceInfo",
    "WorkspaceRepository",
    "ensure_workspace_indexes",
]
