"""Sidebar status block: which backends the app uses (embedded or real) and whether they answer."""

from __future__ import annotations

import streamlit as st

from components import feedback, resources
from components.feedback import SERVICE_LABELS, escape_md


def _dot(ok: bool | None) -> str:
    return {True: ":green[●]", False: ":red[●]", None: ":gray[●]"}[ok]


def render_status() -> None:
    """Render the status block at the bottom of the sidebar (health cached for 30 s); it never raises."""
    try:
        statuses = resources.backend_status()
    except Exception as err:  # e.g. invalid settings: the page itself shows the typed message
        with st.sidebar.expander("Backends: status unavailable", expanded=True, icon=":material/dns:"):
            st.caption(escape_md(feedback.describe(err).headline))
        return
    down = [s for s in statuses if s.ok is False]
    label = "Backends: all healthy" if not down else f"Backends: {len(down)} not answering"
    with st.sidebar.expander(label, expanded=bool(down), icon=":material/dns:"):
        services = [s for s in statuses if s.name != "database"]
        embedded = all(s.target.startswith("embedded") for s in services)
        lines = ["**GlobeCo services** — " + ("embedded simulator with demo data" if embedded else "remote")]
        for s in services:
            where = "" if embedded else f" · `{s.target}`"
            extra = f" — {s.detail}" if s.detail and s.ok is False else ""
            lines.append(f"{_dot(s.ok)} {SERVICE_LABELS.get(s.name, s.name)}{where}{extra}")
        for s in statuses:
            if s.name == "database":
                lines.append("**Database**")
                lines.append(f"{_dot(s.ok)} {escape_md(s.target)}" + (f" — {s.detail}" if s.detail else ""))
        st.caption("  \n".join(lines))  # one compact block; two trailing spaces = line break
        if st.button("Re-check", key="sidebar_recheck", icon=":material/refresh:"):
            resources.backend_status.clear()
            st.rerun()
