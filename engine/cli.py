"""Headless CLI: ``python -m engine solve`` — JSON Lines in, one JSON line of results per batch out.

Input, one batch per line (decimals as JSON strings; numbers are accepted and read exactly)::

    {"model": {"positions": [{"securityId", "target", "lowDrift", "highDrift"}]},
     "prices": {"<securityId>": "<decimal>"}, "options": {"minCash": "<decimal>", "minCashPct": "<decimal>"},
     "portfolios": [{"portfolioId", "cash": "<decimal>", "holdings": [{"securityId", "quantity": "<decimal>"}]}]}

Options (product-spec 2.12), both default "0": each portfolio's cash floor is max(minCash, minCashPct·MV), exact;
``minCashPct`` is a fraction of MV ("0.02" = 2 %). Also ``timeLimit`` (seconds; wins over ``--time-limit``),
``tieBreak`` (lower | random), ``seed`` and ``tradeDate``; the trade controls ``tradePolicy``, ``minTradeValue``,
``noBuy``, ``noSell``, ``noTrade``, ``direction`` and ``onInfeasible``: one parser for every command
(:mod:`engine.options`).

Output, one line per batch: ``{"results": [...]}`` in portfolio order, each with ``portfolioId``,
``status`` (optimal | relaxed | infeasible | error), ``marketValue``, ``cashBefore``, ``cashAfter``,
``portfolioDrift``, ``transactions`` [{transactionType, securityId, quantity}], ``drifts``
[{securityId, originalQuantity, adjustedQuantity, target, highDrift, lowDrift, actual, keptBy when a control
kept the position from trading}], for a relaxed answer ``bandBreaches`` [{securityId, side, amount}] and, when
neither optimal nor relaxed, ``diagnosis``. Decimals are strings; a quantity is a JSON integer (the exact decimal as a
string only for a trade on a fractional holding).

A malformed line stops the run with exit status 2 and a message ``error: line N: ...`` on stderr naming the
line and the field (the lines before it have been answered): invalid JSON, JSON nested too deeply, bytes
that are not UTF-8 (from a file or stdin alike), a wrong shape or a non-numeric decimal. Numbers outside
the engine's supported range (``engine.limits``) are not malformed: they fail their portfolio (or, for
``minCash`` and model prices, every portfolio of the batch) as ``INVALID_INPUT`` with a short message.
 A model that breaks a business rule, a missing price or an
infeasible portfolio is reported in that batch's results and the run goes on. Blank lines are skipped.
Only JSON goes to stdout: solver banners and anything else written to file descriptor 1 go to stderr.
Exit status 1 only if a bug broke both the fast path and the reference path while a line was being written: that
line is left incomplete and the run stops with ``error: line N: internal error ...`` on stderr.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import ctypes
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from decimal import Decimal
from io import RawIOBase
from typing import IO, TYPE_CHECKING, Any

import msgspec

from engine.batch.cli import add_batch_parser, run_batch
from engine.errors import ErrorInfo
from engine.exactmath import plain
from engine.fastsolve import ModelPosition, PlainPortfolio, Shared, Slow, solve_pieces
from engine.limits import MAX_TIME_LIMIT, in_range, shorten
from engine.options import OptionError, option_values

if TYPE_CHECKING:
    # engine.models (pydantic) and engine.rebalance are imported where the reference path needs them, not here:
    # a batch the fast path answers starts without them (start-up time of `engine solve`, issue 15)
    from engine.models import InvestmentModel, PortfolioHoldings, PortfolioResult, RebalanceOptions

EXIT_OK = 0
EXIT_MALFORMED = 2
EXIT_INTERNAL = 1  # a line left incomplete: the fast path and the reference both failed while it was written
MAX_WORKERS = 256  # each worker is a process importing CVXPY: a typo like 10**9 must not try to start them
READ_BYTES = 1 << 26  # input read in blocks of up to 64 MiB (a line of 12 MB: one read, not 1,500 buffered ones)
WRITE_BYTES = 1 << 24  # to a text-only sink, output is decoded in slices of 16 MiB (bounded buffers)
# ... and the pieces joined in groups of 1 MiB (a write call each: 45 MB in 45 calls, not 700; the 2,000 x 100
# output's writing 27 -> 19 ms CPU): with _keep_freed_memory each group's buffer comes from the heap and is reused
GROUP_BYTES = 1 << 20
ASCII_SUPERSETS = frozenset({"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252"})  # (codecs.lookup names)
SHOWN_CHARS = 40  # longer input strings are cut in messages
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
NOT_BLANK = re.compile(rb"[^\t\n\x0b\x0c\r\x1c-\x1f ]")  # an ASCII byte str.isspace() does not take
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,39}")


class MalformedInput(Exception):
    """A line that is not a valid batch: ``path`` names the field (``portfolios[2].cash``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class Batch(msgspec.Struct, frozen=True):
    """One parsed input line."""

    model: InvestmentModel
    prices: dict[str, Decimal]
    options: RebalanceOptions
    portfolios: list[PortfolioHoldings]


def _object(value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    where = path or "the line"
    if not isinstance(value, dict):
        raise MalformedInput(path, f"{where} must be a JSON object, got {_kind(value)}")
    for key in required:
        if key not in value:
            raise MalformedInput(_join(path, key), "is required")
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            raise MalformedInput(_join(path, key), f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedInput(path, f"must be a JSON array, got {_kind(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedInput(path, f"must be a non-empty string, got {_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a \ud800 escape: not text
        raise MalformedInput(
            path, f"is not valid Unicode text (a lone surrogate at character {exc.start + 1})"
        ) from None
    return value


def _shown(text: str) -> str:
    """A string for a message: its repr, cut after SHOWN_CHARS characters."""
    return repr(text) if len(text) <= SHOWN_CHARS else repr(text[:SHOWN_CHARS]) + f"… ({len(text)} characters)"


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, Decimal):  # a JSON number, parsed exactly
        if value.is_finite():
            return value
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except ArithmeticError:
            d = None
        if d is not None and d.is_finite():
            return d
        raise MalformedInput(path, f"{_shown(value)} is not a decimal number")
    raise MalformedInput(path, f"must be a decimal (a JSON string or number), got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Decimal):
        return f"the number {shorten(value)}"
    if isinstance(value, str):
        return f"the string {_shown(value)}"
    return {dict: "an object", list: "an array"}.get(type(value), type(value).__name__)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not FIELD_NAME.fullmatch(key):  # an unknown key is shown quoted, cut and escaped: one line, short
        return f"{path}[{_shown(key)}]"
    return f"{path}.{key}" if path else key


def __getattr__(name: str) -> Any:
    """``rebalance_portfolios`` of :mod:`engine.rebalance`, imported on first use (start-up: see the top)."""
    if name == "rebalance_portfolios":
        from engine.rebalance import rebalance_portfolios

        globals()[name] = rebalance_portfolios
        return rebalance_portfolios
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _engine() -> Any:
    """This module, whose ``rebalance_portfolios`` the reference path calls (looked up through the module, so
    the lazy import above applies and a test may replace it)."""
    return sys.modules[__name__]


def parse_head(data: Any) -> Shared:
    """Validate one decoded line but its portfolios (model, prices, options, in that order): ``MalformedInput``
    names the first bad field. Builds no pydantic object (the fast path's start-up)."""
    top = _object(data, "", ("model", "prices", "portfolios"), ("options",))
    model_obj = _object(
        top["model"], "model", ("positions",), ("name", "modelId", "portfolios", "lastRebalanceDate", "version")
    )
    positions = []
    for i, raw in enumerate(_list(model_obj["positions"], "model.positions")):
        path = _join("model.positions", i)
        pos = _object(raw, path, ("securityId", "target", "lowDrift", "highDrift"))
        security_id = _string(pos["securityId"], _join(path, "securityId"))
        target = _decimal(pos["target"], _join(path, "target"))
        low_drift = _decimal(pos["lowDrift"], _join(path, "lowDrift"))
        high_drift = _decimal(pos["highDrift"], _join(path, "highDrift"))
        positions.append(ModelPosition(security_id, target, high_drift, low_drift))
    name = model_obj.get("name")
    raw_prices = top["prices"]
    if not isinstance(raw_prices, dict):
        raise MalformedInput("prices", f"must be a JSON object of securityId to price, got {_kind(raw_prices)}")
    prices = {sid: _decimal(v, f"prices[{_shown(sid)}]") for sid, v in raw_prices.items()}
    try:  # the one options parser of every command (engine.options)
        options = option_values(top.get("options", {}), "options")
    except OptionError as exc:
        raise MalformedInput(exc.path, exc.message) from None
    return Shared(name if isinstance(name, str) and name.strip() else "batch", tuple(positions), prices, options)


def engine_inputs(head: Shared) -> tuple[InvestmentModel, RebalanceOptions]:
    """The engine's model and options of a parsed head (pydantic: imported here, for the reference path only)."""
    from engine.models import InvestmentModel, Position, RebalanceOptions

    positions = [
        Position(security_id=p.security_id, target=p.target, low_drift=p.low_drift, high_drift=p.high_drift)
        for p in head.positions
    ]
    model = InvestmentModel(name=head.name, positions=positions)
    return model, RebalanceOptions().model_copy(update=head.options)  # as engine.options.parse_options


def parse_batch(data: Any) -> Batch:
    """Validate one decoded line; raises ``MalformedInput`` naming the first bad field."""
    head = parse_head(data)
    from engine.models import Holding, PortfolioHoldings  # the reference path only (start-up: see the top)

    model, options = engine_inputs(head)
    portfolios = []
    for k, raw in enumerate(_list(data["portfolios"], "portfolios")):
        path = _join("portfolios", k)
        port = _object(raw, path, ("portfolioId",), ("cash", "holdings", "name"))
        holdings = []
        for j, h in enumerate(_list(port.get("holdings", []), _join(path, "holdings"))):
            hpath = _join(_join(path, "holdings"), j)
            hold = _object(h, hpath, ("securityId", "quantity"))
            holdings.append(
                Holding(
                    security_id=_string(hold["securityId"], _join(hpath, "securityId")),
                    quantity=_decimal(hold["quantity"], _join(hpath, "quantity")),
                )
            )
        name = port.get("name")
        portfolios.append(
            PortfolioHoldings(
                portfolio_id=_string(port["portfolioId"], _join(path, "portfolioId")),
                cash=_decimal(port["cash"], _join(path, "cash")) if "cash" in port else Decimal(0),
                holdings=tuple(holdings),
                name=name if isinstance(name, str) else None,
            )
        )
    return Batch(model, head.prices, options, portfolios)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def _quantity(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else plain(value)


def result_json(result: PortfolioResult) -> dict[str, Any]:
    """One result in the CLI's output shape (camelCase keys, decimals as strings)."""
    out: dict[str, Any] = {
        "portfolioId": result.portfolio_id,
        "status": result.status,
        "marketValue": _text(result.market_value),
        "cashBefore": _text(result.cash_before),
        "cashAfter": _text(result.cash_after),
        "portfolioDrift": _text(result.portfolio_drift),
        "transactions": [
            {"transactionType": t.transaction_type, "securityId": t.security_id, "quantity": _quantity(t.quantity)}
            for t in result.transactions
        ],
        "drifts": [
            {
                "securityId": d.security_id,
                "originalQuantity": plain(d.original_quantity),
                "adjustedQuantity": plain(d.adjusted_quantity),
                "target": plain(d.target),
                "highDrift": plain(d.high_drift),
                "lowDrift": plain(d.low_drift),
                "actual": plain(d.actual),
                **({"keptBy": d.kept_by} if d.kept_by else {}),
            }
            for d in result.drifts
        ],
    }
    if result.band_breaches:
        out["bandBreaches"] = [
            {"securityId": b.security_id, "side": b.side, "amount": plain(b.amount)} for b in result.band_breaches
        ]
    if result.status not in ("optimal", "relaxed"):
        out["diagnosis"] = result.diagnosis or result.error_code or result.status
    return out


def solve_batch_line(batch: Batch, time_limit: float, workers: int | None, number: int = 0) -> dict[str, Any]:
    """Solve one parsed batch; an unexpected failure becomes ``status: error`` for each of its portfolios.

    ``number`` is the input line, for the one-line note on stderr when that happens (never a traceback).
    """
    if "time_limit" not in batch.options.model_fields_set:  # options.timeLimit of the line wins over --time-limit
        options = batch.options.model_copy(update={"time_limit": time_limit})
    else:
        options = batch.options
    try:
        results = _engine().rebalance_portfolios(
            batch.model, batch.prices, batch.portfolios, options, workers=workers, with_positions=False
        )
        return {"results": [result_json(r) for r in results]}
    except Exception as exc:  # a bug must not cost the other batches their answers
        info = ErrorInfo("INTERNAL_ERROR", f"internal error: {type(exc).__name__}: {str(exc)[:200]}")
        print(f"error: line {number}: {info.message} (every portfolio of this batch is marked error)", file=sys.stderr)
        return {
            "results": [
                {
                    "portfolioId": p.portfolio_id,
                    "status": "error",
                    "marketValue": None,
                    "cashBefore": _text(in_range(p.cash)),
                    "cashAfter": None,
                    "portfolioDrift": None,
                    "transactions": [],
                    "drifts": [],
                    "diagnosis": info.message,
                }
                for p in batch.portfolios
            ]
        }


def _text_line(raw: bytes | str) -> str:
    """A line as text; bytes are decoded as strict UTF-8 (``MalformedInput`` names the first bad byte)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})") from None


def decode_line(line: str) -> Any:
    """One JSON line with exact decimals; ``MalformedInput`` when it is not JSON or nested too deeply."""
    try:
        return json.loads(line, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedInput("", f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise MalformedInput("", "not valid JSON: nested too deeply") from None
    except ArithmeticError:  # a JSON number whose exponent Decimal cannot hold (0E1000000000000000000)
        raise MalformedInput("", "a JSON number is beyond the decimal range (exponent too large)") from None


def reference_line(line: str, time_limit: float, workers: int | None, number: int = 0) -> str:
    """The reference answer to one line: ``parse_batch`` → ``rebalance_portfolios`` → ``result_json`` →
    ``json.dumps``; raises ``MalformedInput``. The fast path (:mod:`engine.fastsolve`) answers byte for byte alike."""
    batch = parse_batch(decode_line(line))
    return json.dumps(solve_batch_line(batch, time_limit, workers, number), separators=(",", ":"))


def _shared(text: str) -> Shared:
    try:
        return parse_head(decode_line(text))
    except MalformedInput:
        raise Slow from None  # the reference path names the field


def _reference_results(shared: Shared, portfolios: list[PlainPortfolio], workers: int | None) -> list[str]:
    from engine.models import Holding, PortfolioHoldings  # a portfolio off the fast path only (start-up)

    model, options = engine_inputs(shared)
    holdings = [
        PortfolioHoldings(
            portfolio_id=p.portfolio_id,
            cash=p.cash,
            holdings=tuple(Holding(security_id=s, quantity=q) for s, q in p.holdings),
        )
        for p in portfolios
    ]
    try:
        results = _engine().rebalance_portfolios(
            model, shared.prices, holdings, options, workers=workers, with_positions=False
        )
    except Exception:  # the reference path answers the whole line (and reports the failure as it does)
        raise Slow from None
    return [json.dumps(result_json(r), separators=(",", ":")) for r in results]


def answer_line(line: str, time_limit: float, workers: int | None, number: int = 0) -> str:
    """The output line for one input line: the columnar fast path, else the reference path (same bytes)."""
    return b"".join(answer_pieces(line, time_limit, workers, number)).decode()


def answer_pieces(line: str | bytes, time_limit: float, workers: int | None, number: int = 0) -> Iterable[bytes]:
    """:func:`answer_line` as the pieces of ASCII bytes to write one after the other (no copy of the whole line is
    made; the fast path makes its text as the pieces are taken; JSON escapes every other character).

    ``line`` may be ASCII bytes (the fast path decodes them without a text copy)."""

    def said(exc: Exception) -> None:
        print(
            f"note: line {number}: fast path failed ({type(exc).__name__}: {str(exc)[:200]}); some portfolios "
            "answered by the reference path",
            file=sys.stderr,
        )

    try:
        return solve_pieces(
            line, time_limit, workers, _shared, lambda shared, ports: _reference_results(shared, ports, workers), said
        )
    except Slow:
        pass
    except Exception as exc:  # a bug in the fast path must not cost the line its answer: said, then the reference
        print(
            f"note: line {number}: fast path failed ({type(exc).__name__}: {str(exc)[:200]}); answered by the "
            "reference path",
            file=sys.stderr,
        )
    text = line if isinstance(line, str) else line.decode("ascii")
    return [reference_line(text, time_limit, workers, number).encode()]


def run_solve(
    source: Iterable[bytes] | Iterable[str],
    sink: IO[str],
    time_limit: float = 30.0,
    workers: int | None = None,
    *,
    fast: bool = True,
) -> int:
    """Stream batches from ``source`` (binary or text lines) to ``sink``; returns the exit status (2 if malformed).

    ``fast=False`` answers every line by the reference path (kept for tests and the benchmark).
    """
    for number, raw in enumerate(source, start=1):
        try:
            if fast and isinstance(raw, bytes) and raw.isascii():  # ASCII is valid UTF-8: no text copy of the line
                if NOT_BLANK.search(raw) is None:  # only the characters str.isspace() takes (no stripped copy)
                    continue
                pieces = answer_pieces(raw, time_limit, workers, number)
            else:
                line = _text_line(raw)
                if not line or line.isspace():  # (no stripped copy of a line of 100 MB)
                    continue
                pieces = (
                    answer_pieces(line, time_limit, workers, number)
                    if fast
                    else [reference_line(line, time_limit, workers, number).encode()]
                )
        except MalformedInput as exc:
            print(f"error: line {number}: {exc}", file=sys.stderr)
            return EXIT_MALFORMED
        try:
            _write(pieces, sink)
        except Exception as exc:  # the fast path failed while writing, and so did the reference on those portfolios
            print(
                f"error: line {number}: internal error: {type(exc).__name__}: {str(exc)[:200]} (its output line is "
                "incomplete)",
                file=sys.stderr,
            )
            return EXIT_INTERNAL
        sink.write("\n")
        sink.flush()
    return EXIT_OK


def read_lines(stream: RawIOBase, block: int = READ_BYTES) -> Iterator[bytes]:
    """The lines of a binary stream as iterating it gives them (each with its ``\n``; the last may lack one), read
    in blocks of up to ``block`` bytes from an unbuffered stream: ``readline`` of a 12 MB line gathers and joins
    its 8 KiB buffers (~20 ms, twice the line's memory), a block is one read. A line within one block is a slice of
    it (the whole block when it is the only line); one spanning blocks is joined once. A raw read returns what a
    pipe or terminal has: a line is answered as soon as it is complete."""
    parts: list[bytes] = []  # the start of a line that goes on in the next block
    while data := stream.read(block):
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            line = data if start == 0 and end + 1 == len(data) else data[start : end + 1]
            if parts:
                parts.append(line)
                line = b"".join(parts)
                parts = []
            yield line
            start = end + 1
        if start < len(data):
            parts.append(data[start:] if start else data)
    if parts:
        yield b"".join(parts)


def _write(pieces: Iterable[bytes], sink: IO[str]) -> None:
    """Write the pieces of one line in order, small ones joined in groups of up to GROUP_BYTES. A text sink with a
    binary buffer in an ASCII-compatible encoding (a file, stdout: UTF-8) gets the bytes in its buffer (its text
    layer flushed first); another (a ``StringIO``) their text, a long piece in slices of WRITE_BYTES (a line of
    450 MB is never decoded in one)."""
    binary: IO[bytes] | None = getattr(sink, "buffer", None)
    if binary is not None and codecs.lookup(getattr(sink, "encoding", None) or "ascii").name not in ASCII_SUPERSETS:
        binary = None  # (a sink in UTF-16, say, gets text)
    if binary is not None:
        sink.flush()
        write = binary.write
    else:

        def write(data: bytes) -> int:
            for start in range(0, len(data), WRITE_BYTES):
                sink.write(data[start : start + WRITE_BYTES].decode())
            return len(data)

    group: list[bytes] = []
    size = 0
    for piece in pieces:
        if group and size + len(piece) > GROUP_BYTES:
            write(b"".join(group))
            group, size = [], 0
        if len(piece) > GROUP_BYTES:
            write(piece)
        else:
            group.append(piece)
            size += len(piece)
    if group:
        write(b"".join(group))


@contextlib.contextmanager
def _json_only_stdout() -> Iterator[IO[str]]:
    """Yield a stream onto the real stdout while file descriptor 1 (and sys.stdout) point at stderr.

    HiGHS prints its banner from C straight to descriptor 1; in spawned solver processes too, since they
    inherit the redirected descriptor.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield out
    finally:
        out.flush()
        out.close()
        os.dup2(saved, 1)
        os.close(saved)


def _time_limit(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_TIME_LIMIT:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds above 0 and at most {MAX_TIME_LIMIT:g}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text} is not a number of workers from 1 to {MAX_WORKERS}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="GlobeCo rebalancing engine (headless).")
    commands = parser.add_subparsers(dest="command", required=True)
    solve = commands.add_parser("solve", help="rebalance JSON Lines batches (one result line per batch)")
    solve.add_argument("--input", default="-", help="input JSON Lines file, or - for stdin (default)")
    solve.add_argument("--output", default="-", help="output JSON Lines file, or - for stdout (default)")
    solve.add_argument(
        "--time-limit", type=_time_limit, default=30.0, help="MILP time limit per portfolio, seconds (30)"
    )
    solve.add_argument("--workers", type=_positive_int, default=None, help="solver processes (default: CPU count)")
    add_batch_parser(commands)
    return parser


def _keep_freed_memory() -> None:
    """glibc only (elsewhere nothing): blocks up to 32 MiB come from the heap and freed memory stays mapped up to
    256 MiB (``mallopt`` M_MMAP_THRESHOLD, M_TRIM_THRESHOLD). By default every large temporary — a numpy column of
    a 2,000 x 100 batch is 1.6 MB — is a fresh mapping whose pages fault in anew: the kernel's share was a third of
    ``engine solve``'s CPU time; this cuts it by a quarter (issue 15). Peak memory is unchanged."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "batch":
        return run_batch(args)
    _keep_freed_memory()
    try:
        # binary on both paths: each line is decoded as strict UTF-8, so a file and stdin fail alike
        # unbuffered: read_lines reads blocks (stdin's descriptor itself, left open at the end)
        source = (
            open(0 if sys.stdin is None else sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
            if args.input == "-"
            else open(args.input, "rb", buffering=0)  # noqa: SIM115
        )
    except OSError as exc:
        print(f"error: cannot read --input {args.input}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_MALFORMED
    try:
        with _json_only_stdout() as stdout:
            if args.output == "-":
                return run_solve(read_lines(source), stdout, args.time_limit, args.workers)
            try:
                sink = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                print(f"error: cannot write --output {args.output}: {exc.strerror}", file=sys.stderr)
                return EXIT_MALFORMED
            with sink:
                return run_solve(read_lines(source), sink, args.time_limit, args.workers)
    finally:
        source.close()
