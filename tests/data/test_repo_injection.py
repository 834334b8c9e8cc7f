"""User text never becomes a query operator: such strings are stored and matched literally; non-text is refused."""

from __future__ import annotations

import pytest
from bson import ObjectId

from engine.errors import InvalidInput

HOSTILE_NAMES = [
    '{"$gt": ""}',
    "$where",
    "$ne",
    "this.name == 'x' || true",
    "a.b.c",
    ".*",
    "^(a+)+$",
    "'; db.dropDatabase(); //",
    "\\",
]


def test_hostile_names_are_stored_and_matched_literally(models_repo):
    plain = models_repo.create_model("Plain")
    created = {name: models_repo.create_model(name) for name in HOSTILE_NAMES}
    for name, model in created.items():
        assert models_repo.get_model(model.model_id).name == name
        found = models_repo.list_models(name_contains=name)
        assert [m.model_id for m in found] == [model.model_id], name  # only itself, never "everything"
    assert models_repo.count_models() == len(HOSTILE_NAMES) + 1
    assert models_repo.get_model(plain.model_id).name == "Plain"


def test_a_dict_name_is_refused_not_queried(models_repo):
    models_repo.create_model("Victim")
    for bad in ({"$gt": ""}, {"$ne": None}, ["Victim"], 42, None):
        with pytest.raises(InvalidInput):
            models_repo.create_model(bad)
    for bad in ({"$gt": ""}, {"$regex": ".*"}, ["Victim"], 42):
        with pytest.raises(InvalidInput):
            models_repo.list_models(name_contains=bad)
        with pytest.raises(InvalidInput):
            models_repo.count_models(bad)
    assert models_repo.count_models() == 1


@pytest.mark.parametrize("bad_id", [{"$ne": ""}, {"$gt": ObjectId("0" * 24)}, "$where", "0" * 23, None, 7])
def test_operator_ids_are_invalid_input(models_repo, rebalance_repo, bad_id):
    model = models_repo.create_model("M", portfolios=["a" * 24])
    with pytest.raises(InvalidInput):
        models_repo.get_model(bad_id)
    with pytest.raises(InvalidInput):
        models_repo.delete_model(bad_id, 1)
    with pytest.raises(InvalidInput):
        models_repo.find_model_for_portfolio(bad_id)
    with pytest.raises(InvalidInput):
        models_repo.add_portfolios(model.model_id, [bad_id])
    with pytest.raises(InvalidInput):
        rebalance_repo.get_rebalance(bad_id)
    assert models_repo.get_model(model.model_id).version == 1


def test_operator_shaped_portfolio_and_security_ids_are_refused(models_repo):
    with pytest.raises(InvalidInput):
        models_repo.create_model("M", [{"securityId": {"$gt": ""}, "target": "0.1", "highDrift": 0, "lowDrift": 0}])
    with pytest.raises(InvalidInput):
        models_repo.create_model("M", [], [{"$exists": True}])
    with pytest.raises(InvalidInput):
        models_repo.remove_portfolios(models_repo.create_model("N").model_id, [{"$in": ["a" * 24]}])
    with pytest.raises(InvalidInput):
        models_repo.portfolio_owners([{"$ne": None}])


def test_sort_and_version_cannot_smuggle_operators(models_repo):
    m = models_repo.create_model("M")
    for bad in ("$natural", "name:1", {"name": 1}):
        with pytest.raises(InvalidInput):
            models_repo.list_models(sort_by=bad)
    for bad in ({"$gt": 0}, "1", 1.0):
        with pytest.raises(InvalidInput):
            models_repo.replace_model(m.model_id, "M", [], [], None, bad)
        with pytest.raises(InvalidInput):
            models_repo.delete_model(m.model_id, bad)
    assert models_repo.get_model(m.model_id).version == 1
