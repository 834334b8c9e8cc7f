"""MongoDB fixtures: one repository suite run against two backends (storage.md §2).

- ``embedded``: ``mongoeco.MongoClient`` on a SQLite file in ``tmp_path`` (through ``data.mongo.get_client``);
- ``wire``: the real ``pymongo.MongoClient`` against a mongoeco wire server started once per session on a free
  port — or against ``MONGODB_URI`` when that points at a real MongoDB (``mongodb://`` / ``mongodb+srv://``).

Each test gets its own database, so the shared server needs no cleanup between tests.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from data.mongo import DATABASE_NAME, get_client, get_database
from data.repositories import ModelRepository, RebalanceRepository
from engine.models import Position, RebalanceRecord, RecordPortfolio, RecordPosition
from tests.support.mongoeco_server import running_server

BACKENDS = ["embedded", "wire"]


@dataclass
class MongoBackend:
    """One test's database: the backend name, the URI another process can use, the client and the database."""

    name: str
    uri: str
    db_name: str
    client: Any
    db: Any


@pytest.fixture(scope="session")
def mongo_wire_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of the wire backend: ``MONGODB_URI`` if it is a real server, else a session-wide mongoeco wire server."""
    env = os.environ.get("MONGODB_URI", "")
    if env.startswith(("mongodb://", "mongodb+srv://")):
        yield env
        return
    with running_server(tmp_path_factory.mktemp("wire") / "wire.sqlite3") as uri:
        yield uri


@pytest.fixture(scope="session")
def mongo_wire_client(mongo_wire_uri: str) -> Iterator[Any]:
    client = get_client(mongo_wire_uri)
    yield client
    client.close()


@pytest.fixture(params=BACKENDS)
def mongo(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[MongoBackend]:
    """A fresh, empty database on each backend."""
    if request.param == "embedded":
        uri = f"mongoeco:///{tmp_path}/embedded.sqlite3"
        client = get_client(uri)
        try:
            yield MongoBackend("embedded", uri, DATABASE_NAME, client, get_database(client))
        finally:
            client.close()
        return
    client = request.getfixturevalue("mongo_wire_client")
    name = f"test-{uuid.uuid4().hex[:16]}"
    yield MongoBackend("wire", request.getfixturevalue("mongo_wire_uri"), name, client, get_database(client, name))
    client.drop_database(name)


@pytest.fixture
def models_repo(mongo: MongoBackend) -> ModelRepository:
    return ModelRepository(mongo.db)


@pytest.fixture
def rebalance_repo(mongo: MongoBackend) -> RebalanceRepository:
    return RebalanceRepository(mongo.db)


# --- builders shared by the repository tests ---------------------------------------------------------------------


def hex_id(n: int, kind: str = "a") -> str:
    """A deterministic 24-hex id: ``kind`` (one hex letter) then ``n`` in 23 hex digits."""
    return f"{kind}{n:023x}"


def position(security: int | str, target: str, high: str = "0.02", low: str = "0.02") -> Position:
    sid = security if isinstance(security, str) else hex_id(security, "5")
    return Position(security_id=sid, target=Decimal(target), high_drift=Decimal(high), low_drift=Decimal(low))


def record_position(
    security: int, *, price: str = "12.34", original: str = "10", adjusted: str = "12"
) -> RecordPosition:
    """A record position with exact, non-trivial decimals (full-precision ``actual``)."""
    p, u, v = Decimal(price), Decimal(original), Decimal(adjusted)
    delta = v - u
    return RecordPosition(
        security_id=hex_id(security, "5"),
        price=p,
        original_quantity=u,
        adjusted_quantity=v,
        original_position_market_value=u * p,
        adjusted_position_market_value=v * p,
        target=Decimal("0.050"),
        high_drift=Decimal("0.02"),
        low_drift=Decimal("0.010"),
        actual=(v * p) / Decimal("10000.123"),
        actual_drift=1 - ((v * p) / Decimal("10000.123")) / Decimal("0.050"),
        transaction_type=None if delta == 0 else ("BUY" if delta > 0 else "SELL"),
        trade_quantity=None if delta == 0 else abs(delta),
        trade_date=None if delta == 0 else dt.date(2025, 3, 14),
    )


def make_record(
    model_id: str,
    portfolio_ids: list[str],
    *,
    model_name: str = "Model",
    when: dt.datetime | None = None,
    positions: int = 3,
) -> RebalanceRecord:
    return RebalanceRecord(
        model_id=model_id,
        model_name=model_name,
        rebalance_date=when or dt.datetime(2025, 3, 14, 15, 9, 26, 535000, tzinfo=dt.UTC),
        portfolios=tuple(
            RecordPortfolio(
                portfolio_id=pid,
                portfolio_name=f"Portfolio {i}",
                market_value=Decimal("10000.123"),
                cash_before_rebalance=Decimal("-12.5"),
                cash_after_rebalance=Decimal("500.000"),
                positions=tuple(record_position(k, adjusted=str(10 + (k + i) % 3 - 1)) for k in range(positions)),
            )
            for i, pid in enumerate(portfolio_ids)
        ),
    )


@pytest.fixture
def build() -> SimpleNamespace:
    """The builders above, for test modules (conftest modules are not importable by name)."""
    return SimpleNamespace(hex_id=hex_id, position=position, record_position=record_position, record=make_record)
