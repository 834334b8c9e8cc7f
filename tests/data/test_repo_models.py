"""ModelRepository on both backends: CRUD, rules of product-spec 1.3–1.6, version checks, stamping (3.16)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from bson import Decimal128, ObjectId
from pymongo.errors import DuplicateKeyError

from data.repositories import ModelRepository
from engine.errors import BusinessRuleViolation, InvalidInput, NotFound, VersionConflict

P1, P2, P3 = "f" * 23 + "1", "f" * 23 + "2", "f" * 23 + "3"


def test_create_assigns_id_version_one_and_cleans(models_repo, build, mongo):
    m = models_repo.create_model(
        "  Growth  ",
        [
            build.position(1, "0.30"),
            build.position(2, "0"),
            {"securityId": build.hex_id(3, "5"), "target": "0.2", "highDrift": "0.05", "lowDrift": "0.01"},
        ],
        [P1, P2, P1],
    )
    assert len(m.model_id) == 24 and ObjectId.is_valid(m.model_id)
    assert m.version == 1 and m.name == "Growth" and m.last_rebalance_date is None
    assert [p.security_id for p in m.positions] == [build.hex_id(1, "5"), build.hex_id(3, "5")]  # zero target gone
    assert m.portfolios == (P1, P2)  # duplicate ignored, order kept
    assert models_repo.get_model(m.model_id) == m
    raw = mongo.db.models.find_one({"_id": ObjectId(m.model_id)})
    assert set(raw) == {"_id", "name", "positions", "portfolios", "lastRebalanceDate", "version"}
    assert set(raw["positions"][0]) == {"securityId", "target", "highDrift", "lowDrift"}
    assert raw["positions"][1]["target"] == Decimal128("0.2")


def test_create_reports_every_violation_at_once(models_repo, build):
    with pytest.raises(InvalidInput) as err:
        models_repo.create_model(
            " ",
            [
                build.position(1, "0.96"),
                build.position(2, "0.013"),
                build.position(3, "0.50", high="1.5"),
                build.position(3, "0.10"),
                build.position("short", "0.05"),
            ],
            ["bad"],
        )
    rules = {(v.rule, v.row, v.field) for v in err.value.violations}
    assert ("name_required", None, "name") in rules
    assert ("target_range", 0, "target") in rules
    assert ("target_step", 1, "target") in rules
    assert ("drift_range", 2, "highDrift") in rules
    assert ("duplicate_security", 3, "securityId") in rules
    assert ("id_format", 4, "securityId") in rules
    assert ("target_sum", None, "target") in rules
    assert ("id_format", None, "portfolios") in rules
    assert models_repo.count_models() == 0


def test_create_rejects_more_than_100_positions(models_repo, build):
    with pytest.raises(InvalidInput, match="at most 100"):
        models_repo.create_model("Wide", [build.position(i, "0.005") for i in range(101)])
    ok = models_repo.create_model("Wide", [build.position(i, "0.005") for i in range(100)])
    assert len(ok.positions) == 100


def test_malformed_position_row_names_row_and_field(models_repo):
    with pytest.raises(InvalidInput) as err:
        models_repo.create_model("X", [{"securityId": "a" * 24, "target": "abc", "highDrift": "0", "lowDrift": "0"}])
    v = err.value.violations[0]
    assert v.row == 0 and v.field == "target" and v.value == "abc" and "row 1" in v.message


def test_name_is_unique_by_exact_match(models_repo):
    models_repo.create_model("Alpha")
    models_repo.create_model("alpha")  # exact match only: a different case is a different name
    with pytest.raises(BusinessRuleViolation, match="'Alpha' already exists"):
        models_repo.create_model("Alpha")
    with pytest.raises(BusinessRuleViolation):
        models_repo.create_model(" Alpha ")  # trimmed before storing
    assert models_repo.count_models() == 2


def test_get_model_malformed_and_unknown(models_repo):
    with pytest.raises(InvalidInput, match="not a valid id"):
        models_repo.get_model("xyz")
    with pytest.raises(NotFound):
        models_repo.get_model(str(ObjectId()))


def test_replace_checks_version_and_rules(models_repo, build):
    m = models_repo.create_model("M", [build.position(1, "0.10")], [P1])
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    r = models_repo.replace_model(
        m.model_id, "M2", [build.position(2, "0.20"), build.position(3, "0")], [P2], when, m.version
    )
    assert (r.name, r.version, r.portfolios, r.last_rebalance_date) == ("M2", 2, (P2,), when)
    assert [p.security_id for p in r.positions] == [build.hex_id(2, "5")]
    with pytest.raises(VersionConflict, match="modified by another process") as err:
        models_repo.replace_model(m.model_id, "Stale", [], [], None, m.version)
    assert err.value.details["current_version"] == 2
    assert models_repo.get_model(m.model_id) == r  # the stale write changed nothing
    with pytest.raises(InvalidInput):
        models_repo.replace_model(m.model_id, "M3", [build.position(1, "0.99")], [], None, r.version)
    with pytest.raises(NotFound):
        models_repo.replace_model(str(ObjectId()), "Ghost", [], [], None, 1)
    with pytest.raises(InvalidInput, match="version"):
        models_repo.replace_model(m.model_id, "M3", [], [], None, 0)


def test_replace_name_clash_and_foreign_portfolio(models_repo):
    a = models_repo.create_model("A", portfolios=[P1])
    b = models_repo.create_model("B", portfolios=[P2])
    with pytest.raises(BusinessRuleViolation, match="already exists"):
        models_repo.replace_model(b.model_id, "A", [], [P2], None, b.version)
    with pytest.raises(BusinessRuleViolation, match=f"portfolio {P1} already belongs to model 'A'"):
        models_repo.replace_model(b.model_id, "B", [], [P1, P2], None, b.version)
    same = models_repo.replace_model(a.model_id, "A", [], [P1, P3], None, a.version)  # own portfolios are fine
    assert same.portfolios == (P1, P3) and models_repo.get_model(b.model_id) == b


def test_add_update_delete_position(models_repo, build):
    m = models_repo.create_model("M", [build.position(1, "0.50")])
    m = models_repo.add_position(m.model_id, build.position(2, "0.40"))
    assert m.version == 2 and len(m.positions) == 2
    with pytest.raises(BusinessRuleViolation, match="already in model"):
        models_repo.add_position(m.model_id, build.position(2, "0.01"))
    with pytest.raises(InvalidInput, match=r"targets sum to 95\.5"):
        models_repo.add_position(m.model_id, build.position(3, "0.055"))
    m = models_repo.update_position(m.model_id, build.position(2, "0.45", high="0.1", low="0.03"))
    assert m.version == 3 and m.position_map()[build.hex_id(2, "5")].high_drift == Decimal("0.1")
    with pytest.raises(InvalidInput, match="targets sum"):
        models_repo.update_position(m.model_id, build.position(2, "0.46"))
    with pytest.raises(NotFound, match="not in model"):
        models_repo.update_position(m.model_id, build.position(9, "0.01"))
    m = models_repo.update_position(m.model_id, build.position(2, "0"))  # target 0 removes it
    assert [p.security_id for p in m.positions] == [build.hex_id(1, "5")] and m.version == 4
    assert models_repo.get_model(m.model_id) == m


def test_delete_position_only_on_exact_numeric_match(models_repo, build):
    m = models_repo.create_model("M", [build.position(1, "0.02", high="0.010", low="0.005")])
    with pytest.raises(BusinessRuleViolation, match="does not match"):
        models_repo.delete_position(m.model_id, build.position(1, "0.02", high="0.011", low="0.005"))
    with pytest.raises(NotFound):
        models_repo.delete_position(m.model_id, build.position(2, "0.02"))
    assert models_repo.get_model(m.model_id).version == 1
    m = models_repo.delete_position(m.model_id, build.position(1, "0.020", high="0.01", low="0.0050"))
    assert m.positions == () and m.version == 2


def test_position_ops_honour_a_stale_caller_version(models_repo, build):
    m = models_repo.create_model("M", [build.position(1, "0.10")])
    models_repo.update_position(m.model_id, build.position(1, "0.20"), version=1)
    with pytest.raises(VersionConflict):
        models_repo.update_position(m.model_id, build.position(1, "0.30"), version=1)
    with pytest.raises(VersionConflict):
        models_repo.add_portfolios(m.model_id, [P1], version=1)
    assert models_repo.get_model(m.model_id).position_map()[build.hex_id(1, "5")].target == Decimal("0.20")


def test_portfolio_association(models_repo):
    a = models_repo.create_model("A", portfolios=[P1])
    b = models_repo.create_model("B")
    a = models_repo.add_portfolios(a.model_id, [P1, P2, P2])  # P1 already there, P2 twice: both ignored
    assert a.portfolios == (P1, P2) and a.version == 2
    with pytest.raises(BusinessRuleViolation, match=f"portfolio {P2} already belongs to model 'A'") as err:
        models_repo.add_portfolios(b.model_id, [P3, P2])
    assert err.value.details["owners"] == {P2: "A"}
    assert models_repo.get_model(b.model_id).portfolios == ()  # nothing half-applied
    with pytest.raises(InvalidInput, match="24 letters or digits"):
        models_repo.add_portfolios(b.model_id, ["short"])
    a = models_repo.remove_portfolios(a.model_id, [P2, P3])  # P3 not there: ignored
    assert a.portfolios == (P1,) and a.version == 3
    b = models_repo.add_portfolios(b.model_id, [P2])  # free again
    assert b.portfolios == (P2,)
    assert models_repo.find_model_for_portfolio(P2).model_id == b.model_id
    assert models_repo.find_model_for_portfolio(P3) is None
    assert models_repo.portfolio_owners([P1, P2, P3]) == {P1: "A", P2: "B"}
    assert models_repo.portfolio_owners([P1, P2], exclude_model_id=a.model_id) == {P2: "B"}


def test_create_with_a_foreign_portfolio_names_the_owner(models_repo):
    models_repo.create_model("Owner", portfolios=[P1])
    with pytest.raises(BusinessRuleViolation, match="'Owner'"):
        models_repo.create_model("Other", portfolios=[P2, P1])
    assert models_repo.count_models() == 1


def test_models_without_portfolios_coexist_and_index_guards_owners(models_repo, mongo):
    for name in ("E1", "E2", "E3"):
        models_repo.create_model(name)  # empty arrays are outside the partial unique index
    a = models_repo.create_model("A", portfolios=[P1])
    b = models_repo.create_model("B")
    # Bypassing the repository's own check, the unique multikey index still refuses a second owner.
    with pytest.raises(DuplicateKeyError):
        mongo.db.models.update_one({"_id": ObjectId(b.model_id)}, {"$push": {"portfolios": P1}})
    info = mongo.db.models.index_information()
    assert info["name_unique"]["unique"] and info["portfolio_owner_unique"]["unique"]
    assert models_repo.get_model(a.model_id).portfolios == (P1,)


def test_delete_model_with_version(models_repo):
    m = models_repo.create_model("M")
    m2 = models_repo.add_portfolios(m.model_id, [P1])
    with pytest.raises(VersionConflict):
        models_repo.delete_model(m.model_id, 1)
    models_repo.delete_model(m.model_id, m2.version)
    with pytest.raises(NotFound):
        models_repo.get_model(m.model_id)
    with pytest.raises(NotFound):
        models_repo.delete_model(m.model_id, m2.version)
    assert models_repo.create_model("Next", portfolios=[P1]).portfolios == (P1,)  # its portfolio is free again


def test_stamp_last_rebalance_keeps_version_and_never_moves_back(models_repo):
    m = models_repo.create_model("M")
    t1 = dt.datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    s = models_repo.stamp_last_rebalance(m.model_id, t1)
    assert s.version == 1 and s.last_rebalance_date == t1.replace(microsecond=123000)
    older = models_repo.stamp_last_rebalance(m.model_id, t1 - dt.timedelta(days=1))
    assert older.last_rebalance_date == s.last_rebalance_date
    edited = models_repo.add_portfolios(m.model_id, [P1])
    assert edited.version == 2 and edited.last_rebalance_date == s.last_rebalance_date
    with pytest.raises(VersionConflict):
        models_repo.stamp_last_rebalance(m.model_id, t1 + dt.timedelta(days=1), version=1)
    with pytest.raises(NotFound):
        models_repo.stamp_last_rebalance(str(ObjectId()), t1)


def test_concurrent_adds_of_one_portfolio_have_one_winner(models_repo):
    """Two models race for the same portfolio: the unique index lets exactly one through."""
    from concurrent.futures import ThreadPoolExecutor

    ids = [models_repo.create_model(f"R{i}").model_id for i in range(2)]
    for round_ in range(5):
        pid = f"{round_:024x}"

        def claim(model_id: str, pid: str = pid) -> str:
            try:
                models_repo.add_portfolios(model_id, [pid])
                return "won"
            except BusinessRuleViolation:
                return "lost"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(claim, ids))
        assert outcomes == ["lost", "won"]
        assert sum(pid in models_repo.get_model(i).portfolios for i in ids) == 1


def test_a_thousand_portfolios_per_model(models_repo):
    """Large models are normal (the demo has one with 1,000 portfolios): association checks must scale."""
    many = [f"{i:024x}" for i in range(1000)]
    big = models_repo.create_model("Big", portfolios=many[:600])
    big = models_repo.add_portfolios(big.model_id, many)
    assert len(big.portfolios) == 1000
    other = models_repo.create_model("Other")
    with pytest.raises(BusinessRuleViolation, match="'Big'") as err:
        models_repo.add_portfolios(other.model_id, [*many[::-1], P1])
    assert len(err.value.details["owners"]) == 1000
    assert len(models_repo.portfolio_owners(many)) == 1000
    assert models_repo.find_model_for_portfolio(many[999]).model_id == big.model_id


def test_the_index_names_the_owner_when_a_racing_writer_slips_past_the_check(mongo):
    """Simulates losing the race: the pre-check saw no owner, the other model claimed the portfolio meanwhile."""

    class LateCheck(ModelRepository):
        checks = 0

        def _reject_owned(self, ids, model_id):
            self.checks += 1
            if self.checks > 1:  # the first (pre-write) check comes too early to see the other writer
                super()._reject_owned(ids, model_id)

    ModelRepository(mongo.db).create_model("Winner", portfolios=[P1])
    late = LateCheck(mongo.db)
    loser = late.create_model("Loser")
    late.checks = 0
    with pytest.raises(BusinessRuleViolation, match=f"portfolio {P1} already belongs to model 'Winner'"):
        late.add_portfolios(loser.model_id, [P1, P2])
    assert late.get_model(loser.model_id).portfolios == () and late.get_model(loser.model_id).version == 1
    late.checks = 0
    with pytest.raises(BusinessRuleViolation, match="'Winner'"):
        late.create_model("Third", portfolios=[P3, P1])


def test_every_version_is_kept_with_who_and_when(models_repo, build, mongo):
    """Issue 14 item 6: each write that bumps ``version`` stores that version in ``modelVersions`` (both
    backends); a rebalance stamp is not a version; a stale write stores nothing."""
    before = dt.datetime.now(dt.UTC)
    m = models_repo.create_model("H", [build.position(1, "0.10")], [P1], updated_by="ana")
    r = models_repo.replace_model(m.model_id, "H", [build.position(1, "0.20")], [P1], None, 1, updated_by="bo")
    models_repo.stamp_last_rebalance(m.model_id, dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    with pytest.raises(VersionConflict):
        models_repo.replace_model(m.model_id, "Stale", [], [], None, 1, updated_by="cy")
    p = models_repo.add_portfolios(m.model_id, [P2])
    history = models_repo.history(m.model_id)
    assert [v.model.version for v in history] == [3, 2, 1]
    assert [v.model.updated_by for v in history] == ["bo", "bo", "ana"]  # add_portfolios keeps the last writer
    assert history[1].model == r and history[0].model.portfolios == p.portfolios
    assert history[2].model.positions[0].target == Decimal("0.10")
    assert all(v.saved_at >= before for v in history)
    assert mongo.db["modelVersions"].count_documents({}) == 3
    assert models_repo.history(str(ObjectId())) == []
    with pytest.raises(InvalidInput):
        models_repo.history("not-an-id")
