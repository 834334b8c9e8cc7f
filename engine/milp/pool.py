"""Many binding portfolios: in-process, or in one warm ``spawn`` process pool per process (HiGHS hangs in a
forked child), created on first use and reused by later calls."""

from __future__ import annotations

import atexit
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, ProcessPoolExecutor, wait

from engine.errors import Cancelled, ErrorInfo, SolverFailed
from engine.milp.highs import _cvxpy
from engine.milp.problem import MilpOutcome, MilpProblem
from engine.milp.solve import solve_milp

# Below this many MILPs the pool costs more (process start and imports on first use, pickling) than it saves.
POOL_MIN_PROBLEMS = 64


def _solve_chunk(problems: list[MilpProblem]) -> list[MilpOutcome]:
    """Pool worker entry: solve a chunk of problems in order."""
    return [solve_milp(p) for p in problems]


def _cancelled(problem: MilpProblem) -> MilpOutcome:
    err = Cancelled(f"the run was cancelled before portfolio {problem.portfolio_id} was solved")
    return MilpOutcome(problem.index, None, ErrorInfo.of(err), "cancelled", 0.0)


def solve_milps(
    problems: Sequence[MilpProblem],
    workers: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[MilpOutcome]:
    """Solve many binding portfolios, in a ``spawn`` process pool when there are enough of them.

    Returns one outcome per problem in input order. ``cancel()`` is checked between problems (or
    chunks); problems not started are returned as ``CANCELLED`` errors. ``progress(done, total)``.
    """
    total = len(problems)
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    if workers > 1 and total >= POOL_MIN_PROBLEMS:
        return _solve_in_pool(list(problems), workers, progress, cancel)
    outcomes: list[MilpOutcome] = []
    for done, problem in enumerate(problems):
        if cancel is not None and cancel():
            outcomes.extend(_cancelled(p) for p in problems[done:])
            break
        outcomes.append(solve_milp(problem))
        if progress is not None:
            progress(done + 1, total)
    return outcomes


_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def _warm_worker() -> None:
    """Pool worker start-up: import CVXPY and spend HiGHS's banner silently before any task."""
    _cvxpy()


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process's ``spawn`` pool of ``workers`` solver processes, created on first use and then reused.

    Starting processes costs about as much as solving a few hundred certified MILPs, so one warm pool
    serves every later call (the app solves in chunks). A pool of another size, or one broken by a dead
    worker, is replaced.
    """
    global _pool, _pool_workers
    import multiprocessing

    with _pool_lock:
        if _pool is None or _pool_workers != workers or getattr(_pool, "_broken", False):
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_worker
            )
            _pool_workers = workers
        return _pool


def shutdown_pool() -> None:
    """Stop the shared pool's processes (also run at interpreter exit); the next pooled call starts a new one."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_pool)


def _solve_in_pool(
    problems: list[MilpProblem],
    workers: int,
    progress: Callable[[int, int], None] | None,
    cancel: Callable[[], bool] | None,
) -> list[MilpOutcome]:
    total = len(problems)

    def failed(problem: MilpProblem, reason: str) -> MilpOutcome:
        err = SolverFailed(reason, {"solverStatus": "worker_failed"})
        return MilpOutcome(problem.index, None, ErrorInfo.of(err), "worker_failed", 0.0)

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    outcomes = map_chunks(_solve_chunk, problems, workers, failed, cancel, report)
    return [o if o is not None else _cancelled(p) for o, p in zip(outcomes, problems, strict=True)]


def map_chunks[T, R](
    fn: Callable[[list[T]], list[R]],
    items: Sequence[T],
    workers: int,
    failed: Callable[[T, str], R],
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[R | None]:
    """``fn`` over chunks of ``items`` in the shared ``spawn`` pool (``fn`` importable by a worker); in order.

    A chunk whose worker died gives ``failed(item, reason)`` for each of its items; items of chunks not
    finished when ``cancel()`` returns True are None. ``progress(n)``: items finished so far, as chunks finish.
    """
    size = max(1, math.ceil(len(items) / (workers * 4)))
    chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
    out: list[R | None] = [None] * len(items)
    pool = shared_pool(workers)
    pending: dict[Future[list[R]], int] = {}
    finished_items = 0
    try:
        for c, chunk in enumerate(chunks):
            pending[pool.submit(fn, chunk)] = c
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in finished:
                c = pending.pop(fut)
                try:
                    values = fut.result()
                except Exception as exc:  # a dead worker process: its items fail, the others go on
                    values = [failed(item, f"a solver worker process failed: {exc!r}") for item in chunks[c]]
                out[c * size : c * size + len(values)] = values
                finished_items += len(chunks[c])
            if progress is not None and finished:
                progress(finished_items)
            if cancel is not None and cancel():
                break
    except BrokenExecutor as exc:  # the pool broke while submitting: the next call gets a new one
        for j, item in enumerate(items):
            if out[j] is None:
                out[j] = failed(item, f"the solver process pool failed: {exc!r}")
    finally:
        for fut in pending:
            fut.cancel()
    return out
