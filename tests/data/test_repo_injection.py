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


# --- #13 item 3: values the database cannot store are refused at the repository boundary, naming the field ---------

LONE_SURROGATE = "Growth \ud800 fund"
BEYOND_INT64 = [2**63, 2**70, 10**30]


@pytest.mark.parametrize("version", BEYOND_INT64)
def test_a_version_beyond_int64_is_invalid_input_naming_the_field(models_repo, rebalance_repo, build, version):
    m = models_repo.create_model("M")
    calls = [
        lambda: models_repo.replace_model(m.model_id, "M", [], [], None, version),
        lambda: models_repo.delete_model(m.model_id, version),
        lambda: models_repo.add_portfolios(m.model_id, ["a" * 24], version),
        lambda: models_repo.stamp_last_rebalance(m.model_id, build.record(m.model_id, []).rebalance_date, version),
        lambda: rebalance_repo.delete_rebalance(str(ObjectId()), version),
    ]
    for call in calls:
        with pytest.raises(InvalidInput, match="version") as err:
            call()
        assert err.value.details["field"] == "version" and err.value.details["rule"] == "int64"
    assert models_repo.get_model(m.model_id).version == 1


def test_save_run_with_a_model_version_beyond_int64_is_invalid_input(models_repo, rebalance_repo, build):
    from data.repositories import save_run

    m = models_repo.create_model("M")
    with pytest.raises(InvalidInput, match="model version"):
        save_run(models_repo, rebalance_repo, build.record(m.model_id, ["a" * 24]), 2**70)
    assert rebalance_repo.count_rebalances() == 0


def test_text_with_a_lone_surrogate_is_invalid_input_naming_the_field(models_repo, rebalance_repo, build):
    m = models_repo.create_model("M")
    with pytest.raises(InvalidInput, match="name") as err:
        models_repo.create_model(LONE_SURROGATE)
    assert err.value.violations[0].field == "name" and err.value.violations[0].rule == "text_encoding"
    with pytest.raises(InvalidInput, match="name"):
        models_repo.replace_model(m.model_id, LONE_SURROGATE, [], [], None, 1)
    with pytest.raises(InvalidInput, match="name filter"):
        models_repo.list_models(name_contains=LONE_SURROGATE)
    with pytest.raises(InvalidInput, match="portfolios"):
        models_repo.portfolio_owners(["a" * 23 + "\udfff"])
    record = build.record(m.model_id, ["a" * 24, "b" * 24])
    bad_model_name = record.model_copy(update={"model_name": LONE_SURROGATE})
    with pytest.raises(InvalidInput) as err:
        rebalance_repo.save_rebalance(bad_model_name)
    assert {v.field for v in err.value.violations} == {"modelName"}
    p1 = record.portfolios[1].model_copy(update={"portfolio_name": LONE_SURROGATE})
    with pytest.raises(InvalidInput) as err:
        rebalance_repo.save_rebalance(record.model_copy(update={"portfolios": (record.portfolios[0], p1)}))
    assert [(v.row, v.field) for v in err.value.violations] == [(1, "portfolioName")]
    assert models_repo.count_models() == 1 and rebalance_repo.count_rebalances() == 0
