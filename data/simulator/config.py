"""Simulator configuration: price mode, seed, dataset, and fault specifications (services.md §8.3-8.4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SERVICES = ("accounting", "portfolio", "pricing", "security", "order")
FaultKind = Literal["latency", "error", "timeout", "drop", "malformed", "not_found", "empty_500", "order_item_failure"]
MalformedVariant = Literal[
    "truncated",
    "not_json",
    "numbers",
    "number_for_string",
    "string_for_number",
    "bad_value",
    "wrong_type",
    "missing_field",
    "null_field",
    "empty_string",
    "other_id",
    "off_by_one",
    "duplicate_item",
    "negative",
]
FIELD_VARIANTS: tuple[str, ...] = MalformedVariant.__args__[2:]  # the variants that act on ``field``

# Endpoint names (route names) per service, as used in faults and in the call log.
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "accounting": ("summary", "transactions_post", "health"),
    "portfolio": ("portfolio", "portfolios", "portfolio_search", "portfolio_post", "health"),
    "pricing": ("price", "prices", "health"),
    "security": ("security", "securities", "security_search", "security_post", "security_types", "health"),
    "order": ("orders_post", "orders", "order", "order_types", "statuses", "blotters", "health"),
}


class Fault(BaseModel):
    """One fault rule. It applies to requests of ``service``/``endpoint`` ("*" = any) whose key (the path parameter:
    portfolio id, ticker, security id, order id) is in ``keys`` (None = any), with probability ``rate``, at most
    ``count`` times in total (None = unlimited, so ``count=2`` is a burst that recovers), and at most
    ``max_consecutive`` times in a row on the same path (so e.g. a 5 % rate with ``max_consecutive=3`` always
    recovers within a client's 3 retries).

    Kinds: ``latency`` (sleep ``delay`` + up to ``jitter`` s, then answer normally); ``error`` (HTTP ``status``,
    e.g. 500/502/503 or a 4xx refusal such as 403; orders' 503 carries ``Retry-After: retry_after``); ``timeout``
    (hang ``delay`` s, default 60, before answering); ``drop`` (close the connection without an answer);
    ``malformed`` (``variant``: truncated JSON, a non-JSON body, or ``field`` damaged: a number for a string and
    back, a bad value, another JSON type, removed, null, empty, another id, a count or list off by one, a duplicated
    list item, a negative number — only in items whose values include one of ``items`` when given; see
    ``data/simulator/malformed.py``);
    ``not_found`` (the service's own 404 for the key);
    ``empty_500`` (accounting's 500-for-no-balances body); ``order_item_failure`` (items at ``indexes`` of an order
    POST fail with ``message``; None = every item). ``after`` (error, drop, timeout): the request is processed first
    and only its answer is lost, so an order POST creates its orders although the client sees a 500 or a drop, or
    (timeout) hangs ``delay`` s and then loses the connection: a client killed while it waits never learns.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    service: str = "*"
    endpoint: str = "*"
    rate: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=0)
    max_consecutive: int | None = Field(None, ge=1)
    keys: list[str] | None = None
    status: int = Field(503, ge=400, le=599)  # 4xx: a refusal the contract does not promise
    delay: float = Field(0.0, ge=0)
    jitter: float = Field(0.0, ge=0)
    retry_after: int = Field(1, ge=0)
    variant: MalformedVariant = "truncated"
    field: str | None = None
    items: list[str] | None = None
    indexes: list[int] | None = None
    message: str = "Simulated failure"
    after: bool = False  # error/drop only: process the request first, then lose the answer


class SimulatorConfig(BaseModel):
    """How the simulator behaves: ``price_mode`` fixed/seeded/live, the ``seed`` of every random draw, the faults,
    the dataset folder (None = the committed demo data) and how accounting answers a portfolio without balances
    (500 like the real service, or the documented 404)."""

    model_config = ConfigDict(extra="forbid")

    price_mode: Literal["fixed", "seeded", "live"] = "fixed"
    seed: int = 0
    faults: list[Fault] = Field(default_factory=list)
    dataset: str | None = None
    accounting_empty_status: Literal[404, 500] = 500
