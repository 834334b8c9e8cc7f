"""One search ranking for every picker (issue 14 item 3): tickers and portfolio names.

Pure (no Streamlit). A query matches a candidate (``code`` = ticker, empty for a portfolio; ``name`` = description
or portfolio name) in tiers, best first:

1. ``exact``: the ticker equals the query ("MS" -> MS), or, for a candidate without a ticker, the name does;
2. ``prefix``: the ticker starts with the query (MSCI, MSFT), shorter tickers first; for portfolios, the name does;
3. ``name``: a word of the name starts with the query ("stanley" -> Morgan Stanley; "Miller" -> Davis Miller Trust),
   then the name contains it anywhere;
4. ``fuzzy``: the letters of the query appear in order in the ticker or name, or a word of the name is a close
   spelling of it ("Millr") — shown marked as a fuzzy match, never picked by Enter.

Case and surrounding blanks are ignored; ties keep the candidates' order of ``code`` then ``name``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

MatchKind = Literal["exact", "prefix", "name", "fuzzy"]
KIND_RANK: dict[MatchKind, int] = {"exact": 0, "prefix": 1, "name": 2, "fuzzy": 3}
FUZZY_LABEL = "≈ fuzzy match"
CLOSE_SPELLING = 0.75  # difflib ratio from which a name word counts as a misspelling of the query
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Candidate:
    """Something a picker can pick: ``key`` (security or portfolio id), ``code`` (ticker, or ""), ``name``."""

    key: str
    code: str
    name: str

    @property
    def label(self) -> str:
        """How pickers show it: "MS — Morgan Stanley", or the name alone."""
        return f"{self.code} — {self.name}" if self.code else self.name


@dataclass(frozen=True)
class Match:
    """A candidate that matched, with how (``kind``) and its place (``rank``, 0 = best)."""

    candidate: Candidate
    kind: MatchKind
    rank: int

    @property
    def fuzzy(self) -> bool:
        """Not an exact, prefix or name match: show it marked."""
        return self.kind == "fuzzy"

    @property
    def label(self) -> str:
        """The candidate's label, marked when fuzzy."""
        return f"{self.candidate.label}  {FUZZY_LABEL}" if self.fuzzy else self.candidate.label


def _subsequence(needle: str, hay: str) -> bool:
    it = iter(hay)
    return all(ch in it for ch in needle)


def _score(q: str, c: Candidate) -> tuple[MatchKind, tuple[object, ...]] | None:
    """The tier of ``c`` for the (lower-cased, stripped) query ``q`` and its order inside the tier; None: no match."""
    code, name = c.code.lower(), c.name.lower()
    if code and code == q:
        return "exact", ()
    if not code and name == q:
        return "exact", ()
    if code and code.startswith(q):
        return "prefix", (len(code), code)
    if not code and name.startswith(q):
        return "prefix", (len(name), name)
    words = _WORD.findall(name)
    starts = [i for i, w in enumerate(words) if w.startswith(q)]
    if starts:
        return "name", (0, starts[0], name)
    if q in name:
        return "name", (1, name.index(q), name)
    close = max((difflib.SequenceMatcher(None, q, w).ratio() for w in words), default=0.0)
    if close >= CLOSE_SPELLING:
        return "fuzzy", (0, -close, name)
    if _subsequence(q, code) or _subsequence(q, name):
        return "fuzzy", (1, len(name), name)
    return None


def rank(query: str, candidates: Iterable[Candidate], limit: int | None = None) -> list[Match]:
    """The candidates matching ``query``, best first (see the module doc for the tiers); [] for a blank query."""
    q = " ".join(query.split()).lower()
    if not q:
        return []
    scored = []
    for i, c in enumerate(candidates):
        got = _score(q, c)
        if got is not None:
            kind, order = got
            scored.append((KIND_RANK[kind], order, i, c, kind))
    scored.sort(key=lambda s: (s[0], s[1], s[2]))
    chosen = scored if limit is None else scored[:limit]
    return [Match(c, kind, n) for n, (_, _, _, c, kind) in enumerate(chosen)]


def best(query: str, candidates: Sequence[Candidate]) -> Match | None:
    """What Enter picks: the exact match, or the only match that is not fuzzy; None when the PM must choose."""
    top = rank(query, candidates, limit=2)
    if not top or top[0].fuzzy:
        return None
    if top[0].kind == "exact" or len(top) == 1 or top[1].fuzzy:
        return top[0]
    return None


__all__ = ["FUZZY_LABEL", "Candidate", "Match", "MatchKind", "best", "rank"]
