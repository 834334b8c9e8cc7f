"""The vectorised route of the PM trade controls (product-spec 2.12): K portfolios x N securities at once.

:mod:`engine.controls` solves one portfolio at a time in Decimal and stays the reference; this module gives
the same answers on K x N integer matrices (shares; money only in the exact spend test and the post-check):

1. **Sets.** With integer holdings u ≥ 0 the in-band test is lo ≤ u ≤ hi on the exact whole-share band, and
   every restriction of 2.12 steps 1-2 (noTrade, out-of-band, noBuy, noSell, direction) only changes each
   security's interval [a, b]; a minimum trade m cuts it into at most two intervals (sales down to u − s, buys
   from u + s, s = ⌈m/p⌉) and the points u and 0 (step 3). Held securities outside the model have one
   quantity (0, or u when selling is barred): fixed spend added to the cash floor.
2. **Closed form.** The drift is separable, so with a slack cash row each security's best candidate (the
   target-nearest point of each piece, u, 0) is the optimum; candidates are compared exactly in shares
   against ⌈2·MV·t/p⌉ (x < y: x is at least as good iff ⌈2T/p⌉ ≤ x + y; ties go to the smaller quantity).
3. **Binding floor.** Each security's reductions below its best form a few intervals (one without a minimum
   trade), and :func:`_prove` proves the optimum in integers without a solver: the certified bound
   (:func:`engine.milp.certified.certified_set_reduction`), else the residue search
   (:func:`engine.milp.overshoot.exact_reduction`), else the bound-ordered mode search
   (:func:`engine.milp.modes.search_modes`), else the exact sum table (:func:`engine.milp.overshoot.dp_reduction`).
4. **The rest, per portfolio** (:func:`_rest_one`, in the shared spawn pool when there are several): a
   portfolio with no strict answer (an empty set, a floor that cannot be met) is diagnosed in the reference's
   words and, with ``onInfeasible = nearest``, given its nearest feasible answer without a solver
   (:func:`engine.controls_relaxed.solve_nearest`); what that does not prove — and a fractional or short
   holding, or a binding floor none of the searches closes — is answered by the reference
   :func:`engine.controls.solve_portfolio` (its MILPs on HiGHS).

Every answer of 1-3 is post-checked on the data, exactly, one rule of 2.12 at a time (:func:`_post_check`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

import numpy as np

from engine.bands import Bands, ModelArrays, compute_bands, market_values_f
from engine.controls import Answer, Security, floor_div, prepare, solve_portfolio
from engine.controls_relaxed import solve_nearest
from engine.errors import SolverFailed
from engine.exactmath import MAX_EXACT, MONEY, ZERO, decimals_of, exact_ceil, fmt_money, mills_of, to_scaled_int
from engine.milp.certified import certified_set_reduction
from engine.milp.modes import search_modes
from engine.milp.overshoot import dp_reduction, exact_reduction
from engine.milp.pool import map_chunks
from engine.models import KeptBy, RebalanceOptions
from engine.postcheck import mv_decimal, value_vs_weight
from engine.solver import _spend_exceeds, cash_floors

# Below this many reference solves the pool's chunking costs more than it saves (a warm pool is assumed).
REFERENCE_POOL_MIN = 8
# Binding rows proven in the pool from this many: most take a millisecond, and on a busy machine the pool's
# round trip costs more than proving a few dozen rows in process.
POOL_MIN_PROVE = 200
KEPT: tuple[KeptBy | None, ...] = (None, "in-band", "no-trade", "no-buy", "no-sell", "min-trade")


@dataclass(frozen=True)
class ControlledPortfolio:
    """One portfolio as the controls need it: quantities held, the held securities outside the model, MV."""

    portfolio_id: str
    held: Mapping[str, Decimal]
    extras: tuple[tuple[str, Decimal], ...]  # (security id, price), in holdings order
    market_value: Decimal


@dataclass(frozen=True)
class ControlsRun:
    """One controlled run as its solvers take it: the model's arrays, the portfolios with their cash floors, the
    options, and how to run (solver processes, ``progress(n)`` as portfolios finish, ``cancel()``)."""

    arrays: ModelArrays
    portfolios: Sequence[ControlledPortfolio]
    floors: Sequence[Decimal]
    options: RebalanceOptions
    workers: int = 1
    progress: Callable[[int], None] | None = None
    cancel: Callable[[], bool] | None = None

    def subset(self, rows: Sequence[int]) -> ControlsRun:
        """The same run over ``rows`` only (no progress reports)."""
        return replace(
            self,
            portfolios=[self.portfolios[k] for k in rows],
            floors=[self.floors[k] for k in rows],
            progress=None,
        )


@dataclass(frozen=True)
class _ReferenceItem:
    """One portfolio for :func:`engine.controls.solve_portfolio` (what ships to a pool worker)."""

    secs: tuple[Security, ...]
    market_value: Decimal
    floor: Decimal
    options: RebalanceOptions
    portfolio_id: str


def reference_securities(arrays: ModelArrays, bands: Bands, k: int, p: ControlledPortfolio) -> list[Security]:
    """The per-security inputs of :mod:`engine.controls` for row ``k``: model securities, then the extras."""
    mv = p.market_value
    lo, hi, near = bands.lo[k].tolist(), bands.hi[k].tolist(), bands.nearest[k].tolist()
    secs = []
    with localcontext(MONEY):
        for i, sid in enumerate(arrays.security_ids):
            secs.append(
                Security(
                    sid,
                    arrays.prices[i],
                    p.held.get(sid, ZERO),
                    mv * arrays.targets[i],
                    mv * arrays.band_low[i],
                    mv * arrays.band_high[i],
                    lo[i],
                    hi[i],
                    near[i],
                    arrays.targets[i],
                )
            )
        for sid, price in p.extras:
            secs.append(Security(sid, price, p.held[sid], ZERO, ZERO, ZERO, 0, 0, 0))
    return secs


def _reference_one(item: _ReferenceItem) -> Answer:
    options = item.options
    return solve_portfolio(item.secs, item.market_value, item.floor, options, item.portfolio_id, options.time_limit)


def _reference_chunk(items: list[_ReferenceItem]) -> list[Answer]:
    """Pool worker entry: reference answers of a chunk, in order."""
    return [_reference_one(item) for item in items]


def _needs_milp(item: _ReferenceItem) -> bool:
    """Whether the reference reaches its MILP for this portfolio (a binding floor, strict or relaxed)."""
    options = item.options
    start = prepare(item.secs, item.market_value, item.floor, options, item.portfolio_id, relaxed=False)
    if not isinstance(start, Answer):
        return start[3]
    if options.on_infeasible != "nearest":
        return False
    start = prepare(item.secs, item.market_value, item.floor, options, item.portfolio_id, relaxed=True)
    return not isinstance(start, Answer) and start[3]


def _rest_one(item: _ReferenceItem) -> tuple[Answer, str]:
    """A portfolio the matrices do not answer: without a solver when that is proven (no strict answer: its
    diagnosis, or the nearest feasible answer, :func:`engine.controls_relaxed.solve_nearest`), else the
    reference; with its route ("nearest", "reference", or "highs" when the reference needs its MILP)."""
    fast = solve_nearest(item.secs, item.market_value, item.floor, item.options, item.portfolio_id)
    if fast is not None:
        return fast, "nearest"
    return _reference_one(item), "highs" if _needs_milp(item) else "reference"


def _rest_chunk(items: list[_ReferenceItem]) -> list[tuple[Answer, str]]:
    """Pool worker entry: :func:`_rest_one` over a chunk, in order."""
    return [_rest_one(item) for item in items]


def _rest_failed(item: _ReferenceItem, reason: str) -> tuple[Answer, str]:
    return _worker_failed(item, reason), "reference"


def _worker_failed(item: _ReferenceItem, reason: str) -> Answer:
    return Answer("error", diagnosis=f"portfolio {item.portfolio_id}: {reason}", error_code=SolverFailed.code)


def _out_of_range(pid: str) -> Answer:
    msg = f"portfolio {pid}: share quantities above 2**50 are outside the engine's exact range"
    return Answer("error", diagnosis=msg, error_code=SolverFailed.code)


def _items(run: ControlsRun) -> tuple[list[Answer | None], list[tuple[int, _ReferenceItem]]]:
    """Each portfolio as the reference takes it (or its out-of-range error)."""
    arrays, portfolios, floors, options = run.arrays, run.portfolios, run.floors, run.options
    mills = np.array([mills_of(p.market_value) for p in portfolios], dtype=np.int64)
    bands = compute_bands(arrays, mills)
    out: list[Answer | None] = [None] * len(portfolios)
    items: list[tuple[int, _ReferenceItem]] = []
    for k, p in enumerate(portfolios):
        if bands.out_of_range[k]:
            out[k] = _out_of_range(p.portfolio_id)
        else:
            secs = tuple(reference_securities(arrays, bands, k, p))
            items.append((k, _ReferenceItem(secs, p.market_value, floors[k], options, p.portfolio_id)))
    return out, items


def solve_reference(run: ControlsRun) -> list[Answer | None]:
    """Every portfolio by the per-portfolio reference :func:`engine.controls.solve_portfolio`.

    In the shared spawn pool when ``workers`` > 1 and there are several; ``progress(n)`` after each one
    in process; once ``cancel()`` returns True the rest are None.
    """
    if not run.portfolios:
        return []
    workers, progress, cancel = run.workers, run.progress, run.cancel
    out, items = _items(run)
    if workers > 1 and len(items) >= REFERENCE_POOL_MIN:
        answers = map_chunks(_reference_chunk, [it for _, it in items], workers, _worker_failed, cancel)
        for (k, _), ans in zip(items, answers, strict=True):
            out[k] = ans
        if progress is not None:
            progress(len(run.portfolios))
        return out
    for done, (k, item) in enumerate(items):
        if cancel is not None and cancel():
            break
        if progress is not None and done:
            progress(done)
        out[k] = _reference_one(item)
    return out


def _solve_rest(run: ControlsRun, counts: dict[str, int]) -> list[Answer | None]:
    """The portfolios the matrices leave: :func:`_rest_one` each (in the pool when there are several)."""
    workers, cancel = run.workers, run.cancel
    out, items = _items(run)
    if workers > 1 and len(items) >= REFERENCE_POOL_MIN:
        answers = map_chunks(_rest_chunk, [it for _, it in items], workers, _rest_failed, cancel)
    else:
        answers = []
        for _, item in items:
            if cancel is not None and cancel():
                break
            answers.append(_rest_one(item))
    for (k, _), got in zip(items, answers, strict=False):
        if got is not None:
            out[k], route = got
            counts[route] += 1
    return out


def _exact_ceil_2t(arrays: ModelArrays, mills: np.ndarray, out_of_range: np.ndarray) -> np.ndarray:
    """⌈2·MV·t/p⌉ for every cell, exactly (as :func:`engine.bands.compute_bands` computes it)."""
    if arrays.size == 0:
        return np.zeros((mills.shape[0], 0), dtype=np.int64)
    mv = market_values_f(mills)[:, None]
    x = mv * arrays.ratio_2t[None, :]
    largest = float(np.abs(arrays.ratio_2t).max())
    row_bound = np.abs(mv[:, 0]) * largest * (1 + 1e-9)
    x[out_of_range] = 0.0
    row_bound[out_of_range] = 0.0
    mills_list = [0 if bad else int(m) for m, bad in zip(mills.tolist(), out_of_range.tolist(), strict=True)]
    ceil_2t, _ = exact_ceil(x, mills_list, arrays.num_2t, arrays.den, row_bound)
    return ceil_2t


def _at_least_as_good(x: np.ndarray, y: np.ndarray, ceil_2t: np.ndarray) -> np.ndarray:
    """Where quantity x is at least as good as y by (|T − x·p|, x): exact, in shares (z = 2T/p, c = ⌈z⌉).

    For x < y, |z − 2x| ≤ |z − 2y| iff z ≤ x + y iff c ≤ x + y (x + y is an integer); a tie keeps x, the
    smaller. For x > y, x is better only when strictly nearer: c > x + y.
    """
    s = x + y
    return np.where(x < y, ceil_2t <= s, np.where(x > y, ceil_2t > s, True))


@dataclass
class _Sets:
    """Each cell's feasible set: restriction masks, the interval [a, b] and, with a minimum trade, its pieces."""

    nt: np.ndarray
    nb: np.ndarray
    ns: np.ndarray
    in_band_kept: np.ndarray  # noTrade because of the out-of-band policy
    a: np.ndarray
    b: np.ndarray
    step: np.ndarray | None  # ⌈m/p⌉ per column (minimum trade only)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (valid, low, high) per piece (minimum trade)


def _sets(arrays: ModelArrays, bands: Bands, held: np.ndarray, options: RebalanceOptions) -> _Sets:
    sids = arrays.security_ids
    sell_only, buy_only = options.direction == "sell-only", options.direction == "buy-only"
    listed_nt = np.array([s in options.no_trade for s in sids], dtype=bool)
    col_nb = np.array([s in options.no_buy or sell_only for s in sids], dtype=bool)
    col_ns = np.array([s in options.no_sell or buy_only for s in sids], dtype=bool)
    lo, hi = bands.lo, bands.hi
    in_band = (lo <= held) & (held <= hi)  # exact: lo/hi are the whole-share band and u is whole, u ≥ 0
    kept = ~listed_nt[None, :] & in_band if options.trade_policy == "out-of-band" else np.zeros_like(in_band)
    nt = listed_nt[None, :] | kept | (col_nb & col_ns)[None, :]
    nb = col_nb[None, :] & ~nt
    ns = col_ns[None, :] & ~nt
    a = np.where(nt, held, np.where(nb, np.minimum(lo, held), np.where(ns, np.maximum(lo, held), lo)))
    b = np.where(nt, held, np.where(nb, np.minimum(hi, held), np.where(ns, np.maximum(hi, held), hi)))
    m = options.min_trade_value
    if not m > 0:
        return _Sets(nt, nb, ns, kept, a, b, None, [(~nt & (a <= b), a, b), (nt, held, held)])
    # ⌈m/p⌉, capped: a step beyond every quantity of the exact range (2**50) never fits either way
    step = np.array([min(-floor_div(-m, p), 2**52) for p in arrays.prices], dtype=np.int64)
    trade = ~nt
    sell_hi = np.minimum(b, held - step[None, :])
    buy_lo = np.maximum(a, held + step[None, :])
    zero = np.zeros_like(a)
    pieces = [
        (trade & (a <= sell_hi), a, sell_hi),
        (trade & (buy_lo <= b), buy_lo, b),
        (nt | (trade & (a <= held) & (held <= b)), held, held),
        (trade & (a == 0) & (b >= 0), zero, zero),
    ]
    return _Sets(nt, nb, ns, kept, a, b, step, pieces)


def _best(sets: _Sets, nearest: np.ndarray, ceil_2t: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(best quantity, smallest quantity, has any) per cell: the closed form of each security's set."""
    if sets.step is None:
        best = np.minimum(np.maximum(nearest, sets.a), sets.b)
        have = sets.nt | (sets.a <= sets.b)
        return np.where(sets.nt, sets.a, best), sets.a, have
    assert ceil_2t is not None
    best = np.zeros_like(sets.a)
    least = np.zeros_like(sets.a)
    have = np.zeros(sets.a.shape, dtype=bool)
    for valid, x, y in sets.pieces:
        cand = np.minimum(np.maximum(nearest, x), y)
        take = valid & (~have | _at_least_as_good(cand, best, ceil_2t))
        best = np.where(take, cand, best)
        least = np.where(valid & (~have | (x < least)), x, least)
        have |= valid
    return best, least, have


def solve_controls(run: ControlsRun, stats: dict[str, int] | None = None) -> list[Answer | None]:
    """The exact answer of every portfolio under the controls, vectorised; the reference where it must.

    Same answers as :func:`solve_reference` (optimal drift, least breach; statuses and diagnoses identical).
    ``stats`` (optional) counts the rows of each route: closed, certified (binding floors proven here),
    nearest (no strict answer: diagnosed, or the nearest feasible answer proven without a solver), reference
    (the reference answered without its MILP) and highs (the reference needed its MILP).
    """
    arrays, portfolios, floors, options = run.arrays, run.portfolios, run.floors, run.options
    workers, progress, cancel = run.workers, run.progress, run.cancel
    total = len(portfolios)
    if not total:
        return []
    if cancel is not None and cancel():
        return [None] * total
    counts = stats if stats is not None else {}
    for key in ("closed", "certified", "nearest", "reference", "highs"):
        counts.setdefault(key, 0)
    n = arrays.size
    mills = np.array([mills_of(p.market_value) for p in portfolios], dtype=np.int64)
    mills_list = mills.tolist()
    bands = compute_bands(arrays, mills)
    index = {sid: i for i, sid in enumerate(arrays.security_ids)}
    held = np.zeros((total, n), dtype=np.int64)
    fast = ~bands.out_of_range
    limit = Decimal(int(MAX_EXACT))
    for k, p in enumerate(portfolios):
        for sid, q in p.held.items():
            if q < 0 or q >= limit or q != q.to_integral_value():
                fast[k] = False  # a short or fractional holding: the reference's sets (fixed spend, diagnosis)
                break
            i = index.get(sid)
            if i is not None:
                held[k, i] = int(q)
    sets = _sets(arrays, bands, held, options)
    ceil_2t = _exact_ceil_2t(arrays, mills, bands.out_of_range) if sets.step is not None else None
    best, least, have = _best(sets, bands.nearest, ceil_2t)
    diagnose = ~have.all(axis=1)  # an empty set: the reference diagnoses it
    fast &= ~diagnose
    # held outside the model (target and band 0): sold, or kept as held when selling it is barred (noTrade,
    # noSell, buy-only); a purchase never helps. One quantity each: fixed spend added to the cash floor.
    no_sell_all = options.direction == "buy-only"
    extra_q: list[list[Decimal]] = []
    extra_kept: list[list[KeptBy | None]] = []
    floor_eff = list(floors)
    for k, p in enumerate(portfolios):
        qs: list[Decimal] = []
        why: list[KeptBy | None] = []
        spend = ZERO
        for sid, price in p.extras:
            u = p.held[sid]
            listed = sid in options.no_trade
            keep = bool(u) and (listed or no_sell_all or sid in options.no_sell)
            qs.append(u if keep else ZERO)
            why.append(("no-trade" if listed else "no-sell") if keep else None)
            if keep:
                spend = MONEY.add(spend, MONEY.multiply(u, price))
        extra_q.append(qs)
        extra_kept.append(why)
        if spend:
            floor_eff[k] = MONEY.add(floors[k], spend)
    floors_eff = cash_floors(floor_eff, total)
    rows = np.nonzero(fast)[0]
    over = _spend_exceeds(best, arrays, mills_list, floors_eff, rows)
    binding = rows[over]
    short = _spend_exceeds(least, arrays, mills_list, floors_eff, binding)
    fast[binding[short]] = False  # the floor cannot be met: the reference words which controls hold it up
    diagnose[binding[short]] = True
    binding = binding[~short]
    bound = np.zeros(total, dtype=bool)
    bound[binding] = True  # the cash row cut these answers (the floor, when it is positive)
    quantities = best.copy()
    answered = np.zeros(total, dtype=bool)
    answered[rows[~over]] = True
    counts["closed"] += int((~over).sum())
    answers: list[Answer | None] = [None] * total
    rows_b = binding.tolist()
    problems = [_reduction_of(arrays, sets, best, k, mills_list[k], floor_eff[k]) for k in rows_b]
    if workers > 1 and len(problems) >= POOL_MIN_PROVE:
        proofs = map_chunks(_prove_chunk, problems, workers, _not_proven, cancel)
    else:
        proofs = [_prove(p) for p in problems]
    for k, x in zip(rows_b, proofs, strict=True):
        if x is None:
            fast[k] = False  # not proven without a solver: the reference's MILP
        else:
            quantities[k] = x
            answered[k] = True
            counts["certified"] += 1
    done = np.nonzero(answered)[0]
    failures = _post_check(arrays, sets, held, quantities, mills_list, floors_eff, done, options)
    kept = _kept_by(arrays, bands, sets, held, quantities, options, done)
    for j, k in enumerate(done.tolist()):
        pid = portfolios[k].portfolio_id
        if j in failures:
            msg = f"the answer failed the exact post-check: portfolio {pid}: {failures[j]}"
            answers[k] = Answer("error", diagnosis=msg, error_code=SolverFailed.code)
            continue
        q = [Decimal(x) for x in quantities[k].tolist()] + extra_q[k]
        kept_k = [KEPT[c] for c in kept[j].tolist()] + extra_kept[k]
        answers[k] = Answer("optimal", quantities=q, kept_by=kept_k, floor_bound=bool(bound[k]) and floors[k] > 0)
    if progress is not None:
        progress(int(done.size))
    rest = [k for k in range(total) if answers[k] is None and not fast[k]]
    if rest:
        sub = _solve_rest(run.subset(rest), counts)
        for k, ans in zip(rest, sub, strict=True):
            answers[k] = ans
    return answers


def _reduction_of(arrays: ModelArrays, sets: _Sets, best: np.ndarray, k: int, mills: int, floor: Decimal) -> _Reduction:
    """Row ``k``'s binding floor as a reduction problem: each security's reductions below its best, in shares."""
    mv = mv_decimal(mills)
    places = max(
        [3 + max((decimals_of(t) for t in arrays.targets), default=0), decimals_of(floor), arrays.price_places]
    )
    scale = 10 ** (places - arrays.price_places)
    price = [p * scale for p in arrays.price_int]
    budget = to_scaled_int(MONEY.subtract(mv, floor), places)
    c = best[k].tolist()
    deficit = sum(q * p for q, p in zip(c, price, strict=True)) - budget
    pieces = [(valid[k].tolist(), lo[k].tolist(), hi[k].tolist()) for valid, lo, hi in sets.pieces]
    movable: list[int] = []
    red_sets: list[list[tuple[int, int]]] = []
    bonus: list[int] = []
    for i in range(len(c)):
        ci = c[i]
        spans = sorted((ci - min(y[i], ci - 1), ci - x[i]) for valid, x, y in pieces if valid[i] and x[i] < ci)
        if not spans:
            continue
        merged = [spans[0]]
        for x0, y0 in spans[1:]:
            if x0 <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], y0))
            else:
                merged.append((x0, y0))
        tau = to_scaled_int(MONEY.multiply(mv, arrays.targets[i]), places)
        movable.append(i)
        red_sets.append(merged)
        bonus.append(2 * max(0, ci * price[i] - tau))
    return _Reduction(c, movable, [price[i] for i in movable], red_sets, bonus, deficit)


@dataclass(frozen=True)
class _Reduction:
    """One binding row's reduction problem in integers (what ships to a pool worker)."""

    best: list[int]
    movable: list[int]
    price: list[int]
    sets: list[list[tuple[int, int]]]
    bonus: list[int]
    deficit: int


def _prove(problem: _Reduction) -> list[int] | None:
    """The row's optimum by the searches of :mod:`engine.milp` (no solver), or None when none proves it."""
    prices, sets, bonus, deficit = problem.price, problem.sets, problem.bonus, problem.deficit
    reduction = certified_set_reduction(prices, sets, bonus, deficit)
    if reduction is None and prices:
        g = math.gcd(*prices)
        weights, goal = [p // g for p in prices], -(-deficit // g)
        reduction = exact_reduction(weights, sets, bonus, g, goal)
        if reduction is None:  # the bound-ordered search over which interval each security takes
            modes = [[(x, y, False) for x, y in s] for s in sets]
            found = search_modes(prices, modes, [0] * len(prices), bonus, deficit)
            reduction = found[1] if found is not None else None
        if reduction is None:
            reduction = dp_reduction(weights, sets, bonus, g, goal)
    if reduction is None:
        return None
    out = list(problem.best)
    for i, r in zip(problem.movable, reduction, strict=True):
        out[i] -= r
    return out


def _prove_chunk(problems: list[_Reduction]) -> list[list[int] | None]:
    """Pool worker entry: :func:`_prove` over a chunk, in order."""
    return [_prove(p) for p in problems]


def _not_proven(problem: _Reduction, reason: str) -> list[int] | None:
    return None  # a dead worker: the reference answers the row


def _post_check(
    arrays: ModelArrays,
    sets: _Sets,
    held: np.ndarray,
    quantities: np.ndarray,
    mills: Sequence[int],
    floors: tuple[list[Decimal], np.ndarray],
    rows: np.ndarray,
    options: RebalanceOptions,
) -> dict[int, str]:
    """Every rule of 2.12 on the answers of ``rows``, exactly, on the data: {position in rows: first failure}."""
    if rows.size == 0:
        return {}
    x, u = quantities[rows], held[rows]
    nt, nb, ns = sets.nt[rows], sets.nb[rows], sets.ns[rows]
    sub_mills = [mills[k] for k in rows.tolist()]
    x_f = x.astype(np.float64)

    def exact(k: int, i: int) -> Decimal:
        return Decimal(int(x[k, i]))

    above_low = value_vs_weight(x_f, exact, arrays, sub_mills, arrays.band_low_f, arrays.band_low) >= 0
    below_high = value_vs_weight(x_f, exact, arrays, sub_mills, arrays.band_high_f, arrays.band_high) <= 0
    # the band after waivers (step 2): noBuy lowers both ends to u·p at most, noSell raises them to u·p at least
    low_ok = np.where(nb, above_low | (x >= u), np.where(ns, above_low & (x >= u), above_low))
    high_ok = np.where(nb, below_high & (x <= u), np.where(ns, below_high | (x <= u), below_high))
    rules: list[tuple[np.ndarray, str]] = [
        (x < 0, "quantity {x} of {sid} is negative"),
        (nt & (x != u), "{sid} trades although trading it is barred"),
        (nb & (x > u), "{sid} is bought although buying is barred"),
        (ns & (x < u), "{sid} is sold although selling is barred"),
    ]
    if sets.step is not None:
        small = (x != u) & (x != 0) & (np.abs(x - u) < sets.step[None, :])
        rules.append((small, f"the trade of {{sid}} is below the minimum trade ${fmt_money(options.min_trade_value)}"))
    rules.append((~nt & ~(low_ok & high_ok), "{x} shares of {sid} are outside its band (after waivers)"))
    out: dict[int, str] = {}
    for mask, text in rules:
        for j, i in zip(*np.nonzero(mask), strict=True):
            out.setdefault(int(j), text.format(x=int(x[j, i]), sid=arrays.security_ids[int(i)]))
    over = _spend_exceeds(quantities, arrays, mills, floors, rows)
    for j in np.nonzero(over)[0].tolist():
        out.setdefault(int(j), "the orders spend more than market value minus the cash floor")
    return out


def _kept_by(
    arrays: ModelArrays,
    bands: Bands,
    sets: _Sets,
    held: np.ndarray,
    quantities: np.ndarray,
    options: RebalanceOptions,
    rows: np.ndarray,
) -> np.ndarray:
    """Index into :data:`KEPT` per cell of ``rows``: the control that kept a position off target from trading
    (as :func:`engine.controls.kept_by`)."""
    lo, hi, near = bands.lo[rows], bands.hi[rows], bands.nearest[rows]
    u, x = held[rows], quantities[rows]
    wanted = np.where(lo <= hi, np.minimum(np.maximum(near, lo), hi), near)
    listed = np.array([s in options.no_trade for s in arrays.security_ids], dtype=bool)[None, :]
    nt, nb, ns = sets.nt[rows], sets.nb[rows], sets.ns[rows]
    conditions = [
        sets.in_band_kept[rows],
        listed & np.ones_like(nt),
        (nb | nt) & (wanted > u),
        (ns | nt) & (wanted < u),
    ]
    choices = [1, 2, 3, 4]
    if sets.step is not None:
        conditions.append(np.abs(wanted - u) < sets.step[None, :])
        choices.append(5)
    code = np.select(conditions, choices, 0)
    return np.where((x == u) & (wanted != u), code, 0)
