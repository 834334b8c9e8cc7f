"""The app's theme colours, shared by the plotly charts; ``.streamlit/config.toml`` sets the same primary colour.

``tests/unit/components/test_theme.py`` checks that the two agree (a TOML file cannot import a constant).
"""

from __future__ import annotations

PRIMARY = "#0f766e"  # teal: the app's accent ([theme] primaryColor), also "in band" / "after" in the charts


def rgba(hex_colour: str, alpha: float) -> str:
    """``#rrggbb`` with an opacity, as plotly's ``rgba(r, g, b, a)``."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha:g})"
