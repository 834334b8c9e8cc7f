"""What-if workspaces in MongoDB on both backends: survive a reopen, never lose a tab's scenario, expire (#12 §2)."""

# ruff: noqa: F811 - pytest fixtures imported from tests.support.simulator are redefined as arguments

from __future__ import annotations

import datetime as dt
import threading

import pytest

from data.demo import load_demo
from data.mongo import get_client, get_database
from data.repositories.workspaces import MAX_SCENARIOS, WorkspaceRepository
from data.snapshot import build_market_snapshot
from data.snapshot_codec import decode_snapshot, encode_snapshot
from engine.errors import ExternalDataError, InvalidInput, NotFound, VersionConflict
from engine.rebalance import rebalance_portfolios
from tests.support.simulator import services, sim_transport, simulator  # noqa: F401

DEMO = load_demo()
META = {"scope": {"all": True}, "options": {"minCash": "0", "minCashPct": "0.05"}, "overrides": None}


@pytest.fixture
def workspaces(mongo) -> WorkspaceRepository:
    return WorkspaceRepository(mongo.db)


def test_a_snapshot_round_trips_exactly_and_gives_the_same_orders(services):
    model = DEMO.model("Technology Leaders")
    snapshot = build_market_snapshot(services, model)
    back = decode_snapshot(encode_snapshot(snapshot))
    assert back == snapshot
    assert rebalance_portfolios(back.model, back.prices, back.portfolios) == rebalance_portfolios(
        snapshot.model, snapshot.prices, snapshot.portfolios
    )


@pytest.mark.parametrize("blob", [b"", b"not zlib", __import__("zlib").compress(b'{"format": 99}')])
def test_a_damaged_snapshot_is_a_typed_error(blob):
    with pytest.raises(ExternalDataError):
        decode_snapshot(blob)


def test_a_workspace_survives_reopening_the_database(mongo, workspaces, services):
    ws = workspaces.create("Tuesday what-ifs", owner="pm@example.com")
    snapshot = build_market_snapshot(services, DEMO.model("Technology Leaders"))
    workspaces.put_snapshot(ws.workspace_id, "snap-1", encode_snapshot(snapshot))
    workspaces.add_scenario(ws.workspace_id, "s1", "Base", META, "snap-1")
    workspaces.add_scenario(ws.workspace_id, "s2", "5 % floor", {**META, "options": {"minCash": "5"}}, "snap-1")
    # a server restart: a new client on the same database file (embedded) or server (wire)
    client = get_client(mongo.uri)
    try:
        reopened = WorkspaceRepository(get_database(client, mongo.db_name))
        assert reopened.get(ws.workspace_id).scenario_count == 2
        stored = reopened.scenarios(ws.workspace_id)
        assert [(s.scenario_id, s.name) for s in stored] == [("s1", "Base"), ("s2", "5 % floor")]
        assert stored[0].meta == META
        assert decode_snapshot(reopened.snapshot(ws.workspace_id, stored[0].snapshot_id)) == snapshot
        assert [w.workspace_id for w in reopened.recent("pm@example.com")] == [ws.workspace_id]
    finally:
        if mongo.name == "embedded":
            client.close()


def test_ids_are_unguessable_and_checked(workspaces):
    a, b = workspaces.create("A"), workspaces.create("B")
    assert a.workspace_id != b.workspace_id and len(a.workspace_id) >= 24
    for bad in ("", "../x", {"$ne": ""}, "x" * 65, "a\ud800"):
        with pytest.raises(InvalidInput):
            workspaces.get(bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        workspaces.get("unknownbutwellformed")


def test_two_tabs_adding_scenarios_at_once_lose_none(workspaces):
    ws = workspaces.create("Shared")
    workspaces.put_snapshot(ws.workspace_id, "snap", b"x")
    barrier = threading.Barrier(2)

    def tab(n: int) -> None:
        barrier.wait()
        for i in range(5):
            workspaces.add_scenario(ws.workspace_id, f"t{n}-{i}", f"Tab {n} #{i}", META, "snap")

    threads = [threading.Thread(target=tab, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(workspaces.scenarios(ws.workspace_id)) == 10


def test_a_stale_tab_gets_a_conflict_and_nothing_is_overwritten(workspaces):
    ws = workspaces.create("W")
    workspaces.put_snapshot(ws.workspace_id, "snap", b"x")
    s = workspaces.add_scenario(ws.workspace_id, "s1", "Base", META, "snap")
    workspaces.rename_scenario(ws.workspace_id, "s1", "Renamed in tab 1", s.version)
    with pytest.raises(VersionConflict):
        workspaces.rename_scenario(ws.workspace_id, "s1", "Renamed in tab 2", s.version)
    with pytest.raises(VersionConflict):
        workspaces.delete_scenario(ws.workspace_id, "s1", s.version)
    assert workspaces.scenarios(ws.workspace_id)[0].name == "Renamed in tab 1"
    with pytest.raises(VersionConflict):
        workspaces.rename(ws.workspace_id, "New", ws.version + 1)
    assert workspaces.rename(ws.workspace_id, "New", ws.version).name == "New"


def test_deleting_the_last_scenario_of_a_snapshot_removes_the_snapshot(workspaces):
    ws = workspaces.create("W")
    workspaces.put_snapshot(ws.workspace_id, "snap", b"blob")
    a = workspaces.add_scenario(ws.workspace_id, "a", "A", META, "snap")
    b = workspaces.add_scenario(ws.workspace_id, "b", "B", META, "snap")
    workspaces.delete_scenario(ws.workspace_id, "a", a.version)
    assert workspaces.snapshot(ws.workspace_id, "snap") == b"blob"
    workspaces.delete_scenario(ws.workspace_id, "b", b.version)
    with pytest.raises(NotFound):
        workspaces.snapshot(ws.workspace_id, "snap")
    with pytest.raises(NotFound):
        workspaces.delete_scenario(ws.workspace_id, "b", b.version)


def test_size_is_bounded_with_a_clear_message(workspaces):
    ws = workspaces.create("Full")
    workspaces.put_snapshot(ws.workspace_id, "snap", b"x")
    for i in range(MAX_SCENARIOS):
        workspaces.add_scenario(ws.workspace_id, f"s{i}", f"S{i}", META, "snap")
    with pytest.raises(InvalidInput, match="delete one or start a new workspace"):
        workspaces.add_scenario(ws.workspace_id, "one-more", "Too many", META, "snap")
    other = workspaces.create("Other")
    with pytest.raises(InvalidInput, match="not plain JSON"):
        workspaces.add_scenario(other.workspace_id, "x", "X", {"a": object()}, "snap")


def test_an_unused_workspace_expires(mongo):
    short = WorkspaceRepository(mongo.db, ttl=dt.timedelta(milliseconds=50))
    ws = short.create("Soon gone")
    assert short.get(ws.workspace_id).name == "Soon gone"
    threading.Event().wait(0.2)
    with pytest.raises(NotFound, match="expired"):
        short.get(ws.workspace_id)
    assert short.recent() == []
