"""Long-lived data out of the cyclic garbage collector's sight (issue #12 §5: record operations at PM speed).

A 1,000-portfolio scenario, its order rows and a saved record are over a million objects the collector tracks (on
Python 3.13 every ``Decimal`` is one), so each full collection walks them all: ~0.5 s with the GIL held, landing on
whichever click allocates next (the rerun after *Save rebalance*, opening *Saved rebalances*). They live until their
scenario or record is dropped and hold no reference cycles (refcounting frees them), so after building or keeping
such data :func:`settle` moves everything built so far to the collector's permanent generation (``gc.freeze``):
later full collections scan only what is built after it. The price: a reference cycle that is already garbage at
that moment and older than the young generations is never collected; the young ones are collected first.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect the young generations, then freeze every object tracked so far (see the module docstring)."""
    gc.collect(1)
    gc.freeze()


__all__ = ["settle"]
