"""The columnar hot path of ``python -m engine solve`` (issue 15 item 1).

One input line (ASCII bytes, or text) is decoded by msgspec into plain strings, its portfolios become numpy
columns of exact scaled integers (quantities, cash, prices; market values in mills), the engine's own exact
solver and post-check run on them (:func:`engine.solver.solve_closed_form`, :func:`complete_milps`), and the
output line is assembled from integers as text, CHUNK_ROWS portfolios at a time as it is written. No ``Decimal``
or pydantic object is made per position, and none of pydantic at all: the line's model, prices and options are
parsed by the reference parser's pydantic-free part (``engine.cli.parse_head``) and checked by the engine's own
rules (:func:`run_ok`), so a batch this path answers starts without importing pydantic (issue 15: start-up).

The answer is byte for byte the one of the reference path (``parse_batch`` → ``rebalance_portfolios`` →
``result_json`` → ``json.dumps``), which stays the ground truth:

- a line the fast decoder does not take in full (a number given as a JSON number, a decimal that is not
  plain ``-?digits[.digits]`` with at most 18 digits, a ``\\u`` escape, any shape error, a model that breaks a
  rule, ``tieBreak: random``, any trade control given, a portfolio name that is a JSON array or object) goes
  whole through the reference path, so its errors and messages are the reference's;
- a portfolio the integer path cannot take exactly — a value outside :mod:`engine.limits` or beyond int64 in
  any product or sum (guarded in floating point first), a duplicated holding, a held security without a
  usable price, MV ≤ 0, a cash floor out of range, a solver status other than optimal — is answered by the
  reference path for that portfolio alone, in its place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from itertools import chain, pairwise
from operator import attrgetter
from typing import TYPE_CHECKING, Literal

import msgspec
import numpy as np

from engine.bands import ModelArrays
from engine.gcpause import paused_gc
from engine.limits import MAX_PLACES, MAX_TIME_LIMIT, model_range_error, range_error
from engine.plainnum import LIMIT, Slow, plain_ints
from engine.postcheck import mv_decimal
from engine.solver import ERROR, INFEASIBLE, OPTIMAL, complete_milps, solve_closed_form
from engine.validation import clean_positions, model_violations

if TYPE_CHECKING:
    # pydantic (engine.models) is not imported by this module: a batch it answers starts without it (issue 15)
    from engine.models import RebalanceOptions

UNSAFE_JSON = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")  # a character json.dumps escapes (or not ASCII)
SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # an escaped UTF-16 surrogate (half of a pair, or lone)
MONEY_BOUND = 10**15  # engine.limits: |money| < 1e15


class _Holding(msgspec.Struct, forbid_unknown_fields=True, gc=False):  # no cycles: untracked by the GC
    securityId: str
    quantity: str


class _Portfolio(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    portfolioId: str
    cash: str = "0"  # absent cash is 0, printed "0" (as Decimal(0) is)
    holdings: list[_Holding] = []
    name: msgspec.Raw = msgspec.Raw()


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    """The line's shape, its portfolios left undecoded (they are decoded once the line's security ids are known)."""

    model: msgspec.Raw
    prices: msgspec.Raw
    portfolios: msgspec.Raw
    options: msgspec.Raw = msgspec.Raw()


_DECODER = msgspec.json.Decoder(_Line)
_PORTFOLIOS = msgspec.json.Decoder(list[_Portfolio])  # any security ids (one string object per holding)
# the options the fast path takes (by RebalanceOptions field name); any other (the trade controls) goes to the
# reference path, as does tieBreak "random"
FAST_OPTIONS = frozenset({"min_cash", "min_cash_fraction", "time_limit", "tie_break", "seed", "trade_date"})
ZERO = Decimal(0)
# the known-ids decoder costs ~4 us an id to build (typing.Literal and msgspec's look-up table) and saves ~50 ns a
# holding: built when the portfolios' JSON has at least this many bytes an id (~130 holdings)
KNOWN_ID_BYTES = 1 << 13
CHUNK_ROWS = 256  # results formatted at a time (their text is written before the next chunk is made)
# the start of an optimal result, up to its trades (the pieces that follow: trades, drifts, closing brackets)
HEAD = (
    '{"portfolioId":%s,"status":"optimal","marketValue":"%s","cashBefore":"%s","cashAfter":"%s",'
    '"portfolioDrift":"%s","transactions":['
)


class ModelPosition(msgspec.Struct, frozen=True):
    """A model position as the CLI parsed it: the fields of ``engine.models.Position``, without pydantic.

    (This module's records are msgspec structs, not dataclasses: made in C, where a dataclass costs the CLI's
    start-up about a millisecond each.)"""

    security_id: str
    target: Decimal
    high_drift: Decimal
    low_drift: Decimal


class Shared(msgspec.Struct, frozen=True):
    """The per-line data every portfolio shares, parsed by the reference parser (small: not per position).

    ``options`` are the line's run options by ``RebalanceOptions`` field name, those given only
    (:func:`engine.options.option_values`)."""

    name: str
    positions: tuple[ModelPosition, ...]
    prices: dict[str, Decimal]
    options: Mapping[str, object]


class PlainPortfolio(msgspec.Struct, frozen=True):
    """A portfolio the reference path answers (``engine.models.PortfolioHoldings`` without pydantic)."""

    portfolio_id: str
    cash: Decimal
    holdings: tuple[tuple[str, Decimal], ...]


def default_trade_controls(options: RebalanceOptions) -> bool:
    """True when the run uses none of the PM trade controls (product-spec 2.12)."""
    from engine.models import RebalanceOptions  # only callers with a RebalanceOptions in hand (the tests)

    fields = RebalanceOptions.model_fields
    names = ("trade_policy", "min_trade_value", "no_buy", "no_sell", "no_trade", "direction", "on_infeasible")
    return all(getattr(options, n) == fields[n].default for n in names if n in fields)


def _group_sums(values: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The int64 sum of each group of consecutive ``values`` (``lens``: the group sizes, in order; exact, unlike
    ``bincount``'s float weights, and a pass instead of ``np.add.at``'s element-wise scatter)."""
    sums = np.zeros(lens.size, dtype=np.int64)
    nonempty = lens > 0
    if values.size:
        sums[nonempty] = np.add.reduceat(values, (np.cumsum(lens) - lens)[nonempty])
    return sums


def _scale_up(values: np.ndarray, places: int) -> np.ndarray:
    return values * (10**places) if places else values


def _half_up(values: np.ndarray, divisor: int) -> np.ndarray:
    """values / divisor rounded half away from zero (Decimal ROUND_HALF_UP), exact on int64."""
    if divisor == 1:
        return values
    mag = (np.abs(values) + divisor // 2) // divisor
    return np.where(values < 0, -mag, mag)


def _fixed(value: int, scale: int) -> str:
    """An integer over 10**scale as plain decimal text with exactly ``scale`` places (``plain`` of the Decimal)."""
    if scale <= 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _exponent_scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


def solve_line(
    line: str | bytes,
    time_limit: float,
    workers: int | None,
    parse_shared: Callable[[str], Shared],
    reference: Callable[[Shared, list[PlainPortfolio]], list[str]],
) -> str:
    """The output line (without newline) of one input line, or ``Slow`` if the reference path must answer it.

    ``parse_shared(text)`` parses the line's model, prices and options with the reference parser (the text is a
    line without portfolios); ``reference(shared, portfolios)`` answers portfolios the fast path leaves, each as
    its JSON text.
    """
    return b"".join(solve_pieces(line, time_limit, workers, parse_shared, reference)).decode()


def solve_pieces(
    line: str | bytes,
    time_limit: float,
    workers: int | None,
    parse_shared: Callable[[str], Shared],
    reference: Callable[[Shared, list[PlainPortfolio]], list[str]],
    on_fallback: Callable[[Exception], None] | None = None,
) -> Iterator[bytes]:
    """:func:`solve_line` as pieces of ASCII bytes whose concatenation is the line (no copy of the whole).

    ``line`` may be bytes of ASCII text (decoded by msgspec without a text copy). ``Slow`` is raised before the
    first piece; the text is then made as the pieces are taken. Should making a chunk of it fail (a bug), those
    portfolios are answered by ``reference`` after ``on_fallback(exception)``.
    """
    if _maybe_surrogate(line):  # the reference parser names a lone one
        raise Slow
    with paused_gc():  # millions of acyclic objects: each automatic collection would rescan them all
        return _solve_line(line, time_limit, workers, parse_shared, reference, on_fallback)


def _maybe_surrogate(line: str | bytes) -> bool:
    """True when the line has an escaped UTF-16 surrogate (half of a pair, or lone). A backslash is looked for
    first: one byte is found by ``memchr`` (0.15 ms in 12 MB; the two-byte search took 20 ms)."""
    if isinstance(line, bytes):
        return b"\\" in line and b"\\u" in line and SURROGATE.search(line.decode("ascii")) is not None
    return "\\" in line and "\\u" in line and SURROGATE.search(line) is not None


def _solve_line(
    line: str | bytes,
    time_limit: float,
    workers: int | None,
    parse_shared: Callable[[str], Shared],
    reference: Callable[[Shared, list[PlainPortfolio]], list[str]],
    on_fallback: Callable[[Exception], None] | None,
) -> Iterator[bytes]:
    try:
        top = _DECODER.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise Slow from None
    head = '{"model":' + bytes(top.model).decode() + ',"prices":' + bytes(top.prices).decode()
    if top.options:
        head += ',"options":' + bytes(top.options).decode()
    shared = parse_shared(head + ',"portfolios":[]}')
    options = shared.options
    if not options.keys() <= FAST_OPTIONS or options.get("tie_break", "lower") != "lower":
        raise Slow  # random draws span the batch; trade controls have their own solver path
    if "time_limit" not in options:  # options.timeLimit of the line wins over --time-limit
        shared = Shared(shared.name, shared.positions, shared.prices, {**options, "time_limit": time_limit})
    if not run_ok(shared):
        raise Slow  # every portfolio gets the run's error: the reference answers it cheaply
    ports, known = _portfolios(top.portfolios, shared)
    for p in ports:
        if not p.portfolioId.strip():
            raise Slow
        if p.name and bytes(p.name)[:1] in (b"[", b"{"):  # maybe nested deeper than the stdlib parser takes
            raise Slow
    return _solve(ports, known, shared, workers, reference, on_fallback)


def _portfolios(raw: msgspec.Raw, shared: Shared) -> tuple[list[_Portfolio], tuple[str, ...]]:
    """The line's portfolios and the ids their holdings are known to be among (empty: any id); ``Slow`` when
    they are not the fast path's shape.

    Decoded with the line's security ids (model and prices) as a ``Literal``: msgspec then gives each holding the
    one string object of its id instead of a new string per holding (fewer objects and pages, hashed once), when
    there are enough holdings an id for that to pay (KNOWN_ID_BYTES). A holding of another id (one without a
    price: its portfolio is the reference's) fails that decoder; the plain one then reads the line."""
    ids = dict.fromkeys(p.security_id for p in shared.positions)
    ids.update(dict.fromkeys(shared.prices))
    known = tuple(s for s in ids if s.strip())  # a blank id is malformed: left to the plain decoder's check
    if known and len(raw) >= KNOWN_ID_BYTES * len(known):
        try:
            return _known_ids_decoder(known).decode(raw), known
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    try:
        return _PORTFOLIOS.decode(raw), ()
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise Slow from None


def _known_ids_decoder(ids: tuple[str, ...]) -> msgspec.json.Decoder[list[_Portfolio]]:
    """A decoder of the portfolios whose holdings' ``securityId`` is one of ``ids`` (a ``Literal``)."""
    holding = msgspec.defstruct(
        "_KnownHolding",
        [("securityId", Literal.__getitem__(ids)), ("quantity", str)],
        forbid_unknown_fields=True,
        gc=False,
    )
    portfolio = msgspec.defstruct(
        "_KnownPortfolio",
        [
            ("portfolioId", str),
            ("cash", str, "0"),
            ("holdings", list[holding], []),
            ("name", msgspec.Raw, msgspec.Raw()),
        ],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(list[portfolio])


def run_ok(shared: Shared) -> bool:
    """True when no run-wide error applies (``engine.rebalance.model_error`` is None) for a run without trade
    controls: the same rules, applied to the pydantic-free parse (range, model rules, cash floor, prices)."""
    options = shared.options
    min_cash = options.get("min_cash", ZERO)
    fraction = options.get("min_cash_fraction", ZERO)
    time_limit = options.get("time_limit")
    prices = shared.prices
    return (
        options.keys() <= FAST_OPTIONS
        and isinstance(min_cash, Decimal)
        and isinstance(fraction, Decimal)
        and isinstance(time_limit, int | float)
        and model_range_error(shared.positions, prices, min_cash) is None
        and not model_violations(shared.name, shared.positions)
        and min_cash >= 0
        and range_error(fraction, "minCashPct", "weight") is None
        and fraction >= 0
        and 0 < time_limit <= MAX_TIME_LIMIT
        and all(
            (price := prices.get(p.security_id)) is not None and price > 0 for p in clean_positions(shared.positions)
        )
    )


def _security_index(model_ids: list[str], sids: list[str], known: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """The securities of the line (the model's first, then every other one held) and each holding's index into
    them. ``known``: ids every holding's id is among (their string objects, hashed once), else empty."""
    index = {s: i for i, s in enumerate(model_ids)}
    n = len(index)
    if known:  # one look-up per holding; the held ones found by counting
        for s in known:
            index.setdefault(s, len(index))
        codes = np.fromiter(map(index.__getitem__, sids), dtype=np.int64, count=len(sids))
        held = np.flatnonzero(np.bincount(codes, minlength=len(index))[n:]) + n
        ids = list(index)
        renumber = np.arange(len(index), dtype=np.int64)
        renumber[held] = np.arange(n, n + held.size)
        return model_ids + [ids[c] for c in held.tolist()], renumber[codes]
    sec_ids = list(model_ids)
    for s in dict.fromkeys(sids):
        if not s.strip():
            raise Slow  # an empty id is malformed: the reference names it
        if s not in index:
            index[s] = len(sec_ids)
            sec_ids.append(s)
    return sec_ids, np.fromiter(map(index.__getitem__, sids), dtype=np.int64, count=len(sids))


def _reference_portfolio(p: _Portfolio) -> PlainPortfolio:
    """A portfolio as the reference parser reads it (``Slow`` when one of its decimals is not plain)."""
    try:
        cash = Decimal(p.cash.strip())
        holdings = tuple((h.securityId, Decimal(h.quantity.strip())) for h in p.holdings)
    except ArithmeticError:
        raise Slow from None
    if not cash.is_finite() or not all(q.is_finite() for _, q in holdings):
        raise Slow
    return PlainPortfolio(p.portfolioId, cash, holdings)


def _solve(
    ports: list[_Portfolio],
    known: tuple[str, ...],
    shared: Shared,
    workers: int | None,
    reference: Callable[[Shared, list[PlainPortfolio]], list[str]],
    on_fallback: Callable[[Exception], None] | None,
) -> Iterator[bytes]:
    prices = shared.prices
    k_total = len(ports)
    # --- columns of the holdings (strings first: ids and quantity texts are kept, they are the output)
    holdings_of = list(map(attrgetter("holdings"), ports))
    lens = np.fromiter(map(len, holdings_of), dtype=np.int64, count=k_total)
    holdings = list(chain.from_iterable(holdings_of))  # (map and attrgetter: loops in C, not per value in Python)
    sids = list(map(attrgetter("securityId"), holdings))
    q_text = list(map(attrgetter("quantity"), holdings))
    del holdings, holdings_of
    g = np.repeat(np.arange(k_total, dtype=np.int64), lens)
    cash_text = list(map(attrgetter("cash"), ports))
    q_mant, q_sc = plain_ints(q_text)
    c_mant, c_sc = plain_ints(cash_text)
    # --- securities: the model's first, then every held one (with an index into the prices)
    positions = clean_positions(shared.positions)
    sec_ids, sec = _security_index([p.security_id for p in positions], sids, known)
    del sids
    n_sec = len(sec_ids)
    price_ok = np.zeros(n_sec, dtype=bool)
    p_scale = np.zeros(n_sec, dtype=np.int64)
    price_dec: list[Decimal | None] = [prices.get(s) for s in sec_ids]
    for i, d in enumerate(price_dec):
        if d is not None and d > 0 and range_error(d, "price", "price") is None:
            price_ok[i] = True
            p_scale[i] = max(0, _exponent_scale(d))
    s_p = int(p_scale.max(initial=0))
    p_int = np.array(
        [int(d.scaleb(s_p)) if ok and d is not None else 0 for d, ok in zip(price_dec, price_ok, strict=True)],
        dtype=np.int64,
    )
    # --- per-portfolio guards: anything outside the exact fast range goes to the reference path
    bad = np.zeros(k_total, dtype=bool)
    # the supported range, exactly: |u| <= 1e12 is |mantissa| <= 10**(12 + places) (a mantissa has at most
    # 18 digits, so a bound of 10**18 or more always holds)
    q_bound = 10 ** np.minimum(12 + q_sc, 18)
    bad[g[(q_sc > MAX_PLACES) | (np.abs(q_mant) > q_bound)]] = True
    c_bound = 10 ** np.minimum(15 + c_sc, 18)
    bad |= (c_sc > MAX_PLACES) | (np.abs(c_mant) >= c_bound)
    nonzero = q_mant != 0
    bad[g[nonzero & ~price_ok[sec]]] = True  # held without a usable price
    s_q = int(q_sc.max(initial=0))
    s_c = int(c_sc.max(initial=0))
    if s_q > MAX_PLACES or s_c > MAX_PLACES:  # only the bad ones have more places: rescale to the rest
        s_q = int(q_sc[~bad[g]].max(initial=0))
        s_c = int(c_sc[~bad].max(initial=0))
    # on the common scale, guarded: 1e12 shares at 8 places would not fit int64
    bad[g[np.abs(q_mant.astype(np.float64)) * 10.0 ** (s_q - q_sc) > LIMIT]] = True
    bad |= np.abs(c_mant.astype(np.float64)) * 10.0 ** (s_c - c_sc) > LIMIT
    ok_row = ~bad[g]
    q = np.where(ok_row, q_mant, 0) * (10 ** np.clip(s_q - q_sc, 0, 18))
    cash = np.where(bad, 0, c_mant) * (10 ** np.clip(s_c - c_sc, 0, 18))
    # duplicates (a zero row counts, as in holding_map)
    keys = g * n_sec + sec
    if keys.size > 1 and not (keys[1:] > keys[:-1]).all():  # (holdings in security order have none: no sort)
        srt = np.sort(keys)
        dup = srt[1:][srt[1:] == srt[:-1]]
        bad[dup // n_sec] = True
    # MV in mills, exactly as engine.marketvalue: each u·p rounded to 0.001 half-up, then C + Σ, to 0.001
    s_v = s_q + s_p
    value_f = np.abs(q.astype(np.float64)) * p_int[sec].astype(np.float64)
    bad[g[value_f > LIMIT]] = True
    q = np.where(bad[g], 0, q)
    v = q * p_int[sec]
    if 15 + s_v <= 18:
        bad[g[np.abs(v) >= 10 ** (15 + s_v)]] = True  # |u·p| < 1e15 (engine.limits, derived money)
    if s_v >= 3:
        pos_mills = _half_up(v, 10 ** (s_v - 3))
    else:
        bad[g[np.abs(v.astype(np.float64)) * 10.0 ** (3 - s_v) > LIMIT]] = True
        pos_mills = _scale_up(np.where(bad[g], 0, v), 3 - s_v)
    pos_mills = np.where(bad[g], 0, pos_mills)
    bad |= np.bincount(g, weights=np.abs(pos_mills.astype(np.float64)), minlength=k_total) > LIMIT
    sums = _group_sums(np.where(bad[g], 0, pos_mills), lens)
    t_scale = max(3, s_c)
    cash = np.where(bad, 0, cash)
    est = np.abs(cash.astype(np.float64)) * 10.0 ** (t_scale - s_c) + np.abs(sums.astype(np.float64)) * 10.0 ** (
        t_scale - 3
    )
    bad |= est > LIMIT
    cash = np.where(bad, 0, cash)
    sums = np.where(bad, 0, sums)
    mills = _half_up(_scale_up(cash, t_scale - s_c) + _scale_up(sums, t_scale - 3), 10 ** (t_scale - 3))
    # (the holdings-sized temporaries freed: the solver's and the text's arrays reuse their memory, not new pages)
    del q_mant, q_bound, nonzero, ok_row, keys, value_f, v, pos_mills
    bad |= (mills <= 0) | (mills >= MONEY_BOUND * 1000)
    # cash floors (a fraction of MV is derived money, range-checked as in the reference)
    floors: Decimal | list[Decimal] = shared.options.get("min_cash", ZERO)  # type: ignore[assignment]
    if shared.options.get("min_cash_fraction"):
        # the floor rule lives on RebalanceOptions (pydantic): imported for a batch with minCashPct only
        from engine.models import RebalanceOptions

        options = RebalanceOptions().model_copy(update=shared.options)
        floor_list: list[Decimal] = []
        for r in np.nonzero(~bad)[0].tolist():
            f = options.cash_floor(mv_decimal(int(mills[r])))
            if range_error(f, "floor", "derived money") is not None:
                bad[r] = True
        for r in np.nonzero(~bad)[0].tolist():
            floor_list.append(options.cash_floor(mv_decimal(int(mills[r]))))
        floors = floor_list
    rows = np.nonzero(~bad)[0]
    # --- the engine's exact solver (and its post-check) on the fast rows
    arrays = ModelArrays(
        tuple(p.security_id for p in positions),
        tuple(p.target for p in positions),
        tuple(p.low_drift for p in positions),
        tuple(p.high_drift for p in positions),
        tuple(prices[p.security_id] for p in positions),
    )
    other: dict[int, str] = {}  # the text of each result not formatted from the columns, by portfolio
    formatted: list[int] = []  # the portfolios formatted from the columns (ascending)
    make: Callable[[list[int]], list[tuple[bytes, ...]]] | None = None
    if rows.size:
        sol = solve_closed_form(
            arrays, mills[rows], floors, portfolio_ids=[ports[r].portfolioId for r in rows.tolist()], tie_break="lower"
        )
        complete_milps(sol, arrays, time_limit=float(shared.options["time_limit"]), workers=workers)  # type: ignore[arg-type]
        ok = np.array([s == OPTIMAL for s in sol.status], dtype=bool)
        cols = _Columns(g, sec, q, q_sc, q_text, cash_text, p_int, p_scale, s_p, s_q, sec_ids)
        ok_rows = rows[ok]
        kept, make = _format(ports, ok_rows, sol.quantities[ok], mills, positions, cols)
        formatted = ok_rows[kept].tolist()
        for j in np.nonzero(~ok)[0].tolist():  # infeasible or failed: the reference's result_json of it
            r = int(rows[j])
            status = INFEASIBLE if sol.status[j] == INFEASIBLE else ERROR
            diagnosis = sol.diagnosis[j] or sol.error_code[j] or "INTERNAL_ERROR"
            other[r] = (
                f'{{"portfolioId":{json.dumps(ports[r].portfolioId)},"status":"{status}",'
                f'"marketValue":"{_fixed(int(mills[r]), 3)}","cashBefore":"{cash_text[r]}","cashAfter":null,'
                f'"portfolioDrift":null,"transactions":[],"drifts":[],"diagnosis":{json.dumps(diagnosis)}}}'
            )
    done = set(formatted)
    slow = [r for r in range(k_total) if r not in other and r not in done]
    if slow:
        answers = reference(shared, [_reference_portfolio(ports[r]) for r in slow])
        other.update(zip(slow, answers, strict=True))

    def fallback(chunk: list[int], exc: Exception) -> list[tuple[bytes, ...]]:
        """A chunk whose formatting failed (a bug): said, then answered by the reference path."""
        if on_fallback is not None:
            on_fallback(exc)
        return [(t.encode(),) for t in reference(shared, [_reference_portfolio(ports[formatted[i]]) for i in chunk])]

    return _stream(k_total, other, formatted, make, fallback)


def _stream(
    k_total: int,
    other: dict[int, str],
    formatted: list[int],
    make: Callable[[list[int]], list[tuple[bytes, ...]]] | None,
    fallback: Callable[[list[int], Exception], list[tuple[bytes, ...]]],
) -> Iterator[bytes]:
    """The pieces of the line in portfolio order, commas and brackets between the results; the formatted results
    are made CHUNK_ROWS at a time as the line is written (their text is never all in memory at once)."""
    with paused_gc():
        if not k_total:
            yield b'{"results":[]}'
            return
        yield b'{"results":['
        chunk: list[tuple[bytes, ...]] = []
        at = 0  # the next formatted result (an index into ``formatted``)
        for r in range(k_total):
            if r:
                yield b","
            text = other.get(r)
            if text is not None:
                yield text.encode()
                continue
            if at % CHUNK_ROWS == 0:
                indices = list(range(at, min(at + CHUNK_ROWS, len(formatted))))
                assert make is not None
                try:
                    chunk = make(indices)
                except Exception as exc:  # a bug in the formatting must not cost these portfolios their answers
                    chunk = fallback(indices, exc)
            yield from chunk[at % CHUNK_ROWS]
            at += 1
        yield b"]}"


class _Columns(msgspec.Struct, frozen=True):
    """The holdings columns and security data :func:`_format` reads."""

    g: np.ndarray  # portfolio of each holdings row
    sec: np.ndarray  # security index (model securities first)
    q: np.ndarray  # quantity over 10**s_q (0 for portfolios off the fast path)
    q_sc: np.ndarray  # the decimals of each quantity as typed
    q_text: list[str]
    cash_text: list[str]
    p_int: np.ndarray  # price over 10**s_p
    p_scale: np.ndarray  # the decimals of each price as given
    s_p: int
    s_q: int
    sec_ids: list[str]


def _format(
    ports: list[_Portfolio],
    rows: np.ndarray,
    up: np.ndarray,
    mills: np.ndarray,
    positions: tuple[ModelPosition, ...],
    c: _Columns,
) -> tuple[np.ndarray, Callable[[list[int]], list[tuple[str, ...]]]]:
    """Which optimal fast rows the columns can print (``kept``: rows beyond the int64 guards are left to the
    reference path), and ``make(indices)``: the pieces of the result text of each of the kept rows
    ``rows[kept][indices]``. The arrays are computed here; the text, chunk by chunk, by ``make``."""
    k_total = len(ports)
    ks, n = up.shape if up.ndim == 2 else (len(rows), 0)
    s_p, s_q = c.s_p, c.s_q
    row_of = np.full(k_total, -1, dtype=np.int64)
    row_of[rows] = np.arange(ks)
    j = row_of[c.g]
    held = (j >= 0) & (c.q != 0)
    in_model = held & (c.sec < n)
    cur = np.zeros((ks, n), dtype=np.int64)
    cur_at = np.full((ks, n), -1, dtype=np.int64)  # the holdings row of each held model cell
    cur[j[in_model], c.sec[in_model]] = c.q[in_model]
    cur_at[j[in_model], c.sec[in_model]] = np.nonzero(in_model)[0]
    extra_rows = np.nonzero(held & (c.sec >= n))[0]  # in input order, so in each portfolio's holdings order
    pm = c.p_int[:n]
    # guards (float bounds of every int64 value below); a row over them is left to the reference path
    up_f = up.astype(np.float64)
    adj_f = up_f * pm.astype(np.float64)
    target_sc = [_exponent_scale(p.target) for p in positions]
    ts = max([0, *target_sc])
    t_int = np.array([int(p.target.scaleb(ts)) for p in positions], dtype=np.int64)
    a_sc = max(3, s_p)
    d_sc = max(3 + ts, s_p)
    mills_s = mills[rows]
    mills_f = mills_s.astype(np.float64)
    t_max = float(t_int.max(initial=0))
    adj_max = adj_f.max(axis=1, initial=0.0)
    guard = (
        (up < 0).any(axis=1)
        | (adj_max * max(n, 1) * 10.0 ** (a_sc - s_p) > LIMIT)
        | (mills_f * 10.0 ** (a_sc - 3) > LIMIT)
        | ((mills_f * t_max * 10.0 ** (d_sc - 3 - ts) + adj_max * 10.0 ** (d_sc - s_p)) * max(n, 1) > LIMIT)
        | (adj_max * 2 * 10.0 ** max(0, 7 - s_p) > LIMIT)
        | (mills_f * 2 * 10.0 ** max(0, s_p - 7) > LIMIT)
        | (up_f.max(axis=1, initial=0.0) * 10.0**s_q > LIMIT)
    )
    keep = ~guard
    upz = np.where(keep[:, None], up, 0)
    millz = np.where(keep, mills_s, 0)
    adj = upz * pm[None, :]
    cash_after = _scale_up(millz, a_sc - 3) - _scale_up(adj.sum(axis=1), a_sc - s_p)
    tv = _scale_up(millz[:, None] * t_int[None, :], d_sc - 3 - ts)
    drift = np.abs(tv - _scale_up(adj, d_sc - s_p)).sum(axis=1)
    num = _scale_up(adj, max(0, 7 - s_p))
    den = _scale_up(millz, max(0, s_p - 7))
    den = np.where(den > 0, den, 1)
    bp = (2 * num + den[:, None]) // (2 * den[:, None])
    delta = _scale_up(upz, s_q) - np.where(keep[:, None], cur, 0)
    del up_f, adj_f, adj, tv, num, den  # (their memory reused below, not new pages)
    # print scales: the exponents Decimal arithmetic gives (the reference's cash after and drift)
    ps_model = int(c.p_scale[:n].max(initial=0))
    ca_base = max(3, ps_model)
    dr_base = max([0, ps_model, *(3 + t for t in target_sc)])
    extras_of: dict[int, list[int]] = {}
    for x in extra_rows.tolist():
        extras_of.setdefault(int(j[x]), []).append(x)
    sid_json = [json.dumps(s) for s in c.sec_ids]
    model_mid = [
        f'","target":"{_plain(p.target)}","highDrift":"{_plain(p.high_drift)}","lowDrift":"{_plain(p.low_drift)}",'
        '"actual":"'
        for p in positions
    ]
    model_pre = ['{"securityId":' + sid_json[i] + ',"originalQuantity":"' for i in range(n)]
    # one %-template per model security: its id, target and band are constant text
    drift_tpl = [
        (model_pre[i] + "\0" + '","adjustedQuantity":"' + "\0" + model_mid[i] + "\0" + '"}')
        .replace("%", "%%")
        .replace("\0", "%s")
        for i in range(n)
    ]
    # each trade's text but its quantity, per model security and side (BUY, SELL)
    buy_pre, sell_pre = (
        [('{"transactionType":"' + side + '","securityId":' + sid_json[i] + ',"quantity":').encode() for i in range(n)]
        for side in ("BUY", "SELL")
    )
    buy_tpl, sell_tpl = ([t.replace(b"%", b"%%") + b"%d}" for t in pre] for pre in (buy_pre, sell_pre))
    q_text, q_sc, sec = c.q_text, c.q_sc, c.sec
    unit = 10**s_q
    # the model cells' drift texts, one %-format per row: its values are gathered column-wise in numpy (object
    # arrays of their texts), in template order. Bytes: ``bytes % ...`` finds each "%" by memchr, ``str % ...``
    # reads the template a character at a time (~1.4x the time); the line is ASCII (json.dumps escapes the rest)
    row_tpl = ",".join(drift_tpl).encode()
    at_all = np.where(cur_at >= 0, cur_at, len(q_text))
    sc_all = np.concatenate([q_sc, np.zeros(1, dtype=np.int64)])
    # the original quantity's text per model cell ("0" unheld); of whole quantities, the integer's (a plain text
    # is), each distinct one formatted once
    original_texts = (
        _fixed_texts(cur, 0) if s_q == 0 else np.array([*(t.encode() for t in q_text), b"0"], dtype=object)[at_all]
    )
    adjusted_texts = _fixed_texts(upz, 0)
    actual_texts = _fixed_texts(bp, 4)
    kept_at = np.nonzero(keep)[0]
    rows_l = rows.tolist()
    id_json = json_strings([ports[r].portfolioId for r in rows_l])
    cash_text = c.cash_text
    sid_bytes = [t.encode() for t in sid_json]

    def make(indices: list[int]) -> list[tuple[bytes, ...]]:
        at = kept_at[indices]
        m = len(indices)
        # each row's drift cell values in template order (made per chunk: its ints and lists are freed, their
        # memory reused by the next chunk)
        cells = np.empty((m, n, 3), dtype=object)
        cells[:, :, 0] = original_texts[at]
        cells[:, :, 1] = adjusted_texts[at]
        cells[:, :, 2] = actual_texts[at]
        drift_texts = list(map(row_tpl.__mod__, map(tuple, cells.reshape(m, 3 * n).tolist()))) if n else [b""] * m
        trades_of = _whole_trade_texts(delta[at], buy_tpl, sell_tpl) if s_q == 0 and n else None
        out = []
        for k, r in enumerate(at.tolist()):
            row = rows_l[r]
            extras = extras_of.get(r, ())
            ca_sc, dr_sc = ca_base, dr_base
            for x in extras:
                ps = int(c.p_scale[sec[x]])
                ca_sc = max(ca_sc, ps)
                dr_sc = max(dr_sc, 3, ps)
            if trades_of is not None:  # whole quantities only (the usual case): the trade is a JSON integer
                trade_text = trades_of[k]
            else:
                at_r = at_all[r].tolist()
                trade_text = b",".join(
                    [
                        (buy_pre[i] if d > 0 else sell_pre[i])
                        + _trade_quantity(abs(d), unit, s_q, int(sc_all[at_r[i]])).encode()
                        + b"}"
                        for i, d in enumerate(delta[r].tolist())
                        if d
                    ]
                )
            drift_text = drift_texts[k]
            if extras:
                trade_text, drift_text = _with_extras(trade_text, drift_text, extras, c, sid_bytes, unit, s_q)
            ca = int(cash_after[r]) // 10 ** (a_sc - ca_sc)
            dr = int(drift[r]) // 10 ** (d_sc - dr_sc)
            head = HEAD % (
                id_json[r],
                _fixed(int(mills_s[r]), 3),
                cash_text[row],
                _fixed(ca, ca_sc),
                _fixed(dr, dr_sc),
            )
            out.append((head.encode(), trade_text, b'],"drifts":[', drift_text, b"]}"))  # the pieces of its text
        return out

    return keep, make


def _with_extras(
    trade_text: bytes, drift_text: bytes, extras: Sequence[int], c: _Columns, sid_json: list[bytes], unit: int, s_q: int
) -> tuple[bytes, bytes]:
    """A portfolio's trade and drift texts with its held securities outside the model after the model's: each
    sold to 0 (a short one bought back)."""
    trades = [trade_text] if trade_text else []
    drifts = [drift_text] if drift_text else []
    for x in extras:
        s_json = sid_json[c.sec[x]]
        trades.append(
            b'{"transactionType":"'
            + (b"BUY" if c.q[x] < 0 else b"SELL")
            + b'","securityId":'
            + s_json
            + b',"quantity":'
            + _trade_quantity(abs(int(c.q[x])), unit, s_q, int(c.q_sc[x])).encode()
            + b"}"
        )
        drifts.append(
            b'{"securityId":'
            + s_json
            + b',"originalQuantity":"'
            + c.q_text[x].encode()
            + b'","adjustedQuantity":"0","target":"0","highDrift":"0","lowDrift":"0","actual":"0.0000"}'
        )
    return b",".join(trades), b",".join(drifts)


def json_strings(texts: list[str]) -> list[str]:
    """``json.dumps`` of each text; when no text has a character JSON escapes (the usual ids), by quoting alone."""
    if UNSAFE_JSON.search("".join(texts)) is None:
        return ['"' + t + '"' for t in texts]
    return [json.dumps(t) for t in texts]


def _fixed_texts(values: np.ndarray, scale: int) -> np.ndarray:
    """``_fixed(v, scale)`` of each value as ASCII bytes, an object array of the same shape: each distinct value is
    formatted
    once (share counts and weights in basis points repeat) and spread back by a look-up: a table indexed by value
    when the values span at most as many integers as there are values (counted, not sorted), else a sorted one
    (np.unique would import numpy.ma)."""
    flat = values.ravel()
    if not flat.size:
        return np.empty(values.shape, dtype=object)
    low, high = int(flat.min()), int(flat.max())
    if high - low < max(flat.size, 1 << 12):
        offsets = flat - low
        keys = np.flatnonzero(np.bincount(offsets))
        table = np.empty(high - low + 1, dtype=object)
        table[keys] = [_fixed(k, scale).encode() for k in (keys + low).tolist()]
        return table[offsets].reshape(values.shape)
    ordered = np.sort(flat)
    keys = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    texts = np.array([_fixed(k, scale).encode() for k in keys.tolist()], dtype=object)
    return texts[np.searchsorted(keys, values)]


def _whole_trade_texts(delta: np.ndarray, buy_tpl: list[bytes], sell_tpl: list[bytes]) -> list[bytes]:
    """Each row's trades of a whole-share ``delta`` (rows x model securities) in security order, as one text:
    comma-separated (a row's later trades are formatted from their templates with a leading comma). A template
    takes the trade's quantity (an int) as its one ``%d``."""
    n_rows, n = delta.shape
    rows, cols = np.nonzero(delta)  # row-major: each row's trades together, in column order
    moves = delta[rows, cols]
    later = np.zeros(rows.size, dtype=bool)
    later[1:] = rows[1:] == rows[:-1]
    templates = [*buy_tpl, *sell_tpl]
    templates += [b"," + t for t in templates]
    pick = np.where(moves > 0, cols, cols + n) + np.where(later, 2 * n, 0)
    chosen = np.array(templates, dtype=object)[pick].tolist()
    quantities = np.abs(moves).tolist()
    bounds = np.searchsorted(rows, np.arange(n_rows + 1)).tolist()
    # one %-format a row, of its trades' templates joined (fewer objects than a text per trade)
    return [b"".join(chosen[a:b]) % tuple(quantities[a:b]) for a, b in pairwise(bounds)]


def _trade_quantity(magnitude: int, unit: int, s_q: int, own_scale: int) -> str:
    """|u' − u| as the reference prints it: a JSON integer when whole, else the decimal string (u's places)."""
    if magnitude % unit == 0:
        return str(magnitude // unit)
    return '"' + _fixed(magnitude // 10 ** (s_q - own_scale), own_scale) + '"'


def _plain(value: Decimal) -> str:
    return format(value, "f")
