"""RebalanceRepository and save_run on both backends (product-spec 1.8, 2.8, 3.16)."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId

from data.repositories import RebalanceRepository, RebalanceSummary, delete_run, save_run
from engine.errors import BusinessRuleViolation, InvalidInput, NotFound, VersionConflict
from engine.models import RunInfo

T0 = dt.datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=dt.UTC)


def pids(n, start=0):
    return [f"{i:024x}" for i in range(start, start + n)]


def test_save_and_get_round_trip_exactly(rebalance_repo, build):
    record = build.record(str(ObjectId()), pids(3), model_name="Growth", positions=4)
    saved = rebalance_repo.save_rebalance(record)
    assert ObjectId.is_valid(saved.rebalance_id) and saved.version == 1
    assert saved.number_of_portfolios == 3
    assert saved.model_copy(update={"rebalance_id": None}) == record  # nothing lost or rounded
    got = rebalance_repo.get_rebalance(saved.rebalance_id)
    assert got == saved
    actual = got.portfolios[0].positions[0].actual
    assert actual == record.portfolios[0].positions[0].actual and len(actual.as_tuple().digits) == 28
    assert got.portfolios[1].positions[1].trade_date == dt.date(2025, 3, 14)
    assert got.rebalance_date.tzinfo is dt.UTC


def test_stored_document_shape(rebalance_repo, build, mongo):
    """A small header in ``rebalances`` plus blocks of portfolios in ``rebalancePortfolios`` (issue #12)."""
    model_id = str(ObjectId())
    saved = rebalance_repo.save_rebalance(build.record(model_id, pids(2), positions=3))
    rid = ObjectId(saved.rebalance_id)
    head = mongo.db.rebalances.find_one({"_id": rid})
    assert set(head) == {
        "_id", "modelId", "modelName", "rebalanceDate", "numberOfPortfolios", "portfolios", "portfolioKey", "version",
        "state", "layout", "blocks",
    }  # fmt: skip
    assert head["portfolioKey"] == " ".join(pids(2))  # the ids once more as one string: look-ups by many ids
    assert head["modelId"] == ObjectId(model_id) and head["numberOfPortfolios"] == 2 and head["version"] == 1
    assert head["state"] == "committed" and head["portfolios"] == [{"portfolioId": p} for p in pids(2)]
    assert head["layout"] == "blocks" and head["blocks"] == [0]  # where each block starts
    (block,) = mongo.db.rebalancePortfolios.find({"rebalanceId": rid})
    assert set(block) == {
        "_id", "rebalanceId", "index", "portfolioIds", "portfolioNames", "marketValue", "cashBeforeRebalance",
        "cashAfterRebalance", "positionCounts", "positionColumns",
    }  # fmt: skip
    assert block["_id"] == f"{rid}/#0" and block["index"] == 0
    assert block["portfolioIds"] == "\n".join(pids(2))  # texts as one string, a value per line
    assert block["portfolioNames"] == "\n".join(p.portfolio_name or "" for p in saved.portfolios)
    assert list(struct.unpack("<2I", bytes(block["positionCounts"]))) == [3, 3]

    def decimals(blob) -> list[Decimal128]:
        # A number column: Decimal128 values back to back, 16 BID bytes each, readable by bson.
        blob = bytes(blob)
        return [Decimal128.from_bid(blob[i : i + 16]) for i in range(0, len(blob), 16)]

    def positions_column(blob) -> list[Decimal128]:
        # A block's position number column: the same bytes, zlib-compressed, under user-defined binary subtype 0x80.
        assert blob.subtype == 0x80
        return decimals(zlib.decompress(bytes(blob)))

    for key, field in (("marketValue", "market_value"), ("cashBeforeRebalance", "cash_before_rebalance")):
        assert decimals(block[key]) == [Decimal128(getattr(p, field)) for p in saved.portfolios]
    assert decimals(block["cashBeforeRebalance"])[0] == Decimal128("-12.5")
    columns = block["positionColumns"]
    money = [
        "price", "originalQuantity", "adjustedQuantity", "originalPositionMarketValue", "adjustedPositionMarketValue",
        "target", "highDrift", "lowDrift", "actual", "actualDrift",
    ]  # fmt: skip
    positions = [x for p in saved.portfolios for x in p.positions]
    assert columns["securityId"] == "\n".join(p.security_id for p in positions)
    for key, field in zip(money, [
        "price", "original_quantity", "adjusted_quantity", "original_position_market_value",
        "adjusted_position_market_value", "target", "high_drift", "low_drift", "actual", "actual_drift",
    ], strict=True):  # fmt: skip
        stored = positions_column(columns[key])
        assert stored == [Decimal128(getattr(p, field)) for p in positions]
        assert [d.to_decimal().as_tuple() for d in stored] == [getattr(p, field).as_tuple() for p in positions]
    assert columns["transactionType"] == "\n".join(p.transaction_type or "" for p in positions)
    assert list(bytes(columns["hasTradeQuantity"])) == [int(p.trade_quantity is not None) for p in positions]
    assert positions_column(columns["tradeQuantity"]) == [
        Decimal128(p.trade_quantity) for p in positions if p.trade_quantity is not None
    ]
    dates = ["" if p.trade_date is None else p.trade_date.isoformat() for p in positions]
    assert columns["tradeDate"] == "\n".join(dates) and "2025-03-14" in dates  # a calendar date, as ISO text
    first_target = zlib.decompress(bytes(columns["target"]))[:16]
    assert Decimal128.from_bid(first_target).to_decimal().as_tuple() == Decimal("0.050").as_tuple()


def test_list_is_newest_first_with_id_tiebreak_and_paging(rebalance_repo, build):
    model_id = str(ObjectId())
    saved = []
    for i in range(25):
        when = T0 + dt.timedelta(hours=i // 2)  # pairs share a date: _id descending breaks the tie
        saved.append(rebalance_repo.save_rebalance(build.record(model_id, pids(1, i), when=when, positions=1)))
    want = sorted(saved, key=lambda r: (r.rebalance_date, r.rebalance_id), reverse=True)
    ids = [r.rebalance_id for r in want]
    assert [r.rebalance_id for r in rebalance_repo.list_rebalances()] == ids[:10]  # default limit 10
    assert [r.rebalance_id for r in rebalance_repo.list_rebalances(offset=20)] == ids[20:]
    assert [r.rebalance_id for r in rebalance_repo.list_rebalances(offset=5, limit=100)] == ids[5:]
    assert rebalance_repo.list_rebalances(offset=25) == [] and rebalance_repo.list_rebalances(offset=99) == []
    assert rebalance_repo.count_rebalances() == 25
    summaries = rebalance_repo.list_rebalance_summaries(limit=3)
    assert summaries == [RebalanceSummary(r.rebalance_id, model_id, "Model", r.rebalance_date, 1, 1) for r in want[:3]]


@pytest.mark.parametrize(("offset", "limit"), [(0, 0), (0, 101), (-1, 10), ("x", 10), (0, 2.5), (None, True)])
def test_list_paging_bounds(rebalance_repo, offset, limit):
    with pytest.raises(InvalidInput):
        rebalance_repo.list_rebalances(offset=offset, limit=limit)


def test_find_by_portfolios(rebalance_repo, build):
    model_id = str(ObjectId())
    a = rebalance_repo.save_rebalance(build.record(model_id, pids(2, 0), when=T0))
    b = rebalance_repo.save_rebalance(build.record(model_id, pids(2, 1), when=T0 + dt.timedelta(days=1)))
    rebalance_repo.save_rebalance(build.record(model_id, pids(1, 5), when=T0))
    found = rebalance_repo.find_rebalances_by_portfolios([pids(1, 1)[0], "0" * 23 + "z"])
    assert [r.rebalance_id for r in found] == [b.rebalance_id, a.rebalance_id]
    assert [r.rebalance_id for r in rebalance_repo.find_rebalances_by_portfolios(pids(1, 0))] == [a.rebalance_id]
    assert rebalance_repo.find_rebalances_by_portfolios(pids(1, 1), offset=1, limit=1)[0].rebalance_id == a.rebalance_id
    assert rebalance_repo.count_rebalances(pids(2, 1)) == 2
    assert [s.rebalance_id for s in rebalance_repo.list_rebalance_summaries(portfolio_ids=pids(1, 5))] != []
    with pytest.raises(InvalidInput, match="at least one portfolio"):
        rebalance_repo.find_rebalances_by_portfolios([])
    with pytest.raises(InvalidInput):
        rebalance_repo.find_rebalances_by_portfolios([{"$ne": None}])


def test_drill_down(rebalance_repo, build):
    ids = pids(3)
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), ids, positions=2))
    assert [p.portfolio_id for p in rebalance_repo.rebalance_portfolios(saved.rebalance_id)] == ids
    positions = rebalance_repo.rebalance_positions(saved.rebalance_id, ids[1])
    assert positions == list(saved.portfolios[1].positions)
    with pytest.raises(NotFound, match="not in rebalance"):
        rebalance_repo.rebalance_positions(saved.rebalance_id, "e" * 24)
    with pytest.raises(NotFound):
        rebalance_repo.rebalance_positions(str(ObjectId()), ids[0])
    with pytest.raises(InvalidInput):
        rebalance_repo.rebalance_positions(saved.rebalance_id, "short")
    with pytest.raises(InvalidInput):
        rebalance_repo.rebalance_portfolios("not-an-id")
    with pytest.raises(NotFound):
        rebalance_repo.rebalance_portfolios(str(ObjectId()))


def test_delete_with_version(rebalance_repo, build):
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), pids(1)))
    with pytest.raises(VersionConflict):
        rebalance_repo.delete_rebalance(saved.rebalance_id, 2)
    with pytest.raises(InvalidInput):
        rebalance_repo.delete_rebalance(saved.rebalance_id, "1")
    rebalance_repo.delete_rebalance(saved.rebalance_id, 1)
    with pytest.raises(NotFound):
        rebalance_repo.get_rebalance(saved.rebalance_id)
    with pytest.raises(NotFound):
        rebalance_repo.delete_rebalance(saved.rebalance_id, 1)
    with pytest.raises(InvalidInput):
        rebalance_repo.delete_rebalance("zz", 1)


def test_save_rejects_bad_records(rebalance_repo, build):
    model_id = str(ObjectId())
    with pytest.raises(InvalidInput, match="no successful portfolio"):
        rebalance_repo.save_rebalance(build.record(model_id, []))
    record = build.record(model_id, pids(2))
    p0 = record.portfolios[0]
    dup = record.model_copy(
        update={"portfolios": (p0.model_copy(update={"positions": (*p0.positions, p0.positions[0])}), p0)}
    )
    with pytest.raises(InvalidInput) as err:
        rebalance_repo.save_rebalance(dup)
    assert {v.rule for v in err.value.violations} == {"duplicate_security", "duplicate_portfolio"}
    with pytest.raises(InvalidInput, match="model id"):
        rebalance_repo.save_rebalance(record.model_copy(update={"model_id": "nope"}))
    saved = rebalance_repo.save_rebalance(record)
    with pytest.raises(BusinessRuleViolation, match="already saved"):
        rebalance_repo.save_rebalance(saved)
    assert rebalance_repo.count_rebalances() == 1


def test_save_run_checks_version_inserts_and_stamps(models_repo, rebalance_repo, build):
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(2))
    record = build.record(model.model_id, pids(2), model_name=model.name)
    saved = save_run(models_repo, rebalance_repo, record, model.version)
    assert saved.rebalance_id and saved.number_of_portfolios == 2
    after = models_repo.get_model(model.model_id)
    assert after.last_rebalance_date == record.rebalance_date and after.version == model.version  # no bump
    assert rebalance_repo.get_rebalance(saved.rebalance_id) == saved


def test_delete_run_takes_its_date_off_the_models_last_rebalance(models_repo, rebalance_repo, build):
    """Issue 14 item 18: a deleted run's date no longer shows as the model's last rebalance."""
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(2))
    older = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(2), when=T0), model.version)
    later = T0 + dt.timedelta(days=1)
    newer = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(1), when=later), model.version)
    assert models_repo.get_model(model.model_id).last_rebalance_date == later
    delete_run(models_repo, rebalance_repo, older.rebalance_id, older.version)  # not the last one: date kept
    assert models_repo.get_model(model.model_id).last_rebalance_date == later
    other = models_repo.create_model("Other", [build.position(1, "0.5")])
    save_run(models_repo, rebalance_repo, build.record(other.model_id, pids(1, 5), when=later), other.version)
    delete_run(models_repo, rebalance_repo, newer.rebalance_id, newer.version)
    after = models_repo.get_model(model.model_id)
    assert after.last_rebalance_date is None and after.version == model.version  # no run left; no version bump
    assert models_repo.get_model(other.model_id).last_rebalance_date == later  # another model's run is not its own
    again = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(1), when=T0), model.version)
    third = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(2), when=later), model.version)
    delete_run(models_repo, rebalance_repo, third.rebalance_id, third.version)
    assert models_repo.get_model(model.model_id).last_rebalance_date == again.rebalance_date  # the newest left
    with pytest.raises(NotFound):
        delete_run(models_repo, rebalance_repo, third.rebalance_id, third.version)


def test_what_the_run_was_is_stored_with_the_record_and_its_header(models_repo, rebalance_repo, build):
    """Issue 14 item 18: scenario, model version used, run-only overrides and parameters, on both backends."""
    model = models_repo.create_model("Growth", [build.position(1, "0.5")], pids(2))
    run = RunInfo(scenario_name="Scenario 2", model_version=1, overrides=True, parameters=(("Minimum cash", "$5"),))
    record = build.record(model.model_id, pids(2)).model_copy(update={"run": run})
    saved = save_run(models_repo, rebalance_repo, record, model.version)
    assert rebalance_repo.get_rebalance(saved.rebalance_id).run == run
    assert rebalance_repo.get_summary(saved.rebalance_id).run == run
    (summary,) = rebalance_repo.list_rebalance_summaries()
    assert summary.run == run
    old = save_run(models_repo, rebalance_repo, build.record(model.model_id, pids(1)), model.version)
    assert rebalance_repo.get_rebalance(old.rebalance_id).run is None  # a record without it still reads


def test_runs_holding_any_of_many_portfolios_on_a_day(rebalance_repo, build, mongo):
    """Issue 12 §4-5: the look-up behind "already saved today" and the History filter by many portfolios answers for
    any number of ids (more than one $in takes) from each header's portfolioKey; old headers without it still count;
    runs not committed never do."""
    day = T0 + dt.timedelta(days=1)
    a = rebalance_repo.save_rebalance(build.record(build.hex_id(1), pids(300), when=T0, positions=1))
    b = rebalance_repo.save_rebalance(build.record(build.hex_id(2), pids(5, 290), when=day, positions=1))
    c = rebalance_repo.save_rebalance(build.record(build.hex_id(3), pids(3, 1000), when=T0, positions=1))
    assert rebalance_repo.runs_holding(pids(300)) == {a.rebalance_id: T0, b.rebalance_id: day}
    assert rebalance_repo.runs_holding(pids(300), T0.date()) == {a.rebalance_id: T0}
    assert rebalance_repo.runs_holding(pids(300), day.date()) == {b.rebalance_id: day}
    assert set(rebalance_repo.runs_holding(pids(10, 288))) == {a.rebalance_id, b.rebalance_id}
    assert set(rebalance_repo.runs_holding(pids(2, 1000))) == {c.rebalance_id}
    assert rebalance_repo.runs_holding([]) == {}
    assert rebalance_repo.count_rebalances(pids(300)) == 2
    assert [s.rebalance_id for s in rebalance_repo.list_rebalance_summaries(portfolio_ids=pids(300))] == [
        b.rebalance_id,
        a.rebalance_id,
    ]
    # a header saved before portfolioKey existed is read through its portfolio list
    mongo.db.rebalances.update_one({"_id": ObjectId(a.rebalance_id)}, {"$unset": {"portfolioKey": ""}})
    assert rebalance_repo.runs_holding(pids(300), T0.date()) == {a.rebalance_id: T0}
    assert rebalance_repo.count_rebalances(pids(300)) == 2
    # a run being deleted (or saved) is not there
    rebalance_repo.delete_rebalance(b.rebalance_id, 1, wait=True)
    assert rebalance_repo.runs_holding(pids(300)) == {a.rebalance_id: T0}
    assert rebalance_repo.count_rebalances(pids(1, 299)) == 1


def test_rebalanced_portfolio_ids_in_one_pass(rebalance_repo, build):
    """Issue 14 item 10: which portfolios appear in any saved run, without one count per portfolio."""
    assert rebalance_repo.rebalanced_portfolio_ids(pids(3)) == set()
    rebalance_repo.save_rebalance(build.record(build.hex_id(1), pids(2)))
    rebalance_repo.save_rebalance(build.record(build.hex_id(2), pids(2, 5)))
    assert rebalance_repo.rebalanced_portfolio_ids(pids(8)) == set(pids(2)) | set(pids(2, 5))
    assert rebalance_repo.rebalanced_portfolio_ids(pids(1, 1)) == set(pids(1, 1))


def test_save_run_refuses_a_run_of_a_changed_model(models_repo, rebalance_repo, build):
    model = models_repo.create_model("Growth", [build.position(1, "0.5")])
    record = build.record(model.model_id, pids(1), model_name=model.name)
    models_repo.update_position(model.model_id, build.position(1, "0.4"))
    with pytest.raises(VersionConflict, match="changed since the run"):
        save_run(models_repo, rebalance_repo, record, model.version)
    assert rebalance_repo.count_rebalances() == 0
    assert models_repo.get_model(model.model_id).last_rebalance_date is None
    models_repo.delete_model(model.model_id, 2)
    with pytest.raises(NotFound):
        save_run(models_repo, rebalance_repo, record, 2)


def test_save_run_undoes_the_insert_when_the_model_changes_meanwhile(models_repo, mongo, build):
    """An edit lands between the version check and the stamp: no stale record may remain."""
    model = models_repo.create_model("Growth", [build.position(1, "0.5")])

    class EditDuringInsert(RebalanceRepository):
        def save_rebalance(self, record):
            saved = super().save_rebalance(record)
            models_repo.update_position(model.model_id, build.position(1, "0.45"))  # a concurrent editor
            return saved

    repo = EditDuringInsert(mongo.db)
    with pytest.raises(VersionConflict, match="re-run"):
        save_run(models_repo, repo, build.record(model.model_id, pids(1)), model.version)
    assert repo.count_rebalances() == 0
    assert models_repo.get_model(model.model_id).last_rebalance_date is None


def test_find_by_a_thousand_portfolio_ids(rebalance_repo, build):
    many = pids(1000)
    saved = rebalance_repo.save_rebalance(build.record(str(ObjectId()), many[-2:], positions=1))
    assert [r.rebalance_id for r in rebalance_repo.find_rebalances_by_portfolios(many)] == [saved.rebalance_id]
    assert rebalance_repo.count_rebalances(many) == 1


def test_a_portfolio_above_the_mongodb_document_limit_is_refused_on_every_backend(rebalance_repo, build, mongo):
    record = build.record(str(ObjectId()), pids(2), positions=1)
    p1 = record.portfolios[1].model_copy(update={"portfolio_name": "x" * (16 * 2**20)})
    with pytest.raises(InvalidInput, match=r"portfolio 2 .* too large to save") as err:
        rebalance_repo.save_rebalance(record.model_copy(update={"portfolios": (record.portfolios[0], p1)}))
    assert err.value.details["limit"] == 16 * 2**20 and err.value.details["row"] == 1
    assert rebalance_repo.count_rebalances() == 0
    assert mongo.db.rebalances.count_documents({}) == 0 and mongo.db.rebalancePortfolios.count_documents({}) == 0


def test_looking_up_runs_by_many_portfolios_works_and_pages_like_a_short_list(rebalance_repo, build):
    """A filter of 1,500 portfolio ids (a big model's portfolios) used to fail on the embedded backend."""
    model_id = str(ObjectId())
    old = rebalance_repo.save_rebalance(build.record(model_id, pids(2, 0), when=T0, positions=1))
    new = rebalance_repo.save_rebalance(build.record(model_id, pids(2, 1), when=T0 + dt.timedelta(days=1), positions=1))
    rebalance_repo.save_rebalance(build.record(model_id, pids(1, 7), when=T0, positions=1))
    many = [build.hex_id(n, "f") for n in range(1500)] + pids(2, 0) + pids(1, 1)
    assert rebalance_repo.count_rebalances(many) == 2
    found = rebalance_repo.find_rebalances_by_portfolios(many)
    assert [r.rebalance_id for r in found] == [new.rebalance_id, old.rebalance_id]
    assert [s.rebalance_id for s in rebalance_repo.list_rebalance_summaries(offset=1, limit=1, portfolio_ids=many)] == [
        old.rebalance_id
    ]
