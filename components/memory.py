"""Long-lived data out of the cyclic garbage collector's sight (issue #12 §5: record operations at PM speed).

A 1,000-portfolio scenario, its order rows and a saved record are over a million objects the collector tracks (on
Python 3.13 every ``Decimal`` is one), so each full collection walks them all: ~0.5 s with the GIL held, landing on
whichever click allocates next (the rerun after *Save rebalance*, opening *Saved rebalances*). They live until their
scenario or record is dropped and hold no reference cycles (refcounting frees them), so after building or keeping
such data :func:`settle` moves everything built so far to the collector's permanent generation (``gc.freeze``):
later full collections scan only what is built after it.

The price: a reference cycle that is already garbage when frozen, or becomes garbage later (a closed session's
objects may form cycles), is not collected while frozen. So a background sweep unfreezes, collects everything once
and freezes again every ``SWEEP_EVERY`` seconds while anything is frozen: at most one ~0.5 s pause per period instead
of one on every few clicks, and no cycle outlives a period.
"""

from __future__ import annotations

import gc
import threading
import time

SWEEP_EVERY = 600.0  # seconds between two full sweeps of the frozen objects
_LOCK = threading.Lock()
_sweeper: threading.Thread | None = None


def settle() -> None:
    """Collect the young generations, then freeze every object tracked so far (see the module docstring)."""
    global _sweeper
    gc.collect(1)
    gc.freeze()
    with _LOCK:
        if _sweeper is None:
            _sweeper = threading.Thread(target=_sweep_forever, name="gc-sweep", daemon=True)
            _sweeper.start()


def sweep() -> int:
    """Unfreeze, collect everything (frozen cycles included), freeze again; returns the objects collected."""
    gc.unfreeze()
    try:
        return gc.collect()
    finally:
        gc.freeze()


def _sweep_forever() -> None:
    while True:
        time.sleep(SWEEP_EVERY)
        if gc.get_freeze_count():
            sweep()


__all__ = ["SWEEP_EVERY", "settle", "sweep"]
