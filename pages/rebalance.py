"""What-if rebalance page (placeholder until issue #6 lands)."""

import streamlit as st

st.title("What-if rebalance")
