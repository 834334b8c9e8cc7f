"""Saved rebalances: records newest first, filter by portfolio, drill down, export CSV, delete (version-checked)."""

import streamlit as st

from components import feedback, navigation, resources
from components.history import view as history_view

navigation.ensure_app_shell()  # a first-request deep link ran this script alone: rerun through app.py

st.title("Saved rebalances")
st.caption(
    "Every run saved from the Orders page, newest first. Open one to see its portfolios and positions, "
    "download its orders, or delete it."
)
history_view.render_notice()
history_view.render_pending_delete()

names = resources.portfolio_names()
tickers = resources.tickers()

with feedback.guard("load the saved rebalances"):
    summaries = history_view.render_list(names)
if summaries:
    st.divider()
    history_view.render_record(summaries, names, tickers)
