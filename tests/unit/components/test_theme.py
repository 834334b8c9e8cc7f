"""components.theme: the charts' primary colour is the one ``.streamlit/config.toml`` gives the app."""

from __future__ import annotations

import tomllib
from pathlib import Path

from components import theme
from components.drift import charts as drift_charts
from components.rebalance import charts as rebalance_charts

CONFIG = Path(__file__).resolve().parents[3] / ".streamlit" / "config.toml"


def test_config_toml_and_the_charts_share_one_primary_colour() -> None:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["theme"]["primaryColor"].lower() == theme.PRIMARY
    assert config["theme"]["chartCategoricalColors"][0].lower() == theme.PRIMARY
    assert drift_charts.IN_BAND == rebalance_charts.AFTER_COLOR == theme.PRIMARY


def test_rgba_keeps_the_colour_and_sets_the_opacity() -> None:
    assert theme.rgba("#0f766e", 0.16) == "rgba(15, 118, 110, 0.16)"
