"""Model version history (``modelVersions``) without a gap or a wrong version, on both backends.

A model write is two writes: its version document and the conditional ``version`` bump of the model. Whatever
fails between them (a crash, a lost compare-and-set, a write error), ``history()`` lists exactly the versions the
model went through, each with its content. Faults are injected into the real collections (no fake database): a
hook runs before the chosen call of a collection and raises, or lets a concurrent writer in first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from data.repositories import ModelRepository
from engine.errors import ServiceUnavailable, VersionConflict

P1 = "f" * 23 + "1"
WRITES = (
    "insert_one",
    "insert_many",
    "replace_one",
    "update_one",
    "update_many",
    "bulk_write",
    "find_one_and_update",
    "find_one_and_replace",
)


@dataclass
class Hooked:
    """A collection whose named methods call ``hook(args, kwargs)`` first; everything else is the collection's."""

    col: Any
    methods: tuple[str, ...]
    hook: Callable[[tuple, dict], None]

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.col, name)
        if name not in self.methods:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.hook(args, kwargs)
            return real(*args, **kwargs)

        return call


def once(fault: Callable[[tuple, dict], bool]) -> Callable[[tuple, dict], None]:
    """A hook that raises a lost connection the first time ``fault`` says so."""
    fired = []

    def hook(args: tuple, kwargs: dict) -> None:
        if not fired and fault(args, kwargs):
            fired.append(True)
            raise AutoReconnect("injected: connection lost")

    return hook


def versions(repo: ModelRepository, model_id: str) -> list[tuple[int, Decimal]]:
    """(version, first target) of each listed version, newest first."""
    return [(v.model.version, v.model.positions[0].target) for v in repo.history(model_id)]


def replace(repo: ModelRepository, model, target: str, build, version: int | None = None, name: str | None = None):
    return repo.replace_model(
        model.model_id,
        name or model.name,
        [build.position(1, target)],
        model.portfolios,
        None,
        model.version if version is None else version,
        updated_by="pm",
    )


def test_a_failed_version_write_leaves_history_equal_to_the_model(models_repo, build):
    """The version document of v2 cannot be written: either the save fails whole (model still v1) or it succeeds,
    but never a model at v2 whose history stops at v1."""
    m = models_repo.create_model("V", [build.position(1, "0.10")], [P1])
    key = f"{m.model_id}:2"
    models_repo._versions = Hooked(models_repo._versions, WRITES, once(lambda a, k: key in repr((a, k))))
    with contextlib.suppress(ServiceUnavailable):  # failing whole is one of the two right outcomes
        replace(models_repo, m, "0.20", build)
    now = models_repo.get_model(m.model_id)
    expected = [(2, Decimal("0.20")), (1, Decimal("0.10"))] if now.version == 2 else [(1, Decimal("0.10"))]
    assert versions(models_repo, m.model_id) == expected
    after = replace(models_repo, now, "0.30", build)
    assert [v for v, _ in versions(models_repo, m.model_id)] == list(range(after.version, 0, -1))
    assert models_repo.history(m.model_id)[0].model == after


def test_a_crash_between_the_two_writes_shows_no_orphan_and_the_next_save_overwrites_it(models_repo, mongo, build):
    """The connection drops at the model's compare-and-set: the model stays at v1 and lists v1 only; a version
    document written ahead for v2 is never listed and is replaced by the next save's."""
    m = models_repo.create_model("V", [build.position(1, "0.10")], [P1])
    models_repo._col = Hooked(models_repo._col, ("find_one_and_update",), once(lambda a, k: True))
    with pytest.raises(ServiceUnavailable):
        replace(models_repo, m, "0.20", build, name="Crashed")
    assert models_repo.get_model(m.model_id) == m
    assert versions(models_repo, m.model_id) == [(1, Decimal("0.10"))]
    saved = replace(models_repo, m, "0.30", build)
    assert versions(models_repo, m.model_id) == [(2, Decimal("0.30")), (1, Decimal("0.10"))]
    assert models_repo.history(m.model_id)[0].model == saved
    stored = mongo.db.modelVersions.find({"modelId": m.model_id})
    assert sorted((d["version"], d["name"]) for d in stored) == [(1, "V"), (2, "V")]  # "Crashed" is gone


def test_the_loser_of_a_version_conflict_leaves_no_version(models_repo, mongo, build):
    """Two writers start from v1; the other one commits first. The loser gets VersionConflict and nothing of it is
    listed, now or after later saves."""
    m = models_repo.create_model("V", [build.position(1, "0.10")], [P1])
    other = ModelRepository(mongo.db, create_indexes=False)
    winner = []

    def commit_other_first(args: tuple, kwargs: dict) -> None:
        if not winner:
            winner.append(replace(other, m, "0.40", build, name="Winner"))

    models_repo._col = Hooked(models_repo._col, ("find_one_and_update", "update_one"), commit_other_first)
    with pytest.raises(VersionConflict):
        replace(models_repo, m, "0.20", build, name="Loser")
    history = models_repo.history(m.model_id)
    assert [(v.model.version, v.model.name) for v in history] == [(2, "Winner"), (1, "V")]
    assert history[0].model == winner[0]
    replace(other, winner[0], "0.50", build)
    names = [(v.model.version, v.model.name) for v in other.history(m.model_id)]
    assert names == [(3, "Winner"), (2, "Winner"), (1, "V")]
    assert mongo.db.modelVersions.count_documents({"modelId": m.model_id, "name": "Loser"}) == 0


def test_a_lost_version_document_written_over_the_winners_is_never_shown(models_repo, mongo, build):
    """The interleaving a hook cannot stage: the loser writes its version document for v2 after the winner did and
    before the winner's bump. The listing shows the model's own v2, and the next save puts v2 right."""
    m = models_repo.create_model("V", [build.position(1, "0.10")], [P1])
    won = replace(models_repo, m, "0.20", build, name="Winner")
    loser = {**mongo.db.modelVersions.find_one({"_id": f"{m.model_id}:2"}), "name": "Loser"}
    mongo.db.modelVersions.replace_one({"_id": loser["_id"]}, loser)
    assert models_repo.history(m.model_id)[0].model == won
    replace(models_repo, won, "0.30", build)
    assert [v.model.name for v in models_repo.history(m.model_id)] == ["Winner", "Winner", "V"]
    assert mongo.db.modelVersions.count_documents({"modelId": m.model_id, "name": "Loser"}) == 0


def test_an_orphan_version_above_the_model_is_never_listed(models_repo, mongo, build):
    """A version document ahead of its model (a save that never bumped) is not part of the history."""
    m = models_repo.create_model("V", [build.position(1, "0.10")], [P1])
    orphan = {**mongo.db.modelVersions.find_one({"_id": f"{m.model_id}:1"}), "_id": f"{m.model_id}:2", "version": 2}
    mongo.db.modelVersions.insert_one(orphan)
    assert versions(models_repo, m.model_id) == [(1, Decimal("0.10"))]


def test_a_model_that_was_never_created_has_no_history(models_repo, mongo, build):
    """create_model refused by the unique name: the version document written ahead for it is removed again."""
    models_repo.create_model("Same", [build.position(1, "0.10")], [P1])
    before = mongo.db.modelVersions.count_documents({})
    with pytest.raises(Exception, match="already exists"):
        models_repo.create_model("Same", [build.position(1, "0.10")])
    assert mongo.db.modelVersions.count_documents({}) == before
    assert models_repo.history(str(ObjectId())) == []


def test_model_writes_run_in_a_transaction_where_the_server_has_them(mongo, build):
    """The replica-set path, forced (the mongoeco wire server runs transactions although it is no replica set):
    a write failing at the bump leaves no version document at all."""
    repo = ModelRepository(mongo.db, use_transactions=True)
    m = repo.create_model("T", [build.position(1, "0.10")], [P1])
    saved = replace(repo, m, "0.20", build)
    assert versions(repo, m.model_id) == [(2, Decimal("0.20")), (1, Decimal("0.10"))]
    repo._col = Hooked(repo._col, ("find_one_and_update",), once(lambda a, k: True))
    with pytest.raises(ServiceUnavailable):
        replace(repo, saved, "0.30", build)
    assert repo.get_model(m.model_id).version == 2
    if mongo.name == "wire":  # rolled back with the bump; the embedded backend has no transactions (written ahead)
        assert mongo.db.modelVersions.count_documents({"modelId": m.model_id}) == 2
    assert versions(repo, m.model_id) == [(2, Decimal("0.20")), (1, Decimal("0.10"))]


def test_deleting_a_model_keeps_its_versions_as_they_were(models_repo, mongo, build):
    m = models_repo.create_model("D", [build.position(1, "0.10")], [P1])
    last = replace(models_repo, m, "0.20", build)
    models_repo.delete_model(m.model_id, last.version)
    stored = mongo.db.modelVersions.find({"modelId": m.model_id})
    assert sorted((d["version"], d["positions"][0]["target"].to_decimal()) for d in stored) == [
        (1, Decimal("0.10")),
        (2, Decimal("0.20")),
    ]
