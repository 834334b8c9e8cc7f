"""``engine batch``: identical to ``rebalance_portfolios`` on the same input (demo data, random instances with
binding cash floors, infeasible, error and out-of-int64 portfolios), CSV = Parquet, bad input named, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.batch.io import BatchInputError
from engine.batch.run import BatchInputs, run_local
from engine.models import Holding, InvestmentModel, PortfolioHoldings, Position, RebalanceOptions
from engine.options import OptionError, parse_options
from tests.unit.engine.batch_support import actual, expected, write_inputs
from tests.unit.engine.support import pid, sid

D = Decimal
DAY = dt.date(2026, 1, 2)
ROOT = Path(__file__).resolve().parents[3]


def check_identical(
    tmp: Path,
    models: list[InvestmentModel],
    prices: dict[str, Decimal],
    portfolios: list[PortfolioHoldings],
    options: RebalanceOptions,
    chunk_size: int = 7,
    csv: bool = False,
) -> tuple[list[tuple], list[tuple]]:
    inputs = write_inputs(tmp / "in", models, prices, portfolios, csv=csv)
    run_local(inputs, tmp / "out", options, chunk_size=chunk_size, workers=1)
    want = expected(models, prices, {p.portfolio_id: p for p in portfolios}, options)
    got = actual(tmp / "out")
    assert got[0] == want[0]
    assert got[1] == want[1]
    return got


# ------------------------------------------------------------------------------------------- instances


def random_instance(
    seed: int,
) -> tuple[list[InvestmentModel], dict[str, Decimal], list[PortfolioHoldings], RebalanceOptions]:
    """Two or three models with awkward portfolios: fractional, short, extra, unpriced, duplicated, huge."""
    rng = random.Random(seed)
    n_sec = rng.randint(3, 9)
    secs = [sid(0x100 + i) for i in range(n_sec)]
    price_places = rng.choice([0, 2, 4])
    prices = {s: D(rng.randint(1, 500_000)).scaleb(-price_places) for s in secs}
    unpriced = sid(0xDEAD)
    models, portfolios = [], []
    counter = 0
    for m in range(rng.randint(1, 3)):
        chosen = rng.sample(secs, rng.randint(1, min(5, n_sec)))
        weights = [rng.randint(1, 30) for _ in chosen]
        scale = sum(weights) / rng.uniform(0.6, 1.0)
        positions = []
        for s, w in zip(chosen, weights, strict=True):
            t = D(int(w / scale * 1000)).scaleb(-3) or D("0.001")
            lo = min(t, D(rng.choice([0, 5, 10, 20, 50])).scaleb(-3))
            positions.append(
                Position(security_id=s, target=t, low_drift=lo, high_drift=D(rng.choice([0, 10, 30])).scaleb(-3))
            )
        if rng.random() < 0.4:  # a band narrower than one share for smaller portfolios: infeasible there
            p0 = positions[0]
            positions[0] = p0.model_copy(update={"low_drift": min(p0.target, D("0.001")), "high_drift": D("0.001")})
        ids = []
        for _ in range(rng.randint(3, 25)):
            counter += 1
            p = pid(counter + 1000 * seed % 7919)
            ids.append(p)
            kind = rng.random()
            cash = D(rng.randint(-50_000, 5_000_000)).scaleb(-rng.choice([0, 2, 3, 5]))
            holdings: list[Holding] = []
            for s in rng.sample(secs, rng.randint(0, n_sec)):
                q = D(rng.randint(-20, 3000))
                if rng.random() < 0.15:
                    q = D(rng.randint(1, 300_000)).scaleb(-3)  # fractional
                holdings.append(Holding(security_id=s, quantity=q))
            if kind < 0.05:
                holdings.append(Holding(security_id=unpriced, quantity=D(3)))  # no price: error
            elif kind < 0.10 and holdings:
                holdings.append(holdings[0])  # duplicated holding: error
            elif kind < 0.14:
                holdings = [Holding(security_id=secs[0], quantity=D(10) ** 19)]  # beyond int64: Decimal path
            elif kind < 0.17:
                cash, holdings = D(0), []  # MV = 0
            elif kind < 0.20:
                cash = D(-(10**6))
            portfolios.append(PortfolioHoldings(portfolio_id=p, cash=cash, holdings=tuple(holdings)))
        if rng.random() < 0.1:  # a rule the model breaks (targets above 0.95): every portfolio gets the error
            positions.append(Position(security_id=secs[-1], target=D("0.9"), low_drift=D(0), high_drift=D(0)))
        models.append(InvestmentModel(name=f"model {m}", positions=tuple(positions), portfolios=tuple(ids)))
    options = RebalanceOptions(
        trade_date=DAY,
        min_cash=D(rng.choice([0, 0, 1000, 25_000])),
        min_cash_fraction=D(rng.choice([0, 0, 2, 5, 10])).scaleb(-2),
        time_limit=10,
    )
    return models, prices, portfolios, options


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31))
def test_random_instances_are_identical_to_rebalance_portfolios(seed: int, tmp_path_factory) -> None:
    models, prices, portfolios, options = random_instance(seed)
    check_identical(tmp_path_factory.mktemp("b"), models, prices, portfolios, options, chunk_size=4)


def test_random_instances_cover_every_status(tmp_path: Path) -> None:
    seen: dict[str, int] = {}
    codes: set[str] = set()
    for seed in range(12):
        models, prices, portfolios, options = random_instance(seed)
        summary, _ = check_identical(tmp_path / str(seed), models, prices, portfolios, options)
        for row in summary:
            seen[row[1]] = seen.get(row[1], 0) + 1
            codes.add(row[9])
    assert {"optimal", "infeasible", "error"} <= set(seen)
    assert {"EXTERNAL_DATA_ERROR", "NON_POSITIVE_MARKET_VALUE", "REBALANCE_INFEASIBLE"} <= codes


def test_binding_cash_floor_goes_through_the_milp_and_matches(tmp_path: Path) -> None:
    a, b, c = sid(1), sid(2), sid(3)
    prices = {a: D("600"), b: D("600"), c: D("33.33")}
    model = InvestmentModel(
        name="tight",
        positions=(
            Position(security_id=a, target=D("0.45"), low_drift=D("0.45"), high_drift=D("0.5")),
            Position(security_id=b, target=D("0.45"), low_drift=D("0.45"), high_drift=D("0.5")),
        ),
        portfolios=(pid(1), pid(2), pid(3)),
    )
    portfolios = [
        PortfolioHoldings(portfolio_id=pid(1), cash=D("1000")),
        PortfolioHoldings(portfolio_id=pid(2), cash=D("2500.5"), holdings=(Holding(security_id=c, quantity=D(4)),)),
        PortfolioHoldings(portfolio_id=pid(3), cash=D("100")),
    ]
    summary, orders = check_identical(tmp_path, [model], prices, portfolios, RebalanceOptions(trade_date=DAY))
    assert summary[0][1] == "optimal" and summary[0][4] == D("400.000")  # rounding alone would overspend
    assert [o for o in orders if o[0] == pid(2) and o[1] == c] == [(pid(2), c, "SELL", D(4), D("33.33"), D("133.32"))]


def test_demo_data_is_identical(tmp_path: Path) -> None:
    from data.demo import load_demo

    demo = load_demo()
    models = list(demo.models)
    portfolios = [demo.holdings(p) for m in models for p in m.portfolios]
    check_identical(tmp_path, models, demo.prices, portfolios, RebalanceOptions(trade_date=DAY), chunk_size=300)


@pytest.mark.slow
def test_demo_with_a_binding_seven_percent_floor_is_identical(tmp_path: Path) -> None:
    from data.demo import load_demo

    demo = load_demo()
    model = next(m for m in demo.models if m.name == "Global Equity Core")
    model = model.model_copy(update={"portfolios": model.portfolios[::40]})
    portfolios = [demo.holdings(p) for p in model.portfolios]
    options = RebalanceOptions(trade_date=DAY, min_cash_fraction=D("0.07"))
    summary, _ = check_identical(tmp_path, [model], demo.prices, portfolios, options, chunk_size=10)
    assert sum(1 for s in summary if s[1] == "optimal") >= 20


def test_csv_input_gives_the_same_answers_as_parquet(tmp_path: Path) -> None:
    models, prices, portfolios, options = random_instance(3)
    got_parquet = check_identical(tmp_path / "pq", models, prices, portfolios, options)
    got_csv = check_identical(tmp_path / "csv", models, prices, portfolios, options, csv=True)
    assert got_csv == got_parquet


def test_output_columns_are_exact_decimal128(tmp_path: Path) -> None:
    models, prices, portfolios, options = random_instance(5)
    check_identical(tmp_path, models, prices, portfolios, options)
    orders = pq.read_table(tmp_path / "out" / "orders")
    summary = pq.read_table(tmp_path / "out" / "summary")
    assert orders.column_names == [
        "portfolioId", "securityId", "side", "quantity", "price", "estimatedValue", "tradeDate", "reason"
    ]  # fmt: skip
    for name in ("quantity", "price", "estimatedValue"):
        assert pa.types.is_decimal128(orders.schema.field(name).type)
    for name in ("marketValue", "cashBefore", "cashAfter", "driftBefore", "driftAfter"):
        assert pa.types.is_decimal128(summary.schema.field(name).type)
    assert set(orders.column("tradeDate").to_pylist()) <= {DAY}
    assert set(orders.column("reason").to_pylist()) <= {"rebalance", "not in model"}


def test_duplicate_cash_row_fails_only_that_portfolio(tmp_path: Path) -> None:
    a = sid(1)
    model = InvestmentModel(
        name="m",
        positions=(Position(security_id=a, target=D("0.5"), low_drift=D("0.1"), high_drift=D("0.1")),),
        portfolios=(pid(1), pid(2)),
    )
    portfolios = [
        PortfolioHoldings(portfolio_id=pid(1), cash=D(1000)),
        PortfolioHoldings(portfolio_id=pid(2), cash=D(10)),
    ]
    inputs = write_inputs(tmp_path / "in", [model], {a: D(10)}, portfolios)
    cash = pq.read_table(inputs.cash)
    pq.write_table(pa.concat_tables([cash, cash.slice(1, 1)]), inputs.cash)
    run_local(inputs, tmp_path / "out", RebalanceOptions(trade_date=DAY), workers=1)
    summary, orders = actual(tmp_path / "out")
    assert summary[0][1] == "optimal" and summary[1][1] == "error" and summary[1][9] == "EXTERNAL_DATA_ERROR"
    assert "more than one cash row" in summary[1][8]
    assert {o[0] for o in orders} == {pid(1)}


# ------------------------------------------------------------------------------------------- bad input


def _simple(tmp: Path) -> BatchInputs:
    a = sid(1)
    model = InvestmentModel(
        name="m",
        positions=(Position(security_id=a, target=D("0.5"), low_drift=D("0.1"), high_drift=D("0.1")),),
        portfolios=(pid(1),),
    )
    return write_inputs(
        tmp,
        [model],
        {a: D(10)},
        [PortfolioHoldings(portfolio_id=pid(1), holdings=(Holding(security_id=a, quantity=D(3)),))],
    )


def test_float_quantities_are_refused_naming_the_column(tmp_path: Path) -> None:
    inputs = _simple(tmp_path / "in")
    pq.write_table(pa.table({"portfolioId": [pid(1)], "securityId": [sid(1)], "quantity": [1.5]}), inputs.holdings)
    with pytest.raises(BatchInputError, match="quantity: type double is not exact"):
        run_local(inputs, tmp_path / "out", RebalanceOptions())


def test_bad_decimal_text_names_row_field_and_value(tmp_path: Path) -> None:
    inputs = _simple(tmp_path / "in")
    Path(inputs.holdings).unlink()
    path = tmp_path / "in" / "holdings.csv"
    path.write_text(f"portfolioId,securityId,quantity\n{pid(1)},{sid(1)},3\n{pid(1)},{sid(2)},1e5x\n")
    inputs = BatchInputs(str(path), inputs.cash, inputs.prices, inputs.models)
    with pytest.raises(BatchInputError, match=r"holdings.csv row 2 quantity: '1e5x' is not a plain decimal"):
        run_local(inputs, tmp_path / "out", RebalanceOptions())


def test_empty_portfolio_id_names_the_row(tmp_path: Path) -> None:
    inputs = _simple(tmp_path / "in")
    pq.write_table(
        pa.table(
            {"portfolioId": [pid(1), None], "securityId": [sid(1), sid(1)], "quantity": pa.array([1, 2], pa.int64())}
        ),
        inputs.holdings,
    )
    with pytest.raises(BatchInputError, match="row 2 portfolioId: is empty"):
        run_local(inputs, tmp_path / "out", RebalanceOptions())


def test_a_portfolio_in_two_models_is_refused(tmp_path: Path) -> None:
    inputs = _simple(tmp_path / "in")
    data = json.loads(Path(inputs.models).read_text())
    Path(inputs.models).write_text(json.dumps([data[0], {**data[0], "name": "other"}]))
    with pytest.raises(BatchInputError, match="is already in model m"):
        run_local(inputs, tmp_path / "out", RebalanceOptions())


def test_options_parser_reads_every_run_option_and_refuses_unknown_names() -> None:
    opts = parse_options(
        {
            "minCash": "100",
            "minCashPct": D("0.02"),
            "timeLimit": 5,
            "tieBreak": "random",
            "seed": 7,
            "tradeDate": "2026-12-07",
        }
    )
    assert opts == RebalanceOptions(
        min_cash=D(100),
        min_cash_fraction=D("0.02"),
        time_limit=5.0,
        tie_break="random",
        seed=7,
        trade_date=dt.date(2026, 12, 7),
    )
    allowed = r"options.minCsh: unknown option \(allowed: direction, minCash, minCashPct"
    with pytest.raises(OptionError, match=allowed):
        parse_options({"minCsh": "1"})
    with pytest.raises(OptionError, match=r"options\.minCash: must be a decimal \(a JSON string or number\), got null"):
        parse_options({"minCash": None})
    assert parse_options({"minCash": "-1"}).min_cash == -1  # the engine's business rule: an error per portfolio
    with pytest.raises(OptionError, match=r"options\.tieBreak"):
        parse_options({"tieBreak": "upper"})


# ------------------------------------------------------------------------------------------- the command


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "batch", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_runs_the_batch_and_prints_only_a_json_report(tmp_path: Path) -> None:
    models, prices, portfolios, _ = random_instance(11)
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios)
    options = json.dumps({"minCash": "1000", "tradeDate": "2026-01-02"})
    done = _cli(
        "--holdings", inputs.holdings, "--cash", inputs.cash, "--prices", inputs.prices, "--models", inputs.models,
        "--output", str(tmp_path / "out"), "--options", options, "--chunk-size", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["portfolios"] == len(portfolios) and sum(report["status"].values()) == len(portfolios)
    want = expected(
        models, prices, {p.portfolio_id: p for p in portfolios}, RebalanceOptions(min_cash=D(1000), trade_date=DAY)
    )
    assert actual(tmp_path / "out") == want


def test_cli_bad_option_and_bad_file_exit_2_with_the_reason(tmp_path: Path) -> None:
    inputs = _simple(tmp_path / "in")
    common = [
        "--holdings",
        inputs.holdings,
        "--cash",
        inputs.cash,
        "--prices",
        inputs.prices,
        "--models",
        inputs.models,
    ]
    done = _cli(*common, "--output", str(tmp_path / "o"), "--options", '{"minCashPercent": "0.1"}')
    assert done.returncode == 2 and done.stdout == ""
    assert "options.minCashPercent: unknown option" in done.stderr
    done = _cli(*common[:-2], "--models", str(tmp_path / "missing.json"), "--output", str(tmp_path / "o"))
    assert done.returncode == 2 and "missing.json: cannot read" in done.stderr


@pytest.mark.parametrize("wide_column", [False, True])
def test_values_beyond_int64_take_the_decimal_path_and_match(tmp_path: Path, wide_column: bool) -> None:
    a, b = sid(1), sid(2)
    model = InvestmentModel(
        name="wide",
        positions=(
            Position(security_id=a, target=D("0.4"), low_drift=D("0.1"), high_drift=D("0.1")),
            Position(security_id=b, target=D("0.3"), low_drift=D("0.1"), high_drift=D("0.1")),
        ),
        portfolios=(pid(1), pid(2), pid(3), pid(4), pid(5)),
    )
    portfolios = [
        # 21 decimal places: outside the supported range (INVALID_INPUT), and the quantity column's scale puts
        # every quantity of the run beyond int64, so the whole run takes the Decimal path
        PortfolioHoldings(
            portfolio_id=pid(1), cash=D(5000), holdings=(Holding(security_id=a, quantity=D("1.000000000000000000001")),)
        ),
        PortfolioHoldings(
            portfolio_id=pid(2), cash=D("123456789012345.67891"), holdings=()
        ),  # in range, but beyond int64 at scale 5
        PortfolioHoldings(portfolio_id=pid(3), cash=D(10) ** 20, holdings=()),  # out of range: INVALID_INPUT
        PortfolioHoldings(portfolio_id=pid(4), cash=D(7000), holdings=(Holding(security_id=b, quantity=D(12)),)),
        PortfolioHoldings(  # in range (8 places, below 1e12), beyond int64 at the quantity scale 8
            portfolio_id=pid(5),
            cash=D(1000),
            holdings=(Holding(security_id=b, quantity=D("100000000000.00000001")),),
        ),
    ]
    if not wide_column:  # the other portfolios stay on the integer path, those beyond int64 leave it alone
        portfolios[0] = PortfolioHoldings(
            portfolio_id=pid(1), cash=D(5000), holdings=(Holding(security_id=a, quantity=D("1.5")),)
        )
    summary, _ = check_identical(
        tmp_path, [model], {a: D("10.5"), b: D(20)}, portfolios, RebalanceOptions(trade_date=DAY)
    )
    first = "error" if wide_column else "optimal"
    assert [s[1] for s in summary] == [first, "optimal", "error", "optimal", "optimal"]
    # the batch names the value as the engine does (not the column's padded 100000000000000000000.00000)
    assert summary[2][9] == "INVALID_INPUT" and "(100000000000000000000) is outside" in summary[2][8]
    assert summary[2][3] is None  # an out-of-range cash is not printed as cash before, as in the engine


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_parts(tmp_path: Path) -> None:
    from distributed import LocalCluster

    from engine.batch.cluster import run_dask

    models, prices, portfolios, options = random_instance(21)
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios)
    run_local(inputs, tmp_path / "local", options, chunk_size=4, workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report = run_dask(inputs, tmp_path / "dask", options, cluster.scheduler_address, chunk_size=4)
    assert report.portfolios == len(portfolios)
    for name in ("orders", "summary"):
        local = pq.read_table(tmp_path / "local" / name)
        dask = pq.read_table(tmp_path / "dask" / name)
        assert dask.equals(local), name
    assert not (tmp_path / "dask" / "_shuffle").exists()


def test_the_solve_cli_reads_options_with_the_same_parser() -> None:
    from engine.cli import MalformedInput, parse_batch

    line = {
        "model": {"positions": []},
        "prices": {},
        "portfolios": [],
        "options": {"tieBreak": "random", "seed": 3, "timeLimit": 2, "tradeDate": "2026-01-02"},
    }
    options = parse_batch(line).options
    assert (options.tie_break, options.seed, options.time_limit, options.trade_date) == ("random", 3, 2.0, DAY)
    with pytest.raises(MalformedInput, match=r"options\.minCashPercent: unknown option"):
        parse_batch({**line, "options": {"minCashPercent": "0.1"}})


def test_a_batch_without_binding_floors_never_imports_cvxpy_or_highspy(tmp_path: Path) -> None:
    models, prices, portfolios, _ = random_instance(4)
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios)
    script = (
        "import sys\n"
        "from engine.batch.run import BatchInputs, run_local\n"
        "from engine.models import RebalanceOptions\n"
        f"run_local(BatchInputs(*{list(inputs.__dict__.values())!r}), {str(tmp_path / 'out')!r}, RebalanceOptions())\n"
        "print(sorted(m for m in ('cvxpy', 'highspy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_second_run_into_the_same_output_leaves_no_stale_parts(tmp_path: Path) -> None:
    models, prices, portfolios, options = random_instance(8)
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios)
    run_local(inputs, tmp_path / "out", options, chunk_size=2, workers=1)
    run_local(inputs, tmp_path / "out", options, chunk_size=1000, workers=1)
    want = expected(models, prices, {p.portfolio_id: p for p in portfolios}, options)
    assert actual(tmp_path / "out") == want


def test_progress_goes_to_a_terminal_stderr_and_never_to_stdout(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import termios

    models, prices, portfolios, _ = random_instance(2)
    inputs = write_inputs(tmp_path / "in", models, prices, portfolios)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    try:
        done = subprocess.run(
            [sys.executable, "-m", "engine", "batch", "--holdings", inputs.holdings, "--cash", inputs.cash,
             "--prices", inputs.prices, "--models", inputs.models, "--output", str(tmp_path / "out")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120,
        )  # fmt: skip
        os.close(slave)
        shown = b""
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed
                break
            if not data:
                break
            shown += data
    finally:
        os.close(master)
    assert done.returncode == 0
    assert json.loads(done.stdout)["portfolios"] == len(portfolios)  # stdout: the one JSON line only
    assert f"{len(portfolios)}/{len(portfolios)}" in shown.decode(errors="replace")  # the progress bar, on stderr


def test_zero_holdings_need_no_price_trade_nothing_but_still_count_as_duplicates(tmp_path: Path) -> None:
    a, b, unpriced = sid(1), sid(2), sid(0xDEAD)
    model = InvestmentModel(
        name="m",
        positions=(Position(security_id=a, target=D("0.5"), low_drift=D("0.1"), high_drift=D("0.1")),),
        portfolios=(pid(1), pid(2), pid(3)),
    )

    def hold(*rows: tuple[str, str]) -> tuple[Holding, ...]:
        return tuple(Holding(security_id=s, quantity=D(q)) for s, q in rows)

    portfolios = [
        PortfolioHoldings(portfolio_id=pid(1), cash=D(1000), holdings=hold((a, "0"), (unpriced, "0"), (b, "0"))),
        PortfolioHoldings(portfolio_id=pid(2), cash=D(1000), holdings=hold((a, "0"), (a, "5"))),
        PortfolioHoldings(portfolio_id=pid(3), cash=D(1000), holdings=hold((b, "3"), (b, "0"))),
    ]
    summary, orders = check_identical(
        tmp_path, [model], {a: D(10), b: D(7)}, portfolios, RebalanceOptions(trade_date=DAY)
    )
    assert [s[1] for s in summary] == ["optimal", "error", "error"]
    assert {o[1] for o in orders} == {a}


def test_a_bug_in_the_integer_path_costs_the_chunk_nothing_but_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import engine.batch.run as batch_run

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the integer path")

    monkeypatch.setattr(batch_run, "solve_closed_form", broken)  # only the batch's fast path uses this name
    models, prices, portfolios, options = random_instance(6)
    check_identical(tmp_path, models, prices, portfolios, options)
    err = capsys.readouterr().err
    assert "a bug in the integer path" in err and "re-solved on the Decimal path" in err


def test_parts_keep_portfolio_id_statistics_for_filtering_readers(tmp_path: Path) -> None:
    a = sid(1)
    position = Position(security_id=a, target=D("0.5"), low_drift=D("0.1"), high_drift=D("0.1"))
    ids = [pid(i) for i in range(5)]
    model = InvestmentModel(name="m", positions=(position,), portfolios=tuple(ids))
    portfolios = [PortfolioHoldings(portfolio_id=p, cash=D(1000)) for p in ids]  # each buys 50
    inputs = write_inputs(tmp_path / "in", [model], {a: D(10)}, portfolios)
    run_local(inputs, tmp_path / "out", RebalanceOptions(trade_date=DAY), workers=1)
    first = ids[2]
    for name in ("orders", "summary"):
        meta = pq.ParquetFile(tmp_path / "out" / name / "part-00000.parquet").metadata
        columns = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
        with_stats = [c.path_in_schema for c in columns if c.statistics is not None and c.statistics.has_min_max]
        assert with_stats == ["portfolioId"], name  # the rest cost a third of the write time and filter nothing
        table = pq.read_table(tmp_path / "out" / name, filters=[("portfolioId", "=", first)])
        assert table.num_rows == 1 and table.column("portfolioId").to_pylist() == [first]
