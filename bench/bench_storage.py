"""Benchmark: saved rebalance runs on the embedded MongoDB backend, old layout next to the new one (issue #12).

Part ``big`` saves runs of several sizes (default 1,000 × 30, 1,000 × 100, 5,000 × 50 portfolios × positions)
through ``save_run`` (version check, write, ``lastRebalanceDate`` stamp), reads each back whole, opens one
portfolio, lists the history page the Saved rebalances view opens with, and deletes the run. Each round times

- **old**: the code before issue #12 (one document per run with its portfolios embedded plus a header in
  ``rebalanceSummaries``; ``LegacyRebalanceRepository`` below is that repository's code; mongoeco's own
  command-boundary functions, eager BID bytes), refusing runs above MongoDB's 16 MiB document limit as it did;
- **rows**: ``data.repositories`` as shipped writing the portfolio documents of the first per-portfolio layout (one
  sub-document per position, every number its own ``Decimal128``), 250 per insert;
- **cols**: ``data.repositories`` as shipped writing one document per portfolio with its positions as columns, 250
  per insert (the layout before the blocks; this checkout's codec and engine shortcuts apply to it too);
- **new**: ``data.repositories`` as shipped (a header plus blocks of portfolios with their positions as columns,
  commit flag, fast paths),

one after the other on fresh files, so both see the same machine load; the script checks that both read back
equal records. Part ``many`` saves small runs one by one with both layouts and times saving and the history
listings as the number of stored runs grows. Part ``workspace`` times a What-if workspace (issue #12 §2) holding a
1,000-portfolio scenario: save (snapshot encoded and stored, scenario inputs added) and load (read, decode, results
recomputed by the engine, as the page does after an F5), as the number of stored workspaces grows. Prints
milliseconds; nothing is asserted.

    .venv/bin/python bench/bench_storage.py [--sizes 1000x30,1000x100,5000x50] [--repeat 3] [--runs 500]
        [--run-portfolios 5] [--parts big,many,workspace] [--workspaces 200] [--variants old,rows,cols,new] [--quick]

Default backend: embedded mongoeco on a fresh SQLite file per variant in a temporary folder (the app's default).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
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
from bson import ObjectId

from data import documents, mongoeco_codec
from data.documents import record_from_doc, record_portfolio_from_doc, record_portfolio_to_doc, record_to_doc
from data.mongo import get_client, get_database
from data.record_columns import portfolio_part_id, portfolio_parts
from data.repositories import ModelRepository, RebalanceRepository, save_run
from data.repositories.rebalances import NEWEST_FIRST
from engine.construct import paused_gc
from engine.errors import InvalidInput, NotFound
from engine.models import Position, RebalanceRecord, RecordPortfolio, RecordPosition

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


class LegacyRebalanceRepository:
    """The saved-run storage before issue #12 (commit 206c9f0): one document per run, portfolios embedded.

    Same public methods as ``RebalanceRepository`` for what the benchmark times; the code of each is the old one.
    """

    def __init__(self, db: Any) -> None:
        self._col = db["rebalances"]
        self._heads = db["rebalanceSummaries"]
        self._heads.create_index([("rebalanceDate", -1), ("_id", -1)], name="newest_first")
        self._heads.create_index("portfolios.portfolioId", name="portfolio_id")

    def save_rebalance(self, record: RebalanceRecord) -> RebalanceRecord:
        with paused_gc():
            doc = {"_id": ObjectId(), **record_to_doc(record)}
            size = len(bson.encode(doc))
            if size > MAX_DOCUMENT_BYTES:
                raise InvalidInput(f"the run is too large to save as one record: {size / 2**20:.1f} MiB")
            self._col.insert_many([doc])
            head = {k: doc[k] for k in ("_id", "modelId", "modelName", "rebalanceDate", "numberOfPortfolios")}
            head |= {"portfolios": [{"portfolioId": p["portfolioId"]} for p in doc["portfolios"]], "version": 1}
            self._heads.insert_many([head])
            return record.model_copy(
                update={"rebalance_id": str(doc["_id"]), "rebalance_date": doc["rebalanceDate"], "version": 1}
            )

    def get_rebalance(self, rebalance_id: str) -> RebalanceRecord:
        with paused_gc():
            doc = self._col.find_one({"_id": ObjectId(rebalance_id)})
            if doc is None:
                raise NotFound(f"rebalance {rebalance_id} not found")
            return record_from_doc(doc)

    def rebalance_positions(self, rebalance_id: str, portfolio_id: str) -> list[RecordPosition]:
        with paused_gc():
            doc = self._col.find_one(
                {"_id": ObjectId(rebalance_id)}, {"portfolios": {"$elemMatch": {"portfolioId": portfolio_id}}}
            )
            found = [p for p in (doc or {}).get("portfolios") or () if p.get("portfolioId") == portfolio_id]
            return list(record_portfolio_from_doc(found[0]).positions)

    def count_rebalances(self, portfolio_ids: list[str] | None = None) -> int:
        query = {"portfolios.portfolioId": {"$in": portfolio_ids}} if portfolio_ids else {}
        return self._heads.count_documents(query)

    def list_rebalance_summaries(
        self, offset: int = 0, limit: int = 10, portfolio_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        query = {"portfolios.portfolioId": {"$in": portfolio_ids}} if portfolio_ids else {}
        return list(self._heads.find(query, sort=NEWEST_FIRST, skip=offset, limit=limit))

    def delete_rebalance(self, rebalance_id: str, version: int) -> None:
        oid = ObjectId(rebalance_id)
        if self._heads.delete_one({"_id": oid, "version": version}).deleted_count:
            self._col.delete_one({"_id": oid})

    def wait_for_purges(self, timeout: float | None = None) -> bool:
        return True  # the old delete removed everything before returning


@contextlib.contextmanager
def old_paths() -> Iterator[None]:
    """The code paths before issue #12: mongoeco's own boundary functions, BID bytes computed at once."""
    lazy = documents._fast_d128

    def eager(d: Decimal) -> documents.StoredDecimal128 | None:
        out = lazy(d)
        if out is not None:
            out._pack()
        return out

    with mongoeco_codec.stock_paths(), mock.patch("data.documents._fast_d128", eager):
        yield


def _rows_part(rebalance_id: Any, index: int, p: RecordPortfolio) -> dict[str, Any]:
    """A portfolio document with one sub-document per position (the first per-portfolio layout of issue #12)."""
    doc = {"_id": portfolio_part_id(rebalance_id, p.portfolio_id), "rebalanceId": rebalance_id, "index": index}
    return documents.WriteOnceDocument(doc | record_portfolio_to_doc(p))


def _per_portfolio(build: Callable[[Any, Any], list[dict[str, Any]]]) -> Callable[[Any, Any], Any]:
    """A layout of one document per portfolio, written 250 per insert as before the blocks."""
    return lambda rid, portfolios: (
        {"layout": "columns"},
        [list(b) for b in itertools.batched(build(rid, portfolios), 250, strict=False)],
    )


@contextlib.contextmanager
def rows_paths() -> Iterator[None]:
    """Today's repository writing the per-position portfolio documents it wrote before the columns (reads take
    either form)."""
    rows = _per_portfolio(lambda rid, portfolios: [_rows_part(rid, i, p) for i, p in enumerate(portfolios)])
    with (
        mock.patch("data.repositories.rebalances._layout", rows),
        mock.patch("data.repositories.rebalances._check_sizes", lambda parts: None),
    ):
        yield


@contextlib.contextmanager
def cols_paths() -> Iterator[None]:
    """Today's repository writing one document per portfolio with its positions as columns (before the blocks)."""
    with (
        mock.patch("data.repositories.rebalances._layout", _per_portfolio(portfolio_parts)),
        mock.patch("data.repositories.rebalances._check_sizes", lambda parts: None),
    ):
        yield


VARIANTS: dict[str, tuple[type, Callable[[], contextlib.AbstractContextManager[None]]]] = {
    "old": (LegacyRebalanceRepository, old_paths),
    "rows": (RebalanceRepository, rows_paths),
    "cols": (RebalanceRepository, cols_paths),
    "new": (RebalanceRepository, contextlib.nullcontext),
}


CPU: dict[str, list[float]] = {}  # label -> process CPU milliseconds of the last timed call (see ms)


def ms(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Result and wall time in milliseconds; the process CPU time (all threads) goes to ``CPU["last"]``.

    On a shared machine the CPU time is the steadier figure: it leaves out the time other jobs hold the cores.
    """
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    CPU["last"] = [(time.process_time() - cpu) * 1000]
    return out, (time.perf_counter() - started) * 1000


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


def fresh_db(tmp: str, name: str) -> tuple[Any, Any]:
    client = get_client(f"mongoeco:///{tmp}/{name}.sqlite3")
    return client, get_database(client)


def big_runs(tmp: str, args: argparse.Namespace) -> None:
    """Save, read, open one portfolio of, list and delete runs of each size with both layouts."""
    for size in args.sizes.split(","):
        portfolios, positions = (int(x) for x in size.lower().split("x"))
        repeat = args.repeat if portfolios * positions <= 30_000 else 1
        ids = [f"{i:024x}" for i in range(portfolios)]
        record = make_record(str(ObjectId()), 0, portfolios, positions, T0)
        mib = len(bson.encode({"_id": ObjectId(), **record_to_doc(record)})) / 2**20
        timings: dict[str, dict[str, list[float]]] = {name: {} for name in VARIANTS}
        notes: dict[str, str] = {}
        back: dict[str, RebalanceRecord] = {}
        setups = {}
        for name, (repo_class, paths) in VARIANTS.items():
            client, db = fresh_db(tmp, f"big-{size}-{name}")  # outside paths(): a new client installs fast paths
            with paths():
                models = ModelRepository(db)
                sec = [Position(security_id=f"5{k:023x}", target=Decimal("0.03"), high_drift=Decimal("0.01"),
                                low_drift=Decimal("0.01")) for k in range(min(positions, 31))]  # fmt: skip
                model = models.create_model("Bench Model", sec, ids)
                setups[name] = (client, models, repo_class(db), model)
        for n in range(repeat):  # interleaved: both layouts see the same load
            for name, (_, paths) in VARIANTS.items():
                client, models, repo, model = setups[name]
                rec = record.model_copy(update={"model_id": model.model_id, "rebalance_date": T0 + dt.timedelta(n)})
                with paths():
                    one_round(name, rec, models, repo, ids, timings[name], notes, back)
        print(f"\n## One run of {portfolios:,} portfolios × {positions} positions ({mib:.1f} MiB as one document)")
        print(f"median of {repeat} interleaved round(s), ms: wall clock, then process CPU time (all threads)")
        print_table(timings, notes)
        if len(back) > 1:
            same = all(r.portfolios == back["new"].portfolios for r in back.values())
            print(f"{', '.join(back)} read back equal records: {same}")
        for client, *_ in setups.values():
            close(client)


def print_table(timings: dict[str, dict[str, list[float]]], notes: dict[str, str]) -> None:
    """One line per operation: wall time of each variant, how many times faster ``new`` is, then CPU times."""

    def cell(name: str, key: str) -> str:
        values = timings[name].get(key)
        return notes.get(name, "") if not values else f"{statistics.median(values):.1f}"

    names = list(timings)
    others = [n for n in names if n != "new"]
    head = "".join(f"{n + ' wall':>12}" for n in names) + "".join(f"{n + '/new':>10}" for n in others)
    print(f"{'':40}{head}" + "".join(f"{n + ' cpu':>11}" for n in names))
    for label in [k for k in timings["new"] if not k.endswith("[cpu]")]:
        new = statistics.median(timings["new"][label])
        ratios = []
        for name in others:
            values = timings[name].get(label)
            ratios.append("" if not values or not new else f"{statistics.median(values) / new:.1f}×")
        line = "".join(f"{cell(n, label):>12}" for n in names) + "".join(f"{r:>10}" for r in ratios)
        print(f"{label:40}{line}" + "".join(f"{cell(n, label + ' [cpu]'):>11}" for n in names))


def one_round(
    name: str,
    rec: RebalanceRecord,
    models: ModelRepository,
    repo: Any,
    ids: list[str],
    times: dict[str, list[float]],
    notes: dict[str, str],
    back: dict[str, RebalanceRecord],
) -> None:
    def timed(label: str, fn: Callable[[], Any]) -> Any:
        out, t = ms(fn)
        times.setdefault(label, []).append(t)
        times.setdefault(f"{label} [cpu]", []).append(CPU["last"][0])
        return out

    try:
        saved = timed("save_run (check + write + stamp)", lambda: save_run(models, repo, rec, 1))
    except InvalidInput as exc:
        notes[name] = "refused"
        print(f"({name}: {exc.message})")
        return
    rid = saved.rebalance_id or ""
    back[name] = timed("get_rebalance (whole run back)", lambda: repo.get_rebalance(rid))
    timed("rebalance_positions (one portfolio)", lambda: repo.rebalance_positions(rid, ids[-1]))
    timed("history page (count + 10 headers)", lambda: (repo.count_rebalances(), repo.list_rebalance_summaries()))
    timed("history for 1,000 portfolio ids", lambda: repo.count_rebalances(ids[:1000]))
    if hasattr(repo, "runs_holding"):  # the Save/Submit dialog's look-up (issue #12 §4-5); not in the old code
        timed("runs of the day holding 1,000 ids", lambda: repo.runs_holding(ids[:1000], rec.rebalance_date.date()))
    timed("delete_rebalance (returns)", lambda: repo.delete_rebalance(rid, 1))
    timed("delete: until every document is gone", lambda: repo.wait_for_purges())


def many_runs(tmp: str, args: argparse.Namespace) -> None:
    """Save small runs one by one with both layouts; time saving and the history listings as they accumulate."""
    checkpoints = sorted({c for c in (50, 100, 250, 500, 1000, args.runs) if c <= args.runs})
    block = max(args.runs // 5, 1)
    print(f"\n## {args.runs} runs of {args.run_portfolios} portfolios × 10 positions saved one by one (ms)")
    rows: list[tuple[int, str, dict[str, float]]] = []
    save_means: dict[str, list[float]] = {name: [] for name in VARIANTS}
    setups = {}
    for name, (repo_class, paths) in VARIANTS.items():
        client, db = fresh_db(tmp, f"many-{name}")
        with paths():
            setups[name] = (client, repo_class(db))
    model_id = str(ObjectId())
    pending: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for n in range(args.runs):
        rec = make_record(model_id, (n * args.run_portfolios) % 2000, args.run_portfolios, 10, T0 + dt.timedelta(n))
        for name, (_, paths) in VARIANTS.items():
            _, repo = setups[name]
            with paths():
                _, t = ms(lambda repo=repo, rec=rec: repo.save_rebalance(rec))
            pending[name].append(t)
            if (n + 1) % block == 0:
                save_means[name].append(statistics.mean(pending[name]))
                pending[name] = []
            if n + 1 in checkpoints:
                with paths():
                    rows.append((n + 1, name, listing_times(repo, n + 1)))
    print("mean save per block of " + f"{block} runs: " + "; ".join(
        f"{name} " + ", ".join(f"{m:.0f}" for m in means) for name, means in save_means.items()
    ))  # fmt: skip
    labels = list(rows[0][2])
    print(f"{'runs':>6} {'layout':>6}" + "".join(f"{label:>24}" for label in labels))
    for count, name, times in rows:
        print(f"{count:>6} {name:>6}" + "".join(f"{times[label]:>24.1f}" for label in labels))
    for client, _ in setups.values():
        close(client)


def listing_times(repo: Any, count: int) -> dict[str, float]:
    pid = f"{7:024x}"
    last = max(count - 10, 0)
    head = repo.list_rebalance_summaries(limit=1)[0]
    rid = head.rebalance_id if hasattr(head, "rebalance_id") else str(head["_id"])
    return {
        "count": ms(repo.count_rebalances)[1],
        "first page of headers": ms(lambda: repo.list_rebalance_summaries())[1],
        "last page of headers": ms(lambda: repo.list_rebalance_summaries(offset=last))[1],
        "headers by portfolio": ms(lambda: repo.list_rebalance_summaries(portfolio_ids=[pid]))[1],
        "newest run, whole": ms(lambda: repo.get_rebalance(rid))[1],
    }


def workspace_round(repo: Any, snapshot: Any, meta: dict[str, Any], workers: int | None) -> dict[str, float]:
    """Save then load one 1,000-portfolio scenario in a new workspace, as the What-if page does."""
    from components.rebalance import workspace as ws_ui
    from data.snapshot_codec import decode_snapshot, encode_snapshot

    info = repo.create("bench", owner="bench")

    def save() -> None:
        blob = encode_snapshot(snapshot)
        repo.put_snapshot(info.workspace_id, "snap", blob)
        repo.add_scenario(info.workspace_id, "scenario", "Scenario 1", meta, "snap")

    def read() -> Any:
        (item,) = repo.scenarios(info.workspace_id)
        return item, decode_snapshot(repo.snapshot(info.workspace_id, item.snapshot_id))

    _, t_save = ms(save)
    (item, snap), t_read = ms(read)
    scenario, t_solve = ms(lambda: ws_ui.rebuild(item, snap, workers))
    assert len(scenario.results) == len(snapshot.portfolios)
    return {"save": t_save, "read + decode": t_read, "recompute": t_solve, "load total": t_read + t_solve}


def workspaces(tmp: str, args: argparse.Namespace) -> None:
    """A 1,000-portfolio scenario saved to and loaded from a workspace, as stored workspaces accumulate."""
    from data.repositories.workspaces import WorkspaceRepository
    from data.snapshot import MarketSnapshot
    from data.snapshot_codec import encode_snapshot
    from engine.models import RebalanceOptions

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from generator import realistic

    batch = realistic(7, n=30, k=1000)
    snapshot = MarketSnapshot(batch.model, T0, tuple(p.portfolio_id for p in batch.portfolios), batch.portfolios,
                              batch.prices, {}, {}, 0)  # fmt: skip
    meta = {
        "modelId": batch.model.model_id or "bench",
        "portfolioIds": list(snapshot.portfolio_ids),
        "allPortfolios": True,
        "options": RebalanceOptions(trade_date=T0.date()).model_dump(mode="json"),
        "overridden": False,
        "model": batch.model.model_dump(mode="json"),
        "runModel": None,
        "names": {},
    }
    blob = encode_snapshot(snapshot)
    print(f"\n## What-if workspace: one scenario of 1,000 portfolios x 30 positions (ms; snapshot blob "
          f"{len(blob) / 1024:.0f} KiB compressed)")  # fmt: skip
    client, db = fresh_db(tmp, "workspaces")
    repo = WorkspaceRepository(db)
    stored = 0
    print(f"{'stored workspaces':>18}" + "".join(f"{k:>16}" for k in ("save", "read + decode", "recompute",
                                                                        "load total")))  # fmt: skip
    for target in sorted({0, 10, 50, args.workspaces}):
        small = MarketSnapshot(batch.model, T0, snapshot.portfolio_ids[:5], batch.portfolios[:5], batch.prices, {},
                               {}, 0)  # fmt: skip
        small_blob = encode_snapshot(small)
        while stored < target:
            info = repo.create(f"filler {stored}", owner="bench")
            repo.put_snapshot(info.workspace_id, "s", small_blob)
            repo.add_scenario(info.workspace_id, "x", "Scenario 1", {**meta, "portfolioIds": meta["portfolioIds"][:5]},
                              "s")  # fmt: skip
            stored += 1
        times = workspace_round(repo, snapshot, meta, None)
        stored += 1
        print(f"{stored - 1:>18}" + "".join(f"{times[k]:>16.0f}" for k in times))
    close(client)


def close(client: Any) -> None:
    """Close a client; a clean-up failure is reported, not raised."""
    try:
        client.close()
    except Exception as exc:  # e.g. mongoeco's background heartbeat timing out on a lock during a long write
        print(f"(clean-up: {type(exc).__name__}: {exc})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000x30,1000x100,5000x50", help="portfolios x positions, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds for runs up to 30,000 positions (else 1)")
    parser.add_argument("--runs", type=int, default=500, help="small runs saved for the growth part")
    parser.add_argument("--run-portfolios", type=int, default=5, help="portfolios per small run")
    parser.add_argument("--parts", default="big,many,workspace", help="which parts to run: big, many, workspace")
    parser.add_argument("--workspaces", type=int, default=200, help="stored workspaces for the workspace part")
    parser.add_argument("--quick", action="store_true", help="200 x 30 and 100 runs: a smoke run")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="which variants to time (new always)")
    args = parser.parse_args()
    for name in [n for n in VARIANTS if n != "new" and n not in args.variants.split(",")]:
        del VARIANTS[name]
    if args.quick:
        args.sizes, args.runs, args.repeat, args.workspaces = "200x30", 100, 1, 20
    parts = {"big": big_runs, "many": many_runs, "workspace": workspaces}
    with tempfile.TemporaryDirectory() as tmp:
        print("backend: embedded mongoeco, a fresh SQLite file per layout and part")
        for name in args.parts.split(","):
            parts[name](tmp, args)


if __name__ == "__main__":
    main()
