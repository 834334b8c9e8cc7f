"""The pure core: domain types, rules and the exact solver (no Streamlit, network or database).

The public API, re-exported here lazily (PEP 562) so that ``python -m engine`` and ``import engine.models`` stay
cheap: a name is imported from its module on first use. See README "Engine and CLI" and docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    # domain types and options (product-spec 1-2, 2.12)
    "InvestmentModel": "engine.models",
    "Position": "engine.models",
    "PortfolioHoldings": "engine.models",
    "Holding": "engine.models",
    "RebalanceOptions": "engine.models",
    "PortfolioResult": "engine.models",
    "RebalanceRecord": "engine.models",
    "BandBreach": "engine.models",
    # typed errors
    "EngineError": "engine.errors",
    "InvalidInput": "engine.errors",
    "NotFound": "engine.errors",
    "VersionConflict": "engine.errors",
    "ExternalDataError": "engine.errors",
    "ServiceUnavailable": "engine.errors",
    "Forbidden": "engine.errors",
    # runs
    "rebalance_portfolios": "engine.rebalance",
    "rebalance_portfolio": "engine.rebalance",
    "analyse_drift": "engine.drift",
    "build_record": "engine.record",
    "parse_options": "engine.options",
    "market_value": "engine.marketvalue",
}

__all__ = [
    "BandBreach",
    "EngineError",
    "ExternalDataError",
    "Forbidden",
    "Holding",
    "InvalidInput",
    "InvestmentModel",
    "NotFound",
    "PortfolioHoldings",
    "PortfolioResult",
    "Position",
    "RebalanceOptions",
    "RebalanceRecord",
    "ServiceUnavailable",
    "VersionConflict",
    "analyse_drift",
    "build_record",
    "market_value",
    "parse_options",
    "rebalance_portfolio",
    "rebalance_portfolios",
]

if TYPE_CHECKING:  # for type checkers and IDEs only: at run time names load on first use (start-up cost)
    from engine.drift import analyse_drift
    from engine.errors import (
        EngineError,
        ExternalDataError,
        Forbidden,
        InvalidInput,
        NotFound,
        ServiceUnavailable,
        VersionConflict,
    )
    from engine.marketvalue import market_value
    from engine.models import (
        BandBreach,
        Holding,
        InvestmentModel,
        PortfolioHoldings,
        PortfolioResult,
        Position,
        RebalanceOptions,
        RebalanceRecord,
    )
    from engine.options import parse_options
    from engine.rebalance import rebalance_portfolio, rebalance_portfolios
    from engine.record import build_record


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
