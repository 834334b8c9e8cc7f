"""Deep-link guard for the page scripts.

Streamlit discovers a ``pages/`` folder the legacy way until ``st.navigation`` has run once in the server
process. So when the very first request after a start is a deep link (``/rebalance``, or a browser refresh on a
page), Streamlit runs that page script alone: no ``app.py``, hence no registered navigation, no sidebar status
and no session defaults. Each page calls :func:`ensure_app_shell` first; in that case it switches the legacy
discovery off and reruns, and the rerun goes through ``app.py``, which resolves the same page by its URL.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_shell() -> None:
    """Rerun through ``app.py`` when Streamlit started this page without it (a no-op otherwise)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
