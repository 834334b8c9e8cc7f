"""Demo seeding: only into an empty collection, never overwriting, safe when two sessions start at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from data.repositories import ModelRepository
from data.seed import BUILTIN_MODELS, demo_models, seed_demo_models
from engine.models import InvestmentModel
from engine.validation import model_violations

P = ["c" * 23 + str(i) for i in range(4)]


def models(build):
    return [
        InvestmentModel(name="Seed A", positions=(build.position(1, "0.3"),), portfolios=(P[0], P[1])),
        InvestmentModel(
            name="Seed B",
            positions=(build.position(2, "0.5"), build.position(3, "0.2")),
            portfolios=(P[2],),
            last_rebalance_date=dt.datetime(2025, 1, 31, tzinfo=dt.UTC),
        ),
        {"name": "Seed C", "positions": [], "portfolios": [P[3]]},  # plain mappings are accepted too
    ]


def test_seeds_an_empty_collection_once(models_repo, build):
    assert seed_demo_models(models_repo, models(build)) == 3
    stored = {m.name: m for m in models_repo.list_models()}
    assert set(stored) == {"Seed A", "Seed B", "Seed C"}
    assert stored["Seed A"].portfolios == (P[0], P[1]) and stored["Seed A"].version == 1
    assert stored["Seed B"].last_rebalance_date == dt.datetime(2025, 1, 31, tzinfo=dt.UTC)
    edited = models_repo.add_position(stored["Seed C"].model_id, build.position(9, "0.1"))
    assert seed_demo_models(models_repo, models(build)) == 0  # second start: nothing touched
    assert models_repo.get_model(edited.model_id) == edited and models_repo.count_models() == 3


def test_never_seeds_over_existing_data(models_repo, build):
    models_repo.create_model("Mine")
    assert seed_demo_models(models_repo, models(build)) == 0
    assert [m.name for m in models_repo.list_models()] == ["Mine"]


def test_two_sessions_seeding_at_once_insert_each_model_once(mongo, build):
    repos = [ModelRepository(mongo.db), ModelRepository(mongo.db)]
    start = threading.Barrier(2)
    counts: list[int] = []

    def run(repo: ModelRepository) -> None:
        start.wait()
        counts.append(seed_demo_models(repo, models(build)))

    threads = [threading.Thread(target=run, args=(r,)) for r in repos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(counts) == 2 and sum(counts) == 3
    assert sorted(m.name for m in repos[0].list_models()) == ["Seed A", "Seed B", "Seed C"]


def test_demo_models_are_valid_and_disjoint():
    demo = demo_models()
    assert demo, "no demo models"
    for source in (demo, list(BUILTIN_MODELS)):
        owners: dict[str, str] = {}
        for m in source:
            assert model_violations(m.name, m.positions, m.portfolios) == [], m.name
            for pid in m.portfolios:
                assert pid not in owners, f"{pid} in {owners.get(pid)} and {m.name}"
                owners[pid] = m.name
        assert len({m.name for m in source}) == len(source)


@pytest.mark.parametrize("source", ["builtin", "demo"])
def test_model_sets_seed_cleanly(models_repo, source):
    wanted = list(BUILTIN_MODELS) if source == "builtin" else demo_models()
    assert seed_demo_models(models_repo, wanted) == len(wanted)
    stored = {m.name: m for m in models_repo.list_models()}
    for m in wanted:
        assert stored[m.name].portfolios == m.portfolios
        assert stored[m.name].positions == tuple(p for p in m.positions if p.target != 0)
