"""Search boxes for the ticker and portfolio pickers, ranked by ``components.search`` (issue 14 item 3).

Typing in a picker's search box and pressing Enter picks the best match when it is unambiguous (an exact ticker:
"MS" is Morgan Stanley, never Cadence Design Systems); otherwise the matches are offered best first, fuzzy
ones marked "≈ fuzzy match", as a row of choices. The multiselect beside it shows what is picked, with typing off
(``filter_mode=None``), so every search goes through the one ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd
import streamlit as st

from components import search
from components.search import Candidate

SHOWN = 12  # matches offered at once
OnPick = Callable[[list[str]], None]


def security_candidates(frame: pd.DataFrame) -> list[Candidate]:
    """Securities (``resources.securities()``: security_id, ticker, description) as search candidates."""
    return [
        Candidate(str(i), str(t), str(d))
        for i, t, d in zip(frame["security_id"], frame["ticker"], frame["description"], strict=True)
    ]


def portfolio_candidates(names: Mapping[str, str], ids: Iterable[str]) -> list[Candidate]:
    """Portfolios ``ids`` by name (the id when the name is unknown) as search candidates."""
    return [Candidate(p, "", names.get(p) or p) for p in ids]


def _keys(key: str) -> tuple[str, str, str]:
    return f"{key}_search", f"{key}_matches", f"{key}_picked"


def _on_enter(key: str, candidates: Sequence[Candidate], on_pick: OnPick) -> None:
    query_key, _, note_key = _keys(key)
    hit = search.best(st.session_state.get(query_key) or "", candidates)
    if hit is not None:
        on_pick([hit.candidate.key])
        st.session_state[query_key] = ""
        st.session_state[note_key] = hit.candidate.label


def _on_choice(key: str, labels: Mapping[str, str], on_pick: OnPick) -> None:
    query_key, pills_key, note_key = _keys(key)
    picked = st.session_state.get(pills_key)
    if picked:
        on_pick([picked])
        st.session_state[query_key] = ""
        st.session_state[note_key] = labels.get(picked, picked)
    st.session_state[pills_key] = None


def search_box(
    label: str,
    candidates: Sequence[Candidate],
    key: str,
    on_pick: OnPick,
    *,
    placeholder: str = "Ticker or name, then Enter",
    help: str | None = None,
) -> None:
    """A search input over ``candidates``: Enter picks the best match, else the ranked matches are offered."""
    query_key, pills_key, note_key = _keys(key)
    st.text_input(
        label,
        key=query_key,
        on_change=_on_enter,
        args=(key, candidates, on_pick),
        placeholder=placeholder,
        help=help
        or "Enter picks an exact ticker (or the only match). Otherwise pick from the matches: exact ticker first, "
        "then tickers starting with it, then names; fuzzy matches are marked.",
    )
    note = st.session_state.pop(note_key, None)
    if note:
        st.caption(f"Picked {note}")
    query = st.session_state.get(query_key) or ""
    if not query.strip():
        return
    matches = search.rank(query, candidates)
    if not matches:
        st.caption(f"No match for “{query.strip()}”.")
        return
    shown = matches[:SHOWN]
    labels = {m.candidate.key: m.label for m in shown}
    st.radio(  # a wrapping row of choices, best first (nothing chosen until the PM clicks one)
        "Matches, best first — click one to pick it",
        list(labels),
        index=None,
        format_func=labels.__getitem__,
        key=pills_key,
        on_change=_on_choice,
        args=(key, labels, on_pick),
        horizontal=True,
    )
    if len(matches) > SHOWN:
        st.caption(f"{len(matches) - SHOWN:,} more: type more letters.")


def add_to_selection(key: str) -> OnPick:
    """An ``on_pick`` that appends the picked keys to the multiselect (or list) held in ``st.session_state[key]``."""

    def pick(keys: list[str]) -> None:
        current = list(st.session_state.get(key) or [])
        st.session_state[key] = current + [k for k in keys if k not in current]

    return pick


__all__ = ["SHOWN", "add_to_selection", "portfolio_candidates", "search_box", "security_candidates"]
