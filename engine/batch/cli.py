"""``python -m engine batch``: argument parsing and the entry point (local, or on a Dask cluster).

Exit status 0 when every portfolio has a result (optimal, infeasible or error: see the summary), 2 when an
input cannot be used (the message names the file, row, field, value and rule), 1 when the Dask cluster fails.
Nothing is written to stdout but the final one-line JSON report; progress goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path

from engine.errors import EngineError
from engine.options import OptionError, parse_options

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def add_batch_parser(commands: argparse._SubParsersAction) -> None:
    """Register the ``batch`` subcommand on the ``python -m engine`` parser."""
    batch = commands.add_parser(
        "batch",
        help="rebalance many portfolios from Parquet/CSV tables into Parquet orders and a summary",
        description="Columnar batch: holdings, cash and prices tables plus models JSON in; Parquet orders and a "
        "per-portfolio summary out (OUTPUT/orders/part-*.parquet, OUTPUT/summary/part-*.parquet).",
    )
    batch.add_argument(
        "--holdings", required=True, help="Parquet file/directory or CSV: portfolioId, securityId, quantity"
    )
    batch.add_argument("--cash", required=True, help="Parquet or CSV: portfolioId, cash")
    batch.add_argument("--prices", required=True, help="Parquet or CSV: securityId, price")
    batch.add_argument("--models", required=True, help="JSON: models as in the CLI, each with its portfolio ids")
    batch.add_argument("--output", required=True, help="output directory (orders/ and summary/ Parquet parts)")
    batch.add_argument(
        "--options", default="{}", help='run options as JSON, as the solve CLI\'s "options" (or @file.json)'
    )
    batch.add_argument("--time-limit", type=_positive_float, default=None, help="MILP time limit per portfolio, s")
    batch.add_argument("--chunk-size", type=_positive_int, default=50_000, help="portfolios per chunk (50000)")
    batch.add_argument("--workers", type=_positive_int, default=None, help="MILP processes (default: CPU count)")
    batch.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786); default local")


def run_batch(args: argparse.Namespace) -> int:
    """Run ``engine batch`` from parsed arguments; returns the exit status."""
    # pyarrow, tqdm and dask load here, not when ``engine solve`` starts
    from engine.batch.io import BatchInputError
    from engine.batch.run import BatchInputs, run_local

    text = args.options
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
        raw = json.loads(text, parse_float=Decimal)
        options = parse_options(raw, "options")
    except OSError as exc:
        print(f"error: cannot read --options {args.options[1:]}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except json.JSONDecodeError as exc:
        print(f"error: --options is not valid JSON: {exc.msg} (column {exc.colno})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OptionError as exc:
        print(f"error: --options: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.time_limit is not None:
        options = options.model_copy(update={"time_limit": args.time_limit})
    inputs = BatchInputs(args.holdings, args.cash, args.prices, args.models)
    try:
        if args.scheduler:
            from engine.batch.cluster import run_dask

            report = run_dask(inputs, args.output, options, args.scheduler, chunk_size=args.chunk_size)
        else:
            report = run_local(inputs, args.output, options, chunk_size=args.chunk_size, workers=args.workers)
    except BatchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineError as exc:  # the cluster failed (input was fine): nothing was lost, the run can be repeated
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    if report.unknown_portfolios:
        print(
            f"note: {report.unknown_portfolios} portfolio(s) in the holdings belong to no model and were skipped",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "portfolios": report.portfolios,
                "orders": report.orders,
                "parts": report.parts,
                "status": report.by_status,
                "output": str(args.output),
            }
        )
    )
    return EXIT_OK
