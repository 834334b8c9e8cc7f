"""Records kept in the process for the Saved rebalances page: read once per (id, version), dropped on delete."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from bson import ObjectId

from components import resources
from components.history import records
from data.mongo import MEMORY_URI, get_client, get_database
from data.repositories import RebalanceRepository
from engine.models import RebalanceRecord, RecordPortfolio


class CountingRepository(RebalanceRepository):
    """The real repository, counting whole-record reads."""

    reads = 0

    def get_rebalance(self, rebalance_id: str) -> RebalanceRecord:
        CountingRepository.reads += 1
        return super().get_rebalance(rebalance_id)


@pytest.fixture
def repo(monkeypatch):
    client = get_client(MEMORY_URI)
    repo = CountingRepository(get_database(client))
    CountingRepository.reads = 0
    monkeypatch.setattr(resources, "rebalance_repo", lambda: repo)
    monkeypatch.setattr(records, "_RECORDS", type(records._RECORDS)())
    monkeypatch.setattr(records, "_DERIVED", {})
    yield repo
    client.close()


def record(n: int) -> RebalanceRecord:
    return RebalanceRecord(
        model_id=str(ObjectId()),
        model_name="Model",
        rebalance_date=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        portfolios=(
            RecordPortfolio(
                portfolio_id=f"{n:024x}",
                market_value=Decimal(1),
                cash_before_rebalance=Decimal(1),
                cash_after_rebalance=Decimal(1),
            ),
        ),
    )


def test_a_saved_record_handed_over_is_opened_without_a_read(repo):
    saved = repo.save_rebalance(record(1))
    records.remember(saved)
    assert records.load(saved.rebalance_id, 1) is saved and repo.reads == 0


def test_a_record_is_read_once_then_kept_and_dropped_when_deleted(repo):
    saved = repo.save_rebalance(record(2))
    first = records.load(saved.rebalance_id, 1)
    assert first == saved and records.load(saved.rebalance_id, 1) is first and repo.reads == 1
    records.forget(saved.rebalance_id)
    records.load(saved.rebalance_id, 1)
    assert repo.reads == 2


def test_only_a_few_records_are_kept(repo):
    saved = [repo.save_rebalance(record(10 + i)) for i in range(records.MAX_RECORDS + 1)]
    for s in saved:
        records.remember(s)
    records.load(saved[-1].rebalance_id, 1)
    assert repo.reads == 0
    records.load(saved[0].rebalance_id, 1)  # the oldest was let go
    assert repo.reads == 1


def test_a_figure_of_a_kept_record_is_computed_once_and_dropped_with_it(repo):
    saved = repo.save_rebalance(record(20))
    records.remember(saved)
    calls = []

    def count(r: RebalanceRecord) -> int:
        calls.append(r)
        return len(r.portfolios)

    assert records.derived(saved, "n", count) == records.derived(saved, "n", count) == 1
    assert len(calls) == 1
    records.forget(saved.rebalance_id)
    assert not records._DERIVED
    unkept = repo.save_rebalance(record(21))  # not kept: computed each time, nothing stored
    assert records.derived(unkept, "n", count) == 1 and records.derived(unkept, "n", count) == 1
    assert len(calls) == 3 and not records._DERIVED


def test_figures_leave_with_a_record_let_go(repo):
    saved = [repo.save_rebalance(record(30 + i)) for i in range(records.MAX_RECORDS + 1)]
    records.remember(saved[0])
    records.derived(saved[0], "n", lambda r: 1)
    for s in saved[1:]:
        records.remember(s)
    assert not [k for k in records._DERIVED if k[0] == saved[0].rebalance_id]
