"""Rebalance history page (placeholder until issue #6 lands)."""

import streamlit as st

st.title("Rebalance history")
