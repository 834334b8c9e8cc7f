"""Nearest-feasible answers (``onInfeasible = nearest``, product-spec 2.12) without a solver, exactly.

With soft bands each security's feasible set is the hard set of :func:`engine.controls.feasible_set` (pieces and
points left by the restrictions, the direction, the minimum trade and the whole-sale exemption); the objective is
lexicographic — least total band breach Σβ, then least drift Σδ — separable, with one cash row. Without a
binding floor each security's best candidate (exact (breach, drift, quantity) order,
:func:`engine.controls.best_candidate`) is the optimum, as in the reference. With a binding floor this module
proves the optimum with a lexicographic bound and an exact search (:func:`nearest_reduction`) or says None;
the caller then asks the reference's HiGHS model (:func:`engine.controls.solve_portfolio`), never silently.

**Reductions.** Let cᵢ be security i's best quantity and x = cᵢ − k (k ≥ 1) a feasible quantity below it. Some
optimum has every x ≤ cᵢ: lowering an x > cᵢ to cᵢ never worsens (breach, drift) (cᵢ is the
best of the set) and spends less. In money units (p the price, T = MV·t the target value, [bl, bh] the band
after waivers), for every feasible x < c:

* drift: δ(k) = |T − xp| − |T − cp| = pk − bdᵢ with bdᵢ = 2·max(0, cp − T). Every feasible x < c lies at or
  below the target: an x in (T/p, c) is strictly nearer the target, so c must have strictly less breach; but the
  target lies in the band (or, under a waiver, every feasible quantity lies on one side of it), so x's breach is
  at most c's — a contradiction.
* breach: β(k) = breach(x) − breach(c) = max(0, pk − sᵢ) with the slack sᵢ = cp − bl when c is in its band,
  0 when c is below it, and 2cp − bl − bh when c is above it (then every feasible x < c has xp < bl and
  pk ≥ sᵢ: an x with xp ≥ bl would breach less than c).

So with freed money fᵢ = pkᵢ, β = Σ max(0, fᵢ − sᵢ) and δ = Σ fᵢ − Σ_{fᵢ>0} bdᵢ, subject to Σ fᵢ ≥ D (the
overspend of the best quantities) and kᵢ ∈ Rᵢ ∪ {0} (Rᵢ: the reductions the set allows, a few intervals).

**Modes and the bound.** Split each interval of Rᵢ at Kᵢ = ⌊sᵢ/p⌋ into a breach-free mode (pk ≤ sᵢ: β = 0)
and a breach mode (pk > sᵢ: β = pk − sᵢ); with "not reduced" each security picks one mode. For one assignment
of modes (B: the securities in a breach mode, every mode an interval [lo, hi] of f), any solution has
Σf ≥ S = max(D', Σ lo) (D' = D rounded up to a multiple of g = gcd of the prices: freed money is one), so

    β ≥ X_B − Σ_B s   with X_B = max(Σ_B lo, S − Σ_{not B} hi),       δ ≥ S − Σ_{reduced} bd,

and (β, δ) is lexicographically at least that pair: the least pair over all assignments bounds the problem.
Assignments are then taken in the order of their bound and each is solved exactly: its least breach needs the
least freed sum X ≥ D − Σ_{not B} hi of its breach modes (breach X − Σ_B s), and then its least drift the least
freed sum Y ≥ D − X of the others (every reduced security earns its bonus whatever its count) — two least-sum
problems over intervals (:func:`_least_sum`: an exact fill of the least multiple of the gcd, an exact table of
reachable sums, or enumeration). Once the next bound is not below the best value found, that value is the
optimum. The answer's (β, δ) is recomputed from the data in integers and must equal it. Anything not proven —
too many assignments, a least sum not found, a fractional holding, a closed form above that does not hold on the
data at an interval's end — is None: the reference decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from engine.controls import Answer, Security, SecuritySet, _units, finish, prepare
from engine.milp.certified import exact_hit
from engine.models import RebalanceOptions

MAX_ASSIGNMENTS = 1 << 17  # mode assignments enumerated for the bound (product of modes + 1 per security)
MAX_EVALUATED = 256  # assignments evaluated exactly, in the order of their bound, before giving up


def solve_nearest(
    secs: Sequence[Security], mv: Decimal, floor: Decimal, options: RebalanceOptions, pid: str
) -> Answer | None:
    """The reference's answer of :func:`engine.controls.solve_portfolio` for a portfolio with no strict answer,
    without a solver; None when the strict problem has an answer or needs a MILP, or the relaxed optimum is
    not proven here (the caller asks the reference)."""
    strict = prepare(secs, mv, floor, options, pid, relaxed=False)
    if not isinstance(strict, Answer):
        return None
    if options.on_infeasible != "nearest":
        return strict
    start = prepare(secs, mv, floor, options, pid, relaxed=True)
    if isinstance(start, Answer):
        start.diagnosis = f"{strict.diagnosis}; even with soft bands: {start.diagnosis}"
        start.floor_bound |= strict.floor_bound
        return start
    sets, q, budget, binding = start
    if binding:
        reduced = nearest_reduction(secs, sets, q, budget)
        if reduced is None:
            return None
        q = reduced
    answer = finish(secs, sets, q, budget, options, pid, relaxed=True)
    answer.floor_bound = strict.floor_bound or (binding and floor > 0)
    return answer


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    out = [spans[0]]
    for x, y in spans[1:]:
        if x <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], y))
        else:
            out.append((x, y))
    return out


def nearest_reduction(
    secs: Sequence[Security], sets: Sequence[SecuritySet], best: Sequence[Decimal], budget: Decimal
) -> list[Decimal] | None:
    """The lexicographic optimum (least breach, then least drift) of a binding floor over the relaxed sets,
    proven by the bound of the module docstring, or None when not proven."""
    if any(s.point is not None for s in sets) or any(c != c.to_integral_value() for c in best):
        return None
    money: list[Decimal] = [budget]
    for sec in secs:
        money += [sec.price, sec.target_value]
    for s in sets:
        if s.band is not None:
            money += list(s.band)
    ints, _places = _units(money)
    cap = ints[0]
    n = len(secs)
    price = [ints[1 + 2 * i] for i in range(n)]
    tau = [ints[2 + 2 * i] for i in range(n)]
    bands: list[tuple[int, int] | None] = []
    pos = 1 + 2 * n
    for s in sets:
        if s.band is None:
            bands.append(None)
        else:
            bands.append((ints[pos], ints[pos + 1]))
            pos += 2
    c = [int(x) for x in best]
    deficit = sum(q * p for q, p in zip(c, price, strict=True)) - cap
    if deficit <= 0:
        return None

    def breach(i: int, x: int) -> int:
        band = bands[i]
        if band is None:
            return 0
        v = x * price[i]
        return band[0] - v if v < band[0] else v - band[1] if v > band[1] else 0

    def drift(i: int, x: int) -> int:
        return abs(tau[i] - x * price[i])

    movable: list[int] = []
    modes: list[list[tuple[int, int, bool]]] = []  # per movable security: (k low, k high, breach mode)
    slack: list[int] = []
    bonus: list[int] = []
    for i, s in enumerate(sets):
        ci, p = c[i], price[i]
        spans = [(ci - min(y, ci - 1), ci - x) for x, y in s.pieces if x < ci]
        if not spans or bands[i] is None:
            continue
        if p <= 0:
            return None
        bl, bh = bands[i]  # type: ignore[misc]
        v = ci * p
        si = 2 * v - bl - bh if v > bh else v - bl if v >= bl else 0
        bdi = 2 * max(0, v - tau[i])
        kmax = si // p
        ms: list[tuple[int, int, bool]] = []
        for x, y in _merge(spans):
            if x <= min(y, kmax):
                ms.append((x, min(y, kmax), False))
            if max(x, kmax + 1) <= y:
                ms.append((max(x, kmax + 1), y, True))
        # the closed forms above, checked on the data at every mode's ends (a wrong model is never trusted)
        for x, y, _b in ms:
            for k in (x, y):
                if breach(i, ci - k) - breach(i, ci) != max(0, p * k - si):
                    return None
                if drift(i, ci - k) - drift(i, ci) != p * k - bdi:
                    return None
        movable.append(i)
        modes.append(ms)
        slack.append(si)
        bonus.append(bdi)
    if not movable:
        return None
    found = search_modes([price[i] for i in movable], modes, slack, bonus, deficit)
    if found is None:
        return None
    best_value, best_k = found
    x = list(c)
    for i, ki in zip(movable, best_k, strict=True):
        x[i] = c[i] - ki
    # the certificate, recomputed on the data in integers: the deficit freed, every quantity in its set, and
    # (breach, drift) added exactly the value the search found
    freed = sum((c[i] - x[i]) * price[i] for i in movable)
    got = (
        sum(breach(i, x[i]) - breach(i, c[i]) for i in movable),
        sum(drift(i, x[i]) - drift(i, c[i]) for i in movable),
    )
    if freed < deficit or got != best_value or any(not _in_pieces(sets[i], x[i]) for i in movable):
        return None
    return [Decimal(q) for q in x]


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
    movable = list(range(len(price)))
    if math.prod(len(ms) + 1 for ms in modes) > MAX_ASSIGNMENTS:
        return None
    g = math.gcd(*price)
    goal = -(-deficit // g) * g
    # every assignment at once: sums over the chosen modes (mode 0: not reduced)
    big = 1 << 62
    if sum(p * ms[-1][1] for p, ms in zip(price, modes, strict=True)) + goal + sum(slack) >= big:
        return None
    lo_all = np.zeros(1, dtype=np.int64)
    hi_all = np.zeros(1, dtype=np.int64)
    lo_b = np.zeros(1, dtype=np.int64)
    hi_free = np.zeros(1, dtype=np.int64)
    s_b = np.zeros(1, dtype=np.int64)
    bd = np.zeros(1, dtype=np.int64)
    for j, p in enumerate(price):
        rows = [(0, 0, False, 0)] + [(x, y, b, 1) for x, y, b in modes[j]]
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
    radix = [len(ms) + 1 for ms in modes]
    best_value: tuple[int, int] | None = None
    best_k: list[int] | None = None
    for n_tried, a in enumerate(order.tolist()):
        if not ok[a]:
            break  # sorted last (key ``big``): no assignment left can free the deficit
        if best_value is not None and (int(beta[a]), int(delta[a])) >= best_value:
            break  # no assignment left can beat the incumbent: it is optimal
        if n_tried >= MAX_EVALUATED:
            return None
        found = _evaluate(movable, modes, _digits(a, radix), price, slack, bonus, deficit)
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
    movable: Sequence[int],
    modes: Sequence[Sequence[tuple[int, int, bool]]],
    choice: Sequence[int],
    price: Sequence[int],
    slack: Sequence[int],
    bonus: Sequence[int],
    deficit: int,
) -> tuple[tuple[int, int], list[int]] | None:
    """The exact optimum of one assignment of modes: ((breach, drift) added, reductions), :data:`_INFEASIBLE`,
    or None when not known.

    Breach is Σ_B f − Σ_B s, so the least breach takes the least freed sum X of the breach modes that lets the
    others cover the rest (X ≥ D − Σ their highest); then the least drift takes the least freed sum Y ≥ D − X
    of the others (every reduced security earns its bonus whatever its count).
    """
    parts: dict[bool, list[int]] = {True: [], False: []}
    for j, d in enumerate(choice):
        if d:
            parts[modes[j][d - 1][2]].append(j)

    def spans(js: list[int]) -> tuple[list[int], list[int], list[int]]:
        return (
            [price[movable[j]] for j in js],
            [modes[j][choice[j] - 1][0] for j in js],
            [modes[j][choice[j] - 1][1] for j in js],
        )

    wb, lb, hb = spans(parts[True])
    wf, lf, hf = spans(parts[False])
    top_free = sum(w * h for w, h in zip(wf, hf, strict=True))
    xb = _least_sum(wb, lb, hb, deficit - top_free)
    if xb is None:
        return None
    if xb is _NO_SUM:
        return _INFEASIBLE
    yf = _least_sum(wf, lf, hf, deficit - xb[0])
    if yf is None:
        return None
    if yf is _NO_SUM:
        return _INFEASIBLE
    k = [0] * len(movable)
    for js, counts in ((parts[True], xb[1]), (parts[False], yf[1])):
        for j, q in zip(js, counts, strict=True):
            k[j] = q
    s_b = sum(slack[j] for j in parts[True])
    bd = sum(bonus[j] for j, d in enumerate(choice) if d)
    return (xb[0] - s_b, xb[0] + yf[0] - bd), k


_NO_SUM = (-1, [])  # sentinel of :func:`_least_sum`: no counts reach the threshold
TABLE_LIMIT = 4_000_000  # reachable sums (in units of the gcd) tabled by :func:`_least_sum`
ENUMERATE_LIMIT = 1 << 18  # else: count combinations of all securities but the widest, enumerated


def _least_sum(w: list[int], lo: list[int], hi: list[int], need: int) -> tuple[int, list[int]] | None:
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
    """:func:`_least_sum` by enumerating every count of all securities but the widest (which takes the least
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


def _in_pieces(s: SecuritySet, x: int) -> bool:
    return any(a <= x <= b for a, b in s.pieces)


__all__ = ["nearest_reduction", "search_modes", "solve_nearest"]
