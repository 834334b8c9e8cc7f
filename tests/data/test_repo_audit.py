"""Who did it (issue #13): ``savedBy`` on saved runs (record and header), ``updatedBy`` on models, both backends."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.repositories import save_run
from engine.errors import InvalidInput


def pids(n):
    return [f"{i:024x}" for i in range(1, n + 1)]


def test_a_saved_run_records_who_saved_it_in_record_and_header(models_repo, rebalance_repo, build, mongo):
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(2))
    record = build.record(model.model_id, pids(2), model_name=model.name)
    saved = save_run(models_repo, rebalance_repo, record, model.version, saved_by="paula@firm.example")
    assert saved.saved_by == "paula@firm.example"
    assert rebalance_repo.get_rebalance(saved.rebalance_id).saved_by == "paula@firm.example"
    (summary,) = rebalance_repo.list_rebalance_summaries()
    assert summary.saved_by == "paula@firm.example"
    assert mongo.db.rebalances.find_one({})["savedBy"] == "paula@firm.example"


def test_a_run_saved_without_a_user_keeps_the_stored_shape(models_repo, rebalance_repo, build, mongo):
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(1))
    saved = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(1), model_name=model.name), 1)
    assert saved.saved_by is None and "savedBy" not in mongo.db.rebalances.find_one({})
    assert rebalance_repo.list_rebalance_summaries()[0].saved_by is None


def test_model_changes_record_who_made_them(models_repo, build):
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(1), updated_by="paula")
    assert models_repo.get_model(model.model_id).updated_by == "paula"
    again = models_repo.replace_model(
        model.model_id, "Growth", model.positions, model.portfolios, None, model.version, updated_by="mark"
    )
    assert again.updated_by == "mark" and models_repo.get_model(model.model_id).updated_by == "mark"


@pytest.mark.parametrize("user", ["", "x" * 321, "\ud800", {"$gt": ""}, 7])
def test_a_bad_user_id_is_invalid_input_on_every_write(models_repo, rebalance_repo, build, user):
    with pytest.raises(InvalidInput):
        models_repo.create_model("Growth", [build.position(1, "0.5")], pids(1), updated_by=user)
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(1))
    with pytest.raises(InvalidInput):
        save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(1), model_name=model.name), 1, user)
    assert rebalance_repo.count_rebalances() == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.one_of(st.text(max_size=400), st.none(), st.integers(), st.binary(max_size=10)))
def test_any_user_value_is_stored_exactly_or_refused_typed(models_repo, build, user):
    """Fuzz: whatever arrives as the user, the repository stores it exactly or raises InvalidInput (never a driver
    error such as UnicodeEncodeError or a bson error)."""
    try:
        model = models_repo.create_model("Fuzz", [build.position(1, "0.5")], [], updated_by=user)
    except InvalidInput:
        return
    try:
        assert models_repo.get_model(model.model_id).updated_by == user
    finally:
        models_repo.delete_model(model.model_id, model.version)
