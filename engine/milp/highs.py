"""The CVXPY/HiGHS model of a binding portfolio (route 2 of :mod:`engine.milp`), silent and time-limited."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import SolverFailed

# The solver's own limit is the real one; the guard only catches a solver that ignores it.
GUARD_GRACE_SECONDS = 5.0
# One HiGHS thread per solve, in-process and in pool workers alike: HiGHS's choice among tied optima
# depends on its thread count, and answers must not depend on ``workers`` (product-spec 3.3); the pool
# supplies the parallelism.
HIGHS_THREADS = 1


def _run_guarded(fn: Callable[[], None], limit: float) -> bool:
    """Run ``fn`` in a daemon thread; False when it is still running after ``limit`` seconds."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # re-raised in the caller's thread below
            box["exc"] = exc

    thread = threading.Thread(target=target, name="milp-solve", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        return False
    if "exc" in box:
        raise box["exc"]
    return True


_banner_lock = threading.Lock()
_banner_done = False
_cvxpy_lock = threading.Lock()
_cvxpy_module: Any = None


def new_highs() -> Any:
    """A silent, single-threaded ``highspy.Highs`` with ``mip_rel_gap = 0``.

    The first construction in a process prints HiGHS's banner from C before any option can be set;
    it is sent to ``/dev/null`` by pointing descriptors 1 and 2 there for that moment only.
    """
    global _banner_done
    import highspy

    with _banner_lock:
        if _banner_done:
            highs = highspy.Highs()
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 1)
                os.dup2(null, 2)
                highs = highspy.Highs()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in (*saved, null):
                    os.close(fd)
            _banner_done = True
    for name, value in (("output_flag", False), ("log_to_console", False), ("threads", HIGHS_THREADS)):
        highs.setOptionValue(name, value)
    highs.setOptionValue("mip_rel_gap", 0.0)
    return highs


def _cvxpy() -> Any:
    """CVXPY, imported on first use (about 0.5 s), with this process's HiGHS banner already spent.

    CVXPY builds a fresh ``Highs`` for every solve; only the first one of a process prints the banner,
    so one silent :func:`new_highs` comes first.
    """
    global _cvxpy_module
    with _cvxpy_lock:
        if _cvxpy_module is None:
            new_highs()
            import cvxpy

            _cvxpy_module = cvxpy
    return _cvxpy_module


def _solve_reduction_milp(
    price: list[int],
    caps: list[int],
    over: list[int],
    bonus: list[int],
    need: float,
    time_limit: float,
) -> tuple[str, list[float] | None]:
    """CVXPY + HiGHS: min Σ kᵢpᵢ − Σ bonusⱼ·yⱼ s.t. Σ kᵢpᵢ ≥ need, 0 ≤ k ≤ caps integer, y binary linked to k.

    ``over`` are the positions (in ``price``) of the securities whose first share sold back earns
    ``bonus`` (2dᵢ). Money is in integer units, scaled by the largest price so the data are near 1.
    Returns CVXPY's status and the values of k (None unless the status is ``optimal``).
    """
    cp = _cvxpy()
    # CVXPY warns on non-optimal statuses; the status is checked below and becomes a typed error. Set on every
    # call (an identical filter replaces itself) because callers such as pytest reset the filters.
    warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
    scale = float(max(price))
    p = np.array(price, dtype=np.float64) / scale
    k = cp.Variable(len(price), integer=True, bounds=[np.zeros(len(price)), np.array(caps, dtype=np.float64)])
    objective = p @ k
    constraints = [p @ k >= need / scale]
    if over:
        y = cp.Variable(len(over), boolean=True)
        k_over = k[over]
        constraints += [k_over >= y, k_over <= cp.multiply(np.array([caps[j] for j in over], dtype=np.float64), y)]
        objective = objective - (np.array(bonus, dtype=np.float64) / scale) @ y
    problem = cp.Problem(cp.Minimize(objective), constraints)

    def solve() -> None:
        problem.solve(
            solver=cp.HIGHS,
            verbose=False,
            warm_start=False,
            mip_rel_gap=0.0,
            time_limit=float(time_limit),
            threads=HIGHS_THREADS,
        )

    try:
        finished = _run_guarded(solve, time_limit + GUARD_GRACE_SECONDS)
    except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
        raise SolverFailed(f"the MILP solver failed: {exc}", {"solverStatus": "solver_error"}) from exc
    if not finished:
        return "wall_clock_timeout", None
    if problem.status != cp.OPTIMAL or k.value is None:
        return str(problem.status), None
    return cp.OPTIMAL, [float(v) for v in np.atleast_1d(k.value)]
