"""Deterministic generator of the demo dataset (services.md §8.6): ``python -m data.demo.generate [--out DIR]``.

Same seed, same bytes. Writes ``securities.csv``, ``portfolios.csv``, ``balances.csv`` and ``models.json`` next to
this file. Ids are derived from hashes of the ticker / portfolio name, so they are stable 24-hex ObjectIds.

Contents: about 300 securities (lognormal prices around $60, a few above $1,000, per-security price deviation with
median ≈ 1.6 % and a few much higher; six delisted tickers have no price), six models (one with 1,000 portfolios),
unassigned portfolios, and the edge cases: a short, a fractional holding, a non-model holding, a portfolio with no
balances, a small account whose bands contain no whole share, a zero-quantity row, negative cash, an unpriced holding.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from data.demo.universe import HIGH_PRICED, universe

SEED = 20240601
OUT_DIR = Path(__file__).resolve().parent
STEP = Decimal("0.005")
BANDS = [Decimal(x) for x in ("0.005", "0.01", "0.015", "0.02", "0.025", "0.03")]


def object_id(kind: str, key: str) -> str:
    """A stable 24-hex id from a hash of ``kind:key``."""
    return hashlib.sha1(f"{kind}:{key}".encode()).hexdigest()[:24]


@dataclass
class Security:
    security_id: str
    ticker: str
    name: str
    sector: str
    price: Decimal | None
    std: Decimal | None


@dataclass
class Portfolio:
    portfolio_id: str
    name: str
    created: dt.datetime
    cash: Decimal | None = None  # None: no cash row
    rows: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)  # (security_id, long, short)


@dataclass
class Model:
    name: str
    positions: list[tuple[str, Decimal, Decimal, Decimal]]  # (security_id, target, high, low)
    portfolios: list[str] = field(default_factory=list)


def make_securities(rng: random.Random) -> list[Security]:
    out = []
    for sector, ticker, name in universe():
        price: Decimal | None = None
        std: Decimal | None = None
        if sector != "Delisted":
            if ticker in HIGH_PRICED:
                price = Decimal(HIGH_PRICED[ticker])
            else:
                raw = min(max(rng.lognormvariate(math.log(60), 0.85), 1.79), 990.0)
                price = Decimal(f"{raw:.2f}")
            fraction = min(rng.lognormvariate(math.log(0.016), 0.45), 0.08)
            std = (price * Decimal(f"{fraction:.5f}")).quantize(Decimal("0.0001"))
        out.append(Security(object_id("security", ticker), ticker, name, sector, price, std))
    # A few very volatile names, like the real seed data (max std/price about 85 %).
    volatile = [s for s in out if s.price is not None and s.ticker not in HIGH_PRICED]
    for s, fraction in zip(rng.sample(volatile, 3), ("0.22", "0.45", "0.85"), strict=True):
        s.std = (s.price * Decimal(fraction)).quantize(Decimal("0.0001"))  # type: ignore[operator]
    return out


def grid_targets(rng: random.Random, n: int, total: Decimal) -> list[Decimal]:
    """``n`` targets on the 0.005 grid, each ≥ 0.005, summing exactly to ``total`` (≤ 0.95)."""
    units = int(total / STEP)
    raw = [rng.uniform(0.5, 2.0) for _ in range(n)]
    scale = (units - n) / sum(raw)
    counts = [1 + int(r * scale) for r in raw]
    for i in range(units - sum(counts)):
        counts[i % n] += 1
    return [STEP * c for c in counts]


def make_model(rng: random.Random, name: str, pool: list[Security], n: int, total: str) -> Model:
    chosen = rng.sample(pool, n)
    targets = grid_targets(rng, n, Decimal(total))
    positions = []
    for s, t in zip(chosen, targets, strict=True):
        low = rng.choice(BANDS[:4])
        high = max(low, rng.choice(BANDS))
        positions.append((s.security_id, t, high, low))
    return Model(name, positions)


def created_at(rng: random.Random) -> dt.datetime:
    """A creation time with millisecond precision (the portfolio service stores BSON dates)."""
    base = dt.datetime(2024, 1, 15)
    return base + dt.timedelta(seconds=rng.randrange(0, 600 * 86400), milliseconds=rng.randrange(0, 1000))


def fill_holdings(
    rng: random.Random, p: Portfolio, model: Model, prices: dict[str, Decimal], others: list[Security], mv: float
) -> None:
    """Long positions around the model's targets (some far off), sometimes a non-model holding, cash as residual."""
    invested = Decimal(0)
    for sid, target, _, _ in model.positions:
        if rng.random() < 0.08:
            continue  # not held yet: a buy
        noise = rng.gauss(0, 0.15) if rng.random() < 0.7 else rng.gauss(0, 0.6)
        weight = max(0.0, float(target) * (1 + noise))
        quantity = Decimal(int(mv * weight / float(prices[sid]) + 0.5))
        if quantity > 0:
            p.rows.append((sid, quantity, Decimal(0)))
            invested += quantity * prices[sid]
    if rng.random() < 0.12:
        extra = rng.choice(others)
        quantity = Decimal(max(1, int(mv * rng.uniform(0.005, 0.03) / float(extra.price))))  # type: ignore[arg-type]
        p.rows.append((extra.security_id, quantity, Decimal(0)))
        invested += quantity * extra.price  # type: ignore[operator]
    cash = Decimal(f"{mv:.2f}") - invested
    floor = Decimal(f"{mv * rng.uniform(0.005, 0.04):.2f}")
    p.cash = max(cash, floor).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


SURNAMES_TEXT = (
    "Abbott Adams Alvarez Bailey Baker Barnes Bell Bennett Brooks Bryant Butler Campbell Carter Castillo Chen Clark "
    "Coleman Collins Cooper Cruz Davis Diaz Edwards Ellis Evans Fisher Flores Foster Garcia Gibson Gomez Gonzalez "
    "Graham Gray Green Griffin Hall Hamilton Harris Hayes Henderson Hernandez Hill Howard Hughes Jackson James "
    "Jenkins Johnson Jordan Kelly Kennedy Kim King Lee Lewis Long Lopez Marshall Martin Martinez Mason Mendoza "
    "Meyer Miller Mitchell Moore Morales Morgan Murphy Myers Nguyen Olson Ortiz Owens Palmer Parker Patel Perez "
    "Perry Peterson Phillips Powell Price Ramirez Reed Reyes Reynolds Richardson Rivera Roberts Robinson Rogers "
    "Ross Russell Sanchez Sanders Scott Shaw Simmons Stewart Sullivan Taylor Thomas Thompson Torres Turner Walker "
    "Wallace Ward Warren Watson Webb Wells West White Williams Wilson Wood Wright Young"
)
SURNAMES = SURNAMES_TEXT.split()
KINDS = (
    "Family Trust",
    "Retirement Account",
    "Foundation",
    "Growth Portfolio",
    "Income Portfolio",
    "Endowment",
    "Pension Plan",
    "Charitable Trust",
    "Education Fund",
    "Legacy Account",
)


def portfolio(rng: random.Random, name: str) -> Portfolio:
    return Portfolio(object_id("portfolio", name), name, created_at(rng))


def generate(seed: int = SEED) -> dict[str, str]:
    """The dataset as ``{file name: text}``."""
    rng = random.Random(seed)
    securities = make_securities(rng)
    priced = [s for s in securities if s.price is not None]
    prices = {s.security_id: s.price for s in priced}  # type: ignore[misc]
    by_ticker = {s.ticker: s for s in securities}
    affordable = [s for s in priced if s.price < 900]  # type: ignore[operator]

    def by_sector(*names: str) -> list[Security]:
        return [s for s in affordable if s.sector in names]

    models = [
        make_model(rng, "Global Equity Core", affordable, 30, "0.95"),
        make_model(
            rng, "US Large Cap Growth", by_sector("Technology", "Communication", "Consumer Discretionary"), 20, "0.93"
        ),
        make_model(
            rng,
            "Dividend Income",
            by_sector("Consumer Staples", "Utilities", "Energy", "Real Estate", "Financials"),
            25,
            "0.92",
        ),
        make_model(rng, "Balanced Value", affordable, 45, "0.90"),
        make_model(rng, "Technology Leaders", by_sector("Technology", "Communication"), 12, "0.94"),
    ]
    nvr = by_ticker["NVR"]
    edge_model = Model(
        "Edge Case Lab",
        [
            (by_ticker["AAPL"].security_id, Decimal("0.2"), Decimal("0.03"), Decimal("0.03")),
            (by_ticker["MSFT"].security_id, Decimal("0.2"), Decimal("0.03"), Decimal("0.03")),
            (by_ticker["JNJ"].security_id, Decimal("0.15"), Decimal("0.02"), Decimal("0.02")),
            (by_ticker["XOM"].security_id, Decimal("0.15"), Decimal("0.01"), Decimal("0.025")),  # low > high: warning
            (by_ticker["BRK.B"].security_id, Decimal("0.1"), Decimal("0.02"), Decimal("0.02")),
            (by_ticker["PG"].security_id, Decimal("0.1"), Decimal("0.02"), Decimal("0.02")),
            (nvr.security_id, Decimal("0.05"), Decimal("0.01"), Decimal("0.01")),  # one share > the band of a small MV
        ],
    )
    models.append(edge_model)

    portfolios: list[Portfolio] = []
    names = iter(rng.sample([f"{s} {k}" for s in SURNAMES for k in KINDS], len(SURNAMES) * len(KINDS)))
    sizes = {
        "Global Equity Core": 1000,
        "US Large Cap Growth": 40,
        "Dividend Income": 30,
        "Balanced Value": 25,
        "Technology Leaders": 15,
    }
    for model in models[:-1]:
        model_ids = {sid for sid, *_ in model.positions}
        others = [s for s in affordable if s.security_id not in model_ids]
        for _ in range(sizes[model.name]):
            p = portfolio(rng, next(names))
            mv = min(max(rng.lognormvariate(math.log(250_000), 0.9), 20_000), 8_000_000)
            fill_holdings(rng, p, model, prices, others, mv)
            portfolios.append(p)
            model.portfolios.append(p.portfolio_id)
    # Portfolios not linked to any model, so the UI can link them.
    for _ in range(20):
        p = portfolio(rng, next(names))
        fill_holdings(rng, p, models[3], prices, affordable, rng.lognormvariate(math.log(150_000), 0.7))
        portfolios.append(p)

    portfolios.extend(edge_portfolios(rng, edge_model, by_ticker, prices))
    edge_model.portfolios = [p.portfolio_id for p in portfolios if p.name.startswith("Edge - ")]
    return render(rng, securities, portfolios, models)


def edge_portfolios(
    rng: random.Random, model: Model, by_ticker: dict[str, Security], prices: dict[str, Decimal]
) -> list[Portfolio]:
    """One portfolio per edge case of services.md §8.6 (plus a few more the UI should show)."""
    out = []

    def make(name: str, mv: float) -> Portfolio:
        p = portfolio(rng, f"Edge - {name}")
        fill_holdings(rng, p, model, prices, [by_ticker["KO"]], mv)
        p.rows = [r for r in p.rows if r[0] != by_ticker["KO"].security_id]
        out.append(p)
        return p

    def set_row(p: Portfolio, ticker: str, long: str, short: str = "0") -> None:
        sid = by_ticker[ticker].security_id
        p.rows = [r for r in p.rows if r[0] != sid] + [(sid, Decimal(long), Decimal(short))]

    set_row(make("Short Position", 400_000), "MSFT", "0", "40")
    set_row(make("Fractional Shares", 150_000), "AAPL", "112.5")
    set_row(make("Non-Model Holding", 300_000), "KO", "350")
    set_row(make("Zero Quantity Row", 250_000), "JNJ", "0")
    negative = make("Negative Cash", 200_000)
    negative.cash = Decimal("-2500.00")
    small = make("Small Account", 3_000)
    small.rows = []
    small.cash = Decimal("3000.00")
    set_row(make("Unpriced Holding", 120_000), "CELG", "25")
    cash_only = make("Cash Only", 500_000)
    cash_only.rows = []
    cash_only.cash = Decimal("500000.00")
    empty = make("No Balances", 0)
    empty.rows = []
    empty.cash = None
    return out


def plain(d: Decimal) -> str:
    """Decimal without exponent or trailing zeros (accounting's style): 100.00 -> 100, 12.50 -> 12.5."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def render(rng: random.Random, securities: list[Security], portfolios: list[Portfolio], models: list[Model]) -> dict:
    def table(header: list[str], rows: list[list[str]]) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue()

    files = {
        "securities.csv": table(
            ["security_id", "ticker", "description", "sector", "price", "price_std"],
            [
                [
                    s.security_id,
                    s.ticker,
                    s.name,
                    s.sector,
                    "" if s.price is None else str(s.price),
                    "" if s.std is None else str(s.std),
                ]
                for s in securities
            ],
        ),
        "portfolios.csv": table(
            ["portfolio_id", "name", "date_created"],
            [[p.portfolio_id, p.name, p.created.isoformat(timespec="milliseconds")] for p in portfolios],
        ),
    }
    balance_rows = []
    for p in portfolios:
        if p.cash is not None:
            balance_rows.append([p.portfolio_id, "", plain(p.cash), "0"])
        for sid, long, short in sorted(p.rows):
            balance_rows.append([p.portfolio_id, sid, plain(long), plain(short)])
    files["balances.csv"] = table(["portfolio_id", "security_id", "quantity_long", "quantity_short"], balance_rows)
    as_of = dt.date(2013, 3, 7) + dt.timedelta(days=rng.randrange(0, 1782))
    meta = {
        "seed": SEED,
        "asOf": as_of.isoformat(),
        "securityType": {
            "securityTypeId": object_id("securityType", "CS"),
            "abbreviation": "CS",
            "description": "Common Stock",
        },
        "models": [
            {
                "name": m.name,
                "positions": [
                    {"securityId": sid, "target": plain(t), "highDrift": plain(h), "lowDrift": plain(lo)}
                    for sid, t, h, lo in m.positions
                ],
                "portfolios": m.portfolios,
            }
            for m in models
        ],
    }
    files["models.json"] = json.dumps(meta, indent=1) + "\n"
    return files


def write(out_dir: Path = OUT_DIR, seed: int = SEED) -> list[Path]:
    """Generate and write the files; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generate(seed).items():
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the demo dataset deterministically.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: data/demo)")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
