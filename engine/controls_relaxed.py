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
freed sum Y ≥ D − X of the others (every reduced security earns its bonus whatever its count) — two
least-sum problems over intervals (:func:`engine.milp.modes.least_sum`: an exact fill of the least multiple
of the gcd, an exact table of reachable sums, or enumeration). Once the next bound is not below the best value
found, that value is the optimum (:func:`engine.milp.modes.search_modes`). The answer's (β, δ) is recomputed
from the data in integers and must equal it. Anything not proven — too many assignments, a least sum not found,
a fractional holding, a closed form above that does not hold on the
data at an interval's end — is None: the reference decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from engine.controls import Answer, Security, SecuritySet, _units, finish, prepare
from engine.milp.modes import search_modes
from engine.models import RebalanceOptions


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


def _in_pieces(s: SecuritySet, x: int) -> bool:
    return any(a <= x <= b for a, b in s.pieces)


__all__ = ["nearest_reduction", "solve_nearest"]
