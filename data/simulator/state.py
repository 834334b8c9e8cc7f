"""In-memory state of the five simulated services, loaded from a demo dataset and mutable at runtime."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from data.demo import DemoDataset

# Reference data of a fresh order-service database (services.md §7.5).
BLOTTERS = [(1, "Default"), (2, "Equity"), (3, "Fixed Income"), (4, "Hold"), (5, "Crypto")]
ORDER_TYPES = [
    (1, "BUY", "Buy"),
    (2, "SELL", "Sell"),
    (3, "SHORT", "Sell Short"),
    (4, "COVER", "Buy to Cover"),
    (5, "EXRC", "Exercise"),
]
STATUSES = [
    (1, "NEW", "New"),
    (2, "SENT", "Sent"),
    (3, "WORK", "In progress"),
    (4, "FULL", "Filled"),
    (5, "PART", "Partial fill"),
    (6, "HOLD", "Hold"),
    (7, "CNCL", "Cancel"),
    (8, "CNCLD", "Cancelled"),
    (9, "CPART", "Cancelled partial"),
    (10, "DEL", "Delete"),
]
BALANCE_EPOCH = dt.datetime(2025, 6, 6, 12, 16, 50, tzinfo=dt.UTC)


@dataclass
class Balance:
    """One accounting balance row (``security_id`` None: the cash row)."""

    id: int
    security_id: str | None
    long: Decimal
    short: Decimal
    last_updated: str | None = None  # RFC 3339, up to 9 fraction digits (Go's RFC3339Nano); None: derived from id
    version: int = 1

    def stamp(self) -> str:
        """``last_updated``; rows loaded from the dataset get a stable, varied time derived from their id."""
        if self.last_updated is None:
            # 0-9 fractional digits, as Go prints them; computed lazily (32k rows would cost 0.1 s up front).
            moment = BALANCE_EPOCH + dt.timedelta(seconds=self.id * 37)
            self.last_updated = rfc3339_nano(moment, (self.id * 7_919_113) % 1_000_000_000)
        return self.last_updated


@dataclass
class PriceRow:
    """The pricing table row of one ticker: stored price and its standard deviation."""

    id: int
    ticker: str
    price: Decimal
    std: float


def rfc3339_nano(moment: dt.datetime, nanos: int) -> str:
    """Go's ``time.RFC3339Nano``: UTC ``Z``, fraction of up to 9 digits with trailing zeros trimmed."""
    base = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def now_rfc3339_nano() -> str:
    ns = time.time_ns()
    return rfc3339_nano(dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC), ns % 1_000_000_000)


class ObjectIds:
    """24-hex ObjectIds (4-byte time, 5 random bytes, 3-byte counter) like MongoDB's."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).getrandbits(40)
        self._counter = itertools.count(random.Random(seed + 1).getrandbits(24))
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            counter = next(self._counter) & 0xFFFFFF
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._random:010x}{counter:06x}"


class SimState:
    """Securities, prices, portfolios, balances and orders; every mutation holds ``lock``."""

    def __init__(self, dataset: DemoDataset, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.dataset = dataset
        self.seed = seed
        self.ids = ObjectIds(seed)
        self.as_of = dataset.as_of
        self.security_type = dict(dataset.security_type)
        self.security_types = {self.security_type["securityTypeId"]: {**self.security_type, "version": 1}}
        self.securities: dict[str, dict] = {}
        self.prices: dict[str, PriceRow] = {}
        for n, s in enumerate(dataset.securities, start=1):
            self.securities[s.security_id] = {
                "ticker": s.ticker,
                "description": s.description,
                "securityTypeId": self.security_type["securityTypeId"],
                "version": 1,
            }
            if s.price is not None and s.price_std is not None:
                self.prices[s.ticker] = PriceRow(n, s.ticker, s.price, float(s.price_std))
        self.portfolios: dict[str, dict] = {
            p.portfolio_id: {"name": p.name, "dateCreated": p.date_created, "version": 1} for p in dataset.portfolios
        }
        self.balances: dict[str, dict[str | None, Balance]] = {}
        self._balance_ids = itertools.count(1)
        for b in dataset.balances:
            self.balances.setdefault(b.portfolio_id, {})[b.security_id] = Balance(
                next(self._balance_ids), b.security_id, b.quantity_long, b.quantity_short
            )
        self.orders: dict[int, dict] = {}
        self._order_ids = itertools.count(1)
        self._transaction_ids = itertools.count(1)
        self.price_calls: Counter[str] = Counter()
        self._live = random.Random(int.from_bytes(os.urandom(8), "big"))

    # --- pricing -----------------------------------------------------------------------------------------------
    def sample_close(self, row: PriceRow, mode: str) -> float:
        """The ``close`` of one price call: fixed, seeded by (seed, ticker, call number) or live."""
        if mode == "fixed":
            return float(row.price)
        with self.lock:
            self.price_calls[row.ticker] += 1
            n = self.price_calls[row.ticker]
            rng = random.Random(f"{self.seed}|{row.ticker}|{n}") if mode == "seeded" else self._live
            draw = rng.gauss(float(row.price), row.std)
        return max(0.01, round(draw, 2))

    # --- ids and writes ----------------------------------------------------------------------------------------
    def next_order_id(self) -> int:
        return next(self._order_ids)

    def next_transaction_id(self) -> int:
        return next(self._transaction_ids)

    def next_balance_id(self) -> int:
        return next(self._balance_ids)

    def security_by_ticker(self, ticker: str) -> tuple[str, dict] | None:
        for sid, sec in self.securities.items():
            if sec["ticker"] == ticker:
                return sid, sec
        return None
