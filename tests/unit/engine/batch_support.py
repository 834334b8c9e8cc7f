"""Test helpers for ``engine batch``: write engine inputs as batch tables, compare with ``rebalance_portfolios``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from engine.batch.run import BatchInputs, out_of_range
from engine.exactmath import decimals_of, plain
from engine.models import InvestmentModel, PortfolioHoldings, RebalanceOptions
from engine.rebalance import rebalance_portfolios


def _dec(values: Sequence[Decimal]) -> pa.Array:
    scale = max([0, *(decimals_of(v) for v in values)])
    with localcontext(prec=38):  # decimal128's digits (the default context's 28 would refuse a wide value)
        padded = [v.quantize(Decimal(1).scaleb(-scale)) if scale else v for v in values]
    return pa.array(padded, pa.decimal128(38, scale))


def write_inputs(
    folder: Path,
    models: Sequence[InvestmentModel],
    prices: Mapping[str, Decimal],
    portfolios: Sequence[PortfolioHoldings],
    csv: bool = False,
    extra_holdings: Sequence[tuple[str, str, Decimal]] = (),
) -> BatchInputs:
    """Holdings, cash and prices tables (Parquet decimal128, or CSV text) and models JSON for these inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(p.portfolio_id, h.security_id, h.quantity) for p in portfolios for h in p.holdings]
    rows += list(extra_holdings)
    tables = {
        "holdings": (["portfolioId", "securityId", "quantity"], rows),
        "cash": (["portfolioId", "cash"], [(p.portfolio_id, p.cash) for p in portfolios]),
        "prices": (["securityId", "price"], list(prices.items())),
    }
    paths = {}
    for name, (cols, data) in tables.items():
        columns = list(zip(*data, strict=True)) if data else [[] for _ in cols]
        arrays = []
        for c, values in zip(cols, columns, strict=True):
            values = list(values)
            if values and isinstance(values[0], Decimal):
                arrays.append(pa.array([plain(v) for v in values]) if csv else _dec(values))
            elif not values and c in ("quantity", "cash", "price"):
                arrays.append(pa.array([], pa.string() if csv else pa.decimal128(38, 0)))
            else:
                arrays.append(pa.array(values, pa.string()))
        table = pa.Table.from_arrays(arrays, names=cols)
        path = folder / f"{name}.{'csv' if csv else 'parquet'}"
        if csv:
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path, row_group_size=max(1, len(data) // 3 or 1))
        paths[name] = str(path)
    models_path = folder / "models.json"
    models_path.write_text(json.dumps([m.model_dump(mode="json", by_alias=True) for m in models]), encoding="utf-8")
    return BatchInputs(paths["holdings"], paths["cash"], paths["prices"], str(models_path))


def read_output(folder: Path) -> tuple[pa.Table, pa.Table]:
    return pq.read_table(folder / "orders"), pq.read_table(folder / "summary")


def expected(
    models: Sequence[InvestmentModel],
    prices: Mapping[str, Decimal],
    portfolios: Mapping[str, PortfolioHoldings],
    options: RebalanceOptions,
) -> tuple[list[tuple], list[tuple]]:
    """(summary rows, order rows) from ``rebalance_portfolios``, in the batch's order, values as Decimals."""
    summary, orders = [], []
    for m in models:
        group = [portfolios[p] for p in m.portfolios]
        try:
            results = rebalance_portfolios(m, prices, group, options, workers=1, with_positions=False)
        except OverflowError:  # the engine's int64 mills: the batch fails only the portfolio beyond them
            results = []
            for p in group:
                try:
                    results += rebalance_portfolios(m, prices, [p], options, workers=1, with_positions=False)
                except OverflowError as exc:
                    results.append(out_of_range(p, exc))
        for r in results:
            ok = r.status == "optimal"
            summary.append(
                (
                    r.portfolio_id,
                    r.status,
                    r.market_value,
                    r.cash_before,
                    r.cash_after,
                    r.drift_before,
                    r.portfolio_drift,
                    len(r.transactions),
                    None if ok else r.diagnosis,
                    None if ok else r.error_code,
                )
            )
            for t in r.transactions:
                p = prices[t.security_id]
                orders.append((r.portfolio_id, t.security_id, t.transaction_type, t.quantity, p, t.quantity * p))
    return summary, orders


def actual(folder: Path) -> tuple[list[tuple], list[tuple]]:
    orders, summary = read_output(folder)
    s = summary.to_pylist()
    o = orders.to_pylist()
    return (
        [
            (
                r["portfolioId"],
                r["status"],
                r["marketValue"],
                r["cashBefore"],
                r["cashAfter"],
                r["driftBefore"],
                r["driftAfter"],
                r["orders"],
                r["diagnosis"],
                r["errorCode"],
            )
            for r in s
        ],
        [(r["portfolioId"], r["securityId"], r["side"], r["quantity"], r["price"], r["estimatedValue"]) for r in o],
    )
