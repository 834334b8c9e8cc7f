"""The certified integer bound and the exact polish (route 1 of :mod:`engine.milp`): no solver call.

Valid only while the cash row is the one constraint coupling the securities: the bound reasons about the
cash a set of sold-back shares frees, and the polish moves shares within their bands and the cash slack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# exact_hit's meet-in-the-middle searches, cheapest first: (moves of up to ±reach shares, securities per half);
# at most (2·reach + 1)**half sums per half
HIT_STAGES = ((1, 5), (1, 9), (3, 5))
# over securities per half of the exact first-share bound search (2**k subsets per half)
FIRST_SHARE_HALF = 12


def drift_units(tau: Sequence[int], price: Sequence[int], u: Sequence[int]) -> int:
    """Σ|τᵢ − uᵢpᵢ| in integer money units: the exact objective."""
    return sum(abs(t - q * p) for t, q, p in zip(tau, u, price, strict=True))


def polish(
    tau: Sequence[int], price: Sequence[int], lower: Sequence[int], upper: Sequence[int], u: list[int], slack: int
) -> int:
    """Exact local improvement of ``u`` in place; returns the number of moves made.

    Single moves: one share less whenever that does not worsen the drift (ties go to the lower quantity),
    one share more when it strictly improves and the cash allows. Pair moves: one share less of i and
    one more of j when that strictly improves. Each move lowers (drift, total quantity)
    lexicographically, so the loop ends.
    """
    n = len(u)
    moves = 0

    def term(i: int, q: int) -> int:
        return abs(tau[i] - q * price[i])

    changed = True
    while changed:
        changed = False
        for i in range(n):
            cur = term(i, u[i])
            if u[i] > lower[i] and term(i, u[i] - 1) <= cur:
                u[i] -= 1
                slack += price[i]
                moves += 1
                changed = True
            elif u[i] < upper[i] and price[i] <= slack and term(i, u[i] + 1) < cur:
                u[i] += 1
                slack -= price[i]
                moves += 1
                changed = True
        if changed:
            continue
        down = [(term(i, u[i] - 1) - term(i, u[i]), i) for i in range(n) if u[i] > lower[i]]
        up = [(term(j, u[j] + 1) - term(j, u[j]), j) for j in range(n) if u[j] < upper[j]]
        best: tuple[int, int, int] | None = None
        for gain_down, i in down:
            for gain_up, j in up:
                if i != j and price[j] <= slack + price[i]:
                    delta = gain_down + gain_up
                    if delta < 0 and (best is None or delta < best[0]):
                        best = (delta, i, j)
        if best is not None:
            _, i, j = best
            u[i] -= 1
            u[j] += 1
            slack += price[i] - price[j]
            moves += 1
            changed = True
    return moves


def exact_hit(weights: Sequence[int], caps: Sequence[int], target: int) -> list[int] | None:
    """Counts 0 ≤ cᵢ ≤ capsᵢ with Σ cᵢ·weightsᵢ == target exactly, or None when none was found.

    A search, not a proof of absence. From two starts (proportional, which leaves every security room
    both ways, and empty) a greedy fill from the largest weight leaves a small rest, which a
    meet-in-the-middle search over moves of a few shares up or down (``HIT_STAGES``) then tries to
    close exactly. Deterministic.
    """
    n = len(weights)
    total = sum(w * c for w, c in zip(weights, caps, strict=True))
    if target < 0 or target > total:
        return None
    if target == total:
        return list(caps)
    by_weight = sorted(range(n), key=lambda i: -weights[i])
    for start in ([c * target // total for c in caps], [0] * n):
        counts = list(start)
        rest = target - sum(w * c for w, c in zip(weights, counts, strict=True))
        for i in by_weight:
            take = min(caps[i] - counts[i], rest // weights[i])
            counts[i] += take
            rest -= take * weights[i]
        if rest == 0:
            return counts
        if max(weights) > 2**58:  # the sums below are int64
            return None
        # securities with room both ways first, then the smallest weights (the largest jump too far)
        flexible = sorted((i for i in range(n) if caps[i] > 0), key=lambda i: (not 0 < counts[i] < caps[i], weights[i]))
        for reach, half_size in HIT_STAGES:  # cheapest first: most rests close with a few moves
            moves = _meet_in_the_middle(weights, caps, counts, flexible[: 2 * half_size], rest, reach)
            if moves is not None:
                for i, step in moves.items():
                    counts[i] += step
                return counts
    return None


def _meet_in_the_middle(
    weights: Sequence[int], caps: Sequence[int], counts: Sequence[int], chosen: Sequence[int], rest: int, reach: int
) -> dict[int, int] | None:
    """Moves of −reach..reach shares (within the caps) on ``chosen`` whose weights add up to ``rest``, or None."""
    halves = chosen[::2], chosen[1::2]
    sums, options = [], []
    for half in halves:
        s = np.zeros(1, dtype=np.int64)
        steps_of = []
        for i in half:
            steps = np.arange(max(-reach, -counts[i]), min(reach, caps[i] - counts[i]) + 1, dtype=np.int64)
            steps_of.append(steps)
            s = (s[:, None] + steps[None, :] * weights[i]).ravel()
        sums.append(s)
        options.append(steps_of)
    order = np.argsort(sums[1], kind="stable")
    sorted_b = sums[1][order]
    want = rest - sums[0]
    pos = np.minimum(np.searchsorted(sorted_b, want), sorted_b.size - 1)
    match = np.nonzero(sorted_b[pos] == want)[0]
    if match.size == 0:
        return None
    a_index = int(match[0])
    moves: dict[int, int] = {}
    for half, steps_of, index in zip(halves, options, (a_index, int(order[pos[a_index]])), strict=True):
        for i, steps in zip(reversed(half), reversed(steps_of), strict=True):
            index, choice = divmod(index, steps.size)
            moves[i] = int(steps[choice])
    return moves


def _subsets(weights: Sequence[int], values: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Σ weights and Σ values of every subset; bit t of a subset's index says whether item t is in it."""
    w, v = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    for wt, val in zip(weights, values, strict=True):
        w, v = np.concatenate([w, w + wt]), np.concatenate([v, v + val])
    return w, v


def _best_first_shares(a: list[int], value: list[int], bound: int, at_least: bool) -> tuple[int, int] | None:
    """Over subsets T of the items: (best Σ value, T as a bit mask) with Σ a ≥ ``bound`` (minimum) or
    Σ a ≤ ``bound`` (maximum); None when no subset qualifies. Exact, by meet in the middle."""
    h = len(a) // 2
    wl, vl = _subsets(a[:h], value[:h])
    wr, vr = _subsets(a[h:], value[h:])
    order = np.argsort(wr, kind="stable")
    wr, vr = wr[order], vr[order]
    n = wr.size
    if at_least:  # the smallest value among the right subsets at or after each position (suffix minimum)
        best = np.minimum.accumulate(vr[::-1])[::-1]
        where = n - 1 - np.maximum.accumulate(np.where(vr[::-1] == best[::-1], np.arange(n), 0))[::-1]
        pos = np.searchsorted(wr, bound - wl, side="left")
        ok = pos < n
    else:  # the largest value among the right subsets up to each position (prefix maximum)
        best = np.maximum.accumulate(vr)
        where = np.maximum.accumulate(np.where(vr == best, np.arange(n), 0))
        pos = np.searchsorted(wr, bound - wl, side="right") - 1
        ok = pos >= 0
    if not ok.any():
        return None
    left = np.nonzero(ok)[0]
    totals = vl[left] + best[pos[left]]
    pick = int(np.argmin(totals) if at_least else np.argmax(totals))
    i = int(left[pick])
    return int(totals[pick]), i | (int(order[where[pos[i]]]) << h)


def _certified_reduction(
    price: list[int], caps: list[int], over: list[int], bonus: list[int], deficit: int
) -> list[int] | None:
    """Shares sold back that reach an exact integer lower bound of the reduction problem, or None.

    Freed cash S is a multiple of g = gcd(price) and at least D = ⌈deficit/g⌉·g; the added drift is S
    minus the bonuses of the over securities T with a share sold, so it is at least

    * Σ_T (pⱼ − bonusⱼ) when T's first shares alone free D (then they are an answer reaching it), or
    * D − Σ_T bonusⱼ otherwise (reached when other shares fill D − Σ_T pⱼ exactly).

    The bound is the smaller of the best of each kind over all T (found exactly by meet in the middle,
    up to ``2 * FIRST_SHARE_HALF`` over securities; with every first share inside D only T = all over
    securities matters). An answer that reaches it is optimal; that is re-checked in integers.
    """
    g = math.gcd(*price)
    goal = -(-deficit // g)
    weights = [p // g for p in price]
    a = [weights[j] for j in over]
    if sum(a) < goal:  # every first share fits: the largest bonus is all of them
        bound, first_only, touched = goal * g - sum(bonus), None, list(over)
    elif len(over) > 2 * FIRST_SHARE_HALF:
        return None
    else:
        cover = _best_first_shares(a, [price[j] - b for j, b in zip(over, bonus, strict=True)], goal, True)
        under = _best_first_shares(a, bonus, goal - 1, False)
        assert cover is not None and under is not None  # all of them cover, none of them fits under
        if cover[0] <= goal * g - under[0]:
            bound, first_only = cover[0], cover[1]
            touched = []
        else:
            bound, first_only = goal * g - under[0], None
            touched = [j for t, j in enumerate(over) if under[1] >> t & 1]
    k = [0] * len(price)
    if first_only is not None:
        for t, j in enumerate(over):
            k[j] = first_only >> t & 1
    else:
        for j in touched:
            k[j] = 1
        rest_caps = [0 if j in over else c for j, c in enumerate(caps)]
        for j in touched:
            rest_caps[j] = caps[j] - 1
        target = goal - sum(weights[j] for j in touched)
        extra = exact_hit(weights, rest_caps, target)
        if extra is None:
            return None
        k = [q + e for q, e in zip(k, extra, strict=True)]
    # the certificate, in integers: feasible, and its added drift equals the lower bound
    freed = sum(q * p for q, p in zip(k, price, strict=True))
    added = freed - sum(b for j, b in zip(over, bonus, strict=True) if k[j] >= 1)
    if freed < deficit or added != bound or any(not 0 <= q <= c for q, c in zip(k, caps, strict=True)):
        return None
    return k


def certified_set_reduction(
    price: list[int], sets: list[list[tuple[int, int]]], bonus: list[int], deficit: int
) -> list[int] | None:
    """The certified bound of :func:`_certified_reduction` for reduction *sets* (trade controls, 2.12).

    ``sets[i]``: the shares security i may be sold back by, as sorted disjoint intervals [x, y] with x ≥ 1
    (a minimum trade, a kept position or a whole sale leave gaps; 0 is always allowed). ``bonus[i]`` =
    2·max(0, cᵢpᵢ − MV·tᵢ) for the closed-form answer cᵢ: every feasible quantity below cᵢ lies at or
    below the target (cᵢ is the best of its set), so a reduction kᵢ ≥ 1 adds exactly pᵢkᵢ − bonusᵢ to the
    drift. With aᵢ the first reduction of i and T the securities with a bonus that are sold back, freed cash
    S ≥ max(D', Σ_T pⱼaⱼ) (D' the deficit rounded up to a multiple of g = gcd(p)), so the added drift is at
    least min over T of max(D', Σ_T pⱼaⱼ) − Σ_T bonusⱼ: the same meet in the middle with weights pⱼaⱼ. An
    answer reaching the bound is optimal; it is built from the first reductions of the best T, filled to D'
    exactly (:func:`exact_hit`) by further shares within each security's first interval (securities without
    a bonus only when that interval starts at one share), and re-checked in integers. None: not certified.
    """
    n = len(price)
    if n == 0 or deficit <= 0:
        return None
    g = math.gcd(*price)
    goal = -(-deficit // g)
    weights = [p // g for p in price]
    first = [s[0][0] for s in sets]
    over = [j for j in range(n) if bonus[j] > 0]
    a = [weights[j] * first[j] for j in over]
    over_bonus = [bonus[j] for j in over]
    if sum(a) < goal:  # every first reduction fits inside D': all of them take their bonus
        bound, first_only, touched = goal * g - sum(over_bonus), None, list(over)
    elif len(over) > 2 * FIRST_SHARE_HALF:
        return None
    else:
        cover = _best_first_shares(
            a, [price[j] * first[j] - b for j, b in zip(over, over_bonus, strict=True)], goal, True
        )
        under = _best_first_shares(a, over_bonus, goal - 1, False)
        assert cover is not None and under is not None  # all of them cover, none of them fits under
        if cover[0] <= goal * g - under[0]:
            bound, first_only, touched = cover[0], cover[1], []
        else:
            bound, first_only = goal * g - under[0], None
            touched = [j for t, j in enumerate(over) if under[1] >> t & 1]
    k = [0] * n
    if first_only is not None:
        for t, j in enumerate(over):
            if first_only >> t & 1:
                k[j] = first[j]
    else:
        chosen = set(touched)
        caps = [0] * n
        for i in range(n):
            if i in chosen:
                k[i] = first[i]
                caps[i] = sets[i][0][1] - first[i]
            elif bonus[i] == 0 and first[i] == 1:
                caps[i] = sets[i][0][1]
        target = goal - sum(weights[j] * first[j] for j in touched)
        extra = exact_hit(weights, caps, target)
        if extra is None:
            return None
        k = [q + e for q, e in zip(k, extra, strict=True)]
    # the certificate, in integers: every reduction in its set, the deficit freed, the bound reached
    freed = sum(q * p for q, p in zip(k, price, strict=True))
    added = freed - sum(b for q, b in zip(k, bonus, strict=True) if q >= 1)
    if freed < deficit or added != bound:
        return None
    if any(q and not any(x <= q <= y for x, y in s) for q, s in zip(k, sets, strict=True)):
        return None
    return k
