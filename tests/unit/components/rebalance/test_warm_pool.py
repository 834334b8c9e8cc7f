"""components.rebalance.run.warm_solver_pool: the engine's solver processes are started after a run, and a pool
that already runs every process it wants gets no more tasks (a no-op per process after every run was waste)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from components.rebalance.run import warm_solver_pool
from engine.milp import shared_pool, shutdown_pool

pytestmark = pytest.mark.slow  # spawns solver processes (each imports the engine and CVXPY)


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch):
    """Every task submitted to a process pool (then submitted for real), on a pool of its own."""
    shutdown_pool()
    calls = []
    real = ProcessPoolExecutor.submit

    def spy(self, fn, /, *args, **kwargs):
        calls.append(fn)
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", spy)
    yield calls
    shutdown_pool()


def live(pool: ProcessPoolExecutor) -> int:
    return sum(p.is_alive() for p in pool._processes.values())


def test_a_new_pool_is_started_and_a_warm_one_left_alone(submitted):
    warm_solver_pool(2)
    assert len(submitted) == 2 and live(shared_pool(2)) == 2  # just created: one task per process to start
    warm_solver_pool(2)
    warm_solver_pool(2)
    assert len(submitted) == 2  # warm: nothing more


def test_a_pool_short_of_processes_is_filled_up(submitted):
    pool = shared_pool(2)
    pool.submit(int).result()  # a spawn pool starts processes on demand: one so far
    assert live(pool) == 1
    warm_solver_pool(2)
    assert len(submitted) > 1 and live(shared_pool(2)) == 2 and shared_pool(2) is pool
    done = len(submitted)
    warm_solver_pool(2)
    assert len(submitted) == done
