"""PM trade controls (product-spec 2.12): exact per-security feasible sets, closed form, MILP, relaxed answers.

Each security's feasible set (after restrictions, the band after waivers, the minimum trade and the
integrality rule) is a union of at most two integer intervals and two points (0 and a fractional holding
kept as it is), see :func:`feasible_set`. The objective Σ|MV·tᵢ − uᵢ'pᵢ| is separable, so with a slack cash
row the best of a few candidates per security is the exact optimum (:func:`best_candidate`); only a binding
cash floor couples the securities, and then one MILP per portfolio picks one piece per security (one binary
per piece, HiGHS called directly with ``mip_rel_gap = 0`` as :func:`engine.milp.new_highs` sets it up:
CVXPY's compile per portfolio would cost more than the solve; :func:`_solve_milp`). ``onInfeasible = nearest``
makes the bands soft (breach first, then drift, lexicographic: two MILP stages when the floor binds).

Everything is exact: money in Decimal (the MONEY context raises on any rounding), quantities as int, the
MILP on integer money units and its answer re-checked in Decimal; :func:`check_answer` verifies every rule
of 2.12 one step at a time. Random tie-break is not applied here: ties take the smaller quantity.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext

import numpy as np

from engine.exactmath import MONEY, ZERO, decimals_of, fmt_money, mills_of, plain
from engine.milp import MilpProblem, solve_milp
from engine.milp.highs import new_highs
from engine.models import BandBreach, KeptBy, RebalanceOptions

INF = 1 << 62  # an unbounded piece (never a returned quantity: pieces are capped at their best candidate)
_DIV = Context(prec=80, rounding=ROUND_FLOOR)
HUNDRED = Decimal(100)

NONE, NO_BUY, NO_SELL, NO_TRADE = "none", "no-buy", "no-sell", "no-trade"


def has_controls(options: RebalanceOptions) -> bool:
    """True when a trade control other than ``onInfeasible`` differs from its default."""
    return bool(
        options.trade_policy != "all"
        or options.min_trade_value
        or options.no_buy
        or options.no_sell
        or options.no_trade
        or options.direction != "both"
    )


def floor_div(num: Decimal, den: Decimal) -> int:
    """⌊num/den⌋ exactly (den > 0)."""
    q = int(_DIV.divide(num, den).to_integral_value(ROUND_FLOOR))
    with localcontext(MONEY):
        while (q + 1) * den <= num:
            q += 1
        while q * den > num:
            q -= 1
    return q


def ceil_dec(x: Decimal) -> int:
    return int(x.to_integral_value(ROUND_CEILING))


def floor_dec(x: Decimal) -> int:
    return int(x.to_integral_value(ROUND_FLOOR))


@dataclass(frozen=True)
class Security:
    """One security of one portfolio: everything its feasible set and its terms need (dollars exact)."""

    security_id: str
    price: Decimal
    held: Decimal  # u (any sign, may be fractional)
    target_value: Decimal  # T = MV·t
    band_low: Decimal  # MV·(t − l)
    band_high: Decimal  # MV·(t + h)
    lo: int  # max(0, ⌈band_low/p⌉)
    hi: int  # ⌊band_high/p⌋
    nearest: int  # integer nearest T/p, the lower on a tie
    target: Decimal = ZERO  # t (0 outside the model)


@dataclass
class SecuritySet:
    """The exact feasible set of one security: integer pieces [a, b] and an optional fractional point."""

    restriction: str
    why: str  # the control behind the restriction, as a PM reads it
    pieces: list[tuple[int, int]]
    point: Decimal | None  # u itself when fractional and allowed
    band: tuple[Decimal, Decimal] | None  # dollars after waivers (None: no band, noTrade)
    int_band: tuple[int, int] | None  # whole shares of ``band``
    empty_reason: str | None = None


def restriction_of(sec: Security, options: RebalanceOptions, mv: Decimal) -> tuple[str, str]:
    """Step 1 of 2.12: the restriction of a security and the control that sets it."""
    sid = sec.security_id
    if sid in options.no_trade:
        return NO_TRADE, "noTrade"
    value = MONEY.multiply(sec.held, sec.price)
    if options.trade_policy == "out-of-band" and sec.band_low <= value <= sec.band_high:
        return NO_TRADE, "in-band"
    no_buy = sid in options.no_buy or options.direction == "sell-only"
    no_sell = sid in options.no_sell or options.direction == "buy-only"
    buy_why = "noBuy" if sid in options.no_buy else "direction sell-only"
    sell_why = "noSell" if sid in options.no_sell else "direction buy-only"
    if no_buy and no_sell:
        return NO_TRADE, f"{buy_why} and {sell_why}"
    if no_buy:
        return NO_BUY, buy_why
    if no_sell:
        return NO_SELL, sell_why
    return NONE, ""


def feasible_set(sec: Security, options: RebalanceOptions, mv: Decimal, relaxed: bool) -> SecuritySet:
    """Steps 1-4 of 2.12 for one security; ``relaxed``: the band is soft (only the hard rules shape the set)."""
    r, why = restriction_of(sec, options, mv)
    u, p = sec.held, sec.price
    value = MONEY.multiply(u, p)
    u_int = u == u.to_integral_value()
    if r == NO_TRADE:
        if u < 0:
            return SecuritySet(r, why, [], None, None, None, "short")
        pieces = [(int(u), int(u))] if u_int else []
        return SecuritySet(r, why, pieces, None if u_int else u, None, None)
    lo, hi = sec.lo, sec.hi
    if r == NO_BUY:
        a, b = min(lo, max(0, ceil_dec(u))), min(hi, floor_dec(u))
        band = (min(sec.band_low, value), min(sec.band_high, value))
        hard = (0, floor_dec(u))
    elif r == NO_SELL:
        a, b = max(lo, ceil_dec(u)), max(hi, floor_dec(u))
        band = (max(sec.band_low, value), max(sec.band_high, value))
        hard = (max(0, ceil_dec(u)), INF)
    else:
        a, b = lo, hi
        band = (sec.band_low, sec.band_high)
        hard = (0, INF)
    rng = hard if relaxed else (a, b)
    point: Decimal | None = None
    if not u_int and u >= 0 and (relaxed or band[0] <= value <= band[1]):
        point = u
    m = options.min_trade_value
    pieces: list[tuple[int, int]] = []
    if m > 0:
        sell_max = floor_div(MONEY.subtract(value, m), p)  # (u − x)·p ≥ m
        buy_min = -floor_div(-MONEY.add(value, m), p)  # (x − u)·p ≥ m
        for x, y in ((rng[0], min(rng[1], sell_max)), (max(rng[0], buy_min), rng[1])):
            if x <= y:
                pieces.append((x, y))
        if u_int and rng[0] <= u <= rng[1]:
            pieces.append((int(u), int(u)))
        if rng[0] <= 0 <= rng[1] and not any(x <= 0 <= y for x, y in pieces):
            pieces.append((0, 0))
    elif rng[0] <= rng[1]:
        pieces.append(rng)
    out = SecuritySet(r, why, pieces, point, band, (a, b))
    if not pieces and point is None:
        out.empty_reason = "min-trade" if m > 0 and rng[0] <= rng[1] else "band"
    return out


def pd_term(sec: Security, x: Decimal | int) -> Decimal:
    return abs(MONEY.subtract(sec.target_value, MONEY.multiply(Decimal(x), sec.price)))


def breach(band: tuple[Decimal, Decimal] | None, value: Decimal) -> Decimal:
    if band is None:
        return ZERO
    if value < band[0]:
        return MONEY.subtract(band[0], value)
    if value > band[1]:
        return MONEY.subtract(value, band[1])
    return ZERO


def _clamp(x: int, a: int, b: int) -> int:
    return a if x < a else b if x > b else x


def piece_candidates(sec: Security, s: SecuritySet, a: int, b: int, relaxed: bool) -> list[int]:
    """The few integers of [a, b] that can be a piece's best (PD is convex; breach is flat on the band)."""
    out = [_clamp(sec.nearest, a, b)]
    if relaxed and s.int_band is not None:
        ba, bb = s.int_band
        x, y = max(a, ba), min(b, bb)
        if x <= y:
            out.append(_clamp(sec.nearest, x, y))
        out.append(_clamp(ba, a, b))
        out.append(_clamp(bb, a, b))
    return out


def key(sec: Security, s: SecuritySet, x: Decimal | int, relaxed: bool) -> tuple[Decimal, Decimal, Decimal]:
    d = Decimal(x)
    b = breach(s.band, MONEY.multiply(d, sec.price)) if relaxed else ZERO
    return (b, pd_term(sec, d), d)


def best_candidate(sec: Security, s: SecuritySet, relaxed: bool) -> Decimal | int:
    """The exact best of a security's set alone: least (breach,) drift term, then the smaller quantity."""
    cands: list[Decimal | int] = [c for a, b in s.pieces for c in piece_candidates(sec, s, a, b, relaxed)]
    if s.point is not None:
        cands.append(s.point)
    return min(cands, key=lambda x: key(sec, s, x, relaxed))


def min_quantity(s: SecuritySet) -> Decimal | int:
    vals: list[Decimal | int] = [a for a, _ in s.pieces]
    if s.point is not None:
        vals.append(s.point)
    return min(vals)


@dataclass
class Answer:
    """The outcome for one portfolio: quantities per security (same order as the input) or a diagnosis."""

    status: str  # optimal | relaxed | infeasible | error
    quantities: list[Decimal] | None = None
    diagnosis: str | None = None
    error_code: str | None = None
    breaches: tuple[BandBreach, ...] = ()
    kept_by: list[KeptBy | None] = field(default_factory=list)
    floor_bound: bool = False  # the cash floor (> 0) cut into the answer (binding, or infeasible because of it)


def _pp(amount: Decimal, mv: Decimal) -> str:
    return f"{(amount / mv * HUNDRED):.2f}"


def empty_diagnosis(sec: Security, s: SecuritySet, options: RebalanceOptions, mv: Decimal) -> str:
    """Why one security has no feasible quantity, naming the control (2.12 examples)."""
    sid, p = sec.security_id, sec.price
    value = MONEY.multiply(sec.held, p)
    control = {"in-band": "tradePolicy is out-of-band and it is inside its band"}.get(s.why, s.why)
    if s.empty_reason == "short":
        return f"{sid} is short ({plain(sec.held)} shares); covering it needs a buy; trading it is barred ({control})"
    if s.empty_reason == "min-trade":
        assert s.band is not None
        if value < s.band[0]:
            need, room, word = s.band[0] - value, s.band[1] - value, "more"
        else:
            need, room, word = value - s.band[1], value - s.band[0], "less"
        return (
            f"closing {sid}'s gap needs a ${fmt_money(need)} trade; the minimum trade is "
            f"${fmt_money(options.min_trade_value)} and the band allows at most ${fmt_money(room)} {word}"
        )
    if s.restriction == NO_BUY and value < sec.band_low:
        return f"{sid} is {_pp(sec.band_low - value, mv)} pp below its band; buying is barred ({control})"
    if s.restriction == NO_SELL and value > sec.band_high:
        return f"{sid} is {_pp(value - sec.band_high, mv)} pp above its band; selling is barred ({control})"
    return (
        f"{sid}: its band ${fmt_money(sec.band_low)} to ${fmt_money(sec.band_high)} holds no whole share at price "
        f"${plain(p)}"
    )


def floor_diagnosis(
    secs: Sequence[Security], sets: Sequence[SecuritySet], floor: Decimal, mv: Decimal, least: Decimal
) -> str:
    """The cash floor cannot be met: name the positions that controls keep from being sold down."""
    available = MONEY.subtract(mv, floor)
    with localcontext(MONEY):
        band_least = sum((max(sec.lo, 0) * sec.price for sec in secs), ZERO)
    if band_least > available:
        return (
            f"the floor of ${fmt_money(floor)} cannot be met: the band minimums alone cost "
            f"${fmt_money(band_least)}, more than the ${fmt_money(available)} available"
        )
    held_up = []
    for sec, s in zip(secs, sets, strict=True):
        lowest = Decimal(min_quantity(s))
        if s.restriction != NONE and lowest > max(sec.lo, 0):
            control = "tradePolicy is out-of-band" if s.why == "in-band" else s.why
            held_up.append(f"{sec.security_id} ({control})")
        elif s.restriction == NONE and lowest > sec.lo:
            held_up.append(f"{sec.security_id} (minimum trade)")
    text = (
        f"the floor of ${fmt_money(floor)} cannot be met: the positions the controls allow hold at least "
        f"${fmt_money(least)}, ${fmt_money(MONEY.subtract(least, available))} more than the "
        f"${fmt_money(available)} available"
    )
    if held_up:
        text += "; it needs sales of " + ", ".join(held_up[:10]) + (" and others" if len(held_up) > 10 else "")
    return text


def solve_portfolio(
    secs: Sequence[Security],
    mv: Decimal,
    floor: Decimal,
    options: RebalanceOptions,
    pid: str,
    time_limit: float,
) -> Answer:
    """The exact answer of one portfolio under the controls: optimal, else relaxed (nearest), else infeasible."""
    strict = _solve(secs, mv, floor, options, pid, time_limit, relaxed=False)
    if strict.status != "infeasible" or options.on_infeasible != "nearest":
        return strict
    relaxed = _solve(secs, mv, floor, options, pid, time_limit, relaxed=True)
    if relaxed.status == "infeasible":
        relaxed.diagnosis = f"{strict.diagnosis}; even with soft bands: {relaxed.diagnosis}"
    relaxed.floor_bound |= strict.floor_bound
    return relaxed


def _solve(
    secs: Sequence[Security],
    mv: Decimal,
    floor: Decimal,
    options: RebalanceOptions,
    pid: str,
    time_limit: float,
    relaxed: bool,
) -> Answer:
    start = prepare(secs, mv, floor, options, pid, relaxed)
    if isinstance(start, Answer):
        return start
    sets, q, budget, binding = start
    if binding:
        try:
            if not relaxed and all(len(s.pieces) + (s.point is not None) == 1 for s in sets):
                q = _solve_intervals(secs, sets, q, mv, floor, pid, time_limit)
            else:
                q = (
                    _solve_milp(secs, sets, budget, True, time_limit)
                    if relaxed
                    else _solve_offsets(secs, sets, budget, time_limit)
                )
        except _MilpFailure as exc:
            return Answer("error", diagnosis=f"portfolio {pid}: {exc}", error_code="SOLVER_FAILED")
    answer = finish(secs, sets, q, budget, options, pid, relaxed)
    answer.floor_bound = binding and floor > 0
    return answer


def prepare(
    secs: Sequence[Security], mv: Decimal, floor: Decimal, options: RebalanceOptions, pid: str, relaxed: bool
) -> Answer | tuple[list[SecuritySet], list[Decimal], Decimal, bool]:
    """Sets, diagnoses and the closed form of one portfolio (strict or relaxed): an infeasible :class:`Answer`,
    or (sets, each security's best quantity, budget MV − floor, whether the cash row binds those)."""
    sets = [feasible_set(s, options, mv, relaxed) for s in secs]
    empty = [empty_diagnosis(sec, s, options, mv) for sec, s in zip(secs, sets, strict=True) if s.empty_reason]
    if empty:
        return Answer("infeasible", diagnosis=f"no feasible solution exists for portfolio {pid}: " + "; ".join(empty))
    budget = MONEY.subtract(mv, floor)
    with localcontext(MONEY):
        least = sum((Decimal(min_quantity(s)) * sec.price for sec, s in zip(secs, sets, strict=True)), ZERO)
    if least > budget:
        msg = f"no feasible solution exists for portfolio {pid}: " + floor_diagnosis(secs, sets, floor, mv, least)
        return Answer("infeasible", diagnosis=msg, floor_bound=floor > 0)
    q = [Decimal(best_candidate(sec, s, relaxed)) for sec, s in zip(secs, sets, strict=True)]
    with localcontext(MONEY):
        spend = sum((x * sec.price for x, sec in zip(q, secs, strict=True)), ZERO)
    return sets, q, budget, spend > budget


def finish(
    secs: Sequence[Security],
    sets: Sequence[SecuritySet],
    q: list[Decimal],
    budget: Decimal,
    options: RebalanceOptions,
    pid: str,
    relaxed: bool,
) -> Answer:
    """The exact post-check of an answer, then its status, breaches and ``kept_by``."""
    failure = check_answer(secs, sets, q, budget, options, relaxed)
    if failure:
        return Answer(
            "error",
            diagnosis=f"the answer failed the exact post-check: portfolio {pid}: {failure}",
            error_code="SOLVER_FAILED",
        )
    answer = Answer("relaxed" if relaxed else "optimal", quantities=q)
    if relaxed:
        answer.breaches = breaches_of(secs, sets, q)
    answer.kept_by = kept_by(secs, sets, q, options)
    return answer


def breaches_of(secs: Sequence[Security], sets: Sequence[SecuritySet], q: Sequence[Decimal]) -> tuple[BandBreach, ...]:
    out = []
    for sec, s, x in zip(secs, sets, q, strict=True):
        if s.band is None:
            continue
        value = MONEY.multiply(x, sec.price)
        if value < s.band[0]:
            out.append(BandBreach(security_id=sec.security_id, side="low", amount=MONEY.subtract(s.band[0], value)))
        elif value > s.band[1]:
            out.append(BandBreach(security_id=sec.security_id, side="high", amount=MONEY.subtract(value, s.band[1])))
    return tuple(out)


def kept_by(
    secs: Sequence[Security], sets: Sequence[SecuritySet], q: Sequence[Decimal], options: RebalanceOptions
) -> list[KeptBy | None]:
    """For each position that did not trade although 2.3 alone would trade it, the control that kept it."""
    out: list[KeptBy | None] = []
    for sec, s, x in zip(secs, sets, q, strict=True):
        u = sec.held
        wanted = Decimal(_clamp(sec.nearest, sec.lo, sec.hi) if sec.lo <= sec.hi else sec.nearest)
        if x != u or wanted == u:
            out.append(None)
        elif s.why == "in-band":
            out.append("in-band")
        elif sec.security_id in options.no_trade:
            out.append("no-trade")
        elif s.restriction in (NO_BUY, NO_TRADE) and wanted > u:
            out.append("no-buy")
        elif s.restriction in (NO_SELL, NO_TRADE) and wanted < u:
            out.append("no-sell")
        elif options.min_trade_value > 0 and MONEY.multiply(abs(wanted - u), sec.price) < options.min_trade_value:
            out.append("min-trade")
        else:
            out.append(None)
    return out


def in_set(s: SecuritySet, x: Decimal) -> bool:
    if s.point is not None and x == s.point:
        return True
    return x == x.to_integral_value() and any(a <= x <= b for a, b in s.pieces)


# --- exact post-check: one step per rule of 2.12 ------------------------------------------------------------------


def check_answer(
    secs: Sequence[Security],
    sets: Sequence[SecuritySet],
    q: Sequence[Decimal],
    budget: Decimal,
    options: RebalanceOptions,
    relaxed: bool,
) -> str | None:
    """The first rule of 2.12 the answer breaks, or None; checked on the data, not on the derived pieces."""
    for step in (_check_integral, _check_restrictions, _check_min_trade):
        for sec, s, x in zip(secs, sets, q, strict=True):
            reason = step(sec, s, x, options)
            if reason:
                return reason
    if not relaxed:
        for sec, s, x in zip(secs, sets, q, strict=True):
            reason = _check_band(sec, s, x)
            if reason:
                return reason
    with localcontext(MONEY):
        spend = sum((x * sec.price for x, sec in zip(q, secs, strict=True)), ZERO)
    if spend > budget:
        return f"the orders spend ${fmt_money(spend)}, more than market value minus the cash floor ${fmt_money(budget)}"
    return None


def _check_integral(sec: Security, s: SecuritySet, x: Decimal, options: RebalanceOptions) -> str | None:
    if x < 0:
        return f"quantity {plain(x)} of {sec.security_id} is negative"
    if x != x.to_integral_value() and x != sec.held:
        return f"quantity {plain(x)} of {sec.security_id} is not a whole number of shares"
    return None


def _check_restrictions(sec: Security, s: SecuritySet, x: Decimal, options: RebalanceOptions) -> str | None:
    if s.restriction == NO_TRADE and x != sec.held:
        return f"{sec.security_id} trades although trading it is barred ({s.why})"
    if s.restriction == NO_BUY and x > sec.held:
        return f"{sec.security_id} is bought although buying is barred ({s.why})"
    if s.restriction == NO_SELL and x < sec.held:
        return f"{sec.security_id} is sold although selling is barred ({s.why})"
    return None


def _check_min_trade(sec: Security, s: SecuritySet, x: Decimal, options: RebalanceOptions) -> str | None:
    m = options.min_trade_value
    trade = MONEY.multiply(abs(MONEY.subtract(x, sec.held)), sec.price)
    if m > 0 and 0 < trade < m and x != 0:
        return f"the ${fmt_money(trade)} trade of {sec.security_id} is below the minimum trade ${fmt_money(m)}"
    return None


def _check_band(sec: Security, s: SecuritySet, x: Decimal) -> str | None:
    if s.band is None:
        return None
    value = MONEY.multiply(x, sec.price)
    if not s.band[0] <= value <= s.band[1]:
        return (
            f"{plain(x)} shares of {sec.security_id} are outside the band ${fmt_money(s.band[0])} to "
            f"${fmt_money(s.band[1])} (after waivers)"
        )
    return None


# --- the MILP of a binding cash floor -----------------------------------------------------------------------------


class _MilpFailure(Exception):
    pass


def _solve_intervals(
    secs: Sequence[Security],
    sets: Sequence[SecuritySet],
    best: Sequence[Decimal],
    mv: Decimal,
    floor: Decimal,
    pid: str,
    time_limit: float,
) -> list[Decimal]:
    """One interval per security (restrictions and out-of-band without a minimum trade): the binding-floor
    problem of :mod:`engine.milp` on the bounds [a, best] — certified bound, else its offset MILP (which HiGHS
    solves much faster than the piece model below on the same problem), then the exact polish.

    Valid because the cash floor is the only coupling row and each security's best quantity ``best`` is the
    top of the range an optimum needs (above it the term and the spend only grow); fixed securities (a single
    point) enter as spend added to the floor.
    """
    movable = [i for i, s in enumerate(sets) if s.point is None and s.pieces[0][0] < int(best[i])]
    fixed_spend = ZERO
    with localcontext(MONEY):
        for i in range(len(secs)):
            if i not in movable:
                fixed_spend += best[i] * secs[i].price
    problem = MilpProblem(
        index=0,
        portfolio_id=pid,
        mv_mills=mills_of(mv),
        min_cash=MONEY.add(floor, fixed_spend) if movable else floor,
        targets=tuple(secs[i].target for i in movable),
        prices=tuple(secs[i].price for i in movable),
        lower=tuple(sets[i].pieces[0][0] for i in movable),
        upper=tuple(int(best[i]) for i in movable),
        time_limit=time_limit,
    )
    outcome = solve_milp(problem)
    if outcome.quantities is None:
        assert outcome.error is not None
        raise _MilpFailure(outcome.error.message)
    q = list(best)
    for j, i in enumerate(movable):
        q[i] = Decimal(outcome.quantities[j])
    return q


def _units(values: Sequence[Decimal]) -> tuple[list[int], int]:
    places = max((decimals_of(v) for v in values), default=0)
    return [int(v.scaleb(places, MONEY)) for v in values], places


def _solve_milp(
    secs: Sequence[Security], sets: Sequence[SecuritySet], budget: Decimal, relaxed: bool, time_limit: float
) -> list[Decimal]:
    """One binary per piece, integer quantities, the cash row; HiGHS exact (``mip_rel_gap = 0``).

    Each piece is capped at its best candidate: above it every term and the spend only grow. Money is in
    integer units, so the answer's spend is re-checked exactly; an overspend from the solver's tolerance
    tightens the row and solves again.
    """

    started = time.perf_counter()
    pieces: list[list[tuple[int, int] | Decimal]] = []
    for sec, s in zip(secs, sets, strict=True):
        ps: list[tuple[int, int] | Decimal] = []
        for a, b in s.pieces:
            cands = piece_candidates(sec, s, a, b, relaxed)
            ps.append((a, min(b, max(cands))))
        if s.point is not None:
            ps.append(s.point)
        pieces.append(ps)
    money = [sec.price for sec in secs] + [sec.target_value for sec in secs] + [budget]
    for sec, s in zip(secs, sets, strict=True):
        if s.point is not None:
            money.append(MONEY.multiply(s.point, sec.price))
        if s.band is not None:
            money.extend(s.band)
    ints, places = _units(money)
    n = len(secs)
    price, tau, cap = ints[:n], ints[n : 2 * n], ints[2 * n]
    # the solver sees money divided by the largest price (data near 1: HiGHS's tolerances are relative to
    # its coefficients); the answer is decoded and re-checked in exact integers
    scale = float(max(price))

    def f(v: int) -> float:
        return v / scale

    def unit(v: Decimal) -> int:
        return int(v.scaleb(places, MONEY))

    # variables: per piece an integer y (interval) and a binary z; per security e (drift) and s (breach)
    lb: list[float] = []
    ub: list[float] = []
    integrality: list[int] = []
    value_coef: list[dict[int, float]] = []  # per security: var -> dollars-units coefficient

    def add(lo: float, hi: float, integer: int) -> int:
        lb.append(lo)
        ub.append(hi)
        integrality.append(integer)
        return len(lb) - 1

    rows: list[tuple[dict[int, float], float, float]] = []
    for i, ps in enumerate(pieces):
        coef: dict[int, float] = {}
        if len(ps) == 1 and isinstance(ps[0], tuple):
            a, b = ps[0]
            coef[add(a, b, 1)] = f(price[i])
        else:
            zs = []
            for piece in ps:
                z = add(0, 1, 1)
                zs.append(z)
                if isinstance(piece, tuple):
                    a, b = piece
                    y = add(0, b, 1)
                    coef[y] = f(price[i])
                    rows.append(({y: 1.0, z: -float(b)}, -np.inf, 0.0))
                    rows.append(({y: 1.0, z: -float(a)}, 0.0, np.inf))
                else:
                    coef[z] = f(unit(MONEY.multiply(piece, secs[i].price)))
            rows.append(({z: 1.0 for z in zs}, 1.0, 1.0))
        value_coef.append(coef)
    e_vars, s_vars = [], []
    for i in range(n):
        e = add(0, np.inf, 0)
        e_vars.append(e)
        rows.append(({e: 1.0, **{v: c for v, c in value_coef[i].items()}}, f(tau[i]), np.inf))
        rows.append(({e: 1.0, **{v: -c for v, c in value_coef[i].items()}}, -f(tau[i]), np.inf))
        band = sets[i].band
        if relaxed and band is not None:
            sv = add(0, np.inf, 0)
            s_vars.append(sv)
            rows.append(({sv: 1.0, **value_coef[i]}, f(unit(band[0])), np.inf))
            rows.append(({sv: 1.0, **{v: -c for v, c in value_coef[i].items()}}, -f(unit(band[1])), np.inf))
    cash_row: dict[int, float] = {}
    for coef in value_coef:
        for v, c in coef.items():
            cash_row[v] = cash_row.get(v, 0.0) + c
    nv = len(lb)

    def run(objective: list[int], extra: list[tuple[dict[int, float], float, float]]) -> np.ndarray:
        remaining = time_limit - (time.perf_counter() - started)
        if remaining <= 0:
            raise _MilpFailure(f"not solved within the time limit of {time_limit:g} s")
        cost = np.zeros(nv)
        cost[objective] = 1.0
        bounds = (np.array(lb, dtype=float), np.array(ub, dtype=float))
        return _run_highs(cost, *bounds, np.array(integrality, dtype=bool), rows + extra, remaining)

    limit = f(cap)
    for _attempt in range(4):
        extra: list[tuple[dict[int, float], float, float]] = [(cash_row, -np.inf, limit)]
        if relaxed and s_vars:
            x = run(s_vars, extra)
            # the least breach, exactly, from the stage-1 answer itself (the solver's sum of s can sit a
            # tolerance below what any integer answer reaches, which made stage 2 infeasible); drift is then
            # minimised within half a unit of it
            first = _decode(secs, pieces, value_coef, x)
            least = sum(
                unit(breach(s.band, MONEY.multiply(qi, sec.price)))
                for sec, s, qi in zip(secs, sets, first, strict=True)
                if s.band is not None
            )
            extra.append(({v: 1.0 for v in s_vars}, -np.inf, (least + 0.5) / scale))
        x = run(e_vars, extra)
        q = _decode(secs, pieces, value_coef, x)
        with localcontext(MONEY):
            spend = sum((qi * sec.price for qi, sec in zip(q, secs, strict=True)), ZERO)
        if spend <= budget:
            return q
        limit -= f(unit(spend) - cap) + 0.5 / scale  # the tolerance overspent: tighten the row by that much
    raise _MilpFailure("the solver's answer overspends the cash floor")


def _decode(
    secs: Sequence[Security],
    pieces: Sequence[Sequence[tuple[int, int] | Decimal]],
    value_coef: Sequence[dict[int, float]],
    x: np.ndarray,
) -> list[Decimal]:
    out = []
    for i, ps in enumerate(pieces):
        coef = value_coef[i]
        vars_ = sorted(coef)
        if len(ps) == 1 and isinstance(ps[0], tuple):
            out.append(Decimal(round(x[vars_[0]])))
            continue
        # variables were added piece by piece: z (and y for an interval)
        total = ZERO
        chosen = False
        idx = min(vars_) - (1 if isinstance(ps[0], tuple) else 0)
        for piece in ps:
            z = idx
            if isinstance(piece, tuple):
                y = idx + 1
                idx += 2
                if round(x[z]) == 1:
                    total, chosen = Decimal(round(x[y])), True
            else:
                idx += 1
                if round(x[z]) == 1:
                    total, chosen = piece, True
        if not chosen:
            raise _MilpFailure("the solver chose no piece for a security")
        out.append(total)
    return out


def _run_highs(
    cost: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    integer: np.ndarray,
    rows: Sequence[tuple[dict[int, float], float, float]],
    time_limit: float,
) -> np.ndarray:
    """One silent single-threaded HiGHS MILP (``mip_rel_gap = 0``); only an optimal status is accepted."""
    import highspy

    if time_limit <= 0:
        raise _MilpFailure("not solved within the time limit")
    highs = new_highs()
    highs.setOptionValue("time_limit", float(time_limit))
    nv = len(cost)
    highs.addCols(nv, cost, lb, ub, 0, [], [], [])
    ints = np.nonzero(integer)[0].astype(np.int32)
    highs.changeColsIntegrality(len(ints), ints, np.ones(len(ints), dtype=np.uint8))
    starts, index, value = [], [], []
    for coef, _lo, _hi in rows:
        starts.append(len(index))
        index.extend(coef)
        value.extend(coef.values())
    highs.addRows(
        len(rows),
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=float),
        len(index),
        np.array(starts, dtype=np.int32),
        np.array(index, dtype=np.int32),
        np.array(value, dtype=float),
    )
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise _MilpFailure(f"the solver stopped without an exact answer (status {highs.modelStatusToString(status)})")
    return np.asarray(highs.getSolution().col_value)


def _solve_offsets(
    secs: Sequence[Security], sets: Sequence[SecuritySet], budget: Decimal, time_limit: float
) -> list[Decimal]:
    """The strict binding-floor MILP in offsets below each piece's best quantity c (as :mod:`engine.milp`).

    On a piece [a, c] the drift term of x = c − k is |T − p·c| + p·k, less 2(p·c − T) once k ≥ 1 when c
    overshoots T (c is then the nearest integer, so c − 1 undershoots): linear but for one binary, no |·|.
    One binary z per piece when a security has more than one; Σ p·x ≤ budget. Money is in integer units
    divided by the largest price for the solver; the answer is decoded and re-checked exactly.
    """
    started = time.perf_counter()
    money = [sec.price for sec in secs] + [sec.target_value for sec in secs] + [budget]
    money += [MONEY.multiply(s.point, sec.price) for sec, s in zip(secs, sets, strict=True) if s.point is not None]
    ints, places = _units(money)
    n = len(secs)
    price, tau, cap = ints[:n], ints[n : 2 * n], ints[2 * n]
    scale = float(max(price))
    cost: list[float] = []
    lb: list[float] = []
    ub: list[float] = []
    integer: list[bool] = []

    def add(c: float, lo: float, hi: float, is_int: bool) -> int:
        cost.append(c)
        lb.append(lo)
        ub.append(hi)
        integer.append(is_int)
        return len(cost) - 1

    rows: list[tuple[dict[int, float], float, float]] = []
    spend_row: dict[int, float] = {}
    fixed_spend = 0
    # per security: list of (kind, piece top or point, z var or None, k var or None)
    layout: list[list[tuple[int | Decimal, int | None, int | None]]] = []
    for i, (sec, s) in enumerate(zip(secs, sets, strict=True)):
        p, t = price[i], tau[i]
        tops: list[tuple[int, int] | Decimal] = [(a, _clamp(sec.nearest, a, b)) for a, b in s.pieces]
        if s.point is not None:
            tops.append(s.point)
        entries: list[tuple[int | Decimal, int | None, int | None]] = []
        single = len(tops) == 1
        z_vars = []
        for top in tops:
            if isinstance(top, Decimal):  # the fractional holding kept: a constant
                value = int(MONEY.multiply(top, sec.price).scaleb(places, MONEY))
                const = abs(t - value)
                if single:
                    fixed_spend += value
                    entries.append((top, None, None))
                    continue
                z = add(const / scale, 0, 1, True)
                z_vars.append(z)
                spend_row[z] = spend_row.get(z, 0.0) + value / scale
                entries.append((top, z, None))
                continue
            a, c = top
            const = abs(t - p * c)
            z = None if single else add(const / scale, 0, 1, True)
            if z is not None:
                z_vars.append(z)
                spend_row[z] = spend_row.get(z, 0.0) + p * c / scale
            else:
                fixed_spend += p * c
            k = None
            if c > a:
                k = add(p / scale, 0, c - a, True)
                spend_row[k] = spend_row.get(k, 0.0) - p / scale
                if z is not None:
                    rows.append(({k: 1.0, z: -float(c - a)}, -np.inf, 0.0))
                if p * c > t:  # the first share sold back earns the overshoot twice
                    y = add(-2 * (p * c - t) / scale, 0, 1, True)
                    rows.append(({y: 1.0, k: -1.0}, -np.inf, 0.0))
            entries.append((c, z, k))
        if z_vars:
            rows.append(({z: 1.0 for z in z_vars}, 1.0, 1.0))
        layout.append(entries)
    limit = (cap - fixed_spend) / scale
    for _attempt in range(4):
        x = _run_highs(
            np.array(cost),
            np.array(lb, dtype=float),
            np.array(ub, dtype=float),
            np.array(integer),
            [*rows, (spend_row, -np.inf, limit)],
            time_limit - (time.perf_counter() - started),
        )
        q: list[Decimal] = []
        for entries in layout:
            chosen = [e for e in entries if e[1] is None or round(x[e[1]]) == 1]
            if len(chosen) != 1:
                raise _MilpFailure("the solver chose no single piece for a security")
            top, _z, k = chosen[0]
            if isinstance(top, Decimal):
                q.append(top)
            else:
                q.append(Decimal(top - (round(x[k]) if k is not None else 0)))
        with localcontext(MONEY):
            spend = sum((qi * sec.price for qi, sec in zip(q, secs, strict=True)), ZERO)
        if spend <= budget:
            return q
        over = int(MONEY.subtract(spend, budget).scaleb(places, MONEY))
        limit -= (over + 0.5) / scale  # the tolerance overspent: tighten the row by that much
    raise _MilpFailure("the solver's answer overspends the cash floor")
