"""Streamlit entrypoint: page config, explicit navigation, the shell (session defaults, sidebar), then the page."""

import streamlit as st

from components import feedback, navigation

navigation.configure_page()
page = st.navigation(navigation.pages(), position="sidebar")
navigation.render_shell()

try:
    page.run()
except Exception as err:  # last line of defence: never a traceback in the browser (pages catch typed errors first)
    feedback.show(err, f"show the page '{page.title}'")
