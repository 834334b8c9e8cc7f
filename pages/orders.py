"""Proposed orders page (placeholder until issue #6 lands)."""

import streamlit as st

st.title("Proposed orders")
