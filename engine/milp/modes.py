"""The bound-ordered exact search over reduction modes (no solver call): which interval each security's reduction
takes, and whether it breaches its band.

The problem: reductions kⱼ (0, or in one of security j's modes, each an interval of shares) freeing at least a
deficit D of money (integer units; pⱼ the price), minimising lexicographically (β, δ) with β = Σ_breach-modes
(pⱼkⱼ − sⱼ) and δ = Σ pⱼkⱼ − Σ_{kⱼ ≥ 1} bonusⱼ. Without breach modes it is the binding-floor reduction problem of
:func:`engine.milp.certified.certified_set_reduction`; with them, the nearest-feasible problem of
:mod:`engine.controls_relaxed` (which derives the modes and proves the reduction to this form).

For one assignment of modes (B: the securities in a breach mode), any answer frees Σf ≥ S = max(D', Σ lo) (D' the
deficit rounded up to a multiple of the prices' gcd), so β ≥ X_B − Σ_B s with X_B = max(Σ_B lo, S − Σ_{not B} hi)
and δ ≥ S − Σ bonus: a lexicographic lower bound, computed for every assignment at once (numpy). Assignments are
then solved exactly in the order of their bound — least breach: the least freed sum X ≥ D − Σ_{not B} hi of the
breach modes; then least drift: the least freed sum Y ≥ D − X of the others (:func:`least_sum`) — until the next
bound is not below the best value found, which is then the optimum. None when not proven (too many assignments or
evaluations, a least sum not found).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.milp.certified import exact_hit

MAX_ASSIGNMENTS = 1 << 17  # mode assignments enumerated for the bound (product of modes + 1 per security)
MAX_EVALUATED = 256  # assignments evaluated exactly, in the order of their bound, before giving up


def search_modes(
    price: Sequence[int],
    modes: Sequence[Sequence[tuple[int, int, bool]]],
    slack: Sequence[int],
    bonus: Sequence[int],
    deficit: int,
) -> tuple[tuple[int, int], list[int]] | None:
    """The least (breach, drift) added by reductions freeing at least ``deficit`` (integer money units), with
    the reductions, or None when not proven: the bound of each assignment of modes (module docstring), then
    assignments evaluated exactly in the order of their bound until the next bound cannot beat the best found.

    ``modes[j]``: security j's reduction intervals (shares) with whether they breach (cost pk − slack then);
    ``bonus[j]``: the drift bonus of reducing j at all. Without breach modes this is the binding-floor
    reduction problem of :func:`engine.milp.certified.certified_set_reduction` (least Σ pk − Σ bonus).
    """
    # each security's options: not reduced, or one of its modes; a security without a bonus whose one mode is
    # breach-free and starts at one share needs no branch (0..y costs p·k alike): one option [0, y]
    options: list[list[tuple[int, int, bool, int]]] = []
    for j, ms in enumerate(modes):
        if bonus[j] == 0 and len(ms) == 1 and ms[0][0] == 1 and not ms[0][2]:
            options.append([(0, ms[0][1], False, 0)])
        else:
            options.append([(0, 0, False, 0)] + [(x, y, b, 1) for x, y, b in ms])
    if math.prod(len(o) for o in options) > MAX_ASSIGNMENTS:
        return None
    g = math.gcd(*price)
    goal = -(-deficit // g) * g
    # every assignment at once: sums over the chosen options
    big = 1 << 62
    if sum(p * o[-1][1] for p, o in zip(price, options, strict=True)) + goal + sum(slack) + sum(bonus) >= big:
        return None
    lo_all = np.zeros(1, dtype=np.int64)
    hi_all = np.zeros(1, dtype=np.int64)
    lo_b = np.zeros(1, dtype=np.int64)
    hi_free = np.zeros(1, dtype=np.int64)
    s_b = np.zeros(1, dtype=np.int64)
    bd = np.zeros(1, dtype=np.int64)
    for j, p in enumerate(price):
        rows = options[j]
        lo = np.array([p * x for x, _y, _b, _r in rows], dtype=np.int64)
        hi = np.array([p * y for _x, y, _b, _r in rows], dtype=np.int64)
        isb = np.array([b for _x, _y, b, _r in rows], dtype=bool)
        red = np.array([r for _x, _y, _b, r in rows], dtype=np.int64)

        def grow(acc: np.ndarray, add: np.ndarray) -> np.ndarray:
            return (acc[:, None] + add[None, :]).ravel()

        lo_all, hi_all = grow(lo_all, lo), grow(hi_all, hi)
        lo_b = grow(lo_b, np.where(isb, lo, 0))
        hi_free = grow(hi_free, np.where(isb, 0, hi))
        s_b = grow(s_b, np.where(isb, slack[j], 0))
        bd = grow(bd, red * bonus[j])
    total = np.maximum(goal, lo_all)
    ok = hi_all >= total
    x_b = np.maximum(lo_b, total - hi_free)
    beta = np.where(ok, x_b - s_b, big)
    delta = np.where(ok, total - bd, big)
    order = np.lexsort((delta, beta))
    radix = [len(o) for o in options]
    best_value: tuple[int, int] | None = None
    best_k: list[int] | None = None
    for n_tried, a in enumerate(order.tolist()):
        if not ok[a]:
            break  # sorted last (key ``big``): no assignment left can free the deficit
        if best_value is not None and (int(beta[a]), int(delta[a])) >= best_value:
            break  # no assignment left can beat the incumbent: it is optimal
        if n_tried >= MAX_EVALUATED:
            return None
        chosen = [o[d] for o, d in zip(options, _digits(a, radix), strict=True)]
        found = _evaluate(chosen, price, slack, bonus, deficit)
        if found is None:
            return None  # this assignment's optimum is not known: nothing is proven
        if found is _INFEASIBLE:
            continue
        value, k = found
        if best_value is None or value < best_value:
            best_value, best_k = value, k
    if best_k is None or best_value is None:
        return None
    return best_value, best_k


_INFEASIBLE = ((-1, -1), [])  # sentinel of :func:`_evaluate`


def _digits(a: int, radix: Sequence[int]) -> list[int]:
    """Mixed-radix digits of assignment ``a`` (the first security most significant, as enumerated)."""
    out = []
    for r in reversed(radix):
        a, d = divmod(a, r)
        out.append(d)
    return out[::-1]


def _evaluate(
    chosen: Sequence[tuple[int, int, bool, int]],
    price: Sequence[int],
    slack: Sequence[int],
    bonus: Sequence[int],
    deficit: int,
) -> tuple[tuple[int, int], list[int]] | None:
    """The exact optimum of one assignment (each security's chosen (low, high, breach, reduced) option):
    ((breach, drift) added, reductions), :data:`_INFEASIBLE`, or None when not known.

    Breach is Σ_B f − Σ_B s, so the least breach takes the least freed sum X of the breach modes that lets the
    others cover the rest (X ≥ D − Σ their highest); then the least drift takes the least freed sum Y ≥ D − X
    of the others (every reduced security earns its bonus whatever its count).
    """
    parts: dict[bool, list[int]] = {True: [], False: []}
    for j, (_x, y, breach, _r) in enumerate(chosen):
        if y:
            parts[breach].append(j)

    def spans(js: list[int]) -> tuple[list[int], list[int], list[int]]:
        return [price[j] for j in js], [chosen[j][0] for j in js], [chosen[j][1] for j in js]

    wb, lb, hb = spans(parts[True])
    wf, lf, hf = spans(parts[False])
    top_free = sum(w * h for w, h in zip(wf, hf, strict=True))
    xb = least_sum(wb, lb, hb, deficit - top_free)
    if xb is None:
        return None
    if xb is _NO_SUM:
        return _INFEASIBLE
    yf = least_sum(wf, lf, hf, deficit - xb[0])
    if yf is None:
        return None
    if yf is _NO_SUM:
        return _INFEASIBLE
    k = [0] * len(chosen)
    for js, counts in ((parts[True], xb[1]), (parts[False], yf[1])):
        for j, q in zip(js, counts, strict=True):
            k[j] = q
    s_b = sum(slack[j] for j in parts[True])
    bd = sum(bonus[j] for j, option in enumerate(chosen) if option[3])
    return (xb[0] - s_b, xb[0] + yf[0] - bd), k


_NO_SUM = (-1, [])  # sentinel of :func:`least_sum`: no counts reach the threshold
TABLE_LIMIT = 4_000_000  # reachable sums (in units of the gcd) tabled by :func:`least_sum`
ENUMERATE_LIMIT = 1 << 18  # else: count combinations of all securities but the widest, enumerated


def least_sum(w: list[int], lo: list[int], hi: list[int], need: int) -> tuple[int, list[int]] | None:
    """The least Σ wⱼkⱼ ≥ ``need`` over counts lo ≤ k ≤ hi, with the counts: exact, :data:`_NO_SUM`, or None
    when not found here (neither an exact fill of the least multiple of the gcd nor a full enumeration)."""
    base = sum(a * b for a, b in zip(w, lo, strict=True))
    if base >= need:
        return base, list(lo)
    top = sum(a * b for a, b in zip(w, hi, strict=True))
    if top < need:
        return _NO_SUM
    g = math.gcd(*w)
    goal = -(-need // g) * g  # no sum lies strictly between need and this
    caps = [b - a for a, b in zip(lo, hi, strict=True)]
    extra = exact_hit([a // g for a in w], caps, (goal - base) // g)
    if extra is not None:
        return goal, [a + e for a, e in zip(lo, extra, strict=True)]
    # no exact fill found: the exact table of reachable sums, from below (extra counts above the lows, up to an
    # upper bound U: sums above it never beat it) or from above (counts left below the highs, at most the
    # room top − goal), whichever is smaller
    rest = goal - base
    upper = top - base
    for j in range(len(w)):
        c = -(-rest // w[j])
        if c <= caps[j]:
            upper = min(upper, c * w[j])
    weights = [a // g for a in w]
    if upper // g <= (top - goal) // g:
        if upper // g <= TABLE_LIMIT:
            extra = _table(weights, caps, upper // g, rest // g, least=True)
            if extra is not None:
                counts = [a + e for a, e in zip(lo, extra, strict=True)]
                return sum(a * b for a, b in zip(w, counts, strict=True)), counts
    elif (top - goal) // g <= TABLE_LIMIT:
        left = _table(weights, caps, (top - goal) // g, 0, least=False)
        if left is not None:
            counts = [b - e for b, e in zip(hi, left, strict=True)]
            return sum(a * b for a, b in zip(w, counts, strict=True)), counts
    return _enumerate(w, lo, [min(c, upper // a) for a, c in zip(w, caps, strict=True)], need)


def _table(weights: list[int], caps: list[int], size: int, start: int, least: bool) -> list[int] | None:
    """Counts 0 ≤ cⱼ ≤ capsⱼ whose Σ weightsⱼcⱼ is the least sum in [start, size] (``least``) or the largest sum
    ≤ size (not ``least``); exact, by a table of reachable sums (a Python int as a bit set; counts split in binary
    chunks, each chunk one shift-or); None if none."""
    mask = (1 << (size + 1)) - 1
    reach = 1
    steps: list[tuple[int, int, int]] = []  # (security, shares, table before) per chunk
    for j, wj in enumerate(weights):
        left = min(caps[j], size // wj)
        chunk = 1
        while left > 0:
            take = min(chunk, left)
            steps.append((j, take, reach))
            reach = (reach | (reach << (take * wj))) & mask
            left -= take
            chunk *= 2
    if least:
        above = reach >> start
        if not above:
            return None
        at = start + (above & -above).bit_length() - 1
    else:
        at = reach.bit_length() - 1
    counts = [0] * len(weights)
    for j, take, before in reversed(steps):
        if not before >> at & 1:  # this chunk was taken to reach ``at``
            at -= take * weights[j]
            counts[j] += take
    return counts if at == 0 else None


def _enumerate(w: list[int], lo: list[int], caps: list[int], need: int) -> tuple[int, list[int]] | None:
    """:func:`least_sum` by enumerating every count of all securities but the widest (which takes the least
    count reaching the need); None when there are more than ``ENUMERATE_LIMIT`` combinations."""
    last = max(range(len(w)), key=lambda j: caps[j])
    others = [j for j in range(len(w)) if j != last]
    if math.prod(caps[j] + 1 for j in others) > ENUMERATE_LIMIT:
        return None
    sums = np.zeros(1, dtype=np.int64)
    for j in others:
        sums = (sums[:, None] + w[j] * np.arange(lo[j], lo[j] + caps[j] + 1, dtype=np.int64)[None, :]).ravel()
    kl = np.clip(-((sums - need) // w[last]), lo[last], lo[last] + caps[last])
    totals = sums + w[last] * kl
    totals = np.where(totals >= need, totals, np.iinfo(np.int64).max)
    at = int(np.argmin(totals))
    if totals[at] < need:
        return None
    counts = [0] * len(w)
    rest = at
    for j in reversed(others):
        rest, d = divmod(rest, caps[j] + 1)
        counts[j] = lo[j] + d
    counts[last] = int(kl[at])
    return int(totals[at]), counts


__all__ = ["least_sum", "search_modes"]
