"""Optimistic concurrency under real contention: two threads, then two OS processes, on both backends.

Each worker makes 200 successful version-checked updates of one model, retrying after ``VersionConflict``. With an
atomic compare-and-set the model ends at version 1 + 400, every version from 2 to 401 is won exactly once, and no
update is lost; a read-compare-save implementation fails these assertions.
"""

from __future__ import annotations

import multiprocessing
import threading
from decimal import Decimal
from typing import Any

import pytest

from data.mongo import get_client, get_database
from data.repositories import ModelRepository
from engine.errors import VersionConflict
from engine.models import Position

UPDATES = 200
SECURITY = "a" * 24

pytestmark = pytest.mark.slow


def bump(repo: ModelRepository, model_id: str, worker: int, start: Any = None) -> tuple[list[int], int]:
    """Make ``UPDATES`` successful version-checked updates; return the versions won and the conflicts seen."""
    if start is not None:
        start.wait()
    won: list[int] = []
    conflicts = 0
    while len(won) < UPDATES:
        current = repo.get_model(model_id)
        target = Decimal("0.005") * (1 + (len(won) + worker) % 150)  # a real change every time, always ≤ 0.75
        try:
            updated = repo.update_position(
                model_id,
                Position(security_id=SECURITY, target=target, high_drift=Decimal(worker), low_drift=Decimal(0)),
                version=current.version,
            )
        except VersionConflict:
            conflicts += 1
            continue
        won.append(updated.version)
    return won, conflicts


def process_worker(uri: str, db_name: str, model_id: str, worker: int, start: Any, results: Any) -> None:
    """Entry point of a spawned process: its own client on the same database."""
    client = get_client(uri)
    try:
        results.put(
            (
                worker,
                *bump(ModelRepository(get_database(client, db_name), create_indexes=False), model_id, worker, start),
            )
        )
    except BaseException as exc:  # report instead of dying silently
        results.put((worker, repr(exc), -1))
    finally:
        client.close()


def new_model(repo: ModelRepository) -> str:
    position = Position(security_id=SECURITY, target=Decimal("0.1"), high_drift=Decimal(0), low_drift=Decimal(0))
    return repo.create_model("Contended", [position]).model_id


def check(repo: ModelRepository, model_id: str, won_lists: list[list[int]]) -> None:
    every = [v for won in won_lists for v in won]
    assert all(len(won) == UPDATES for won in won_lists)
    assert len(every) == len(set(every)), "a version was won twice"
    assert sorted(every) == list(range(2, 2 * UPDATES + 2)), "an update was lost"
    assert repo.get_model(model_id).version == 2 * UPDATES + 1


def test_two_threads_lose_no_update(models_repo):
    model_id = new_model(models_repo)
    start = threading.Barrier(2)
    results: dict[int, tuple[list[int], int]] = {}

    def run(worker: int) -> None:
        results[worker] = bump(models_repo, model_id, worker, start)

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert set(results) == {0, 1}, "a worker thread failed"
    check(models_repo, model_id, [won for won, _ in results.values()])


def test_two_processes_lose_no_update(models_repo, mongo):
    model_id = new_model(models_repo)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds database threads
    start = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=process_worker, args=(mongo.uri, mongo.db_name, model_id, w, start, results)) for w in (0, 1)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failures = [o for o in outcomes if not isinstance(o[1], list)]
    assert not failures, failures
    check(models_repo, model_id, [won for _, won, _ in outcomes])


def test_a_stale_save_from_another_client_is_refused(models_repo, mongo):
    """Two app processes hold the same model; the second save with the old version must fail, not overwrite."""
    model_id = new_model(models_repo)
    other = get_client(mongo.uri)
    try:
        repo_b = ModelRepository(get_database(other, mongo.db_name), create_indexes=False)
        seen_a, seen_b = models_repo.get_model(model_id), repo_b.get_model(model_id)
        saved = models_repo.replace_model(model_id, "By A", seen_a.positions, (), None, seen_a.version)
        with pytest.raises(VersionConflict):
            repo_b.replace_model(model_id, "By B", seen_b.positions, (), None, seen_b.version)
        assert repo_b.get_model(model_id) == saved
    finally:
        other.close()
