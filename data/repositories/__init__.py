"""MongoDB repositories of investment models and saved rebalance records (product-spec 1.5–1.8, 2.8, 3.16).

Each repository owns its collections and their indexes; ``ensure_indexes`` creates them all (and runs the rebalance
records' recovery: legacy migration, clean-up of interrupted saves) — idempotent, called at start.
"""

from typing import Any

from data.repositories.dberrors import db_call
from data.repositories.models import ModelRepository, ensure_model_indexes
from data.repositories.rebalances import RebalanceRepository, RebalanceSummary, ensure_rebalance_indexes
from data.repositories.runs import delete_run, save_run


@db_call
def ensure_indexes(db: Any) -> None:
    """Create every index the repositories rely on and recover interrupted saves; harmless when called again.

    Database failures surface as typed errors (``ServiceUnavailable`` when the server cannot be reached).
    """
    ensure_model_indexes(db)
    ensure_rebalance_indexes(db)
    RebalanceRepository(db, create_indexes=False).recover()


__all__ = ["ModelRepository", "RebalanceRepository", "RebalanceSummary", "delete_run", "ensure_indexes", "save_run"]
