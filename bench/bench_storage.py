"""Benchmark: saving and listing rebalance records on the embedded MongoDB backend (issue #4, storage.md §4).

Part 1 saves a 1,000-portfolio run (one document, portfolios embedded) through ``save_run`` — version check, insert,
``lastRebalanceDate`` stamp — and reads it back whole and by drill-down, timing the current code next to a baseline
(the code paths before the storage speed-ups: bson's own Decimal128 conversions, mongoeco's stock codec, garbage
collector running), interleaved round by round so both see the same machine load. Part 2 saves 1,000 smaller
records one by one, printing the insert cost per block of the collection's growth, then times the history listings
(first/middle/last page, 100-record page, summaries, find by portfolio) at several collection sizes.
Prints milliseconds, speed-ups and growth ratios; nothing is asserted.

    .venv/bin/python bench/bench_storage.py [--portfolios 1000] [--positions 30] [--records 1000]
        [--record-portfolios 5] [--repeat 3] [--parts big,many] [--uri mongoeco+memory:// | mongodb://…] [--quick]
        [--no-baseline]

Default backend: embedded mongoeco on a fresh SQLite file in a temporary folder (the app's default backend).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import bson
from mongoeco.core.codec import DocumentCodec

from data.documents import record_to_doc
from data.mongo import describe_backend, get_client, get_database
from data.repositories import ModelRepository, RebalanceRepository, save_run
from engine.models import Position, RebalanceRecord, RecordPortfolio, RecordPosition

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def ms(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Result and median wall time in milliseconds over ``repeat`` calls."""
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - started) * 1000)
    return out, statistics.median(times)


def record_position(k: int, i: int) -> RecordPosition:
    price, before, after = Decimal("123.45") + k, Decimal(100 + (k * 7 + i) % 50), Decimal(100 + (k * 3 + i) % 50)
    mv = Decimal("1234567.891")
    delta = after - before
    return RecordPosition(
        security_id=f"5{k:023x}",
        price=price,
        original_quantity=before,
        adjusted_quantity=after,
        original_position_market_value=before * price,
        adjusted_position_market_value=after * price,
        target=Decimal("0.03"),
        high_drift=Decimal("0.01"),
        low_drift=Decimal("0.01"),
        actual=after * price / mv,
        actual_drift=1 - (after * price / mv) / Decimal("0.03"),
        transaction_type=None if delta == 0 else ("BUY" if delta > 0 else "SELL"),
        trade_quantity=None if delta == 0 else abs(delta),
        trade_date=None if delta == 0 else dt.date(2025, 1, 2),
    )


def make_record(model_id: str, first: int, portfolios: int, positions: int, when: dt.datetime) -> RebalanceRecord:
    return RebalanceRecord(
        model_id=model_id,
        model_name="Bench Model",
        rebalance_date=when,
        portfolios=tuple(
            RecordPortfolio(
                portfolio_id=f"{i:024x}",
                portfolio_name=f"Portfolio {i}",
                market_value=Decimal("1234567.891"),
                cash_before_rebalance=Decimal("61728.39"),
                cash_after_rebalance=Decimal("1234.5"),
                positions=tuple(record_position(k, i) for k in range(positions)),
            )
            for i in range(first, first + portfolios)
        ),
    )


@contextlib.contextmanager
def baseline_paths() -> Iterator[None]:
    """The storage code paths as they were before the speed-ups (for a before/after in one run).

    bson's own ``Decimal128(Decimal)`` and ``to_decimal()`` instead of the integer-arithmetic shortcuts, mongoeco's
    stock ``DocumentCodec`` for clients made meanwhile, and the cyclic garbage collector left running.
    """
    with (
        mock.patch("data.documents._fast_d128", lambda d: None),
        mock.patch("data.documents.d128_to_decimal", bson.Decimal128.to_decimal),
        mock.patch("data.mongoeco_codec.codec_for_engine", lambda: DocumentCodec),
        mock.patch("data.repositories.rebalances.paused_gc", contextlib.nullcontext),
    ):
        yield


def big_run(db: Any, args: argparse.Namespace) -> None:
    """Save and read back one big run with the current code (and the baseline, on its own database)."""
    variants = {"now": (db, contextlib.nullcontext)}
    if args.baseline_db is not None:
        variants["baseline"] = (args.baseline_db, baseline_paths)
    setups = {}
    for name, (database, paths) in variants.items():
        with paths():
            models, rebalances = ModelRepository(database), RebalanceRepository(database)
            positions = [
                Position(
                    security_id=f"5{k:023x}",
                    target=Decimal("0.03"),
                    high_drift=Decimal("0.01"),
                    low_drift=Decimal("0.01"),
                )
                for k in range(args.positions)
            ]
            portfolio_ids = [f"{i:024x}" for i in range(args.portfolios)]
            model = models.create_model("Bench Model", positions[:31], portfolio_ids)
            setups[name] = (models, rebalances, model)
    model_id = setups["now"][2].model_id or ""
    record, build_ms = ms(lambda: make_record(model_id, 0, args.portfolios, args.positions, T0))
    timings: dict[str, dict[str, list[float]]] = {name: {} for name in variants}

    def timed(name: str, label: str, fn: Callable[[], Any]) -> Any:
        out, t = ms(fn)
        timings[name].setdefault(label, []).append(t)
        return out

    def one_round(name: str, rec: RebalanceRecord, models: ModelRepository, rebalances: RebalanceRepository) -> str:
        doc = timed(name, "map record -> document", lambda: record_to_doc(rec))
        sizes.append(len(bson.encode(doc)) / 2**20)
        del doc
        saved = timed(name, "save_run (check + insert + stamp)", lambda: save_run(models, rebalances, rec, 1))
        rid = saved.rebalance_id or ""
        last = f"{args.portfolios - 1:024x}"
        timed(name, "get_rebalance (whole run back)", lambda: rebalances.get_rebalance(rid))
        timed(name, "rebalance_positions (one portfolio)", lambda: rebalances.rebalance_positions(rid, last))
        timed(name, "list_rebalance_summaries (page of 10)", lambda: rebalances.list_rebalance_summaries())
        return rid

    sizes: list[float] = []
    saved_ids: dict[str, str] = {}
    for n in range(args.repeat):  # interleaved: baseline and current code see the same load
        for name, (_, paths) in variants.items():
            models, rebalances, model = setups[name]
            when = T0 + dt.timedelta(minutes=n)
            rec = record.model_copy(update={"rebalance_date": when, "model_id": model.model_id})
            with paths():
                saved_ids[name] = one_round(name, rec, models, rebalances)
    size = sizes[0]
    print(f"\n## Save one run of {args.portfolios} portfolios × {args.positions} positions ({size:.1f} MiB BSON)")
    print(f"build engine record (not storage): {build_ms:.1f} ms; median of {args.repeat} interleaved rounds, ms")
    names = list(variants)
    header = "".join(f"{name:>12}" for name in names) + ("     speed-up" if "baseline" in names else "")
    print(f"{'':40}{header}")
    for label in timings["now"]:
        medians = {name: statistics.median(timings[name][label]) for name in names}
        row = "".join(f"{medians[name]:12.1f}" for name in names)
        if "baseline" in names:
            row += f"  {medians['baseline'] / medians['now']:10.1f}×"
        print(f"{label:40}{row}")
    if "baseline" in names:  # both code paths must store the same thing
        same = (
            setups["now"][1].get_rebalance(saved_ids["now"]).portfolios
            == setups["baseline"][1].get_rebalance(saved_ids["baseline"]).portfolios
        )
        print(f"records saved by both paths read back equal: {same}")


def many_records(db: Any, args: argparse.Namespace) -> None:
    rebalances = RebalanceRepository(db)
    model_id = str(bson.ObjectId())
    block = max(args.records // 10, 1)
    checkpoints = sorted({c for c in (100, 250, 500, 1000, args.records) if c <= args.records})
    print(f"\n## Save {args.records} records one by one ({args.record_portfolios} portfolios × 10 positions each)")
    print("records in collection   mean insert ms")
    block_means: list[float] = []
    reads: list[tuple[int, dict[str, float]]] = []
    pending: list[float] = []
    for n in range(args.records):
        rec = make_record(model_id, n % 500, args.record_portfolios, 10, T0 + dt.timedelta(seconds=n))
        _, t = ms(lambda rec=rec: rebalances.save_rebalance(rec))
        pending.append(t)
        if (n + 1) % block == 0:
            block_means.append(statistics.mean(pending))
            print(f"{n + 1 - block + 1:>6}–{n + 1:<6}         {block_means[-1]:9.1f}")
            pending = []
        if n + 1 in checkpoints:
            reads.append((n + 1, listing_times(rebalances, n + 1, args.repeat)))
    if len(block_means) > 1:
        print(f"insert growth: last block / first block = {block_means[-1] / block_means[0]:.2f}×")
    print("\n## History listings (median ms)")
    names = list(reads[0][1])
    print("records " + "".join(f"{name:>22}" for name in names))
    for count, times in reads:
        print(f"{count:>7} " + "".join(f"{times[name]:>22.1f}" for name in names))
    if len(reads) > 1:
        first, last = reads[0], reads[-1]
        growth = ", ".join(f"{name} {last[1][name] / first[1][name]:.2f}×" for name in names)
        print(f"growth {first[0]} -> {last[0]} records: {growth}")


def listing_times(rebalances: RebalanceRepository, count: int, repeat: int) -> dict[str, float]:
    pid = f"{7:024x}"
    last = max(count - 10, 0)
    return {
        "count": ms(rebalances.count_rebalances, repeat)[1],
        "page 1 (10 full)": ms(lambda: rebalances.list_rebalances(), repeat)[1],
        "middle page": ms(lambda: rebalances.list_rebalances(offset=count // 2), repeat)[1],
        "last page": ms(lambda: rebalances.list_rebalances(offset=last), repeat)[1],
        "page of 100": ms(lambda: rebalances.list_rebalances(limit=100), repeat)[1],
        "summaries of 100": ms(lambda: rebalances.list_rebalance_summaries(limit=100), repeat)[1],
        "by portfolio (10)": ms(lambda: rebalances.find_rebalances_by_portfolios([pid]), repeat)[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=1000, help="portfolios in the big run")
    parser.add_argument("--positions", type=int, default=30, help="positions per portfolio in the big run")
    parser.add_argument("--records", type=int, default=1000, help="records saved for the listing part")
    parser.add_argument("--record-portfolios", type=int, default=5, help="portfolios per listed record")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uri", default=None, help="backend (default: a fresh embedded SQLite file)")
    parser.add_argument("--parts", default="big,many", help="which parts to run: big, many or both")
    parser.add_argument("--quick", action="store_true", help="200 portfolios, 200 records: a smoke run")
    parser.add_argument("--no-baseline", action="store_true", help="time only the current code in part big")
    args = parser.parse_args()
    if args.quick:
        args.portfolios, args.records = 200, 200
    parts = {"big": big_run, "many": many_records}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"backend: {describe_backend(args.uri or f'mongoeco:///{tmp}/<part>.sqlite3')}")
        for name in args.parts.split(","):
            # A fresh embedded file per part; on a server, a fresh database per part (dropped afterwards).
            uri = args.uri or f"mongoeco:///{tmp}/{name}.sqlite3"
            client = get_client(uri)
            db_name = f"bench-{name}-{bson.ObjectId()}"
            baseline = None
            if name == "big" and not args.no_baseline:  # the baseline on its own file / database
                with baseline_paths():
                    baseline = get_client(args.uri or f"mongoeco:///{tmp}/{name}-baseline.sqlite3")
            args.baseline_db = None if baseline is None else get_database(baseline, f"{db_name}-baseline")
            try:
                parts[name](get_database(client, db_name), args)
            finally:
                close(client, db_name if args.uri else None)
                if baseline is not None:
                    close(baseline, f"{db_name}-baseline" if args.uri else None)


def close(client: Any, drop: str | None) -> None:
    """Drop the bench database on a server and close the client; a clean-up failure is reported, not raised."""
    try:
        if drop:
            client.drop_database(drop)
        client.close()
    except Exception as exc:  # e.g. mongoeco's background heartbeat timing out on a lock during a long write
        print(f"(clean-up: {type(exc).__name__}: {exc})")


if __name__ == "__main__":
    main()
