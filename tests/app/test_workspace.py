"""What-if workspaces (issue #12 §2, AppTest): scenarios survive a reload and a server restart through ``?ws=``,
recompute to the same results, keep renames/deletes/saves, refuse a stale tab's change with a reload, and list as
recent workspaces."""

from __future__ import annotations

import pytest

from components.rebalance import keys as rebalance_keys
from tests.app.support import (
    models_by_name,
    open_page,
    reopen,
    run_whatif,
    save,
    scenarios,
    texts,
    whatif_then_orders,
)

pytestmark = pytest.mark.slow


def same_results(a, b) -> None:
    assert [r.portfolio_id for r in a.results] == [r.portfolio_id for r in b.results]
    for x, y in zip(a.results, b.results, strict=True):
        assert (x.status, x.transactions, x.cash_after) == (y.status, y.transactions, y.cash_after)


@pytest.mark.parametrize("restart", [False, True], ids=["reload", "server-restart"])
def test_reload_brings_the_same_scenarios_back(at, repo, restart):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(run_whatif(open_page(at, tech)), min_cash=1000.0)
    first, second = scenarios(at)
    ws = at.query_params["ws"][0] if isinstance(at.query_params["ws"], list) else at.query_params["ws"]
    assert ws and at.session_state[rebalance_keys.WORKSPACE] == ws
    fresh = reopen(ws, restart=restart)
    back = scenarios(fresh)
    assert [(s.id, s.name) for s in back] == [(first.id, first.name), (second.id, second.name)]
    same_results(first, back[0])
    same_results(second, back[1])
    assert back[1].params.options.min_cash == second.params.options.min_cash
    assert back[0].snapshot.prices == first.snapshot.prices and back[0].snapshot is back[1].snapshot


def test_rename_delete_and_save_are_kept(at, repo):
    scenario = whatif_then_orders(at, repo)
    save(at)
    ws = at.session_state[rebalance_keys.WORKSPACE]
    open_page(at)
    run_whatif(at, min_cash=500.0)
    second = scenarios(at)[-1]
    at.text_input(key=f"rebalance_rename_{second.id}").input("Half a grand").run()
    fresh = reopen(ws)
    back = {s.id: s for s in scenarios(fresh)}
    assert back[second.id].name == "Half a grand"
    assert back[scenario.id].saved_rebalance_id == scenario.saved_rebalance_id
    fresh.button(key=rebalance_keys.DELETE).click().run()  # deletes the current one: "Half a grand"
    assert [s.id for s in scenarios(reopen(ws))] == [scenario.id]


def test_a_stale_tab_gets_the_conflict_message_and_reloads(at, repo):
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    (scenario,) = scenarios(at)
    ws = at.session_state[rebalance_keys.WORKSPACE]
    other = reopen(ws)
    other.text_input(key=f"rebalance_rename_{scenario.id}").input("Renamed elsewhere").run()
    at.text_input(key=f"rebalance_rename_{scenario.id}").input("Mine").run()  # this tab is stale now
    assert any("another tab" in w and "reloaded" in w for w in texts(at, "warning")), texts(at, "warning")
    assert [s.name for s in scenarios(at)] == ["Renamed elsewhere"]
    run_whatif(at, min_cash=100.0)  # adding never conflicts: both tabs' scenarios are kept
    assert len(scenarios(reopen(ws))) == 2


def test_unknown_link_says_so_and_new_and_recent_workspaces(at, repo):
    fresh = reopen("no-such-workspace")
    assert any("could not be opened" in w for w in texts(fresh, "warning"))
    tech = models_by_name(repo)["Technology Leaders"]
    run_whatif(open_page(at, tech))
    ws = at.session_state[rebalance_keys.WORKSPACE]
    at.button(key=rebalance_keys.NEW_WORKSPACE).click().run()
    assert scenarios(at) == [] and at.session_state[rebalance_keys.WORKSPACE] is None
    run_whatif(at)
    assert at.session_state[rebalance_keys.WORKSPACE] not in (None, ws)
    at.button(key=f"rebalance_ws_{ws}").click().run()
    assert at.session_state[rebalance_keys.WORKSPACE] == ws and len(scenarios(at)) == 1
