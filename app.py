"""Streamlit entrypoint (placeholder until the app shell lands)."""

import streamlit as st

st.set_page_config(page_title="GlobeCo rebalancer", layout="wide")
st.title("GlobeCo rebalancer")
st.write("The app shell is under construction.")
