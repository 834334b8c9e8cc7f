"""I/O adapters: GlobeCo service clients, the market snapshot, MongoDB repositories, the simulator, the demo data.

The public API, re-exported here lazily (PEP 562: a name is imported from its module on first use, so importing one
adapter never loads the others). Only typed errors from ``engine.errors`` leave ``data``. See README and
docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Settings": "data.settings",
    "build_services": "data.services",
    "GlobeCoServices": "data.services",
    "MarketSnapshot": "data.snapshot",
    "build_market_snapshot": "data.snapshot",
    "with_prices_for": "data.snapshot",
    "get_client": "data.mongo",
    "get_database": "data.mongo",
    "ensure_indexes": "data.repositories",
    "ModelRepository": "data.repositories",
    "RebalanceRepository": "data.repositories",
    "save_run": "data.repositories",
    "delete_run": "data.repositories",
    "WorkspaceRepository": "data.repositories.workspaces",
    "SubmissionLog": "data.repositories.submissions",
    "submit_logged": "data.submission",
    "reconcile": "data.submission",
    "load_demo": "data.demo",
}

__all__ = [
    "GlobeCoServices",
    "MarketSnapshot",
    "ModelRepository",
    "RebalanceRepository",
    "Settings",
    "SubmissionLog",
    "WorkspaceRepository",
    "build_market_snapshot",
    "build_services",
    "delete_run",
    "ensure_indexes",
    "get_client",
    "get_database",
    "load_demo",
    "reconcile",
    "save_run",
    "submit_logged",
    "with_prices_for",
]

if TYPE_CHECKING:  # for type checkers and IDEs only: at run time names load on first use
    from data.demo import load_demo
    from data.mongo import get_client, get_database
    from data.repositories import ModelRepository, RebalanceRepository, delete_run, ensure_indexes, save_run
    from data.repositories.submissions import SubmissionLog
    from data.repositories.workspaces import WorkspaceRepository
    from data.services import GlobeCoServices, build_services
    from data.settings import Settings
    from data.snapshot import MarketSnapshot, build_market_snapshot, with_prices_for
    from data.submission import reconcile, submit_logged


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
