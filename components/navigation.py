"""The app shell: page config, the registered pages, session defaults and the sidebar.

The page scripts live in ``app_pages/``, not ``pages/``: Streamlit (1.67) treats a folder named ``pages/`` the legacy
way until ``st.navigation`` has run once in the server process, so a deep link as the first request after a start
(a bookmark, a refresh on ``/rebalance``) ran that page alone, without this shell. ``tests/e2e/test_deep_link.py``
guards that.
"""

from __future__ import annotations

import streamlit as st

from components import sidebar, state


def configure_page() -> None:
    """Title, icon and the wide layout of every page."""
    st.set_page_config(page_title="GlobeCo rebalancer", page_icon=":material/balance:", layout="wide")


def pages() -> dict[str, list[st.Page]]:
    """Every page of the app, by sidebar section; the Models page is the default."""
    return {
        "Models": [
            st.Page("app_pages/models.py", title="Investment models", icon=":material/table:", default=True),
        ],
        "Analysis": [
            st.Page("app_pages/drift.py", title="Drift", icon=":material/query_stats:"),
            st.Page("app_pages/rebalance.py", title="What-if rebalance", icon=":material/balance:"),
        ],
        "Orders": [
            st.Page("app_pages/orders.py", title="Orders & export", icon=":material/receipt_long:"),
            st.Page("app_pages/history.py", title="Saved rebalances", icon=":material/history:"),
        ],
    }


def render_shell() -> None:
    """Session defaults and the sidebar (brand and backend status), around whichever page runs."""
    state.init_defaults()
    with st.sidebar:
        st.markdown("**GlobeCo rebalancer**  \nModels · drift · what-if rebalancing")
    sidebar.render_status()
