"""The app shell: page config, the registered pages, session defaults, the sidebar, and the deep-link guard.

The page scripts live in ``pages/`` (the design card), registered explicitly here. Streamlit (1.67) treats a folder
named ``pages/`` the legacy way until ``st.navigation`` has run once in the server process: when the very first
request after a start is a deep link (``/rebalance``, a bookmark or a refresh), Streamlit runs that page script
alone, without ``app.py`` (no navigation, sidebar, layout or session defaults). Each page therefore calls
:func:`ensure_app_shell` first: in that one case it switches the legacy discovery off and reruns, and the rerun goes
through ``app.py``, which resolves the same page by its URL. (Giving the files names that differ from their URL
paths instead makes the legacy pass miss the page and show a "Page not found" dialog before the shell runs.)
``tests/e2e/test_deep_link.py`` opens every page as the first request of a fresh server.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from components import auth, feedback, sidebar, state
from components.drift import keys as drift_keys
from components.models import keys as models_keys


def ensure_app_shell() -> None:
    """Rerun through ``app.py`` when Streamlit started this page script without it (a no-op otherwise)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def configure_page() -> None:
    """Title, icon and the wide layout of every page."""
    st.set_page_config(page_title="GlobeCo rebalancer", page_icon=":material/balance:", layout="wide")


def pages() -> dict[str, list[st.Page]]:
    """Every page of the app, by sidebar section; the Models page is the default."""
    return {
        "Models": [
            st.Page(
                "pages/models.py",
                title="Investment models",
                icon=":material/table:",
                url_path="models",
                default=True,
            ),
        ],
        "Analysis": [
            st.Page("pages/drift.py", title="Drift", icon=":material/query_stats:", url_path="drift"),
            st.Page("pages/rebalance.py", title="What-if rebalance", icon=":material/balance:", url_path="rebalance"),
        ],
        "Orders": [
            st.Page("pages/orders.py", title="Orders & export", icon=":material/receipt_long:", url_path="orders"),
            st.Page("pages/history.py", title="Saved rebalances", icon=":material/history:", url_path="history"),
        ],
    }


def render_shell() -> None:
    """Session defaults and the sidebar (brand, who is signed in, backend status), then the sign-in gate.

    With sign-in configured, nothing of a page runs before the user is signed in with a role (``auth.gate``).
    """
    state.init_defaults(drift_keys.DEFAULTS, models_keys.DEFAULTS)
    with st.sidebar:
        st.markdown("**GlobeCo rebalancer**  \nModels · drift · what-if rebalancing")
    auth.render_sidebar()
    auth.gate()  # before the backend status: a signed-out visitor learns nothing about the backends
    sidebar.render_status()
    feedback.render_callback_error()
