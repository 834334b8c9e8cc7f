"""Fast construction of frozen domain models from values the engine has already computed and checked.

Building 100,000 drift rows and record positions through pydantic validation costs about 2.5 µs each
(``model_construct`` is slower still). The engine's own outputs are typed by construction, so
:func:`builder` fills the instance state directly, which is what ``model_construct`` does minus its
per-call bookkeeping. At import a self-test compares a fast instance with a validated one for every
class used; if pydantic's internals ever change so they differ, the builders fall back to validation.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import repeat
from typing import Any

from pydantic import BaseModel

from engine.gcpause import paused_gc as paused_gc  # the one definition (pydantic-free), imported from here too
from engine.models import DriftRow, RecordPosition, Transaction


def _fast[M: BaseModel](cls: type[M]) -> Callable[[dict[str, Any]], M]:
    fields = cls.model_fields
    defaults = {name: f.get_default(call_default_factory=True) for name, f in fields.items() if not f.is_required()}
    n_fields = len(fields)
    new = object.__new__
    setattr_ = object.__setattr__
    # One shared set for every instance: sets are tracked by the cyclic GC and a set per row doubled the
    # cost of every collection. Frozen models never mutate it; model_copy copies it before updating.
    all_set = set(fields)

    def build(state: dict[str, Any]) -> M:
        obj = new(cls)
        setattr_(obj, "__dict__", state if len(state) == n_fields else {**defaults, **state})
        setattr_(obj, "__pydantic_fields_set__", all_set)
        setattr_(obj, "__pydantic_extra__", None)
        setattr_(obj, "__pydantic_private__", None)
        return obj

    return build


def _fast_many[M: BaseModel](cls: type[M]) -> Callable[[Sequence[dict[str, Any]]], list[M]]:
    """:func:`_fast` for many states at once: each step is one C-level ``map`` over all of them (no Python
    frame per instance); the states must hold every field."""
    all_set = set(cls.model_fields)
    new = object.__new__
    slots = vars(BaseModel)  # the descriptors of BaseModel's slots: what object.__setattr__ would reach
    set_state = slots["__dict__"].__set__
    set_fields = slots["__pydantic_fields_set__"].__set__
    set_extra = slots["__pydantic_extra__"].__set__
    set_private = slots["__pydantic_private__"].__set__

    def build_many(states: Sequence[dict[str, Any]]) -> list[M]:
        n = len(states)
        objs = list(map(new, repeat(cls, n)))
        deque(map(set_state, objs, states), maxlen=0)
        deque(map(set_fields, objs, repeat(all_set, n)), maxlen=0)
        deque(map(set_extra, objs, repeat(None, n)), maxlen=0)
        deque(map(set_private, objs, repeat(None, n)), maxlen=0)
        return objs

    return build_many


def builder[M: BaseModel](cls: type[M], sample: dict[str, Any]) -> Callable[[dict[str, Any]], M]:
    """A constructor ``build(fields_dict)`` for ``cls`` that skips validation.

    Proven equivalent to validation on ``sample`` at import time; falls back to validation otherwise.
    The dict becomes the instance's state: pass a fresh one per call, with snake_case field names.
    """
    fast = _fast(cls)
    try:
        a, b = fast(dict(sample)), cls(**sample)
        same = a == b and a.model_dump(by_alias=True) == b.model_dump(by_alias=True) and hash(a) == hash(b)
    except Exception:  # any difference in pydantic internals: validate instead
        same = False
    if same:
        return fast

    def validated(state: dict[str, Any]) -> M:
        return cls(**state)

    return validated


def many_builder[M: BaseModel](cls: type[M], sample: dict[str, Any]) -> Callable[[Sequence[dict[str, Any]]], list[M]]:
    """A constructor ``build_many(states)`` for ``cls``: :func:`builder` for a whole column of instances at once.

    Each state must name every field (snake_case) and is fresh per instance (it becomes the instance's state).
    Proven equivalent to validation on ``sample`` (completed with the defaults) at import, repr included; falls
    back to validation otherwise.
    """
    full = {  # in field order, as validation builds the state (the reprs are compared too)
        name: sample[name] if name in sample else f.get_default(call_default_factory=True)
        for name, f in cls.model_fields.items()
    }
    fast = _fast_many(cls)
    try:
        (a,), b = fast([dict(full)]), cls(**full)
        same = (
            a == b
            and a.model_dump(by_alias=True) == b.model_dump(by_alias=True)
            and hash(a) == hash(b)
            and repr(a) == repr(b)
        )
    except Exception:  # any difference in pydantic internals: validate instead
        same = False
    if same:
        return fast

    def validated(states: Sequence[dict[str, Any]]) -> list[M]:
        return [cls(**state) for state in states]

    return validated


_D = Decimal("1.5")
_SID = "0123456789abcdef01234567"

_TRANSACTION = {"transaction_type": "BUY", "security_id": _SID, "quantity": _D, "trade_date": dt.date(2024, 1, 2)}
_DRIFT_ROW = {
    "security_id": _SID,
    "original_quantity": _D,
    "adjusted_quantity": _D,
    "target": _D,
    "high_drift": _D,
    "low_drift": _D,
    "actual": _D,
}
_RECORD_POSITION = {
    "security_id": _SID,
    "price": _D,
    "original_quantity": _D,
    "adjusted_quantity": _D,
    "original_position_market_value": _D,
    "adjusted_position_market_value": _D,
    "target": _D,
    "high_drift": _D,
    "low_drift": _D,
    "actual": _D,
    "actual_drift": _D,
    "transaction_type": None,
    "trade_quantity": None,
    "trade_date": None,
}

make_transaction = builder(Transaction, _TRANSACTION)
make_drift_row = builder(DriftRow, _DRIFT_ROW)
make_record_position = builder(RecordPosition, _RECORD_POSITION)
# whole columns at once (engine.columnar): every field named in each state
make_transactions = many_builder(Transaction, _TRANSACTION)
make_drift_rows = many_builder(DriftRow, {**_DRIFT_ROW, "kept_by": "in-band"})
make_record_positions = many_builder(RecordPosition, _RECORD_POSITION)
