"""Exact minimum-overshoot search for a binding cash floor with few bonus securities (no solver call).

The reduction problem of :func:`engine.milp.certified.certified_set_reduction`: choose reductions kᵢ (0 or in
the set of security i, in shares) freeing Σ wᵢkᵢ ≥ G (weights and goal in units of g = gcd of the prices),
minimising g·Σ wᵢkᵢ − Σ_{kⱼ ≥ 1} bonusⱼ. When the certified bound is not reached (no combination hits the
goal exactly), the optimum overshoots it, and a MILP solver must enumerate to prove by how much — that is
where HiGHS spends seconds on problems of a few variables. Here instead, for every subset T of the bonus
securities that are sold back (at most ``MAX_OVER`` of them, pruned by the bound g·max(G, Σ_T wⱼaⱼ) − Σ_T bonus):

* the relaxation lets every security of T (beyond its first reduction aⱼ) and every security without a bonus
  take any count ≥ 0 of its weight, with one of them as the base coin of modulus m;
* a residue table over 0..m−1 (round robin: each coin is a prefix minimum around the cycles of its weight
  mod m) gives the least sum of the other coins in each residue class, so the least total ≥ the rest of G in
  each class is exact for the relaxation.

The relaxation's optimum over all T is a lower bound; it is returned only when its reconstructed counts lie
in the true sets (caps, gaps of a minimum trade), and it is then the exact optimum. Otherwise None (the
caller's MILP decides). Everything is integer arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

MAX_OVER = 10  # subsets of bonus securities: at most 2**MAX_OVER leaves, most pruned
MAX_MODULUS = 200_000  # residue table size (the base coin's weight in units of g)
INF = 1 << 60


def _add_coin(table: np.ndarray, w: int) -> np.ndarray:
    """The residue table after allowing any count of a coin of weight ``w`` (round robin, exact)."""
    m = table.size
    step = w % m
    if step == 0:  # the coin is a multiple of the modulus: only adds to the base count
        return table
    d = math.gcd(step, m)
    length = m // d
    j = np.arange(2 * length, dtype=np.int64)
    pos = (np.arange(d, dtype=np.int64)[:, None] + (j[None, :] % length) * step) % m  # d x 2L
    vals = table[pos] - j[None, :] * w
    best = np.minimum.accumulate(vals, axis=1) + j[None, :] * w
    out = np.empty_like(table)
    out[pos[:, length:].ravel()] = np.minimum(best[:, length:], INF).ravel()  # each residue once
    return out


def _count(prev: np.ndarray, cur: np.ndarray, w: int, r: int) -> tuple[int, int]:
    """How many coins of weight ``w`` take residue ``r`` from table ``prev`` to ``cur``: (count, prev residue)."""
    m = prev.size
    if cur[r] >= prev[r]:
        return 0, r
    c = np.arange(1, m + 1, dtype=np.int64)
    src = (r - c * w) % m
    hit = np.nonzero(prev[src] + c * w == cur[r])[0]
    if hit.size == 0:
        raise AssertionError("residue table without a predecessor")
    return int(c[hit[0]]), int(src[hit[0]])


def exact_reduction(
    weights: Sequence[int], sets: Sequence[Sequence[tuple[int, int]]], bonus: Sequence[int], g: int, goal: int
) -> list[int] | None:
    """Optimal reductions (0 or in ``sets[i]``) with Σ weights·k ≥ ``goal``, or None when not proven here.

    ``weights`` and ``goal`` are in units of g; ``bonus`` in money units (the objective is
    g·Σ wᵢkᵢ − Σ bonus of the securities with kᵢ ≥ 1); ``sets[i]`` sorted disjoint intervals, x ≥ 1.
    """
    n = len(weights)
    over = [j for j in range(n) if bonus[j] > 0]
    plain = [i for i in range(n) if bonus[i] == 0]
    if len(over) > MAX_OVER or not plain:
        return None
    # the base coin: the security without a bonus with the most room (its count absorbs the bulk)
    base = max(plain, key=lambda i: (sets[i][-1][1] * weights[i], -i))
    m = weights[base]
    if m > MAX_MODULUS:
        return None
    first = [s[0][0] for s in sets]
    table = np.full(m, INF, dtype=np.int64)
    table[0] = 0
    stack: list[tuple[int, np.ndarray]] = [(-1, table)]
    for i in plain:
        if i != base:
            stack.append((i, _add_coin(stack[-1][1], weights[i])))
    best_cost: int | None = None
    best_plan: tuple[tuple[int, ...], list[tuple[int, np.ndarray]], int] | None = None

    def leaf(chosen: tuple[int, ...], path: list[tuple[int, np.ndarray]]) -> None:
        nonlocal best_cost, best_plan
        fixed = sum(weights[j] * first[j] for j in chosen)
        gain = sum(bonus[j] for j in chosen)
        rest = goal - fixed
        tab = path[-1][1]
        if rest <= 0:
            total, r = fixed, -1
        else:
            reach = tab < INF
            t = np.maximum(0, -((tab - rest) // m))  # base coins to reach the rest in each class
            totals = np.where(reach, tab + t * m, INF)
            r = int(np.argmin(totals))
            total = fixed + int(totals[r])
        cost = g * total - gain
        if best_cost is None or cost < best_cost:
            best_cost, best_plan = cost, (chosen, list(path), r)

    def search(t: int, chosen: tuple[int, ...], path: list[tuple[int, np.ndarray]]) -> None:
        fixed = sum(weights[j] * first[j] for j in chosen)
        gain_all = sum(bonus[j] for j in chosen) + sum(bonus[j] for j in over[t:])
        if best_cost is not None and g * max(goal, fixed) - gain_all >= best_cost:
            return  # no subset below this node beats the best found
        if t == len(over):
            leaf(chosen, path)
            return
        j = over[t]
        search(t + 1, (*chosen, j), [*path, (j, _add_coin(path[-1][1], weights[j]))])
        search(t + 1, chosen, path)

    search(0, (), stack)
    if best_plan is None:
        return None
    chosen, path, r = best_plan
    k = [0] * n
    for j in chosen:
        k[j] = first[j]
    if r >= 0:
        tab = path[-1][1]
        fixed = sum(weights[j] * first[j] for j in chosen)
        rest = goal - fixed
        total = int(tab[r]) + max(0, -((int(tab[r]) - rest) // m)) * m  # the optimum's sum beyond the firsts
        # the relaxation puts the bulk on the base coin; the same sum within the caps: fill every coin to the
        # same share of its room, leaving a remainder the residue table can still place (at least its largest
        # entry plus one base coin), then place that remainder from the table
        coins = [base, *(i for i, _ in path[1:])]
        room = {i: sets[i][0][1] - (first[i] if i in chosen else 0) for i in coins}
        margin = int(tab[tab < INF].max()) + m
        capacity = sum(room[i] * weights[i] for i in coins)
        if total > margin and capacity > 0:
            share = (total - margin) / capacity
            if share > 1:
                return None
            for i in coins:
                fill = min(room[i], int(room[i] * share))
                k[i] += fill
                total -= fill * weights[i]
        r = total % m
        if tab[r] > total:
            return None
        k[base] += (total - int(tab[r])) // m
        for level in range(len(path) - 1, 0, -1):
            i, cur = path[level]
            c, r = _count(path[level - 1][1], cur, weights[i], r)
            k[i] += c
        if r != 0:
            return None
    # the relaxation's optimum is the true one only when every count lies in its security's set
    if any(q and not any(x <= q <= y for x, y in s) for q, s in zip(k, sets, strict=True)):
        return None
    if sum(w * q for w, q in zip(weights, k, strict=True)) < goal:
        return None
    return k


MAX_DP_CELLS = 30_000_000  # sums x securities of the exact table below (int64)
NEG = -(1 << 62)


def _trailing_max(a: np.ndarray, size: int) -> np.ndarray:
    """Row q of the result is the maximum of rows q − size + 1 .. q of ``a`` (rows before 0 ignored).

    Van Herk / Gil-Werman: in blocks of ``size`` rows, a window is the suffix maximum of one block and
    the prefix maximum of the next, so three passes whatever the size.
    """
    rows, cols = a.shape
    if size >= rows:
        return np.maximum.accumulate(a, axis=0)
    if size == 1:
        return a
    blocks = -(-rows // size)
    b = np.full((blocks * size, cols), NEG, dtype=np.int64)
    b[:rows] = a
    b = b.reshape(blocks, size, cols)
    pre = np.maximum.accumulate(b, axis=1).reshape(blocks * size, cols)[:rows]
    suf = np.maximum.accumulate(b[:, ::-1], axis=1)[:, ::-1].reshape(blocks * size, cols)[:rows]
    out = pre.copy()
    out[size - 1 :] = np.maximum(suf[: rows - size + 1], pre[size - 1 :])
    return out


def _window_best(old: np.ndarray, w: int, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """best[s] = max over k in the spans of old[s − w·k] (NEG where no such k)."""
    size = old.size
    rows = -(-size // w)
    a = np.full(rows * w, NEG, dtype=np.int64)
    a[:size] = old
    a = a.reshape(rows, w)
    out = np.full((rows, w), NEG, dtype=np.int64)
    for x, y in spans:
        if x >= rows:
            continue
        win = _trailing_max(a, y - x + 1)
        out[x:] = np.maximum(out[x:], win[: rows - x])
    return out.ravel()[:size]


def dp_reduction(
    weights: Sequence[int], sets: Sequence[Sequence[tuple[int, int]]], bonus: Sequence[int], g: int, goal: int
) -> list[int] | None:
    """The same optimum as :func:`exact_reduction`, by an exact table over freed sums (in units of g).

    best[s] = the largest total bonus of reductions freeing exactly s; the answer minimises g·s − best[s]
    over s ≥ ``goal``. Sums above goal + the largest single reduction never help (dropping that security's
    reduction would still cover the goal and cost less), so the table stops there. When the goal is near
    the total room Y (every security at its largest reduction) the table runs over what is left unfreed
    instead, k'ᵢ = Yᵢ − kᵢ with Σ wᵢk'ᵢ ≤ Y − goal: the smaller of the two. None when even that table
    would exceed ``MAX_DP_CELLS``.
    """
    n = len(weights)
    tops = [s[-1][1] for s in sets]
    room = sum(w * y for w, y in zip(weights, tops, strict=True))
    if room < goal:
        return None
    direct = min(room, goal + max(w * y for w, y in zip(weights, tops, strict=True))) + 1
    left = room - goal + 1
    if min(direct, left) * (n + 1) > MAX_DP_CELLS:
        return None
    if direct <= left:
        choices = [[(x, y, b) for x, y in s] for s, b in zip(sets, bonus, strict=True)]
        return _table(weights, choices, direct, lambda sums: g * sums, goal, True)
    # the complement: k' = Y − k; k = 0 is k' = Y (no bonus), an interval [x, y] of k is [Y − y, Y − x]
    choices = [
        [(y_top, y_top, 0), *((y_top - y, y_top - x, b) for x, y in s)]
        for s, b, y_top in zip(sets, bonus, tops, strict=True)
    ]
    rest = _table(weights, choices, left, lambda sums: g * (room - sums), 0, False)
    if rest is None:
        return None
    return [y_top - q for y_top, q in zip(tops, rest, strict=True)]


def _table(
    weights: Sequence[int],
    choices: Sequence[Sequence[tuple[int, int, int]]],
    size: int,
    spend: Callable[[np.ndarray], np.ndarray],
    start: int,
    implicit_zero: bool,
) -> list[int] | None:
    """Counts cᵢ from ``choices[i]`` (intervals [x, y] with a bonus; with ``implicit_zero`` also cᵢ = 0 with
    none) with Σ wᵢcᵢ = s < size for the s ≥ ``start`` minimising spend(s) − bonus; exact, reconstructed from
    the stage tables."""
    n = len(weights)
    table = np.full(size, NEG, dtype=np.int64)
    table[0] = 0
    stages = [table]
    for i in range(n):
        old = stages[-1]
        new = old.copy() if implicit_zero else np.full(size, NEG, dtype=np.int64)
        for x, y, b in choices[i]:
            reach = _window_best(old, weights[i], [(x, y)])
            new = np.maximum(new, np.where(reach > NEG, reach + b, NEG))
        stages.append(new)
    final = stages[-1][start:]
    sums = np.arange(start, size, dtype=np.int64)
    cost = np.where(final > NEG, spend(sums) - final, np.iinfo(np.int64).max)
    s = start + int(np.argmin(cost))
    if final[s - start] == NEG:
        return None
    k = [0] * n
    for i in range(n - 1, -1, -1):
        prev, cur = stages[i], stages[i + 1]
        if implicit_zero and cur[s] == prev[s]:
            continue  # cᵢ = 0 (no bonus)
        found = False
        for x, y, b in choices[i]:
            ks = np.arange(x, y + 1, dtype=np.int64)
            ks = ks[ks * weights[i] <= s]
            hit = np.nonzero(prev[s - ks * weights[i]] + b == cur[s])[0]
            if hit.size:
                k[i] = int(ks[hit[0]])
                s -= k[i] * weights[i]
                found = True
                break
        if not found:
            return None
    return k if s == 0 else None
