"""Cross-page ``st.session_state`` keys only, plus small typed getters and setters shared by every page.

Only keys that more than one feature reads live here. Each feature package owns its own keys in its
``keys.py`` (``components.models.keys``, ``components.drift.keys``, ``components.rebalance.keys``,
``components.orders.keys``, ``components.history.keys``; page-prefixed, so they never collide), and
:func:`init_defaults` creates the cross-page keys and the features' ``DEFAULTS`` once per session (called by the
shell, ``components.navigation.render_shell``).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

# --- cross-page -------------------------------------------------------------------------------------------------
SELECTED_MODEL_ID = "selected_model_id"  # the model the user works on; Drift and What-if preselect it
WHATIF_PREFILL = "whatif_prefill"  # (model id, portfolio ids) the What-if page opens with (from the Drift page)
WHATIF_SETTINGS = "whatif_settings"  # a saved run's settings the What-if panel opens with (from History)

_DEFAULTS: dict[str, Any] = {SELECTED_MODEL_ID: None}


def init_defaults(*feature_defaults: Mapping[str, Any]) -> None:
    """Create the cross-page keys and the given features' non-widget keys once per session (never overwrites)."""
    for key, default in ChainMap(_DEFAULTS, *feature_defaults).items():
        # fresh containers per session: a shared mutable default would leak between users
        st.session_state.setdefault(key, type(default)() if isinstance(default, dict | list) else default)


def get(key: str, default: Any = None) -> Any:
    """Read a key (``default`` when absent)."""
    return st.session_state.get(key, default)


def put(key: str, value: Any) -> None:
    """Write a non-widget key."""
    st.session_state[key] = value


def drop(*keys: str) -> None:
    """Forget keys (widget keys included: the widget then starts from its default on the next run)."""
    for key in keys:
        st.session_state.pop(key, None)


def selected_model_id() -> str | None:
    """The model the user is working on (set by the Models page, read by Drift and What-if)."""
    return st.session_state.get(SELECTED_MODEL_ID)


def prefill_whatif(model_id: str, portfolio_ids: Sequence[str]) -> None:
    """Ask the What-if page to open on ``model_id`` with exactly ``portfolio_ids`` in scope (Drift → What-if)."""
    st.session_state[SELECTED_MODEL_ID] = model_id
    st.session_state[WHATIF_PREFILL] = (model_id, tuple(portfolio_ids))


def take_whatif_prefill() -> tuple[str, tuple[str, ...]] | None:
    """The pending What-if scope (model id, portfolio ids), removed once taken."""
    return st.session_state.pop(WHATIF_PREFILL, None)


def select_model(model_id: str | None) -> None:
    """Remember ``model_id`` as the model the user works on across pages."""
    st.session_state[SELECTED_MODEL_ID] = model_id
