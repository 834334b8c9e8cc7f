"""``.streamlit/config.toml``: settings the app's speed depends on stay set, under names Streamlit still knows."""

from __future__ import annotations

import tomllib
from pathlib import Path

from streamlit import config as st_config

CONFIG = Path(__file__).resolve().parents[3] / ".streamlit" / "config.toml"


def test_no_full_garbage_collection_after_every_script_run() -> None:
    """A full gc.collect(2) after each run held every click ~1 s with a 1,000-portfolio run in memory (#12 §5)."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
    assert "runner.postScriptGC" in st_config._config_options_template  # a renamed option would be ignored silently
