"""Streamlit entrypoint: page config, session defaults, explicit navigation, sidebar status, then the page."""

import streamlit as st

from components import feedback, sidebar, state

st.set_page_config(page_title="GlobeCo rebalancer", page_icon=":material/balance:", layout="wide")
state.init_defaults()

PAGES = {
    "Models": [
        st.Page("pages/models.py", title="Investment models", icon=":material/table:", default=True),
    ],
    "Analysis": [
        st.Page("pages/drift.py", title="Drift", icon=":material/query_stats:"),
        st.Page("pages/rebalance.py", title="What-if rebalance", icon=":material/balance:"),
    ],
    "Orders": [
        st.Page("pages/orders.py", title="Orders & export", icon=":material/receipt_long:"),
        st.Page("pages/history.py", title="Saved rebalances", icon=":material/history:"),
    ],
}
page = st.navigation(PAGES, position="sidebar")  # called early: it also stops pages/ auto-discovery

with st.sidebar:
    st.markdown("**GlobeCo rebalancer**  \nModels · drift · what-if rebalancing")
sidebar.render_status()

try:
    page.run()
except Exception as err:  # last line of defence: never a traceback in the browser (pages catch typed errors first)
    feedback.show(err, f"show the page '{page.title}'")
