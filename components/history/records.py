"""Saved records opened on the Saved rebalances page, kept in the process (issue #12 §5: History opens in ≤ 1 s).

A record never changes under its (id, version), so one read serves every session and rerun: the Orders page hands
over the record it has just saved (the PM's next click is usually History), and a record read once stays for the
next ones. A few records at most: a 1,000-portfolio run holds ~30,000 positions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

from components import memory, resources
from engine.models import RebalanceRecord

MAX_RECORDS = 3
_LOCK = threading.Lock()
_RECORDS: OrderedDict[tuple[str, int], RebalanceRecord] = OrderedDict()
_DERIVED: dict[tuple[str, int, str], object] = {}  # figures computed from a kept record (it never changes)


def remember(record: RebalanceRecord) -> None:
    """Keep a saved record (as stored: with its id and version) for the next open."""
    if record.rebalance_id is None:
        return
    with _LOCK:
        _RECORDS[(record.rebalance_id, record.version)] = record
        _RECORDS.move_to_end((record.rebalance_id, record.version))
        while len(_RECORDS) > MAX_RECORDS:
            (rid, version), _ = _RECORDS.popitem(last=False)
            for key in [k for k in _DERIVED if k[:2] == (rid, version)]:
                del _DERIVED[key]


def load(rebalance_id: str, version: int) -> RebalanceRecord:
    """The record of this id and version, from memory or else read once from the database."""
    with _LOCK:
        record = _RECORDS.get((rebalance_id, version))
        if record is not None:
            _RECORDS.move_to_end((rebalance_id, version))
            return record
    record = resources.rebalance_repo().get_rebalance(rebalance_id)
    remember(record)
    memory.settle()  # ~30,000 positions kept for the next opens: out of the collector's full scans
    return record


def derived[T](record: RebalanceRecord, name: str, build: Callable[[RebalanceRecord], T]) -> T:
    """``build(record)``, computed once per kept record (id, version) and ``name``: a record never changes, so a
    figure of 30,000 positions (the order count ...) is not recounted on every rerun of the page."""
    if record.rebalance_id is None:
        return build(record)
    key = (record.rebalance_id, record.version, name)
    with _LOCK:
        if key in _DERIVED:
            return cast(T, _DERIVED[key])  # stored by this function, from the same ``build``
    value = build(record)
    with _LOCK:
        if (record.rebalance_id, record.version) in _RECORDS:  # only for kept records: dropped with them
            _DERIVED[key] = value
    return value


def forget(rebalance_id: str) -> None:
    """Drop every kept version of a deleted record."""
    with _LOCK:
        for key in [k for k in _RECORDS if k[0] == rebalance_id]:
            del _RECORDS[key]
        for key in [k for k in _DERIVED if k[0] == rebalance_id]:
            del _DERIVED[key]


__all__ = ["MAX_RECORDS", "derived", "forget", "load", "remember"]
