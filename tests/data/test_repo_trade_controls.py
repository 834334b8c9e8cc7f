"""Trade controls in storage (issue #11, product-spec 2.12), on both backends: a model's default controls (versioned
like positions) and the options a saved run used (in the run's header), plus relaxed portfolios' band breaches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId

from engine.errors import InvalidInput, VersionConflict
from engine.models import BandBreach, RebalanceOptions, RunInfo, TradeControls
from tests.data.conftest import hex_id

SEC_A, SEC_B = hex_id(1, "5"), hex_id(2, "5")
CONTROLS = TradeControls(
    trade_policy="out-of-band",
    min_trade_value=Decimal("1000.50"),
    no_buy=(SEC_A,),
    no_sell=(SEC_B,),
    no_trade=(),
    direction="buy-only",
    on_infeasible="nearest",
)


def test_a_new_model_has_default_controls_and_stores_none(models_repo, build, mongo):
    model = models_repo.create_model("Core", [build.position(1, "0.5")])
    assert model.controls == TradeControls() and model.controls.is_default
    assert "controls" not in mongo.db.models.find_one({"_id": ObjectId(model.model_id)})


def test_controls_round_trip_exactly_and_bump_the_version(models_repo, build, mongo):
    model = models_repo.create_model("Core", [build.position(1, "0.5")])
    saved = models_repo.set_controls(model.model_id, CONTROLS, model.version)
    assert saved.version == model.version + 1
    assert saved.controls == CONTROLS
    assert models_repo.get_model(model.model_id).controls == CONTROLS
    doc = mongo.db.models.find_one({"_id": ObjectId(model.model_id)})["controls"]
    assert doc["minTradeValue"] == Decimal128("1000.50")  # exact, as Decimal128 like every money value
    assert doc["tradePolicy"] == "out-of-band" and doc["noBuy"] == [SEC_A] and doc["onInfeasible"] == "nearest"


def test_controls_survive_edits_of_positions_and_a_full_replace(models_repo, build):
    model = models_repo.create_model("Core", [build.position(1, "0.5")], controls=CONTROLS)
    assert model.controls == CONTROLS
    model = models_repo.add_position(model.model_id, build.position(2, "0.2"), model.version)
    model = models_repo.replace_model(model.model_id, "Core 2", model.positions, model.portfolios, None, model.version)
    assert model.controls == CONTROLS and model.name == "Core 2"


def test_a_stale_version_is_a_conflict_and_writes_nothing(models_repo, build):
    model = models_repo.create_model("Core", [build.position(1, "0.5")])
    models_repo.set_controls(model.model_id, CONTROLS, model.version)
    with pytest.raises(VersionConflict):
        models_repo.set_controls(model.model_id, TradeControls(direction="sell-only"), model.version)
    assert models_repo.get_model(model.model_id).controls == CONTROLS


@pytest.mark.parametrize(
    ("controls", "field"),
    [
        (TradeControls(min_trade_value=Decimal("-1")), "minTradeValue"),
        (TradeControls(min_trade_value=Decimal("1e20")), "minTradeValue"),
        (TradeControls(no_trade=("not-an-id",)), "no_trade"),
    ],
)
def test_bad_controls_are_refused_naming_the_field(models_repo, build, controls, field):
    model = models_repo.create_model("Core", [build.position(1, "0.5")])
    with pytest.raises(InvalidInput) as err:
        models_repo.set_controls(model.model_id, controls, model.version)
    assert field in str(err.value)
    assert models_repo.get_model(model.model_id).version == model.version  # nothing written


def test_a_saved_run_keeps_its_options_in_the_header(rebalance_repo, build, mongo):
    options = RebalanceOptions(
        min_cash=Decimal("250.25"),
        min_cash_fraction=Decimal("0.05"),
        time_limit=12.5,
        trade_date=dt.date(2026, 12, 7),
    ).with_controls(CONTROLS)
    record = build.record(str(ObjectId()), [f"{i:024x}" for i in range(2)]).model_copy(update={"options": options})
    saved = rebalance_repo.save_rebalance(record)
    got = rebalance_repo.get_rebalance(saved.rebalance_id)
    assert got.options == options  # a saved run can be reproduced with exactly these options
    head = mongo.db.rebalances.find_one({"_id": ObjectId(saved.rebalance_id)})
    assert head["options"]["minCashPct"] == Decimal128("0.05") and head["options"]["tradePolicy"] == "out-of-band"
    (summary,) = rebalance_repo.list_rebalance_summaries()
    assert summary.options == options


def test_options_run_info_and_saved_by_share_the_header(rebalance_repo, build, mongo):
    """The merge of #11 with #13/#14: one header carries the options, the run info and who saved it."""
    options = RebalanceOptions(min_cash=Decimal("10")).with_controls(CONTROLS)
    run = RunInfo(scenario_name="Tolerance", model_version=3, overrides=True, parameters=(("Min trade", "$1,000"),))
    record = build.record(str(ObjectId()), [f"{i:024x}" for i in range(2)]).model_copy(
        update={"options": options, "run": run, "saved_by": "paula@firm.example"}
    )
    saved = rebalance_repo.save_rebalance(record)
    got = rebalance_repo.get_rebalance(saved.rebalance_id)
    assert (got.options, got.run, got.saved_by) == (options, run, "paula@firm.example")
    head = mongo.db.rebalances.find_one({"_id": ObjectId(saved.rebalance_id)})
    assert {"options", "run", "savedBy"} <= head.keys()
    (summary,) = rebalance_repo.list_rebalance_summaries()
    assert (summary.options, summary.run, summary.saved_by) == (options, run, "paula@firm.example")


def test_saving_controls_records_who_changed_the_model(models_repo, build, mongo):
    model = models_repo.create_model("Core", [build.position(1, "0.5")], updated_by="ann")
    saved = models_repo.set_controls(model.model_id, CONTROLS, model.version, updated_by="paula@firm.example")
    assert saved.updated_by == "paula@firm.example" and saved.controls == CONTROLS
    assert mongo.db.models.find_one({"_id": ObjectId(model.model_id)})["updatedBy"] == "paula@firm.example"


def test_a_run_saved_without_options_reads_back_none(rebalance_repo, build):
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), [f"{i:024x}" for i in range(1)]))
    assert rebalance_repo.get_rebalance(saved.rebalance_id).options is None
    assert rebalance_repo.list_rebalance_summaries()[0].options is None


def test_band_breaches_of_a_relaxed_portfolio_are_kept(rebalance_repo, build):
    record = build.record(str(ObjectId()), [f"{i:024x}" for i in range(2)])
    breach = (BandBreach(security_id=SEC_A, side="low", amount=Decimal("123.456")),)
    first = record.portfolios[0].model_copy(update={"band_breaches": breach})
    record = record.model_copy(update={"portfolios": (first, *record.portfolios[1:])})
    got = rebalance_repo.get_rebalance(rebalance_repo.save_rebalance(record).rebalance_id)
    assert got.portfolios[0].band_breaches == breach and got.portfolios[1].band_breaches == ()
