"""components.memory (issue #12 §5): frozen objects leave the collector's scans; a sweep still collects cycles."""

from __future__ import annotations

import gc
import weakref

from components import memory


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_settle_freezes_and_a_sweep_collects_a_frozen_cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    try:
        memory.settle()
        assert gc.get_freeze_count() > 0
        del a, b
        gc.collect()
        assert gone() is not None  # frozen: a full collection does not walk it
        assert memory.sweep() > 0
        assert gone() is None  # the sweep collected it
        assert gc.get_freeze_count() > 0  # and froze what is left again
    finally:
        gc.unfreeze()
