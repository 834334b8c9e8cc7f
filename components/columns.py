"""Table column specs: what each column of a read-only table is called and how it is shown, without Streamlit.

Each table has one spec (a tuple of :class:`Col`) next to its frame builder in the feature's ``frames.py``; the
view derives the Streamlit ``column_config`` and ``column_order`` from it (``components.tables.column_config``), so
a column is named, formatted and ordered in one place. ``kind`` picks the preset: ``plain`` (a label only),
``text``, ``money`` (2 dp), ``qty`` (4, not 4.00), ``count`` (narrow integer), ``int`` (integer, ``fmt`` may add
text),
``pct`` (a weight ×100, ``dp`` decimals), ``pp`` (signed percentage points), ``number`` (``fmt`` printf format),
``flag`` (checkbox), ``date`` and ``when`` (timestamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["plain", "text", "money", "qty", "count", "int", "pct", "pp", "number", "flag", "date", "when"]
Width = Literal["small", "medium", "large"]


@dataclass(frozen=True)
class Col:
    """One column of a table: frame column ``name``, header ``label``, display ``kind`` and options."""

    name: str
    label: str
    kind: Kind = "plain"
    help: str | None = None
    width: Width | None = None
    dp: int = 2  # decimals of a ``pct`` column
    fmt: str | None = None  # printf format of an ``int`` / ``number`` column


def names(spec: Sequence[Col]) -> list[str]:
    """The column names of a spec, in display order."""
    return [c.name for c in spec]
